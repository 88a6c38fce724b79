//! CAGrad (Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021):
//! with g0 = (1/M) Σ_j g_j and φ = c²‖g0‖², find w = argmin_{w ∈ simplex} g_wᵀg0 + √φ ‖g_w‖
//! (g_w = Σ_j w_j g_j), then d = g0 + (√φ / ‖g_w‖) g_w, divided by 1 + c² (`rescale: 1`, the
//! default), by 1 + c (`rescale: 2`) or not at all (`rescale: 0`), as the authors' code and
//! LibMTL rescale. In Gram terms, LibMTL's exact arithmetic: ‖g0‖ = √(mean K + 1e-8),
//! √φ = c‖g0‖ + 1e-8, objective wᵀK(1/M) + √φ·√(wᵀKw + 1e-8). The convex subproblem is solved
//! by projected gradient with backtracking on the simplex (LibMTL: scipy's SLSQP from w = 1/M;
//! benches/libmtl_check.py compares the two).
//! Effective weights: w_eff,j = (1/M + (√φ/‖g_w‖)·w_j) / rescale; when g_w = 0 (every gradient
//! zero, or the hull contains 0) the correction term is dropped instead of dividing by zero.

use super::linalg::project_simplex;
use super::{GradMode, GradientMethod, Gram, StepInfo};

pub struct CaGrad {
    mode: GradMode,
    c: f64,
    rescale: u8,
}

impl CaGrad {
    pub fn new(mode: GradMode, c: f64, rescale: u8) -> CaGrad {
        CaGrad { mode, c, rescale }
    }
}

/// argmin over the simplex of F(w) = wᵀK b + s·√(wᵀKw + 1e-8), b = (1/M)·1.
fn solve_cagrad(gram: &Gram, s: f64) -> Vec<f64> {
    let m = gram.m;
    let kb: Vec<f64> = (0..m).map(|i| (0..m).map(|j| gram.at(i, j)).sum::<f64>() / m as f64).collect();
    let f = |w: &[f64]| w.iter().zip(&kb).map(|(a, b)| a * b).sum::<f64>() + s * (gram.quad(w) + 1e-8).sqrt();
    let grad = |w: &[f64]| {
        let kw = gram.times(w);
        let root = (gram.quad(w) + 1e-8).sqrt();
        kb.iter().zip(&kw).map(|(b, k)| b + s * k / root).collect::<Vec<f64>>()
    };
    let mut w = vec![1.0 / m as f64; m];
    let mut fw = f(&w);
    let scale = gram.k.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-12);
    let mut step = 1.0 / scale;
    for _ in 0..2000 {
        let g = grad(&w);
        let mut accepted = None;
        while step > 1e-30 {
            let y = project_simplex(&w.iter().zip(&g).map(|(a, b)| a - step * b).collect::<Vec<f64>>());
            let fy = f(&y);
            let diff: Vec<f64> = y.iter().zip(&w).map(|(a, b)| a - b).collect();
            let lin: f64 = g.iter().zip(&diff).map(|(a, b)| a * b).sum();
            let sq: f64 = diff.iter().map(|x| x * x).sum();
            if fy <= fw + lin + sq / (2.0 * step) {
                accepted = Some((y, fy, sq));
                break;
            }
            step *= 0.5;
        }
        let Some((y, fy, sq)) = accepted else { break };
        w = y;
        fw = fy;
        if sq < 1e-24 {
            break;
        }
        step *= 2.0;
    }
    w
}

/// CAGrad's effective weights for Gram matrix `gram`.
pub fn cagrad_weights(gram: &Gram, c: f64, rescale: u8) -> Vec<f64> {
    let m = gram.m;
    let mean_k = gram.k.iter().sum::<f64>() / (m * m) as f64;
    let g0_norm = (mean_k.max(0.0) + 1e-8).sqrt();
    let s = c * g0_norm + 1e-8;
    let w = solve_cagrad(gram, s);
    let gw_sq = gram.quad(&w);
    let lmbda = if gw_sq > 1e-20 { s / (gw_sq.sqrt() + 1e-8) } else { 0.0 };
    let divide = match rescale {
        0 => 1.0,
        1 => 1.0 + c * c,
        _ => 1.0 + c,
    };
    w.iter().map(|wj| (1.0 / m as f64 + lmbda * wj) / divide).collect()
}

impl GradientMethod for CaGrad {
    fn mode(&self) -> GradMode {
        self.mode
    }
    fn name(&self) -> &'static str {
        "cagrad"
    }
    fn combine(&mut self, _info: &StepInfo, gram: &Gram) -> Vec<f64> {
        cagrad_weights(gram, self.c, self.rescale)
    }
}


#[cfg(test)]
mod tests {
    use super::super::linalg::close;
    use super::super::combine;
    use super::*;

    #[test]
    fn orthogonal_pair_by_hand() {
        // g1 = (1,0), g2 = (0,1): wᵀKb = ½ on the whole simplex, ‖g_w‖ is least at w = (½,½);
        // ‖g0‖ = √½, √φ = ½√½, ‖g_w‖ = √½ → λ = ½; d = (g0 + ½ g_w)/1.25 = (0.6, 0.6).
        let g = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let w = cagrad_weights(&Gram::of(&g), 0.5, 1);
        assert!(close(&w, &[0.6, 0.6], 1e-6), "{w:?}");
        // rescale 0: 0.75 each; c = 0 is the plain mean.
        assert!(close(&cagrad_weights(&Gram::of(&g), 0.5, 0), &[0.75, 0.75], 1e-6));
        assert!(close(&cagrad_weights(&Gram::of(&g), 0.0, 1), &[0.5, 0.5], 1e-6));
    }

    #[test]
    fn three_orthonormal_tasks_and_every_rescale_by_hand() {
        // K = I₃: by symmetry w = ⅓ each, g_w = g0, ‖g0‖ = 1/√3, √φ = c/√3 → λ = c = ½;
        // d = (1 + ½) g0 = ½·(1, 1, 1) before rescaling: ÷1.25 → 0.4 each, ÷1.5 → ⅓ each.
        // (benches/libmtl_check.py: LibMTL 1.1.5's CAGrad gives the same d.)
        let g = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        let k = Gram::of(&g);
        assert!(close(&cagrad_weights(&k, 0.5, 1), &[0.4; 3], 1e-6));
        assert!(close(&cagrad_weights(&k, 0.5, 2), &[1.0 / 3.0; 3], 1e-6));
        assert!(close(&cagrad_weights(&k, 0.5, 0), &[0.5; 3], 1e-6));
        // Aligned, one dominant, three tasks: g = (2,0), (1,0), (1,0): F grows with w1, so g_w =
        // (1, 0) whatever w2 : w3; g0 = (4/3, 0), √φ = ⅔ → d = (4/3 + ⅔)/1.25 = (1.6, 0).
        let g = vec![vec![2.0, 0.0], vec![1.0, 0.0], vec![1.0, 0.0]];
        assert!(close(&combine(&g, &cagrad_weights(&Gram::of(&g), 0.5, 1)), &[1.6, 0.0], 1e-6));
    }

    #[test]
    fn aligned_one_dominant_by_hand() {
        // g1 = (2,0), g2 = (1,0): F(w) = 1.5 + 1.5w1 + √φ(1 + w1) grows with w1 → w = (0, 1).
        // ‖g0‖ = 1.5, √φ = 0.75, ‖g_w‖ = 1 → w_eff = (½, ½ + 0.75)/1.25 = (0.4, 1.0); d = (1.8, 0).
        let g = vec![vec![2.0, 0.0], vec![1.0, 0.0]];
        let w = cagrad_weights(&Gram::of(&g), 0.5, 1);
        assert!(close(&w, &[0.4, 1.0], 1e-6), "{w:?}");
        assert!(close(&combine(&g, &w), &[1.8, 0.0], 1e-6));
    }

    #[test]
    fn conflicting_improves_the_worst_task() {
        // g1 = (1,0), g2 = (−1,1): the mean (0, ½) does not decrease task 1 (g1·g0 = 0); CAGrad's
        // d must do at least as well for the worse task: min_j g_j·d > 0.
        let g = vec![vec![1.0, 0.0], vec![-1.0, 1.0]];
        let w = cagrad_weights(&Gram::of(&g), 0.5, 1);
        let d = combine(&g, &w);
        let worst = g.iter().map(|gj| gj[0] * d[0] + gj[1] * d[1]).fold(f64::INFINITY, f64::min);
        assert!(worst > 0.0, "{w:?} → {d:?}");
    }

    #[test]
    fn degenerate_gradients_give_finite_weights() {
        for g in [
            vec![vec![0.0, 0.0], vec![0.0, 0.0]],
            vec![vec![1.0, 1.0], vec![1.0, 1.0]],
            vec![vec![1.0, 1.0], vec![-1.0, -1.0]],
            vec![vec![1.0, 2.0], vec![0.0, 0.0]],
        ] {
            let w = cagrad_weights(&Gram::of(&g), 0.5, 1);
            assert!(w.iter().all(|x| x.is_finite()), "{g:?} → {w:?}");
        }
        // Opposite: the hull contains 0, g_w = 0, the correction is dropped: w = (0.4, 0.4), d = 0.
        let w = cagrad_weights(&Gram::of(&[vec![1.0, 1.0], vec![-1.0, -1.0]]), 0.5, 1);
        assert!(close(&w, &[0.4, 0.4], 1e-6), "{w:?}");
    }
}
