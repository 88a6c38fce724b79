//! Running exactly one stage: `awmt-worker exec-stage --context F` (a local executor's
//! subprocess; the worker's side is `awmt_torch::worker`) and `awmt exec-stage --pipeline F
//! --stage S --cache D` (a Slurm job).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::pipeline::overrides::Override;
use crate::stages::{self, StageContext};

/// The `awmt-worker` binary beside the running executable: it links libtorch and runs isolated
/// stages; the `awmt` front end does not, so that it starts fast.
pub fn worker_exe() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the awmt executable")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let worker = dir.join("awmt-worker");
    if worker.is_file() {
        Ok(worker)
    } else {
        anyhow::bail!("`awmt-worker` was not found next to {}; build both binaries with `make build`", exe.display())
    }
}

/// Reads a context file written by the local executor.
pub fn read_context(path: &Path) -> Result<StageContext> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not a stage context", path.display()))
}

/// Runs one stage to completion: in-process for kinds that only start processes of their own,
/// in an `awmt-worker` subprocess otherwise.
pub fn run_stage(ctx: &StageContext, context_file: &Path) -> Result<()> {
    let kind = stages::find(&ctx.kind).with_context(|| format!("unknown stage kind `{}`", ctx.kind))?;
    if kind.isolated() {
        crate::exec::local::run_subprocess(&worker_exe()?, ctx, context_file)
    } else {
        kind.run(ctx)
    }
}

/// `awmt exec-stage --pipeline F [--set PATH=VALUE …] --stage S --cache DIR [--expect-key K]`:
/// runs one stage of a pipeline, loaded with the run's `--set` overrides, against a (shared) cache
/// and publishes it there, exactly as a local run would. Used by Slurm jobs: the key is recomputed
/// here from the upstream entries, which must already be published; with `expect_key` (the key
/// the run computed) a different key is an error before anything runs.
pub fn run_pipeline_stage(file: &Path, overrides: &[Override], stage: &str, cache_dir: &Path, expect_key: Option<&str>) -> Result<()> {
    use crate::cache::Cache;
    use crate::exec::{Resolved, Resolver};
    use crate::pipeline::{dag, Pipeline};

    let pipeline = Pipeline::load_with_overrides(file, overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    let i = pipeline.index_of(stage).with_context(|| format!("no stage `{stage}` in {}", file.display()))?;
    let cache = Cache::open(cache_dir)?;
    let resolver = Resolver::new(&pipeline, &cache);
    let keep = dag::with_ancestors(&pipeline.stages, &[i]);
    let mut entries = vec![None; pipeline.stages.len()];
    for &j in &pipeline.dag.order {
        if !keep[j] || j == i {
            continue;
        }
        let name = &pipeline.stages[j].name;
        match resolver.resolve(j, &entries)? {
            Resolved::Key(parts) => {
                let entry = resolver.usable_entry_readonly(&parts.key());
                anyhow::ensure!(entry.is_some(), "upstream stage `{name}` has no cache entry in {}", cache_dir.display());
                entries[j] = entry;
            }
            Resolved::Blocked(u) => anyhow::bail!("upstream stage `{}` has not run", pipeline.stages[u].name),
        }
    }
    let Resolved::Key(parts) = resolver.resolve(i, &entries)? else { anyhow::bail!("stage `{stage}` is blocked") };
    let key = parts.key();
    if let Some(want) = expect_key.filter(|want| *want != key) {
        anyhow::bail!(
            "stage `{stage}` has key {key} in this job but {want} in the run that submitted it: the pipeline file, \
             its inputs or the overrides changed in between; run `awmt run` again"
        );
    }
    if resolver.usable_entry_readonly(&key).is_some() {
        eprintln!("stage `{stage}` is already published as {key}");
        return Ok(());
    }
    let s = &pipeline.stages[i];
    let threads = std::env::var("SLURM_CPUS_PER_TASK").ok().and_then(|v| v.parse().ok()).unwrap_or(s.resources.cpus.min(64)).max(1);
    crate::exec::materialize::claim_outputs(&pipeline, i, &cache)?;
    let attempt = cache.begin(&key)?;
    let mut ctx = crate::exec::scheduler::context(&pipeline, i, &entries, &attempt, &cache, &key, threads, s.resources.gpus)?;
    // The job's own stdout/stderr already go to the stage log.
    ctx.log = attempt.dir.join("command.log");
    let start = std::time::Instant::now();
    if let Err(e) = run_stage(&ctx, &attempt.dir.join("context.json")) {
        if let Ok(text) = std::fs::read_to_string(&ctx.log) {
            eprint!("{text}");
        }
        attempt.discard();
        return Err(e);
    }
    if let Ok(text) = std::fs::read_to_string(&ctx.log) {
        eprint!("{text}");
    }
    cache.publish(attempt, &s.name, &parts, start.elapsed().as_secs_f64(), s.kind.volatile_fields())?;
    let _ = std::fs::remove_dir_all(cache.scratch_dir(&key));
    eprintln!("published stage `{stage}` as {key}");
    Ok(())
}
