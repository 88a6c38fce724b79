//! `kind: train`'s work in the worker: Algorithm 1 on the stage's `data` (and optional
//! `pretrained`) input. Parameters, inputs and outputs: awmt's `stages::train`.

use anyhow::Result;

use awmt::stages::{InputItem, StageContext};

use crate::train::{train, RunOptions, RunPaths, TrainConfig};

/// Trains the stage's network into `ctx.out_dir`, resuming from a checkpoint in `ctx.scratch_dir`.
pub fn run(ctx: &StageContext) -> Result<()> {
    let cfg: TrainConfig = ctx.params()?;
    let data = ctx.input("data")?;
    let pretrained: Option<&InputItem> = ctx.inputs("pretrained").first();
    // The load-time check again, for a stage run on its own (`awmt exec-stage`).
    if let Err((msg, help)) = cfg.check_pretrained(pretrained.is_some()) {
        anyhow::bail!("stage `{}`: {msg}; {help}", ctx.stage);
    }
    let paths = RunPaths {
        data: &data.path,
        pretrained: pretrained.map(|p| p.path.as_path()),
        out: &ctx.out_dir,
        scratch: &ctx.scratch_dir,
    };
    let opts = RunOptions { threads: ctx.threads, gpus: ctx.gpus, stop_after: None };
    train(&cfg, &paths, &opts)?;
    Ok(())
}
