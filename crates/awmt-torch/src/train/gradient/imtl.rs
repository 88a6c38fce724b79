//! IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021): the update
//! d = Σ_j α_j g_j has equal projections on every task's unit gradient u_j = g_j/‖g_j‖, with
//! Σ α = 1: α_{2:M} = g_1 Uᵀ (D Uᵀ)⁻¹, α_1 = 1 − Σ α_{2:M}, where D's rows are g_1 − g_j and U's
//! rows u_1 − u_j (j = 2..M). Everything is an inner product, so it is computed from the Gram
//! matrix: g_a·u_b = K_ab/‖g_b‖ (0 for a zero g_b). Only the gradient half (IMTL-G); IMTL-L's
//! learned loss scales are not included. When D Uᵀ is singular (parallel gradients, where every
//! convex combination is impartial) α = 1/M each instead of LibMTL's inverse of a singular matrix.

use super::linalg::solve;
use super::{GradMode, GradientMethod, Gram, StepInfo};

pub struct Imtl {
    mode: GradMode,
}

impl Imtl {
    pub fn new(mode: GradMode) -> Imtl {
        Imtl { mode }
    }
}

/// IMTL-G's α for Gram matrix `gram`.
pub fn imtl_weights(gram: &Gram) -> Vec<f64> {
    let m = gram.m;
    if m == 1 {
        return vec![1.0];
    }
    let norms = gram.norms();
    // q(a, b) = g_a·u_b.
    let q = |a: usize, b: usize| if norms[b] > 0.0 { gram.at(a, b) / norms[b] } else { 0.0 };
    let n = m - 1;
    // (D Uᵀ)_{ab} = (g_1 − g_a)·(u_1 − u_b); solve (D Uᵀ)ᵀ x = (g_1 Uᵀ)ᵀ for the row vector x.
    let mut dut_t = vec![0.0; n * n];
    for a in 1..m {
        for b in 1..m {
            let v = q(0, 0) - q(0, b) - q(a, 0) + q(a, b);
            dut_t[(b - 1) * n + (a - 1)] = v;
        }
    }
    let rhs: Vec<f64> = (1..m).map(|b| q(0, 0) - q(0, b)).collect();
    let tol = 1e-10 * norms.iter().fold(0.0f64, |a, b| a.max(*b));
    match solve(&dut_t, &rhs, tol) {
        Some(x) => {
            let mut alpha = vec![1.0 - x.iter().sum::<f64>()];
            alpha.extend(x);
            alpha
        }
        None => vec![1.0 / m as f64; m],
    }
}

impl GradientMethod for Imtl {
    fn mode(&self) -> GradMode {
        self.mode
    }
    fn name(&self) -> &'static str {
        "imtl"
    }
    fn combine(&mut self, _info: &StepInfo, gram: &Gram) -> Vec<f64> {
        imtl_weights(gram)
    }
}


#[cfg(test)]
mod tests {
    use super::super::linalg::close;
    use super::super::combine;
    use super::*;

    #[test]
    fn two_tasks_by_hand() {
        // Orthonormal: α = (½, ½).
        assert!(close(&imtl_weights(&Gram::of(&[vec![1.0, 0.0], vec![0.0, 1.0]])), &[0.5, 0.5], 1e-12));
        // One dominant: g1 = (2,0), g2 = (0,1): D Uᵀ = (2,−1)·(1,−1) = 3, g1 Uᵀ = 2 → α = (⅓, ⅔),
        // d = (⅔, ⅔): equal projections on u1 and u2.
        assert!(close(&imtl_weights(&Gram::of(&[vec![2.0, 0.0], vec![0.0, 1.0]])), &[1.0 / 3.0, 2.0 / 3.0], 1e-12));
        // Conflicting: g1 = (1,0), g2 = (−1,1): α2 = (1 + 1/√2)/(2 + 3/√2) = √2 − 1, α1 = 2 − √2;
        // d = (3 − 2√2, √2 − 1), whose projection on both unit gradients is 3 − 2√2.
        let g = vec![vec![1.0, 0.0], vec![-1.0, 1.0]];
        let r2 = 2f64.sqrt();
        let w = imtl_weights(&Gram::of(&g));
        assert!(close(&w, &[2.0 - r2, r2 - 1.0], 1e-12), "{w:?}");
        let d = combine(&g, &w);
        assert!(((d[1] - d[0]) / r2 - (3.0 - 2.0 * r2)).abs() < 1e-12 && (d[0] - (3.0 - 2.0 * r2)).abs() < 1e-12);
    }

    #[test]
    fn three_tasks_equal_projections() {
        let g = vec![vec![2.0, 0.0, 0.0], vec![1.0, 1.0, 0.0], vec![0.0, -1.0, 3.0]];
        let w = imtl_weights(&Gram::of(&g));
        let d = combine(&g, &w);
        let proj: Vec<f64> = g.iter().map(|gj| gj.iter().zip(&d).map(|(a, b)| a * b).sum::<f64>() / gj.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
        assert!((proj[0] - proj[1]).abs() < 1e-9 && (proj[0] - proj[2]).abs() < 1e-9, "{proj:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_gradients() {
        // Zero g2: α = (0, 1), d = 0. Opposite: α = (½, ½), d = 0. Parallel: singular → ½ each.
        assert!(close(&imtl_weights(&Gram::of(&[vec![1.0, 2.0], vec![0.0, 0.0]])), &[0.0, 1.0], 1e-12));
        assert!(close(&imtl_weights(&Gram::of(&[vec![1.0, 1.0], vec![-1.0, -1.0]])), &[0.5, 0.5], 1e-12));
        assert!(close(&imtl_weights(&Gram::of(&[vec![1.0, 1.0], vec![2.0, 2.0]])), &[0.5, 0.5], 1e-12));
        assert!(close(&imtl_weights(&Gram::of(&[vec![0.0, 0.0], vec![0.0, 0.0]])), &[0.5, 0.5], 1e-12));
    }
}
