//! Training: Algorithm 1, task-weighting methods (loss- and gradient-based), losses, checkpoints,
//! logs, prediction. The torch-free halves (the configuration, the files, the specs of weighting
//! methods and losses) are awmt's `train` modules, re-exported here or inside the modules that
//! extend them (`weighting`, `gradient`, `losses`).

pub mod algorithm;
pub mod checkpoint;
pub mod gradient;
pub mod log;
pub mod losses;
pub mod predict;
pub mod progress;
pub mod sgd;
pub mod weighting;

pub use algorithm::{train, Outcome, RunOptions, RunPaths};
pub use awmt::train::{config, files, model_file, prediction, TrainConfig};
