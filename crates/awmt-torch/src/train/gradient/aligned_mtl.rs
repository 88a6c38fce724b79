//! Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task Learning",
//! CVPR 2023): the task gradients are replaced by an orthogonal, equal-norm system with the same
//! span, Ĝ = B G with B = √λ_min · V Λ^{−½} Vᵀ from the eigen-decomposition K = V Λ Vᵀ restricted
//! to the eigenvalues above tol = λ_max · M · ε_f32 (the rank, as LibMTL computes it); the update
//! is d = Σ_i ĝ_i = Σ_j w_j g_j with w = column sums of B. The Gram matrix holds the whole
//! problem: B needs only K. All-zero gradients (rank 0) give w = 1 (d = 0).

use super::linalg::symmetric_eigen;
use super::{GradMode, GradientMethod, Gram, StepInfo};

pub struct AlignedMtl {
    mode: GradMode,
}

impl AlignedMtl {
    pub fn new(mode: GradMode) -> AlignedMtl {
        AlignedMtl { mode }
    }
}

/// B (M×M, row-major) of Aligned-MTL, or None at rank 0.
pub fn aligned_matrix(gram: &Gram) -> Option<Vec<f64>> {
    let m = gram.m;
    let (vals, vecs) = symmetric_eigen(&gram.k, m);
    let max = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let tol = max * m as f64 * f32::EPSILON as f64;
    let kept: Vec<usize> = (0..m).filter(|&k| vals[k] > tol && vals[k] > 0.0).collect();
    let min = kept.iter().map(|&k| vals[k]).fold(f64::INFINITY, f64::min);
    if kept.is_empty() || !min.is_finite() {
        return None;
    }
    let mut b = vec![0.0; m * m];
    for &k in &kept {
        let f = min.sqrt() / vals[k].sqrt();
        for i in 0..m {
            for j in 0..m {
                b[i * m + j] += f * vecs[i * m + k] * vecs[j * m + k];
            }
        }
    }
    Some(b)
}

/// Aligned-MTL's effective weights.
pub fn aligned_weights(gram: &Gram) -> Vec<f64> {
    let m = gram.m;
    match aligned_matrix(gram) {
        Some(b) => (0..m).map(|j| (0..m).map(|i| b[i * m + j]).sum()).collect(),
        None => vec![1.0; m],
    }
}

impl GradientMethod for AlignedMtl {
    fn mode(&self) -> GradMode {
        self.mode
    }
    fn name(&self) -> &'static str {
        "aligned_mtl"
    }
    fn combine(&mut self, _info: &StepInfo, gram: &Gram) -> Vec<f64> {
        aligned_weights(gram)
    }
}


#[cfg(test)]
mod tests {
    use super::super::linalg::close;
    use super::super::combine;
    use super::*;

    #[test]
    fn dominant_orthogonal_pair_by_hand() {
        // K = diag(4, 1): B = diag(1·/2, 1) → w = (½, 1), d = (1, 1): both tasks at the smaller norm.
        let g = vec![vec![2.0, 0.0], vec![0.0, 1.0]];
        let w = aligned_weights(&Gram::of(&g));
        assert!(close(&w, &[0.5, 1.0], 1e-12), "{w:?}");
        assert!(close(&combine(&g, &w), &[1.0, 1.0], 1e-12));
        // Three orthogonal gradients of norms 1, 2, 3: B = diag(1, ½, ⅓) (torchjd: the same).
        let w = aligned_weights(&Gram::of(&[vec![1.0, 0.0, 0.0], vec![0.0, 2.0, 0.0], vec![0.0, 0.0, 3.0]]));
        assert!(close(&w, &[1.0, 0.5, 1.0 / 3.0], 1e-12), "{w:?}");
    }

    #[test]
    fn conflicting_gradients_become_orthogonal_with_equal_norms() {
        // Ĝ = B G must satisfy Ĝ Ĝᵀ = B K B = λ_min I.
        let g = vec![vec![1.0, 0.0, 0.0], vec![-1.0, 1.0, 0.0], vec![0.5, 0.5, 2.0]];
        let k = Gram::of(&g);
        let b = aligned_matrix(&k).unwrap();
        let m = 3;
        let mut bkb = vec![0.0; 9];
        for i in 0..m {
            for j in 0..m {
                bkb[i * m + j] = (0..m).flat_map(|p| (0..m).map(move |q| (p, q))).map(|(p, q)| b[i * m + p] * k.at(p, q) * b[q * m + j]).sum();
            }
        }
        let (vals, _) = symmetric_eigen(&k.k, 3);
        let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
        for i in 0..m {
            for j in 0..m {
                let want = if i == j { min } else { 0.0 };
                assert!((bkb[i * m + j] - want).abs() < 1e-9, "{bkb:?}");
            }
        }
    }

    #[test]
    fn degenerate_gradients() {
        // Identical gradients: rank 1, B = vvᵀ with v = (1,1)/√2 → w = (1, 1).
        assert!(close(&aligned_weights(&Gram::of(&[vec![1.0, 0.0], vec![1.0, 0.0]])), &[1.0, 1.0], 1e-9));
        // Opposite: v = (1,−1)/√2 → w = (0, 0), d = 0.
        assert!(close(&aligned_weights(&Gram::of(&[vec![1.0, 1.0], vec![-1.0, -1.0]])), &[0.0, 0.0], 1e-9));
        // One zero: w = (1, 0), d = g1. All zero: w = 1.
        assert!(close(&aligned_weights(&Gram::of(&[vec![1.0, 2.0], vec![0.0, 0.0]])), &[1.0, 0.0], 1e-9));
        assert_eq!(aligned_weights(&Gram::of(&[vec![0.0, 0.0], vec![0.0, 0.0]])), vec![1.0, 1.0]);
    }
}
