//! The paired sign-flip permutation test at identity level (docs/STATISTICS.md): for one
//! attribute, s_g = Σ over the images of identity g of (c_A − c_B); under H0 (A and B exchangeable
//! within each identity) each s_g is symmetric about 0. Statistic T = Σ_g s_g; p = the share of
//! sign assignments ε ∈ {±1}^G with |Σ ε_g s_g| ≥ |T|.
//!
//! - At most [`EXACT_UP_TO`] non-zero s_g: **exact**. The 2^n assignments of the non-zero ones
//!   (zeros change nothing) are counted by convolving over their sums, which gives the same count
//!   as enumerating them.
//! - More: `flips` **random assignments** drawn with `crate::rng`, p = (1 + #{|T*| ≥ |T|}) / (1 +
//!   flips). Identities with equal |s_g| are interchangeable, so one draw sums, per distinct |s|,
//!   |s| × (#plus − #minus) with the signs taken as the bits of random words: the same draw as
//!   flipping each identity, at a cost of one word per 64 identities.
//!
//! With every identity holding one image, s_g ∈ {−1, 0, 1} and the exact form is the exact
//! two-sided McNemar test on the discordant pairs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Non-zero s_g up to this many: exact.
pub const EXACT_UP_TO: usize = 20;

/// How the p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlipMethod {
    /// All 2^n sign assignments of the n non-zero sums.
    Exact,
    /// This many seeded random assignments, with the +1 correction.
    Random { flips: usize },
}

impl FlipMethod {
    pub fn label(self) -> String {
        match self {
            FlipMethod::Exact => "exact (all sign flips)".into(),
            FlipMethod::Random { flips } => format!("{flips} random sign flips"),
        }
    }
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignFlip {
    /// T = Σ_g s_g.
    pub statistic: i64,
    /// Identities with s_g ≠ 0.
    pub nonzero: usize,
    pub method: FlipMethod,
    pub p_value: f64,
}

/// The test on the per-identity sums `s`; `flips` and `seed` serve the random form.
pub fn sign_flip_test(s: &[i64], flips: usize, seed: u64) -> SignFlip {
    let statistic: i64 = s.iter().sum();
    let nonzero: Vec<u64> = s.iter().filter(|v| **v != 0).map(|v| v.unsigned_abs()).collect();
    let target = statistic.unsigned_abs();
    if nonzero.len() <= EXACT_UP_TO {
        let p_value = exact_p(&nonzero, target);
        return SignFlip { statistic, nonzero: nonzero.len(), method: FlipMethod::Exact, p_value };
    }
    let mut groups: BTreeMap<u64, usize> = BTreeMap::new();
    for v in &nonzero {
        *groups.entry(*v).or_default() += 1;
    }
    let flips = flips.max(1);
    let mut rng = Rng::new(seed);
    let mut hits = 0usize;
    for _ in 0..flips {
        let mut sum: i64 = 0;
        for (&value, &count) in &groups {
            let plus = random_ones(&mut rng, count) as i64;
            sum += value as i64 * (2 * plus - count as i64);
        }
        hits += (sum.unsigned_abs() >= target) as usize;
    }
    SignFlip {
        statistic,
        nonzero: nonzero.len(),
        method: FlipMethod::Random { flips },
        p_value: (1 + hits) as f64 / (1 + flips) as f64,
    }
}

/// How many of `n` fair coin flips come up heads (the set bits of random words).
fn random_ones(rng: &mut Rng, n: usize) -> u32 {
    let mut ones = 0;
    let mut left = n;
    while left >= 64 {
        ones += rng.next_u64().count_ones();
        left -= 64;
    }
    if left > 0 {
        ones += (rng.next_u64() & ((1u64 << left) - 1)).count_ones();
    }
    ones
}

/// The exact share of sign assignments of `values` (all > 0) with |sum| ≥ `target`. Shares are
/// counts / 2^n, dyadic fractions that f64 holds exactly for the n ≤ 20 this is used with.
fn exact_p(values: &[u64], target: u64) -> f64 {
    // share[k] = share of assignments with sum k − range, range = Σ values.
    let range: u64 = values.iter().sum();
    let width = 2 * range as usize + 1;
    let mut share = vec![0.0f64; width];
    let mut next = vec![0.0f64; width];
    share[range as usize] = 1.0;
    for &v in values {
        let v = v as usize;
        next.fill(0.0);
        for (k, &c) in share.iter().enumerate() {
            if c > 0.0 {
                next[k - v] += 0.5 * c;
                next[k + v] += 0.5 * c;
            }
        }
        std::mem::swap(&mut share, &mut next);
    }
    share.iter().enumerate().filter(|(k, _)| (*k as i64 - range as i64).unsigned_abs() >= target).map(|(_, c)| c).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::mcnemar::from_counts;
    use crate::eval::special::binomial_half_cdf;

    /// Brute force over all 2^n assignments.
    fn enumerate(s: &[i64]) -> f64 {
        let t: i64 = s.iter().sum();
        let n = s.len();
        let mut hits = 0;
        for mask in 0u64..(1 << n) {
            let sum: i64 = s.iter().enumerate().map(|(g, v)| if mask >> g & 1 == 1 { -v } else { *v }).sum();
            hits += (sum.abs() >= t.abs()) as u64;
        }
        hits as f64 / (1u64 << n) as f64
    }

    #[test]
    fn exact_by_hand() {
        // s = (3, −1, 2, 0): T = 4; the 8 assignments of (3, 1, 2) sum to ±6, ±4, ±2, 0, 0:
        // |sum| ≥ 4 in 4 of 8.
        let r = sign_flip_test(&[3, -1, 2, 0], 10_000, 1);
        assert_eq!((r.statistic, r.nonzero, r.method), (4, 3, FlipMethod::Exact));
        assert_eq!(r.p_value, 0.5);
        // Nothing differs: p = 1.
        assert_eq!(sign_flip_test(&[0, 0], 10, 1).p_value, 1.0);
        assert_eq!(sign_flip_test(&[], 10, 1).p_value, 1.0);
    }

    #[test]
    fn exact_count_equals_enumeration() {
        let cases: [&[i64]; 4] = [&[5, -2, 2, 1, -7, 3, 3, 0, 1], &[1; 12], &[-4, 4], &[2, 3, -5, 1, 1, 1, 6, -2, 9, 4]];
        for s in cases {
            let r = sign_flip_test(s, 100, 0);
            assert!((r.p_value - enumerate(s)).abs() < 1e-15, "{s:?}: {} vs {}", r.p_value, enumerate(s));
        }
    }

    #[test]
    fn one_image_per_identity_is_the_exact_mcnemar_test() {
        // b identities where A alone is right (+1), c where B alone is (−1), the rest ties (0).
        for (b, c) in [(3u64, 9u64), (0, 6), (5, 5), (1, 0), (12, 8), (2, 15)] {
            let mut s = vec![1i64; b as usize];
            s.extend(vec![-1; c as usize]);
            s.extend(vec![0; 30]);
            let r = sign_flip_test(&s, 10_000, 4);
            assert_eq!(r.method, FlipMethod::Exact);
            let m = from_counts(b + c + 30, b, c);
            assert!((r.p_value - m.p_value).abs() < 1e-12, "b={b} c={c}: {} vs McNemar {}", r.p_value, m.p_value);
        }
    }

    #[test]
    fn random_flips_approach_the_exact_binomial_beyond_twenty() {
        // 40 discordant identities, 13 vs 27: exact two-sided binomial p = 2·P(X ≤ 13 | 40, ½).
        let mut s = vec![1i64; 13];
        s.extend(vec![-1; 27]);
        let r = sign_flip_test(&s, 20_000, 11);
        assert_eq!((r.statistic, r.nonzero, r.method), (-14, 40, FlipMethod::Random { flips: 20_000 }));
        let exact = 2.0 * binomial_half_cdf(13, 40);
        // Monte Carlo standard error √(p(1−p)/N) ≈ 0.0013 at p ≈ 0.04.
        assert!((r.p_value - exact).abs() < 0.006, "{} vs {exact}", r.p_value);
        // The +1 correction: p is never 0, and a statistic at the centre gives p = 1.
        let strong = sign_flip_test(&vec![3i64; 30], 1000, 2);
        assert_eq!(strong.p_value, 1.0 / 1001.0);
        let mut centred = vec![2i64; 15];
        centred.extend(vec![-2; 15]);
        assert_eq!(sign_flip_test(&centred, 500, 2).p_value, 1.0);
        // Seeded: the same seed, the same p.
        assert_eq!(sign_flip_test(&s, 5000, 8), sign_flip_test(&s, 5000, 8));
    }

    #[test]
    fn random_flips_with_mixed_magnitudes_match_the_exact_count() {
        // 24 non-zero sums of several sizes: compare the random form with the exact count (the
        // convolution works for any n; only the choice of form stops at 20).
        let s: Vec<i64> = (0..24).map(|g| [1, -2, 3, -1, 2, 1][g % 6] * if g % 5 == 0 { -1 } else { 1 }).collect();
        let target = s.iter().sum::<i64>().unsigned_abs();
        let magnitudes: Vec<u64> = s.iter().map(|v| v.unsigned_abs()).collect();
        let exact = exact_p(&magnitudes, target);
        let r = sign_flip_test(&s, 40_000, 5);
        assert!((r.p_value - exact).abs() < 0.01, "{} vs {exact}", r.p_value);
    }
}
