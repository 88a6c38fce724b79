//! Evaluation: per-attribute and example-based metrics on predictions, significance tests between
//! methods (identity-level bootstrap and sign-flip test, Holm, McNemar as the image-level view),
//! Δm and summaries over seeds. Everything but `files` is a pure function on prediction rows;
//! `files` is the on-disk contract of an `evaluate` stage's output.

pub mod bootstrap;
pub mod colour;
pub mod delta_m;
pub mod files;
pub mod holm;
pub mod mcnemar;
pub mod metrics;
pub mod paired;
pub mod scoring;
pub mod seeds;
pub mod sign_flip;
pub mod special;
