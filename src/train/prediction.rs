//! One prediction of one task on one image: what `predict` returns and `evaluate` scores.
//! Torch-free, so the scoring code builds without libtorch.

/// One prediction of one task on one image.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    /// Image path relative to the release root (as in the split table).
    pub image: String,
    pub task: String,
    /// Binary: the raw output ψ. Multiclass: the output of the predicted class.
    pub score: f64,
    /// Binary: +1 iff ψ > τ, else −1. Multiclass: the argmax class index.
    pub prediction: i64,
    /// The label, None where masked.
    pub label: Option<i64>,
}
