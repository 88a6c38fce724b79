//! Scores a trained model on a prepared split: the prediction half of the `evaluate` stage.
//! (Interface fixed by the lead; implemented by the training work.)

use std::path::Path;

use anyhow::Result;

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

/// Predicts every task the model at `model_dir` (a `train` stage output) was trained on, for
/// every image of `split` in `data_dir` (a `prepare` stage output), rows ordered by image then
/// task. `threads` bounds the CPU threads used.
pub fn predict(model_dir: &Path, data_dir: &Path, split: &str, tau: f64, threads: usize) -> Result<Vec<PredictionRow>> {
    let _ = (model_dir, data_dir, split, tau, threads);
    anyhow::bail!("prediction is not implemented yet")
}
