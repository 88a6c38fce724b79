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
//! `backward.rs` (torch) computes the g_j, K and d and hands d to the SGD step.
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

#[cfg(feature = "torch")]
pub mod aligned_mtl;
#[cfg(feature = "torch")]
pub mod backward;
#[cfg(feature = "torch")]
pub mod cagrad;
#[cfg(feature = "torch")]
pub mod famo;
#[cfg(feature = "torch")]
pub mod gradnorm;
#[cfg(feature = "torch")]
pub mod imtl;
#[cfg(feature = "torch")]
pub mod mgda;
#[cfg(feature = "torch")]
pub mod nash_mtl;
#[cfg(feature = "torch")]
pub mod pcgrad;

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

#[cfg(feature = "torch")]
/// A method that aggregates per-task gradients (the other half of [`super::weighting::Weighting`]).
pub trait GradientMethod: Send {
    /// With respect to what the per-task gradients are taken.
    fn mode(&self) -> GradMode;
    /// The method's name as written in `method:` (for messages).
    fn name(&self) -> &'static str;
    /// The weights w of d = Σ_j w_j g_j. Never NaN for finite K; the caller stops training if
    /// they are anyway.
    fn combine(&mut self, info: &StepInfo, gram: &Gram) -> Vec<f64>;
}

#[cfg(feature = "torch")]
/// The `Weighting` side of a gradient method that keeps no state between iterations (MGDA,
/// CAGrad, IMTL, Aligned-MTL): λ from `weights` is ignored (all ones), nothing to checkpoint, and
/// the update comes from [`GradientMethod::combine`].
pub struct Stateless<G>(pub G);

#[cfg(feature = "torch")]
impl<G: GradientMethod> super::weighting::Weighting for Stateless<G> {
    fn weights(&mut self, _t: u64, train: &[f64], _val: &[f64]) -> Vec<f64> {
        vec![1.0; train.len()]
    }
    fn state(&self) -> super::weighting::WeightingState {
        super::weighting::WeightingState::default()
    }
    fn load_state(&mut self, _state: &super::weighting::WeightingState) -> anyhow::Result<()> {
        Ok(())
    }
    fn as_gradient(&mut self) -> Option<&mut dyn GradientMethod> {
        Some(&mut self.0)
    }
}

#[cfg(feature = "torch")]
/// The weighting state of a gradient method, when `spec` names one.
pub fn build(spec: &super::weighting::WeightingSpec, tasks: usize, seed: u64) -> Option<Box<dyn super::weighting::Weighting>> {
    use super::weighting::WeightingSpec as W;
    Some(match *spec {
        W::Mgda { mode, normalization } => Box::new(Stateless(mgda::Mgda::new(tasks, mode, normalization))),
        W::Pcgrad { mode } => Box::new(pcgrad::PcGrad::new(tasks, mode, seed)),
        W::Cagrad { mode, c, rescale } => Box::new(Stateless(cagrad::CaGrad::new(mode, c, rescale))),
        W::Gradnorm { mode, alpha } => Box::new(gradnorm::GradNorm::new(tasks, mode, alpha)),
        W::Imtl { mode } => Box::new(Stateless(imtl::Imtl::new(mode))),
        W::NashMtl { mode, max_norm, update_every } => Box::new(nash_mtl::NashMtl::new(tasks, mode, max_norm, update_every)),
        W::AlignedMtl { mode } => Box::new(Stateless(aligned_mtl::AlignedMtl::new(mode))),
        W::Famo { w_lr, gamma, update } => Box::new(famo::Famo::new(tasks, w_lr, gamma, update)),
        _ => return None,
    })
}
