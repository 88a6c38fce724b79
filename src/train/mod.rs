//! Training: Algorithm 1, task-weighting methods (loss- and gradient-based), losses, checkpoints, logs, prediction.

#[cfg(feature = "torch")]
pub mod algorithm;
#[cfg(feature = "torch")]
pub mod checkpoint;
pub mod config;
pub mod files;
pub mod gradient;
#[cfg(feature = "torch")]
pub mod log;
pub mod losses;
pub mod model_file;
#[cfg(feature = "torch")]
pub mod predict;
pub mod prediction;
#[cfg(feature = "torch")]
pub mod progress;
#[cfg(feature = "torch")]
pub mod sgd;
pub mod weighting;

#[cfg(feature = "torch")]
pub use algorithm::{train, Outcome, RunOptions, RunPaths};
pub use config::TrainConfig;
