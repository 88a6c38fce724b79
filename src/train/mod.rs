//! Training: Algorithm 1, task-weighting methods, losses, checkpoints, logs.
pub mod predict;
