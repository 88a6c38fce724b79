//! PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020): for each task i,
//! start from g_i^PC = g_i and, for j in a random order of all tasks, project away a conflict:
//! if g_i^PC·g_j < 0 then g_i^PC ← g_i^PC − (g_i^PC·g_j / ‖g_j‖²) g_j; the update is
//! d = Σ_i g_i^PC. Each g_i^PC is tracked as coefficients c_i over the g's (g_i^PC·g_j = (c_i K)_j),
//! so d = Σ_j w_j g_j with w = Σ_i c_i. The order is drawn per task and iteration (as LibMTL does)
//! from PCGrad's own seeded stream, saved in checkpoints.

use anyhow::Result;

use super::{GradMode, GradientMethod, Gram, StepInfo};
use awmt::rng::{derive_seed, Rng};
use crate::train::weighting::{Weighting, WeightingState};

/// Stream tag of PCGrad's random orders.
const PCGRAD_STREAM: u64 = 0x5043_4752;

pub struct PcGrad {
    m: usize,
    mode: GradMode,
    rng: Rng,
}

impl PcGrad {
    pub fn new(m: usize, mode: GradMode, seed: u64) -> PcGrad {
        PcGrad { m, mode, rng: Rng::new(derive_seed(seed, PCGRAD_STREAM)) }
    }
}

/// PCGrad's weights for given orders (`orders[i]`: the order task i visits the others in).
pub fn pcgrad_weights(gram: &Gram, orders: &[Vec<usize>]) -> Vec<f64> {
    let m = gram.m;
    let mut w = vec![0.0; m];
    for (i, order) in orders.iter().enumerate() {
        let mut c = vec![0.0; m];
        c[i] = 1.0;
        for &j in order {
            let norm2 = gram.at(j, j);
            if !(norm2 > 0.0) {
                continue; // a zero gradient conflicts with nothing
            }
            let dot: f64 = (0..m).map(|k| c[k] * gram.at(k, j)).sum();
            if dot < 0.0 {
                c[j] -= dot / norm2;
            }
        }
        for k in 0..m {
            w[k] += c[k];
        }
    }
    w
}

impl GradientMethod for PcGrad {
    fn mode(&self) -> GradMode {
        self.mode
    }
    fn name(&self) -> &'static str {
        "pcgrad"
    }
    fn combine(&mut self, _info: &StepInfo, gram: &Gram) -> Vec<f64> {
        let orders: Vec<Vec<usize>> = (0..self.m)
            .map(|_| {
                let mut o: Vec<usize> = (0..self.m).collect();
                self.rng.shuffle(&mut o);
                o
            })
            .collect();
        pcgrad_weights(gram, &orders)
    }
}

impl Weighting for PcGrad {
    fn weights(&mut self, _t: u64, _train: &[f64], _val: &[f64]) -> Vec<f64> {
        vec![1.0; self.m]
    }
    fn state(&self) -> WeightingState {
        let mut s = WeightingState::default();
        s.words.insert("rng".into(), self.rng.state().to_vec());
        s
    }
    fn load_state(&mut self, state: &WeightingState) -> Result<()> {
        let w = state.words("rng", 4)?;
        self.rng = Rng::from_state([w[0], w[1], w[2], w[3]]);
        Ok(())
    }
    fn as_gradient(&mut self) -> Option<&mut dyn GradientMethod> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::linalg::close;
    use super::super::combine;
    use super::*;

    #[test]
    fn conflicting_pair_by_hand() {
        // g1 = (1, 0), g2 = (−1, 1): g1·g2 = −1. g1^PC = g1 + ½ g2 = (0.5, 0.5);
        // g2^PC = g2 + g1 = (0, 1). d = (0.5, 1.5), w = (1 + 1, ½ + 1) = (2, 1.5).
        let g = vec![vec![1.0, 0.0], vec![-1.0, 1.0]];
        let w = pcgrad_weights(&Gram::of(&g), &[vec![0, 1], vec![1, 0]]);
        assert!(close(&w, &[2.0, 1.5], 1e-12), "{w:?}");
        assert!(close(&combine(&g, &w), &[0.5, 1.5], 1e-12));
    }

    #[test]
    fn aligned_dominant_zero_opposite() {
        // Aligned: no projection, w = 1.
        let w = pcgrad_weights(&Gram::of(&[vec![3.0, 0.0], vec![1.0, 1.0]]), &[vec![0, 1], vec![0, 1]]);
        assert!(close(&w, &[1.0, 1.0], 1e-12));
        // A zero gradient is skipped, nothing is NaN.
        let w = pcgrad_weights(&Gram::of(&[vec![1.0, 2.0], vec![0.0, 0.0]]), &[vec![1, 0], vec![0, 1]]);
        assert!(close(&w, &[1.0, 1.0], 1e-12), "{w:?}");
        // Opposite: g1 = −g2 = (1, 1): each is projected onto the other's normal → 0; w = (1+1, 1+1)
        // gives d = 0.
        let g = vec![vec![1.0, 1.0], vec![-1.0, -1.0]];
        let w = pcgrad_weights(&Gram::of(&g), &[vec![0, 1], vec![1, 0]]);
        assert!(close(&combine(&g, &w), &[0.0, 0.0], 1e-12), "{w:?}");
        let zero = pcgrad_weights(&Gram::of(&[vec![0.0, 0.0], vec![0.0, 0.0]]), &[vec![0, 1], vec![1, 0]]);
        assert!(close(&zero, &[1.0, 1.0], 1e-12));
    }

    #[test]
    fn three_tasks_order_matters_and_is_seeded() {
        // g1 = (1, 0), g2 = (−1, 1), g3 = (0, −1). Task 1 visiting 2 then 3:
        // c = e1 + ½ e2 (g1^PC = (½, ½)), then ·g3 = −½ < 0 → + ½ e3 → (½, 0).
        // Visiting 3 then 2: ·g3 = 0, then ·g2 = −1 → + ½ e2 → (½, ½) again, ·g3 not revisited.
        let g = vec![vec![1.0, 0.0], vec![-1.0, 1.0], vec![0.0, -1.0]];
        let k = Gram::of(&g);
        // Tasks 2 and 3 visit nobody here (c = e2, e3), so w = c_1 + e2 + e3.
        let a = pcgrad_weights(&k, &[vec![1, 2], vec![], vec![]]);
        assert!(close(&a, &[1.0, 1.5, 1.5], 1e-12), "{a:?}");
        let b = pcgrad_weights(&k, &[vec![2, 1], vec![], vec![]]);
        assert!(close(&b, &[1.0, 1.5, 1.0], 1e-12), "{b:?}");
        let info = StepInfo { t: 1, losses: &[1.0; 3], lr: 0.1 };
        let (mut x, mut y) = (PcGrad::new(3, GradMode::Parameters, 5), PcGrad::new(3, GradMode::Parameters, 5));
        let first = x.combine(&info, &k);
        assert_eq!(first, y.combine(&info, &k));
        let mut z = PcGrad::new(3, GradMode::Parameters, 0);
        z.load_state(&x.state()).unwrap();
        for _ in 0..5 {
            assert_eq!(x.combine(&info, &k), z.combine(&info, &k));
        }
    }
}
