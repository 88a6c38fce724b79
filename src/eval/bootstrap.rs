//! Identity-level (cluster) paired bootstrap of the accuracy differences between two methods
//! (docs/STATISTICS.md), drawn with awmt's own seeded generator (`crate::rng`) so the
//! interval does not depend on any crate's random-number implementation.
//!
//! One resample draws G clusters (identities; images where the identity is unknown) with
//! replacement out of G; it holds every image of every drawn cluster, twice if drawn twice, the
//! same draw for both methods (paired). On it, per attribute, d_j = (accuracy of A − accuracy of
//! B) over the scored images, and D = the unweighted mean of d_j over the attributes with something
//! scored in the draw. The interval is the percentile interval (quantiles with linear
//! interpolation, "type 7") of the resampled values. With every image its own cluster this is the
//! ordinary image-level paired bootstrap.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::paired::{differences, ClusteredDifferences};
use crate::rng::Rng;

/// An observed value with its interval (fractions, not percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub observed: f64,
    pub low: f64,
    pub high: f64,
}

/// The mean-accuracy difference A − B and every per-attribute difference, with intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedBootstrap {
    pub mean: Interval,
    /// Per task; `None` where nothing is scored.
    pub tasks: Vec<Option<Interval>>,
    pub level: f64,
    pub resamples: usize,
    pub seed: u64,
}

/// Quantile `q` of sorted values with linear interpolation between order statistics.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn interval(observed: f64, values: &mut [f64], level: f64) -> Interval {
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Interval { observed, low: quantile_sorted(values, tail), high: quantile_sorted(values, 1.0 - tail) }
}

/// The cluster bootstrap at `level` (e.g. 0.95) with `resamples` draws seeded with `seed`.
pub fn cluster_bootstrap(d: &ClusteredDifferences, resamples: usize, seed: u64, level: f64) -> Result<PairedBootstrap> {
    if resamples == 0 {
        bail!("bootstrap: resamples must be at least 1");
    }
    if !(0.0 < level && level < 1.0) {
        bail!("bootstrap: level must lie strictly between 0 and 1, got {level}");
    }
    let (Some(observed), observed_tasks) = d.observed() else {
        bail!("bootstrap: the two methods share no scored image");
    };
    let (g, m) = (d.clusters(), d.tasks());
    let mut rng = Rng::new(seed);
    let mut means = Vec::with_capacity(resamples);
    let mut per_task: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); m];
    let (mut unscored, mut diff, mut scored) = (vec![0u64; m], vec![0i64; m], vec![0u64; m]);
    let mut draw = vec![None; m];
    for _ in 0..resamples {
        let mut base = 0u64;
        unscored.fill(0);
        diff.fill(0);
        for _ in 0..g {
            d.add_cluster(rng.below(g), &mut base, &mut unscored, &mut diff);
        }
        for (s, u) in scored.iter_mut().zip(&unscored) {
            *s = base - u;
        }
        if let Some(mean) = differences(&scored, &diff, d.pairings(), &mut draw) {
            means.push(mean);
        }
        for (values, v) in per_task.iter_mut().zip(&draw) {
            if let Some(v) = v {
                values.push(*v);
            }
        }
    }
    if means.is_empty() {
        bail!("bootstrap: no resample contained a scored image");
    }
    let tasks = observed_tasks
        .iter()
        .zip(per_task.iter_mut())
        .map(|(obs, values)| match obs {
            Some(o) if !values.is_empty() => Some(interval(*o, values, level)),
            _ => None,
        })
        .collect();
    Ok(PairedBootstrap { mean: interval(observed, &mut means, level), tasks, level, resamples, seed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::paired::tests::matrix;
    use crate::eval::paired::{Clusters, Correctness};

    const T: Option<bool> = Some(true);
    const F: Option<bool> = Some(false);

    fn one(a: &Correctness, b: &Correctness, clusters: &Clusters) -> ClusteredDifferences {
        ClusteredDifferences::new(&[(a, b)], clusters).unwrap()
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.0);
        assert_eq!(quantile_sorted(&v, 0.125), 0.5);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
    }

    #[test]
    fn observed_difference_by_hand() {
        // Task 0: A 2/3, B 1/3. Task 1: only images 0 and 1 scored in both: A 1/2, B 2/2.
        let a = matrix(&[&[T, T], &[T, F], &[F, T]]);
        let b = matrix(&[&[F, T], &[T, T], &[F, None]]);
        let ci = cluster_bootstrap(&one(&a, &b, &Clusters::images(3)), 200, 1, 0.95).unwrap();
        let want = ((2.0 / 3.0 - 1.0 / 3.0) + (0.5 - 1.0)) / 2.0;
        assert!((ci.mean.observed - want).abs() < 1e-12);
        assert!(ci.mean.low <= ci.mean.high);
        assert_eq!(ci.tasks[1].unwrap().observed, -0.5);
    }

    #[test]
    fn two_identities_have_a_known_distribution() {
        // Identity 1: three images A gets right and B wrong; identity 2: one image both get right.
        // A draw is {1,1} (¼): D = 6/6 = 1; {1,2} or {2,1} (½): 3/4; {2,2} (¼): 0.
        // The 95% interval is [0, 1]; a 40% interval (quantiles 0.3 and 0.7) sits on 3/4.
        let a = matrix(&[&[T], &[T], &[T], &[T]]);
        let b = matrix(&[&[F], &[F], &[F], &[T]]);
        let ids = Clusters::from_identities(&[Some(1), Some(1), Some(1), Some(2)]);
        let d = one(&a, &b, &ids);
        let ci = cluster_bootstrap(&d, 4000, 42, 0.95).unwrap();
        assert_eq!(ci.mean.observed, 0.75);
        assert_eq!((ci.mean.low, ci.mean.high), (0.0, 1.0));
        assert_eq!(ci.tasks[0].map(|t| (t.low, t.high)), Some((0.0, 1.0)));
        let narrow = cluster_bootstrap(&d, 4000, 42, 0.4).unwrap();
        assert_eq!((narrow.mean.low, narrow.mean.high), (0.75, 0.75));
        // Resampling the four images instead: D = (share of the first three images in the draw),
        // a multiple of ¼, never all four equal to image 4 except with probability (¼)^4, so the
        // 95% interval is [¼, 1] (P(D ≤ ¼) = 13/256 ≈ 5.1% puts q_0.025 at ¼).
        let images = cluster_bootstrap(&one(&a, &b, &Clusters::images(4)), 4000, 42, 0.95).unwrap();
        assert_eq!((images.mean.low, images.mean.high), (0.25, 1.0));
    }

    /// 20 identities of 5 images each; within an identity every image has the same outcome
    /// (perfectly correlated): A beats B on all images of identities 0..8, ties elsewhere.
    fn correlated() -> (Correctness, Correctness, Vec<Option<i64>>) {
        let n = 100;
        let (mut a, mut b) = (Correctness::new(n, 1), Correctness::new(n, 1));
        let mut ids = Vec::new();
        for i in 0..n {
            let g = i / 5;
            ids.push(Some(g as i64));
            a.set(i, 0, Some(true));
            b.set(i, 0, Some(g >= 8));
        }
        (a, b, ids)
    }

    #[test]
    fn identity_level_intervals_are_wider_when_identities_are_internally_correlated() {
        let (a, b, ids) = correlated();
        let by_identity = cluster_bootstrap(&one(&a, &b, &Clusters::from_identities(&ids)), 2000, 3, 0.95).unwrap();
        let by_image = cluster_bootstrap(&one(&a, &b, &Clusters::images(100)), 2000, 3, 0.95).unwrap();
        assert_eq!(by_identity.mean.observed, 0.4);
        assert_eq!(by_image.mean.observed, 0.4);
        let (wi, wm) = (by_identity.mean.high - by_identity.mean.low, by_image.mean.high - by_image.mean.low);
        // Standard errors: √(0.4·0.6/20) ≈ 0.110 by identity, √(0.4·0.6/100) ≈ 0.049 by image:
        // widths ≈ 0.43 and 0.19 (ratio √5).
        assert!(wi > 1.8 * wm, "identity-level {wi} vs image-level {wm}");
        assert!((0.3..0.55).contains(&wi) && (0.13..0.25).contains(&wm), "{wi} {wm}");
        // Independent images inside identities: the two views agree.
        let mut b2 = Correctness::new(100, 1);
        for i in 0..100 {
            b2.set(i, 0, Some(i % 5 >= 2));
        }
        let x = cluster_bootstrap(&one(&a, &b2, &Clusters::from_identities(&ids)), 2000, 3, 0.95).unwrap();
        // Every identity holds the same mix (2 of 5 A-only): the identity level has no spread at all.
        assert_eq!((x.mean.low, x.mean.high), (0.4, 0.4));
    }

    #[test]
    fn identical_methods_give_a_zero_interval_and_seeds_reproduce() {
        let a = matrix(&[&[T, F], &[F, T], &[T, T], &[F, F]]);
        let c = Clusters::from_identities(&[Some(1), Some(1), Some(2), None]);
        let ci = cluster_bootstrap(&one(&a, &a, &c), 100, 3, 0.95).unwrap();
        assert_eq!((ci.mean.observed, ci.mean.low, ci.mean.high), (0.0, 0.0, 0.0));
        let b = matrix(&[&[F, F], &[F, T], &[T, F], &[F, F]]);
        let x = cluster_bootstrap(&one(&a, &b, &c), 300, 9, 0.95).unwrap();
        let y = cluster_bootstrap(&one(&a, &b, &c), 300, 9, 0.95).unwrap();
        assert_eq!(x, y);
        assert!(x.mean.low <= x.mean.observed && x.mean.observed <= x.mean.high);
        assert!(cluster_bootstrap(&one(&a, &b, &c), 0, 9, 0.95).is_err());
        assert!(cluster_bootstrap(&one(&a, &b, &c), 10, 9, 1.0).is_err());
    }
}
