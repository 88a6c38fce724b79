//! `kind: evaluate`'s work in the worker: awmt's `stages::evaluate::run_with` (reading the split
//! table, scoring, writing files) with libtorch's prediction step.

use anyhow::Result;

use awmt::stages::{evaluate, StageContext};

/// Predicts with every input model on the stage's split and writes the evaluation files.
pub fn run(ctx: &StageContext) -> Result<()> {
    evaluate::run_with(ctx, &crate::train::predict::predict)
}
