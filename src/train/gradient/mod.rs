//! Gradient-based multi-task methods behind the `weighting:` parameter: MGDA(-UB), PCGrad, CAGrad,
//! GradNorm, IMTL-G, Nash-MTL and Aligned-MTL aggregate the per-task gradients; FAMO (loss-based,
//! O(1) in the number of tasks) is here too because it came with them.
//!
//! The hook. A gradient method never sees tensors: it receives the M×M Gram matrix K of the
//! per-task gradients (K_ij = g_i·g_j) and this iteration's training losses, and returns weights
//! w with the update direction d = Σ_j w_j g_j. Every method of this family is such a linear
//! combination (PCGrad's projections and CAGrad's correction included: their coefficients are
//! tracked through the Gram matrix), so w *is* the effective λ logged in `train_log` and drawn in
//! the λ figure, and the methods are plain f64 code tested on hand-built gradients.
//! `awmt_torch::train::gradient::backward` computes the g_j, K and d with libtorch and hands d to
//! the SGD step; the methods themselves are in `awmt_torch::train::gradient` too.
//!
//! Two modes (`mode:`), as LibMTL has them:
//! - `parameters` (default; exact): g_j = ∂L_j/∂θ_shared over every shared parameter (the trunk and
//!   `head.hidden` when `hidden > 0`). Cost per iteration: M backward passes through the whole
//!   network (the graph is kept between them) instead of one, M×P floats of memory for the
//!   gradients (P = shared parameters), O(M²P) for K and O(MP) for d; the task-specific output
//!   layer `head.fc` gets the gradient of Σ_j L_j from the same passes (LibMTL's choice).
//! - `representation` (MGDA-UB's upper bound; the practical choice with 40 tasks): g_j = ∂L_j/∂z
//!   for the trunk's output z over the batch ([N, D] per task). Cost: M backward passes through
//!   the head only (tiny), O(M²ND) for K, then ONE backward through the trunk with Σ_j w_j g_j —
//!   about the cost of the loss-weighting methods plus M head passes. The head gets the gradient
//!   of Σ_j L_j. (LibMTL sums each task's representation gradient over the batch before the
//!   method sees it, a [M, D] matrix; here it is the whole [N, D] gradient, as MGDA-UB defines it.)
//! The method's own arithmetic on K is O(M²)–O(M³) per iteration (M ≤ 40), negligible either way.
//!
//! Solvers: no solver crate. The subproblems are M-dimensional and each has a short exact or
//! convergent method: MGDA's min-norm point by Frank–Wolfe with exact line search (Sener &
//! Koltun's own algorithm, closed form for 2 tasks); CAGrad's convex problem on the simplex by
//! projected gradient with backtracking; Nash-MTL's K α = 1/α by Newton's method on the strictly
//! convex ½αᵀKα − Σ log α_i (its stationarity condition); Aligned-MTL's eigen-decomposition by
//! Jacobi rotations; IMTL's (M−1)×(M−1) system by Gaussian elimination. `clarabel` (the suggested
//! crate) is not in this machine's offline crate cache, and none of these needs a general QP/SOCP.

pub mod linalg;
pub mod spec;

pub use spec::{FamoUpdate, GradMode, MgdaNormalization};

/// What a gradient method sees besides the Gram matrix.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo<'a> {
    /// Iteration, 1-based.
    pub t: u64,
    /// This iteration's per-task training losses L_j.
    pub losses: &'a [f64],
    /// This iteration's learning rate (GradNorm trains its weights with it).
    pub lr: f64,
}

/// The Gram matrix K of M task gradients, row-major, K[i][j] = g_i·g_j.
#[derive(Debug, Clone, PartialEq)]
pub struct Gram {
    pub m: usize,
    pub k: Vec<f64>,
}

impl Gram {
    pub fn new(m: usize, k: Vec<f64>) -> Gram {
        assert_eq!(k.len(), m * m, "a Gram matrix of {m} tasks has {} entries", m * m);
        Gram { m, k }
    }

    /// K of explicit gradient vectors (tests, and the Python cross-check's numbers).
    pub fn of(grads: &[Vec<f64>]) -> Gram {
        let m = grads.len();
        let mut k = vec![0.0; m * m];
        for i in 0..m {
            for j in 0..m {
                k[i * m + j] = grads[i].iter().zip(&grads[j]).map(|(a, b)| a * b).sum();
            }
        }
        Gram { m, k }
    }

    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.k[i * self.m + j]
    }

    /// |Σ_j w_j g_j|² = wᵀKw.
    pub fn quad(&self, w: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..self.m {
            for j in 0..self.m {
                s += w[i] * self.k[i * self.m + j] * w[j];
            }
        }
        s
    }

    /// (Kw)_i = g_i·d for d = Σ_j w_j g_j.
    pub fn times(&self, w: &[f64]) -> Vec<f64> {
        (0..self.m).map(|i| (0..self.m).map(|j| self.k[i * self.m + j] * w[j]).sum()).collect()
    }

    /// ‖g_i‖.
    pub fn norms(&self) -> Vec<f64> {
        (0..self.m).map(|i| self.at(i, i).max(0.0).sqrt()).collect()
    }
}

/// d = Σ_j w_j g_j of explicit gradient vectors (tests).
pub fn combine(grads: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
    let p = grads.first().map_or(0, |g| g.len());
    (0..p).map(|k| grads.iter().zip(w).map(|(g, wj)| wj * g[k]).sum()).collect()
}
