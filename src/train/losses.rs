//! The per-task loss kinds a run chooses (`loss:`, `multiclass_loss:`): square error on ±1 targets
//! (the paper's ½ Σ (ψ−L)²), BCE and hinge for binary tasks; ±1 one-hot square error or
//! cross-entropy for C-way tasks. Masked labels contribute nothing. The tensor code computing them
//! is `awmt_torch::train::losses`.

use serde::{Deserialize, Serialize};

/// Loss of a binary (±1) task, per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryLoss {
    /// ½ (ψ − L)² (Eq. 3).
    Square,
    /// Binary cross-entropy on the logit ψ with target (L+1)/2, i.e. log(1 + e^{−Lψ}).
    Bce,
    /// max(0, 1 − Lψ).
    Hinge,
}

/// Loss of a C-way task, per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MulticlassLoss {
    /// ½ Σ_c (ψ_c − T_c)² with T the ±1 one-hot vector of the class.
    Square,
    /// −log softmax(ψ)[class].
    Ce,
}
