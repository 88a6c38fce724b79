//! Evaluation: per-attribute and example-based metrics on predictions, significance tests between
//! methods, and summaries over seeds. Everything but `files` is a pure function on prediction
//! rows; `files` is the on-disk contract of an `evaluate` stage's output.

pub mod bootstrap;
pub mod colour;
pub mod files;
pub mod mcnemar;
pub mod metrics;
pub mod scoring;
pub mod seeds;
pub mod special;
