//! Paired bootstrap confidence interval of the difference in mean accuracy between two methods
//! scored on the same images, drawn with awmt's own seeded generator (`crate::rng`) so the interval does not
//! depend on any crate's random-number implementation.
//!
//! One resample draws n images with replacement (the same draw for both methods: paired); each
//! method's mean accuracy on it is the unweighted mean over tasks of that task's accuracy on the
//! drawn images (tasks with nothing scored in the draw are left out). The interval is the
//! percentile interval (quantiles with linear interpolation, "type 7") of the resampled differences.
//! A cell counts only where both methods are scored.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Correctness of one method: images × tasks cells, each not scored / wrong / correct.
#[derive(Debug, Clone, PartialEq)]
pub struct Correctness {
    tasks: usize,
    cells: Vec<Option<bool>>,
}

impl Correctness {
    pub fn new(images: usize, tasks: usize) -> Self {
        Correctness { tasks, cells: vec![None; images * tasks] }
    }

    pub fn images(&self) -> usize {
        if self.tasks == 0 {
            0
        } else {
            self.cells.len() / self.tasks
        }
    }

    pub fn tasks(&self) -> usize {
        self.tasks
    }

    pub fn set(&mut self, image: usize, task: usize, correct: Option<bool>) {
        self.cells[image * self.tasks + task] = correct;
    }

    pub fn get(&self, image: usize, task: usize) -> Option<bool> {
        self.cells[image * self.tasks + task]
    }
}

/// The result: observed difference A − B and its interval (fractions, not percent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCi {
    pub observed: f64,
    pub low: f64,
    pub high: f64,
    pub level: f64,
    pub resamples: usize,
    pub seed: u64,
    pub images: usize,
}

/// Mean accuracy difference A − B on a draw given as per-image multiplicities (`None` = all once).
fn mean_difference(a: &Correctness, b: &Correctness, weights: Option<&[u32]>) -> Option<f64> {
    let t = a.tasks;
    // per task: (scored, correct A, correct B), weighted by multiplicity
    let mut acc = vec![(0u64, 0u64, 0u64); t];
    for image in 0..a.images() {
        let w = weights.map_or(1, |w| w[image]) as u64;
        if w == 0 {
            continue;
        }
        for task in 0..t {
            if let (Some(ca), Some(cb)) = (a.get(image, task), b.get(image, task)) {
                let e = &mut acc[task];
                e.0 += w;
                e.1 += w * ca as u64;
                e.2 += w * cb as u64;
            }
        }
    }
    let mut sum = 0.0;
    let mut count = 0;
    for (scored, ca, cb) in acc {
        if scored > 0 {
            sum += (ca as f64 - cb as f64) / scored as f64;
            count += 1;
        }
    }
    (count > 0).then(|| sum / count as f64)
}

/// Quantile `q` of sorted values with linear interpolation between order statistics.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Paired bootstrap interval of mean accuracy(A) − mean accuracy(B) at `level` (e.g. 0.95).
pub fn paired_mean_accuracy_difference(
    a: &Correctness,
    b: &Correctness,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Result<BootstrapCi> {
    if a.tasks != b.tasks || a.cells.len() != b.cells.len() {
        bail!("bootstrap: the two methods were not scored on the same images and tasks");
    }
    if resamples == 0 {
        bail!("bootstrap: resamples must be at least 1");
    }
    if !(0.0 < level && level < 1.0) {
        bail!("bootstrap: level must lie strictly between 0 and 1, got {level}");
    }
    let n = a.images();
    let Some(observed) = mean_difference(a, b, None) else {
        bail!("bootstrap: the two methods share no scored image");
    };
    let mut rng = Rng::new(seed);
    let mut weights = vec![0u32; n];
    let mut diffs = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        weights.iter_mut().for_each(|w| *w = 0);
        for _ in 0..n {
            weights[rng.below(n)] += 1;
        }
        if let Some(d) = mean_difference(a, b, Some(&weights)) {
            diffs.push(d);
        }
    }
    if diffs.is_empty() {
        bail!("bootstrap: no resample contained a scored image");
    }
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Ok(BootstrapCi {
        observed,
        low: quantile_sorted(&diffs, tail),
        high: quantile_sorted(&diffs, 1.0 - tail),
        level,
        resamples,
        seed,
        images: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[Option<bool>]]) -> Correctness {
        let mut m = Correctness::new(rows.len(), rows[0].len());
        for (i, r) in rows.iter().enumerate() {
            for (t, c) in r.iter().enumerate() {
                m.set(i, t, *c);
            }
        }
        m
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
        let t = Some(true);
        let f = Some(false);
        let a = matrix(&[&[t, t], &[t, f], &[f, t]]);
        let b = matrix(&[&[f, t], &[t, t], &[f, None]]);
        let ci = paired_mean_accuracy_difference(&a, &b, 200, 1, 0.95).unwrap();
        let want = ((2.0 / 3.0 - 1.0 / 3.0) + (0.5 - 1.0)) / 2.0;
        assert!((ci.observed - want).abs() < 1e-12);
        assert!(ci.low <= ci.high);
    }

    #[test]
    fn two_image_distribution_has_known_extremes() {
        // One task; A right on image 0 only, B never: the difference on a draw is the share of
        // image 0 in it, i.e. 0, ½ or 1 with probabilities ¼, ½, ¼. The 95% interval is [0, 1].
        let a = matrix(&[&[Some(true)], &[Some(false)]]);
        let b = matrix(&[&[Some(false)], &[Some(false)]]);
        let ci = paired_mean_accuracy_difference(&a, &b, 4000, 42, 0.95).unwrap();
        assert_eq!(ci.observed, 0.5);
        assert_eq!((ci.low, ci.high), (0.0, 1.0));
        // An 40% interval sits on the middle value.
        let narrow = paired_mean_accuracy_difference(&a, &b, 4000, 42, 0.4).unwrap();
        assert_eq!((narrow.low, narrow.high), (0.5, 0.5));
    }

    #[test]
    fn identical_methods_give_a_zero_interval_and_seeds_reproduce() {
        let t = Some(true);
        let f = Some(false);
        let a = matrix(&[&[t, f], &[f, t], &[t, t], &[f, f]]);
        let ci = paired_mean_accuracy_difference(&a, &a, 100, 3, 0.95).unwrap();
        assert_eq!((ci.observed, ci.low, ci.high), (0.0, 0.0, 0.0));
        let b = matrix(&[&[f, f], &[f, t], &[t, f], &[f, f]]);
        let x = paired_mean_accuracy_difference(&a, &b, 300, 9, 0.95).unwrap();
        let y = paired_mean_accuracy_difference(&a, &b, 300, 9, 0.95).unwrap();
        assert_eq!(x, y);
        assert!(x.low <= x.observed && x.observed <= x.high);
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let a = Correctness::new(3, 2);
        let b = Correctness::new(2, 2);
        assert!(paired_mean_accuracy_difference(&a, &b, 10, 0, 0.95).is_err());
    }
}
