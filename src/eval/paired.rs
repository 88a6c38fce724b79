//! Two methods scored on the same images, reduced to what the identity-level statistics need
//! (docs/STATISTICS.md): per cluster (an identity, or an image whose identity is
//! unknown) and attribute, the number of scored images and s = Σ (c_A − c_B) over its images and
//! over the seed pairings. One bootstrap resample then costs O(clusters + non-zero cells), not
//! O(images × attributes).
//!
//! Several seed pairings (seed k of A with seed k of B) are pooled by summing: the statistics are
//! those of the seed-averaged correctness, so a difference is the mean over pairings of each
//! pairing's difference, and an identity's sign flip swaps A and B in every pairing at once.

use anyhow::{bail, Result};

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

/// What one bootstrap draw or one sign flip acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResamplingUnit {
    /// Every image has a known identity.
    Identities,
    /// No image has a known identity: images are resampled.
    Images,
    /// Identities where known; each of `unknown` images of unknown identity is its own unit.
    IdentitiesAndImages { unknown: usize },
}

impl ResamplingUnit {
    /// How a table says it (`identities`, `images (identity unknown)`, …).
    pub fn describe(self) -> String {
        match self {
            ResamplingUnit::Identities => "identities".into(),
            ResamplingUnit::Images => "images (identity unknown)".into(),
            ResamplingUnit::IdentitiesAndImages { unknown } => {
                format!("identities ({unknown} images of unknown identity count one each)")
            }
        }
    }
}

/// The cluster of every image.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    /// `of_image[i]` in `0..count`.
    pub of_image: Vec<usize>,
    pub count: usize,
    pub unit: ResamplingUnit,
}

impl Clusters {
    /// One cluster per known identity (numbered in order of first appearance); an image whose
    /// identity is unknown (`None`) is a cluster of its own.
    pub fn from_identities(identities: &[Option<i64>]) -> Clusters {
        let mut index = std::collections::HashMap::new();
        let mut of_image = Vec::with_capacity(identities.len());
        let mut count = 0;
        let mut unknown = 0;
        for id in identities {
            let c = match id {
                Some(id) => *index.entry(*id).or_insert_with(|| {
                    count += 1;
                    count - 1
                }),
                None => {
                    unknown += 1;
                    count += 1;
                    count - 1
                }
            };
            of_image.push(c);
        }
        let unit = if unknown == identities.len() {
            ResamplingUnit::Images
        } else if unknown == 0 {
            ResamplingUnit::Identities
        } else {
            ResamplingUnit::IdentitiesAndImages { unknown }
        };
        Clusters { of_image, count, unit }
    }

    /// Every image its own cluster (the image-level view).
    pub fn images(n: usize) -> Clusters {
        Clusters { of_image: (0..n).collect(), count: n, unit: ResamplingUnit::Images }
    }
}

/// A cluster's cell for one task where it differs from "all images scored, no difference".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    task: u32,
    /// Images of the cluster not scored on this task.
    unscored: u32,
    /// Σ over pairings and scored images of (c_A − c_B).
    diff: i32,
}

/// Per-cluster, per-task counts of a paired comparison (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteredDifferences {
    tasks: usize,
    pairings: usize,
    unit: ResamplingUnit,
    /// Images per cluster.
    images: Vec<u32>,
    /// Cells of cluster g: `cells[offsets[g]..offsets[g + 1]]` (only the non-trivial ones).
    offsets: Vec<usize>,
    cells: Vec<Cell>,
    /// Per task over all clusters: images scored, Σ (c_A − c_B).
    scored: Vec<u64>,
    diff: Vec<i64>,
}

/// Mean over tasks (with something scored) of the per-task differences, and those differences.
pub(crate) fn differences(scored: &[u64], diff: &[i64], pairings: usize, per_task: &mut [Option<f64>]) -> Option<f64> {
    let mut sum = 0.0;
    let mut count = 0usize;
    for ((n, s), out) in scored.iter().zip(diff).zip(per_task.iter_mut()) {
        *out = (*n > 0).then(|| *s as f64 / (*n as f64 * pairings as f64));
        if let Some(d) = out {
            sum += *d;
            count += 1;
        }
    }
    (count > 0).then(|| sum / count as f64)
}

impl ClusteredDifferences {
    /// `pairs[k]` = (A's seed k, B's seed k) over the same images and tasks (row i is image i of
    /// `clusters`). A cell counts where every run of both methods scored it.
    pub fn new(pairs: &[(&Correctness, &Correctness)], clusters: &Clusters) -> Result<ClusteredDifferences> {
        let Some((first, _)) = pairs.first() else { bail!("paired comparison: no seed pairing given") };
        let (n, tasks) = (first.images(), first.tasks());
        for (a, b) in pairs {
            for m in [a, b] {
                if m.images() != n || m.tasks() != tasks {
                    bail!("paired comparison: the runs were not scored on the same images and tasks");
                }
            }
        }
        if clusters.of_image.len() != n {
            bail!("paired comparison: {} images but {} cluster assignments", n, clusters.of_image.len());
        }
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); clusters.count];
        for (i, &c) in clusters.of_image.iter().enumerate() {
            members[c].push(i);
        }
        let mut images = Vec::with_capacity(clusters.count);
        let mut offsets = Vec::with_capacity(clusters.count + 1);
        let mut cells = Vec::new();
        let (mut scored, mut diff) = (vec![0u64; tasks], vec![0i64; tasks]);
        offsets.push(0);
        for list in &members {
            images.push(list.len() as u32);
            for t in 0..tasks {
                let (mut unscored, mut d) = (0u32, 0i32);
                for &i in list {
                    let mut cell = 0i32;
                    let mut all_scored = true;
                    for (a, b) in pairs {
                        match (a.get(i, t), b.get(i, t)) {
                            (Some(x), Some(y)) => cell += x as i32 - y as i32,
                            _ => all_scored = false,
                        }
                    }
                    if all_scored {
                        d += cell;
                    } else {
                        unscored += 1;
                    }
                }
                scored[t] += (list.len() as u32 - unscored) as u64;
                diff[t] += d as i64;
                if unscored > 0 || d != 0 {
                    cells.push(Cell { task: t as u32, unscored, diff: d });
                }
            }
            offsets.push(cells.len());
        }
        Ok(ClusteredDifferences {
            tasks,
            pairings: pairs.len(),
            unit: clusters.unit,
            images,
            offsets,
            cells,
            scored,
            diff,
        })
    }

    pub fn tasks(&self) -> usize {
        self.tasks
    }

    pub fn pairings(&self) -> usize {
        self.pairings
    }

    pub fn clusters(&self) -> usize {
        self.images.len()
    }

    pub fn unit(&self) -> ResamplingUnit {
        self.unit
    }

    pub fn images(&self) -> usize {
        self.images.iter().map(|&n| n as usize).sum()
    }

    /// Images scored on `task` (by every run).
    pub fn scored(&self, task: usize) -> u64 {
        self.scored[task]
    }

    /// Observed mean-accuracy difference A − B (fraction) and the per-task differences.
    pub fn observed(&self) -> (Option<f64>, Vec<Option<f64>>) {
        let mut per_task = vec![None; self.tasks];
        let mean = differences(&self.scored, &self.diff, self.pairings, &mut per_task);
        (mean, per_task)
    }

    /// s_g for `task`, one value per cluster with at least one scored image.
    pub fn cluster_sums(&self, task: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.clusters());
        for g in 0..self.clusters() {
            let cell = self.cell(g, task);
            let unscored = cell.map_or(0, |c| c.unscored);
            if unscored < self.images[g] {
                out.push(cell.map_or(0, |c| c.diff as i64));
            }
        }
        out
    }

    fn cell(&self, cluster: usize, task: usize) -> Option<&Cell> {
        self.cells[self.offsets[cluster]..self.offsets[cluster + 1]].iter().find(|c| c.task as usize == task)
    }

    /// Adds cluster `g` once to running totals (`base` images, per-task unscored and diff).
    #[inline]
    pub(crate) fn add_cluster(&self, g: usize, base: &mut u64, unscored: &mut [u64], diff: &mut [i64]) {
        *base += self.images[g] as u64;
        for c in &self.cells[self.offsets[g]..self.offsets[g + 1]] {
            unscored[c.task as usize] += c.unscored as u64;
            diff[c.task as usize] += c.diff as i64;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn matrix(rows: &[&[Option<bool>]]) -> Correctness {
        let mut m = Correctness::new(rows.len(), rows[0].len());
        for (i, r) in rows.iter().enumerate() {
            for (t, c) in r.iter().enumerate() {
                m.set(i, t, *c);
            }
        }
        m
    }

    const T: Option<bool> = Some(true);
    const F: Option<bool> = Some(false);

    #[test]
    fn clusters_from_identities_say_their_unit() {
        let c = Clusters::from_identities(&[Some(7), Some(3), Some(7), None, Some(3), None]);
        assert_eq!(c.of_image, [0, 1, 0, 2, 1, 3]);
        assert_eq!(c.count, 4);
        assert_eq!(c.unit, ResamplingUnit::IdentitiesAndImages { unknown: 2 });
        assert_eq!(Clusters::from_identities(&[Some(1), Some(1)]).unit, ResamplingUnit::Identities);
        assert_eq!(Clusters::from_identities(&[None, None]).unit, ResamplingUnit::Images);
        assert_eq!(Clusters::from_identities(&[None, None]).count, 2);
        assert!(ResamplingUnit::Images.describe().contains("images"));
    }

    #[test]
    fn counts_by_hand_with_two_pairings_and_a_masked_cell() {
        // Images 0, 1 are identity 5, image 2 identity 9. Task 1 is unscored on image 1 in one run.
        let a1 = matrix(&[&[T, T], &[T, F], &[F, T]]);
        let b1 = matrix(&[&[F, T], &[T, T], &[F, F]]);
        let a2 = matrix(&[&[T, F], &[F, None], &[T, T]]);
        let b2 = matrix(&[&[F, F], &[F, T], &[F, T]]);
        let clusters = Clusters::from_identities(&[Some(5), Some(5), Some(9)]);
        let d = ClusteredDifferences::new(&[(&a1, &b1), (&a2, &b2)], &clusters).unwrap();
        assert_eq!((d.clusters(), d.images(), d.pairings()), (2, 3, 2));
        // Task 0: identity 5: (1−0)+(1−1) + (1−0)+(0−0) = 2; identity 9: (0−0) + (1−0) = 1.
        assert_eq!(d.cluster_sums(0), [2, 1]);
        // Task 1: image 1 unscored; identity 5: (1−1)+(0−0) = 0; identity 9: (1−0)+(1−1) = 1.
        assert_eq!(d.cluster_sums(1), [0, 1]);
        assert_eq!((d.scored(0), d.scored(1)), (3, 2));
        let (mean, per_task) = d.observed();
        let (t0, t1) = (3.0 / (3.0 * 2.0), 1.0 / (2.0 * 2.0));
        assert_eq!(per_task, [Some(t0), Some(t1)]);
        assert!((mean.unwrap() - (t0 + t1) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let a = Correctness::new(3, 2);
        let b = Correctness::new(2, 2);
        assert!(ClusteredDifferences::new(&[(&a, &b)], &Clusters::images(3)).is_err());
        assert!(ClusteredDifferences::new(&[(&a, &a)], &Clusters::images(2)).is_err());
        assert!(ClusteredDifferences::new(&[], &Clusters::images(2)).is_err());
    }
}
