//! Training without libtorch: the `train` stage's configuration, the files a training writes and
//! reads (`files`, `model_file`, `prediction`), and the task-weighting, gradient-method and loss
//! specs. Algorithm 1 itself, the methods' implementations, checkpoints, logs and prediction are
//! `awmt_torch::train`.

pub mod config;
pub mod files;
pub mod gradient;
pub mod losses;
pub mod model_file;
pub mod prediction;
pub mod weighting;

pub use config::TrainConfig;
