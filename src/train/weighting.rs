//! The task-weighting methods' spec (`weighting:`, [`WeightingSpec`]): the paper's validation-loss
//! trend (Algorithm 2), equal weights (the basic model), DWA, uncertainty weighting, RLW and GLS,
//! and the gradient-based methods' parameters. The methods themselves, behind one trait, are
//! `awmt_torch::train::weighting`.
//!
//! Every method sees, once per iteration t (1-based) and before the gradient, that iteration's
//! per-task training losses L_j and validation losses v_t[j] (docs/ALGORITHM.md), and returns the
//! λ used for that iteration's gradient. The objective back-propagated is Σ_j λ_j L_j, except for
//! uncertainty weighting and GLS, which define their own objective (their logged λ is then the
//! effective weight ∂J/∂L_j). λ is never NaN or Inf: a degenerate update keeps the previous λ and
//! records a warning. The gradient-based methods (MGDA, PCGrad, CAGrad, GradNorm, IMTL, Nash-MTL,
//! Aligned-MTL) and FAMO live in `awmt_torch::train::gradient`; their parameters are declared here.

use serde::{Deserialize, Serialize};

use super::gradient::spec::{self as gspec, FamoUpdate, GradMode, MgdaNormalization};

/// Which losses DWA averages over its windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossSource {
    /// Per-task training losses L_j (Liu et al.'s original).
    Train,
    /// Per-task validation losses v_t (the AWMT-style ablation).
    Val,
}

/// How Algorithm 2 sees a C-way task's validation loss under the square loss (a sum over its C
/// outputs). docs/ALGORITHM.md, "Multi-class tasks".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassScale {
    /// Divided by C: the mean over its outputs, on a binary task's scale.
    Mean,
    /// As summed: its Δ, and so its λ, grows with C.
    Sum,
}

/// The `weighting:` parameter of a train stage (canonical form: a map with `method`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum WeightingSpec {
    /// λ ≡ 1 (the paper's basic model, Eq. 2).
    Equal,
    /// The paper's Algorithm 2. `k`: update interval in iterations (paper 200). `tau`: the decision
    /// threshold of Eq. 4 (paper 0), recorded in model.json; it does not affect training.
    /// `class_scale`: what Algorithm 2 sees of a multi-class task's validation loss.
    ValidationLossTrend {
        #[serde(default = "default_k")]
        k: u64,
        #[serde(default)]
        tau: f64,
        #[serde(default = "default_class_scale")]
        class_scale: ClassScale,
    },
    /// Dynamic weight averaging. Training is iteration-based, so an "epoch" is a window of
    /// `epoch` iterations: λ is recomputed at the start of each window from the mean losses of the
    /// two previous windows, λ = M·softmax(r/T), r_j = L̄_j(w−1)/L̄_j(w−2); λ ≡ 1 in the first two.
    Dwa {
        #[serde(default = "default_k")]
        epoch: u64,
        #[serde(default = "default_temperature")]
        temperature: f64,
        #[serde(default = "default_dwa_losses")]
        losses: LossSource,
    },
    /// Kendall et al.: J = Σ_j L_j/(2·e^{s_j}) + s_j/2 with learned s_j (initial value `init`).
    Uncertainty {
        #[serde(default = "default_uncertainty_init")]
        init: f64,
    },
    /// Random loss weighting: λ = M·softmax(z), z ~ N(0, I) drawn every iteration.
    Rlw,
    /// Geometric loss strategy: J = M·exp(mean_j log L_j).
    Gls,
    /// MGDA / MGDA-UB (`train::gradient::mgda`).
    Mgda {
        #[serde(default = "gspec::default_mode")]
        mode: GradMode,
        #[serde(default = "gspec::default_mgda_normalization")]
        normalization: MgdaNormalization,
    },
    /// PCGrad (`train::gradient::pcgrad`).
    Pcgrad {
        #[serde(default = "gspec::default_mode")]
        mode: GradMode,
    },
    /// CAGrad (`train::gradient::cagrad`).
    Cagrad {
        #[serde(default = "gspec::default_mode")]
        mode: GradMode,
        #[serde(default = "gspec::default_cagrad_c")]
        c: f64,
        #[serde(default = "gspec::default_cagrad_rescale")]
        rescale: u8,
    },
    /// GradNorm (`train::gradient::gradnorm`).
    Gradnorm {
        #[serde(default = "gspec::default_mode")]
        mode: GradMode,
        #[serde(default = "gspec::default_gradnorm_alpha")]
        alpha: f64,
    },
    /// IMTL-G (`train::gradient::imtl`).
    Imtl {
        #[serde(default = "gspec::default_mode")]
        mode: GradMode,
    },
    /// Nash-MTL (`train::gradient::nash_mtl`).
    NashMtl {
        #[serde(default = "gspec::default_mode")]
        mode: GradMode,
        #[serde(default = "gspec::default_nash_max_norm")]
        max_norm: f64,
        #[serde(default = "gspec::default_nash_update_every")]
        update_every: u64,
    },
    /// Aligned-MTL (`train::gradient::aligned_mtl`).
    AlignedMtl {
        #[serde(default = "gspec::default_mode")]
        mode: GradMode,
    },
    /// FAMO (`train::gradient::famo`), loss-based.
    Famo {
        #[serde(default = "gspec::default_famo_w_lr")]
        w_lr: f64,
        #[serde(default = "gspec::default_famo_gamma")]
        gamma: f64,
        /// Which losses FAMO's weight update compares with: the same batch after the step (the
        /// paper's, one more forward pass) or the next iteration's batch (no extra pass).
        #[serde(default = "gspec::default_famo_update")]
        update: FamoUpdate,
    },
}

fn default_k() -> u64 {
    200
}
fn default_class_scale() -> ClassScale {
    ClassScale::Mean
}
fn default_temperature() -> f64 {
    2.0
}
fn default_dwa_losses() -> LossSource {
    LossSource::Train
}
fn default_uncertainty_init() -> f64 {
    -0.5
}

impl Default for WeightingSpec {
    fn default() -> Self {
        WeightingSpec::Equal
    }
}

impl WeightingSpec {
    /// Accepts `equal` (a bare method name, every parameter at its default) or a map with `method`.
    pub fn from_value(value: serde_json::Value) -> Result<WeightingSpec, String> {
        let value = match value {
            serde_json::Value::String(s) => serde_json::json!({ "method": s }),
            other => other,
        };
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// Whether the method reads the validation losses v_t of every iteration (and so needs
    /// `val_every: 1`).
    pub fn reads_validation_loss(&self) -> bool {
        matches!(self, WeightingSpec::ValidationLossTrend { .. } | WeightingSpec::Dwa { losses: LossSource::Val, .. })
    }

    /// Checks the numeric parameters.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            WeightingSpec::ValidationLossTrend { k, tau, .. } => {
                if *k == 0 {
                    return Err("k must be at least 1".into());
                }
                if !tau.is_finite() {
                    return Err("tau must be a finite number".into());
                }
            }
            WeightingSpec::Dwa { epoch, temperature, .. } => {
                if *epoch == 0 {
                    return Err("epoch must be at least 1 iteration".into());
                }
                if !(temperature.is_finite() && *temperature > 0.0) {
                    return Err("temperature must be a positive number".into());
                }
            }
            WeightingSpec::Uncertainty { init } => {
                if !init.is_finite() {
                    return Err("init must be a finite number".into());
                }
            }
            WeightingSpec::Cagrad { c, rescale, .. } => {
                gspec::check_nonnegative("c", *c)?;
                if *rescale > 2 {
                    return Err(format!("rescale must be 0 (none), 1 (divide by 1 + c²) or 2 (divide by 1 + c), not {rescale}"));
                }
            }
            WeightingSpec::Gradnorm { alpha, .. } => gspec::check_nonnegative("alpha", *alpha)?,
            WeightingSpec::NashMtl { max_norm, update_every, .. } => {
                gspec::check_nonnegative("max_norm", *max_norm)?;
                if *update_every == 0 {
                    return Err("update_every must be at least 1 iteration".into());
                }
            }
            WeightingSpec::Famo { w_lr, gamma, .. } => {
                gspec::check_positive("w_lr", *w_lr)?;
                gspec::check_nonnegative("gamma", *gamma)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The method's name as written in `method:`.
    pub fn method(&self) -> &'static str {
        match self {
            WeightingSpec::Equal => "equal",
            WeightingSpec::ValidationLossTrend { .. } => "validation_loss_trend",
            WeightingSpec::Dwa { .. } => "dwa",
            WeightingSpec::Uncertainty { .. } => "uncertainty",
            WeightingSpec::Rlw => "rlw",
            WeightingSpec::Gls => "gls",
            WeightingSpec::Mgda { .. } => "mgda",
            WeightingSpec::Pcgrad { .. } => "pcgrad",
            WeightingSpec::Cagrad { .. } => "cagrad",
            WeightingSpec::Gradnorm { .. } => "gradnorm",
            WeightingSpec::Imtl { .. } => "imtl",
            WeightingSpec::NashMtl { .. } => "nash_mtl",
            WeightingSpec::AlignedMtl { .. } => "aligned_mtl",
            WeightingSpec::Famo { .. } => "famo",
        }
    }

}

/// Floor applied to task losses inside GLS's logarithm.
pub const GLS_FLOOR: f64 = 1e-12;
