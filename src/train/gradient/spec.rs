//! The gradient methods' parameter types, torch-free so that the `awmt` front end (built without
//! libtorch) parses and validates them. Defaults are the papers' (LibMTL's where the paper has
//! none); docs/STAGES.md lists them.

use serde::{Deserialize, Serialize};

/// With respect to what a gradient method takes the per-task gradients (see `gradient`'s doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradMode {
    /// ∂L_j/∂θ for every shared parameter θ: exact, M backward passes through the network.
    Parameters,
    /// ∂L_j/∂z for the trunk's output z: M passes through the head, one through the trunk.
    Representation,
}

/// How MGDA scales each task's gradient before the min-norm problem (Sener & Koltun's code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MgdaNormalization {
    /// g_j as is (LibMTL's default).
    None,
    /// g_j/‖g_j‖.
    L2,
    /// g_j/L_j.
    Loss,
    /// g_j/(L_j·‖g_j‖).
    LossPlus,
}

/// Which losses FAMO's task-logit update compares this iteration's with (see `famo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FamoUpdate {
    /// The same training batch re-evaluated after the SGD step (Liu et al.'s Algorithm 1; one
    /// forward pass without gradient per iteration).
    SameBatch,
    /// The next iteration's batch (no extra pass; the change then mixes the step's effect with
    /// the difference between two batches).
    NextBatch,
}

pub fn default_mode() -> GradMode {
    GradMode::Parameters
}
pub fn default_mgda_normalization() -> MgdaNormalization {
    MgdaNormalization::None
}
/// CAGrad's c (Liu et al. 2021; LibMTL `calpha`).
pub fn default_cagrad_c() -> f64 {
    0.5
}
/// CAGrad's rescale: 1 divides d by 1 + c² (LibMTL's default).
pub fn default_cagrad_rescale() -> u8 {
    1
}
/// GradNorm's asymmetry α (Chen et al. 2018; LibMTL's default 1.5).
pub fn default_gradnorm_alpha() -> f64 {
    1.5
}
/// Nash-MTL's clipping of the shared update's norm (Navon et al.'s code; LibMTL's default 1).
pub fn default_nash_max_norm() -> f64 {
    1.0
}
pub fn default_nash_update_every() -> u64 {
    1
}
/// FAMO's learning rate and weight decay of its task logits (Liu et al. 2023's defaults).
pub fn default_famo_w_lr() -> f64 {
    0.025
}
pub fn default_famo_gamma() -> f64 {
    0.001
}
/// The paper's FAMO update.
pub fn default_famo_update() -> FamoUpdate {
    FamoUpdate::SameBatch
}

/// A parameter that must be a finite number ≥ 0 (`what` names it).
pub fn check_nonnegative(what: &str, x: f64) -> Result<(), String> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(format!("{what} must be a finite number ≥ 0 (got {x})"))
    }
}

/// A parameter that must be a finite number > 0.
pub fn check_positive(what: &str, x: f64) -> Result<(), String> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(format!("{what} must be a positive number (got {x})"))
    }
}
