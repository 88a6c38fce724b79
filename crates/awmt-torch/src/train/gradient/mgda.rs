//! MGDA / MGDA-UB (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
//! NeurIPS 2018): the update is the min-norm point of the convex hull of the (normalised) task
//! gradients, d = Σ_j α_j ĝ_j with α = argmin_{α ∈ simplex} |Σ_j α_j ĝ_j|², ĝ_j = g_j / n_j.
//! With `mode: representation` the gradients are taken at the trunk's output: MGDA-UB, the
//! paper's upper bound. n_j by `normalization`: none (1), l2 (‖g_j‖), loss (L_j), loss_plus
//! (L_j‖g_j‖). The effective weight of g_j is w_j = α_j / n_j. Solved by Frank–Wolfe
//! (`linalg::min_norm_simplex`; exact in closed form for two tasks). Where the min-norm point is a
//! vertex, the paper's Algorithm 1 takes it (γ = 0 or 1); the authors' code, and so LibMTL, clamps
//! γ to [0.001, 0.999] there — awmt follows the paper (benches/libmtl_check.py shows the 0.001).

use super::linalg::min_norm_simplex;
use super::{GradMode, GradientMethod, Gram, MgdaNormalization, StepInfo};

/// Normalisers below this count as zero (a zero gradient or loss is left unscaled).
const TINY: f64 = 1e-12;

pub struct Mgda {
    m: usize,
    mode: GradMode,
    normalization: MgdaNormalization,
}

impl Mgda {
    pub fn new(m: usize, mode: GradMode, normalization: MgdaNormalization) -> Mgda {
        Mgda { m, mode, normalization }
    }
}

impl GradientMethod for Mgda {
    fn mode(&self) -> GradMode {
        self.mode
    }
    fn name(&self) -> &'static str {
        "mgda"
    }
    fn combine(&mut self, info: &StepInfo, gram: &Gram) -> Vec<f64> {
        let norms = gram.norms();
        let n: Vec<f64> = (0..self.m)
            .map(|j| {
                let l = info.losses.get(j).copied().unwrap_or(1.0);
                let raw = match self.normalization {
                    MgdaNormalization::None => 1.0,
                    MgdaNormalization::L2 => norms[j],
                    MgdaNormalization::Loss => l,
                    MgdaNormalization::LossPlus => l * norms[j],
                };
                if raw.is_finite() && raw > TINY { raw } else { 1.0 }
            })
            .collect();
        let scaled = Gram::new(self.m, (0..self.m * self.m).map(|k| gram.k[k] / (n[k / self.m] * n[k % self.m])).collect());
        let alpha = min_norm_simplex(&scaled);
        alpha.iter().zip(&n).map(|(a, nj)| a / nj).collect()
    }
}


#[cfg(test)]
mod tests {
    use super::super::linalg::close;
    use super::super::{combine, Gram, StepInfo};
    use super::*;

    fn run(grads: &[Vec<f64>], norm: MgdaNormalization, losses: &[f64]) -> Vec<f64> {
        let mut m = Mgda::new(grads.len(), GradMode::Parameters, norm);
        m.combine(&StepInfo { t: 1, losses, lr: 0.1 }, &Gram::of(grads))
    }

    #[test]
    fn conflicting_two_tasks_closed_form() {
        // g1 = (1, 0), g2 = (−1, 1): γ = (K22 − K12)/(K11 + K22 − 2K12) = (2+1)/(1+2+2) = 0.6.
        // d = 0.6·(1,0) + 0.4·(−1,1) = (0.2, 0.4), orthogonal-ish to both: d·g1 = d·g2 = 0.2.
        let g = vec![vec![1.0, 0.0], vec![-1.0, 1.0]];
        let w = run(&g, MgdaNormalization::None, &[1.0, 1.0]);
        assert!(close(&w, &[0.6, 0.4], 1e-12), "{w:?}");
        let d = combine(&g, &w);
        assert!(close(&d, &[0.2, 0.4], 1e-12), "{d:?}");
    }

    #[test]
    fn aligned_dominant_and_zero() {
        // Aligned, one dominant: g1 = (3, 0), g2 = (1, 0): the hull's min-norm point is g2.
        assert!(close(&run(&[vec![3.0, 0.0], vec![1.0, 0.0]], MgdaNormalization::None, &[1.0, 1.0]), &[0.0, 1.0], 1e-12));
        // One zero gradient: α on it, d = 0 (a Pareto-stationary point).
        let w = run(&[vec![1.0, 2.0], vec![0.0, 0.0]], MgdaNormalization::None, &[1.0, 1.0]);
        assert!(close(&w, &[0.0, 1.0], 1e-12), "{w:?}");
        // l2 normalisation: g1 = (3,0), g2 = (0,1) → unit vectors, α = (½, ½), w = (1/6, 1/2).
        let w = run(&[vec![3.0, 0.0], vec![0.0, 1.0]], MgdaNormalization::L2, &[1.0, 1.0]);
        assert!(close(&w, &[1.0 / 6.0, 0.5], 1e-12), "{w:?}");
        // loss normalisation with L = (2, 1): ĝ = (1.5, 0), (0, 1): γ = 1/(2.25+1) → w = (γ/2, 1−γ).
        let gam = 1.0 / 3.25;
        let w = run(&[vec![3.0, 0.0], vec![0.0, 1.0]], MgdaNormalization::Loss, &[2.0, 1.0]);
        assert!(close(&w, &[gam / 2.0, 1.0 - gam], 1e-12), "{w:?}");
    }

    #[test]
    fn three_tasks_frank_wolfe() {
        // Orthonormal g1, g2, g3: the min-norm point is the centroid, α = (⅓, ⅓, ⅓).
        let g = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        let w = run(&g, MgdaNormalization::None, &[1.0; 3]);
        assert!(close(&w, &[1.0 / 3.0; 3], 1e-4), "{w:?}");
        // Four tasks where two are opposite: (1,0), (−1,0), (0,1), (0,2): 0 is in the hull.
        let g = vec![vec![1.0, 0.0], vec![-1.0, 0.0], vec![0.0, 1.0], vec![0.0, 2.0]];
        let w = run(&g, MgdaNormalization::None, &[1.0; 4]);
        let d = combine(&g, &w);
        assert!(d.iter().all(|x| x.abs() < 1e-6), "{d:?} from {w:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_gradients_give_finite_weights() {
        for g in [
            vec![vec![0.0, 0.0], vec![0.0, 0.0]],
            vec![vec![1.0, 1.0], vec![1.0, 1.0]],
            vec![vec![1.0, 1.0], vec![-1.0, -1.0]],
        ] {
            for norm in [MgdaNormalization::None, MgdaNormalization::L2, MgdaNormalization::Loss, MgdaNormalization::LossPlus] {
                let w = run(&g, norm, &[0.0, 1.0]);
                assert!(w.iter().all(|x| x.is_finite()), "{g:?} {norm:?} → {w:?}");
            }
        }
        // Opposite gradients: α = (½, ½), d = 0.
        let w = run(&[vec![1.0, 1.0], vec![-1.0, -1.0]], MgdaNormalization::None, &[1.0, 1.0]);
        assert!(close(&w, &[0.5, 0.5], 1e-12), "{w:?}");
    }
}
