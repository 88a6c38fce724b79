//! The in-process work of the stage kinds that need libtorch (`train`, `evaluate`). Their specs
//! (parameters, inputs, outputs, keys) are awmt's `stages::{train, evaluate}`; `run` here is what
//! `awmt-worker` does for any kind.

use anyhow::{Context as _, Result};

use awmt::stages::{self as kinds, StageContext};

pub mod evaluate;
pub mod train;

/// Runs stage `ctx` in this process: the libtorch kinds here, every other kind through its own
/// `run` in awmt.
pub fn run(ctx: &StageContext) -> Result<()> {
    match ctx.kind.as_str() {
        "train" => train::run(ctx),
        "evaluate" => evaluate::run(ctx),
        other => kinds::find(other).with_context(|| format!("unknown stage kind `{other}`"))?.run(ctx),
    }
}
