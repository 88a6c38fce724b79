//! Training: Algorithm 1, task-weighting methods, losses, checkpoints, logs, prediction.

pub mod algorithm;
pub mod checkpoint;
pub mod config;
pub mod log;
pub mod losses;
pub mod model_file;
pub mod predict;
pub mod progress;
pub mod sampler;
pub mod sgd;
pub mod weighting;

pub use algorithm::{train, Outcome, RunOptions, RunPaths};
pub use config::TrainConfig;
