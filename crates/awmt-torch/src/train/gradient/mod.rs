//! The gradient-based multi-task methods' implementations (MGDA(-UB), PCGrad, CAGrad, GradNorm,
//! IMTL-G, Nash-MTL, Aligned-MTL, and FAMO) and `backward.rs`, which computes the per-task gradients,
//! their Gram matrix and the update with libtorch. The hook (a method sees the Gram matrix and
//! returns weights), the modes, the solvers and the parameters are described and declared in
//! `awmt::train::gradient`, re-exported here.

pub use awmt::train::gradient::*;

pub mod aligned_mtl;
pub mod backward;
pub mod cagrad;
pub mod famo;
pub mod gradnorm;
pub mod imtl;
pub mod mgda;
pub mod nash_mtl;
pub mod pcgrad;

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

/// The `Weighting` side of a gradient method that keeps no state between iterations (MGDA,
/// CAGrad, IMTL, Aligned-MTL): λ from `weights` is ignored (all ones), nothing to checkpoint, and
/// the update comes from [`GradientMethod::combine`].
pub struct Stateless<G>(pub G);

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
