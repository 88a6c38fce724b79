//! `kind: evaluate`'s work in the worker: awmt's `stages::evaluate::run_with` (reading the split
//! table, scoring, writing files) with libtorch's prediction step.

use anyhow::Result;

use awmt::stages::{evaluate, StageContext};

/// Predicts with every input model on the stage's split and writes the evaluation files.
/// On the stage's GPU when it was granted one (or `device: cuda`), as training picks its device.
pub fn run(ctx: &StageContext) -> Result<()> {
    let device = crate::train::algorithm::pick_device(evaluate::device_choice(ctx)?, ctx.gpus)?;
    evaluate::run_with(ctx, &|model, data, split, tau, threads| crate::train::predict::predict_on(model, data, split, tau, threads, device))
}
