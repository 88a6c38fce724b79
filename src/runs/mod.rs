//! Looking across runs: `awmt runs` (the run index), `awmt exp show` (every variant of a
//! pipeline's experiments the cache holds, in one table) and `awmt diff` (what changed between
//! two runs or two entries). Reads the cache only; never runs anything.

pub mod diff;
pub mod exp;
pub mod table;

use anyhow::{bail, Result};

use crate::cache::run_index::{self, Run, RunStart};
use crate::cache::Cache;
use crate::pipeline::Pipeline;
use crate::util::{human_bytes, human_duration};

/// The index record of a run of `pipeline` starting now.
pub fn run_start(pipeline: &Pipeline, executor: &str, overrides: Vec<String>) -> RunStart {
    let started = run_index::now();
    let file = std::fs::canonicalize(&pipeline.file).unwrap_or_else(|_| pipeline.file.clone());
    let file_blake3 = std::fs::read(&file).map(|b| blake3::hash(&b).to_hex().to_string()).unwrap_or_default();
    let (git_commit, git_dirty) = run_index::git_state(file.parent().unwrap_or(std::path::Path::new(".")));
    RunStart {
        run: run_index::new_run_id(started),
        started,
        pipeline: pipeline.name.clone(),
        file: file.display().to_string(),
        file_blake3,
        git_commit,
        git_dirty,
        overrides,
        executor: executor.to_string(),
        pid: std::process::id(),
    }
}

/// The run whose id is `id` or starts with it (`last` names the newest).
pub fn find_run<'a>(runs: &'a [Run], id: &str) -> Result<&'a Run> {
    if id == "last" {
        return runs.last().ok_or_else(|| anyhow::anyhow!("the run index is empty: no run has been recorded yet"));
    }
    let hits: Vec<&Run> = runs.iter().filter(|r| r.start.run.starts_with(id)).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => bail!("no run `{id}` in the run index (`awmt runs` lists them)"),
        many => bail!("`{id}` names {} runs ({}, …); give more of the id", many.len(), many[0].start.run),
    }
}

/// `awmt runs`: newest first, one line each.
pub fn list_text(runs: &[Run]) -> String {
    let mut t = table::Table::new(&["run (UTC start)", "pipeline", "status", "ran", "cached", "failed", "wall", "slowest stage", "peak RSS"]);
    // The id is what `awmt diff` and `awmt runs RUN` take: never shortened.
    t.whole = vec![0];
    for r in runs.iter().rev() {
        let slowest = r
            .stages
            .iter()
            .filter(|s| s.status == "ran" || s.status == "failed")
            .max_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .map(|s| format!("{} {}", s.stage, human_duration(s.seconds)))
            .unwrap_or_else(|| "-".into());
        let rss = r.stages.iter().filter_map(|s| s.max_rss).max().map(human_bytes).unwrap_or_else(|| "-".into());
        t.row(vec![
            r.start.run.clone(),
            r.start.pipeline.clone(),
            r.status.clone(),
            r.count("ran").to_string(),
            r.count("cached").to_string(),
            r.count("failed").to_string(),
            human_duration(r.seconds()),
            slowest,
            rss,
        ]);
    }
    t.text(100, false)
}

/// `awmt runs RUN`: the run's header and one line per stage with its trace.
pub fn show_text(r: &Run) -> String {
    let mut out = format!(
        "run {}  {}  pipeline {} ({})  {}  executor {}\n",
        r.start.run,
        run_index::utc_text(r.start.started),
        r.start.pipeline,
        r.start.file,
        r.status,
        r.start.executor
    );
    if let Some(c) = &r.start.git_commit {
        out += &format!("git {}{}\n", &c[..12.min(c.len())], if r.start.git_dirty == Some(true) { " (dirty)" } else { "" });
    }
    if !r.start.overrides.is_empty() {
        out += &format!("overrides: {}\n", r.start.overrides.join(" "));
    }
    let mut t = table::Table::new(&["stage", "status", "tries", "wall", "CPU", "peak RSS", "written", "key"]);
    for s in &r.stages {
        t.row(vec![
            s.stage.clone(),
            s.status.clone(),
            s.attempts.to_string(),
            if s.status == "ran" || s.status == "failed" { human_duration(s.seconds) } else { "-".into() },
            s.cpu_seconds.map(human_duration).unwrap_or_else(|| "-".into()),
            s.max_rss.map(human_bytes).unwrap_or_else(|| "-".into()),
            if s.bytes_written > 0 { human_bytes(s.bytes_written) } else { "-".into() },
            s.key.as_deref().map(|k| k[..12.min(k.len())].to_string()).unwrap_or_else(|| "-".into()),
        ]);
    }
    out + &t.text(100, false)
}

/// The run index of `cache`, oldest first.
pub fn runs(cache: &Cache) -> Result<Vec<Run>> {
    run_index::read_runs(cache)
}
