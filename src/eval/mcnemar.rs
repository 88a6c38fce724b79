//! McNemar's test for two methods scored on the same rows (one attribute, paired by image).
//!
//! Only the discordant rows matter: b = rows method A gets right and B wrong, c = the reverse.
//! Under H0 (same error rate) b ~ Binomial(b + c, ½).
//! - b + c < [`EXACT_BELOW`] (25): the **exact binomial** two-sided p-value,
//!   p = min(1, 2·P(X ≤ min(b, c))).
//! - otherwise: the **chi-square statistic with continuity correction** (Edwards),
//!   χ² = max(|b − c| − 1, 0)² / (b + c), p = P(χ²₁ > χ²).
//!
//! With no discordant rows the methods cannot be told apart: p = 1.

use serde::{Deserialize, Serialize};

use super::special::{binomial_half_cdf, chi2_1_survival};

/// Discordant counts below this use the exact test.
pub const EXACT_BELOW: u64 = 25;

/// Which form of the test produced the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McNemarTest {
    /// Exact two-sided binomial test on the discordant rows.
    ExactBinomial,
    /// Chi-square with one degree of freedom and continuity correction.
    ChiSquareCorrected,
}

impl McNemarTest {
    pub fn label(self) -> &'static str {
        match self {
            McNemarTest::ExactBinomial => "exact binomial",
            McNemarTest::ChiSquareCorrected => "chi-square (continuity corrected)",
        }
    }
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Paired rows.
    pub n: u64,
    /// Rows A got right and B wrong.
    pub a_only: u64,
    /// Rows B got right and A wrong.
    pub b_only: u64,
    pub test: McNemarTest,
    /// χ² (chi-square form only).
    pub statistic: Option<f64>,
    pub p_value: f64,
}

/// The test from the discordant counts (`n` is carried along for reporting).
pub fn from_counts(n: u64, a_only: u64, b_only: u64) -> McNemar {
    let d = a_only + b_only;
    if d < EXACT_BELOW {
        let p = if d == 0 { 1.0 } else { (2.0 * binomial_half_cdf(a_only.min(b_only), d)).min(1.0) };
        McNemar { n, a_only, b_only, test: McNemarTest::ExactBinomial, statistic: None, p_value: p }
    } else {
        let diff = (a_only as f64 - b_only as f64).abs();
        let stat = (diff - 1.0).max(0.0).powi(2) / d as f64;
        McNemar {
            n,
            a_only,
            b_only,
            test: McNemarTest::ChiSquareCorrected,
            statistic: Some(stat),
            p_value: chi2_1_survival(stat),
        }
    }
}

/// The test on paired correctness `(a_correct, b_correct)`.
pub fn mcnemar(pairs: impl IntoIterator<Item = (bool, bool)>) -> McNemar {
    let (mut n, mut a_only, mut b_only) = (0, 0, 0);
    for (a, b) in pairs {
        n += 1;
        a_only += (a && !b) as u64;
        b_only += (!a && b) as u64;
    }
    from_counts(n, a_only, b_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_few_discordant_rows() {
        // b = 3, c = 9: p = 2·P(X ≤ 3 | n = 12) = 2·299/4096.
        let mut pairs = vec![(true, false); 3];
        pairs.extend(vec![(false, true); 9]);
        pairs.extend(vec![(true, true); 50]);
        pairs.extend(vec![(false, false); 5]);
        let m = mcnemar(pairs);
        assert_eq!((m.n, m.a_only, m.b_only), (67, 3, 9));
        assert_eq!(m.test, McNemarTest::ExactBinomial);
        assert!((m.p_value - 2.0 * 299.0 / 4096.0).abs() < 1e-12, "{}", m.p_value);
    }

    #[test]
    fn chi_square_for_many_discordant_rows() {
        // b = 10, c = 25: χ² = (15 − 1)²/35 = 5.6, p = erfc(√2.8) = 0.0179604775…
        let m = from_counts(100, 10, 25);
        assert_eq!(m.test, McNemarTest::ChiSquareCorrected);
        assert!((m.statistic.unwrap() - 5.6).abs() < 1e-12);
        assert!((m.p_value - 0.017960477526078766).abs() < 1e-12, "{}", m.p_value);
    }

    #[test]
    fn symmetric_and_degenerate_cases() {
        assert_eq!(from_counts(10, 0, 0).p_value, 1.0);
        assert_eq!(from_counts(10, 2, 2).p_value, 1.0);
        assert_eq!(from_counts(100, 20, 20).p_value, 1.0);
        // Swapping the methods gives the same p-value.
        assert_eq!(from_counts(100, 7, 30).p_value, from_counts(100, 30, 7).p_value);
        // b = 0, c = 6: p = 2·(1/64).
        assert!((from_counts(6, 0, 6).p_value - 2.0 / 64.0).abs() < 1e-15);
    }
}
