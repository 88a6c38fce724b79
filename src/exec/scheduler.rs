//! The scheduler: walks the DAG, skips stages whose key is cached, launches the others on an
//! executor within `--jobs` and resource slots, publishes what they wrote, and stops cleanly on
//! failure or Ctrl-C. It never knows what a stage does.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::gpus;
use super::materialize;
use super::progress::Progress;
use super::slots::{Claim, Slots};
use super::trace::Tracer;
use super::{Executor, Job, Outcome, Resolved, Resolver};
use crate::cache::records::StageRecord;
use crate::cache::{Attempt, Cache, Entry, KeyParts};
use crate::pipeline::{Input, Pipeline};
use crate::stages::{InputItem, StageContext};

/// What `awmt run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Most stages at a time.
    pub jobs: usize,
    /// Stages to bring up to date (a selection plus everything it needs).
    pub selected: Vec<bool>,
    /// Stages to rerun even when cached.
    pub force: Vec<bool>,
    pub dry_run: bool,
    /// Keep launching independent stages after a failure.
    pub keep_going: bool,
    /// Re-hash every input file and every cached output used, trusting no stat.
    pub paranoid: bool,
    /// `reports/` root; user-facing outputs go to `<reports>/<pipeline>/<stage>/`.
    pub reports_dir: Option<PathBuf>,
    pub cpus: usize,
    /// GPUs to place stages on (`--gpus N`, or what the machine has).
    pub gpus: super::gpus::Gpus,
    pub mem: u64,
    /// `--retries`: reruns of a failed attempt for stages that set no `retries:` of their own.
    pub retries: u32,
    /// The run as the run index records it; none for a dry run (nothing is recorded).
    pub record: Option<crate::cache::run_index::RunStart>,
}

/// How one stage ended.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    pub name: String,
    pub kind: String,
    pub status: Outcome,
    pub key: Option<String>,
    pub seconds: f64,
    #[serde(skip)]
    pub error: Option<String>,
    #[serde(skip)]
    pub log: Option<PathBuf>,
    /// Where it ran: its `CUDA_VISIBLE_DEVICES` and share, e.g. `0` or `1 (1/4)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<String>,
}

pub struct RunSummary {
    pub stages: Vec<StageOutcome>,
    pub interrupted: bool,
    /// Per-stage resource traces, in finishing order.
    pub traces: Vec<crate::cache::run_index::StageTrace>,
}

impl RunSummary {
    pub fn count(&self, status: Outcome) -> usize {
        self.stages.iter().filter(|s| s.status == status).count()
    }
    pub fn ok(&self) -> bool {
        !self.interrupted && self.stages.iter().all(|s| s.status.ok())
    }
}

enum State {
    Waiting,
    Running { attempt: Option<Attempt>, parts: KeyParts, key: String },
    Done,
    WouldRun,
    Failed,
    Skipped,
}

/// Where every stage stands, and whether new ones may still start.
struct Board {
    states: Vec<State>,
    outcomes: Vec<Option<StageOutcome>>,
    stop_launching: bool,
    keep_going: bool,
}

impl Board {
    /// Records that stage `i` ended as `o` (in `state`) and shows it; `traced` also appends it to
    /// the run's traces.
    fn end(&mut self, i: usize, state: State, o: StageOutcome, progress: &mut Progress, tracer: Option<&mut Tracer>) {
        self.states[i] = state;
        progress.finish(&o);
        if let Some(t) = tracer {
            t.finished(i, &o, 0, "");
        }
        self.outcomes[i] = Some(o);
    }

    /// Stage `i` failed with `error`: records and shows it, and stops launching new stages unless
    /// the run keeps going.
    fn fail(&mut self, i: usize, mut o: StageOutcome, error: String, progress: &mut Progress, tracer: &mut Tracer) {
        o.error = Some(error);
        self.end(i, State::Failed, o, progress, Some(tracer));
        self.stop_launching |= !self.keep_going;
    }
}

/// Runs the selected stages of `pipeline`.
pub fn run(
    pipeline: &Pipeline,
    cache: &Cache,
    executor: &mut dyn Executor,
    opts: &RunOptions,
    progress: &mut Progress,
    interrupted: &AtomicBool,
) -> Result<RunSummary> {
    let n = pipeline.stages.len();
    let mut resolver = Resolver::new(pipeline, cache);
    if opts.paranoid {
        resolver.paranoid();
    }
    let mut record = cache.load_record(&pipeline.name);
    let mut board = Board {
        states: (0..n).map(|_| State::Waiting).collect(),
        outcomes: vec![None; n],
        stop_launching: false,
        keep_going: opts.keep_going,
    };
    let mut entries: Vec<Option<Entry>> = vec![None; n];
    let mut slots = Slots::new(opts.jobs, opts.cpus, opts.mem, &opts.gpus);
    let mut cancelled = false;
    let total = opts.selected.iter().filter(|&&s| s).count();
    progress.begin(total);
    let mut tracer = Tracer::begin(cache, opts.record.clone(), n);

    loop {
        if interrupted.load(Ordering::SeqCst) && !cancelled {
            progress.message("interrupted: stopping running stages (nothing partial is published)");
            executor.cancel();
            cancelled = true;
            board.stop_launching = true;
        }
        // Move every stage that can move.
        let mut moved = true;
        while moved {
            moved = false;
            for &i in &pipeline.dag.order {
                if !opts.selected[i] || !matches!(board.states[i], State::Waiting) {
                    continue;
                }
                let stage = &pipeline.stages[i];
                let ups = &stage.upstream;
                let states = &board.states;
                if ups.iter().any(|&u| matches!(states[u], State::Failed | State::Skipped)) {
                    board.end(i, State::Skipped, outcome(pipeline, i, Outcome::Skipped, None, 0.0), progress, Some(&mut tracer));
                    moved = true;
                    continue;
                }
                if ups.iter().any(|&u| matches!(states[u], State::WouldRun)) {
                    board.end(i, State::WouldRun, outcome(pipeline, i, Outcome::WouldRun, None, 0.0), progress, None);
                    moved = true;
                    continue;
                }
                if !ups.iter().all(|&u| matches!(states[u], State::Done)) || board.stop_launching {
                    continue;
                }
                let parts = match resolver.resolve(i, &entries) {
                    Ok(Resolved::Key(p)) => p,
                    Ok(Resolved::Blocked(_)) => continue,
                    Err(e) => {
                        board.fail(i, outcome(pipeline, i, Outcome::Failed, None, 0.0), format!("{e:#}"), progress, &mut tracer);
                        moved = true;
                        continue;
                    }
                };
                let key = parts.key();
                if !opts.force[i] {
                    if let Some(entry) = resolver.usable_entry(&key)? {
                        let seconds = entry.manifest.seconds;
                        let restored = if opts.dry_run {
                            Ok(())
                        } else {
                            materialize::all(pipeline, i, &entry, opts.reports_dir.as_deref(), &resolver.index, cache)
                        };
                        match restored {
                            Err(e) if e.downcast_ref::<materialize::CorruptObject>().is_some() => {
                                // Rotted under an unchanged stat: recompute it (below) instead.
                                progress.message(&format!("warning: stage `{}`: {e:#}; recomputing it", stage.name));
                                cache.evict(&key)?;
                            }
                            Err(e) => {
                                let o = outcome(pipeline, i, Outcome::Failed, Some(key), 0.0);
                                board.fail(i, o, format!("restoring outputs: {e:#}"), progress, &mut tracer);
                                moved = true;
                                continue;
                            }
                            Ok(()) => {
                                let status = Outcome::Cached.to_string();
                                record.stages.insert(stage.name.clone(), StageRecord { key: key.clone(), parts, status, seconds });
                                board.end(i, State::Done, outcome(pipeline, i, Outcome::Cached, Some(key), 0.0), progress, Some(&mut tracer));
                                entries[i] = Some(entry.clone());
                                moved = true;
                                continue;
                            }
                        }
                    }
                }
                if opts.dry_run {
                    board.end(i, State::WouldRun, outcome(pipeline, i, Outcome::WouldRun, Some(key), 0.0), progress, None);
                    moved = true;
                    continue;
                }
                // Resources: always let one stage run, however large its request (see
                // Slots::fits).
                let mut res = stage.resources;
                // Each rerun of a failed attempt may ask for more memory (`mem_per_attempt`).
                res.mem = (res.mem as f64 * stage.mem_per_attempt.powi(tracer.attempts(i) as i32)) as u64;
                let remote = executor.publishes(stage.executor.as_deref());
                let claim = if remote {
                    Claim::remote()
                } else {
                    Claim { cpus: res.cpus.min(opts.cpus).max(1), mem: res.mem, gpus: gpus::Request::of(&res) }
                };
                if !slots.fits(&claim) {
                    continue;
                }
                if let Err(e) = materialize::claim_outputs(pipeline, i, cache) {
                    board.fail(i, outcome(pipeline, i, Outcome::Failed, Some(key), 0.0), format!("{e:#}"), progress, &mut tracer);
                    moved = true;
                    continue;
                }
                let placement = slots.take(i, claim);
                let (attempt, work) = if remote {
                    (None, None)
                } else {
                    let attempt = cache.begin(&key)?;
                    let mut ctx = context(pipeline, i, &entries, &attempt, cache, &key, claim.cpus, res.gpus)?;
                    slots.assign(&mut ctx, placement.as_ref());
                    let file = attempt.dir.join("context.json");
                    (Some(attempt), Some((ctx, file)))
                };
                let job = Job {
                    index: i,
                    kind: stage.kind,
                    name: stage.name.clone(),
                    group: stage.group.clone(),
                    key: key.clone(),
                    resources: res,
                    slurm: stage.slurm.clone(),
                    work,
                };
                progress.start(i, &stage.name, stage.kind.name());
                tracer.launched(i);
                if let Some(p) = &placement {
                    tracer.placed(i, p.visible.split(',').filter_map(|g| g.trim().parse().ok()).collect());
                }
                if let Err(e) = executor.launch(job) {
                    attempt.map(Attempt::discard);
                    slots.release(i);
                    board.fail(i, outcome(pipeline, i, Outcome::Failed, Some(key), 0.0), format!("{e:#}"), progress, &mut tracer);
                    moved = true;
                    continue;
                }
                board.states[i] = State::Running { attempt, parts, key };
                moved = true;
            }
        }
        if slots.running() == 0 {
            break;
        }
        if let Some(line) = executor.state_line() {
            progress.set_state(&line);
        }
        let Some(done) = executor.wait(Duration::from_millis(100)) else { continue };
        let i = done.index;
        let stage = &pipeline.stages[i];
        let gpu_label = slots.release(i).map(|p| p.label);
        let State::Running { attempt, parts, key } = std::mem::replace(&mut board.states[i], State::Waiting) else {
            continue;
        };
        let log = cache.log_path(&key);
        tracer.measured(i, done.usage);
        let published = match (done.result, cancelled) {
            (Ok(()), false) => match done.published {
                Some(e) => Ok(e),
                None => match attempt {
                    Some(a) => cache.publish(a, &stage.name, &parts, done.seconds, stage.kind.volatile_fields()),
                    None => Err(anyhow::anyhow!("the executor returned no output")),
                },
            },
            (Ok(()), true) => {
                attempt.map(Attempt::discard);
                Err(anyhow::anyhow!("interrupted"))
            }
            (Err(e), _) => {
                attempt.map(Attempt::discard);
                Err(e)
            }
        };
        match published.and_then(|entry| {
            materialize::all(pipeline, i, &entry, opts.reports_dir.as_deref(), &resolver.index, cache)?;
            Ok(entry)
        }) {
            Ok(entry) => {
                let _ = std::fs::remove_dir_all(cache.scratch_dir(&key));
                let status = Outcome::Ran.to_string();
                record.stages.insert(stage.name.clone(), StageRecord { key: key.clone(), parts, status, seconds: done.seconds });
                let o = StageOutcome { gpus: gpu_label, ..outcome(pipeline, i, Outcome::Ran, Some(key), done.seconds) };
                let bytes = entry.manifest.files.iter().map(|f| f.size).sum();
                tracer.finished(i, &o, bytes, if executor.publishes(stage.executor.as_deref()) { "slurm" } else { "local" });
                board.end(i, State::Done, o, progress, None);
                entries[i] = Some(entry.clone());
            }
            Err(e) if !cancelled && tracer.attempts(i) < super::retry::attempts_allowed(stage.retries, opts.retries, &e) => {
                // Keep this attempt's log beside the next one's, then let the stage launch again.
                let attempt = tracer.attempts(i);
                let kept = cache.root.join("logs").join(format!("{key}.attempt{attempt}.log"));
                let saved = std::fs::rename(&log, &kept).is_ok();
                progress.message(&format!(
                    "stage `{}` failed on attempt {attempt} of {}: {e:#}; {}{}",
                    stage.name,
                    super::retry::attempts_allowed(stage.retries, opts.retries, &e),
                    if executor.publishes(stage.executor.as_deref()) { "resubmitting" } else { "retrying" },
                    if saved { format!(" (log of that attempt: {})", kept.display()) } else { String::new() }
                ));
            }
            Err(e) => {
                let o = StageOutcome { gpus: gpu_label, log: Some(log), ..outcome(pipeline, i, Outcome::Failed, Some(key), done.seconds) };
                let error = if cancelled { "interrupted".to_string() } else { format!("{e:#}") };
                board.fail(i, o, error, progress, &mut tracer);
            }
        }
    }
    // Whatever never started was skipped (after a failure or an interrupt).
    for &i in &pipeline.dag.order {
        if opts.selected[i] && matches!(board.states[i], State::Waiting) {
            board.end(i, State::Skipped, outcome(pipeline, i, Outcome::Skipped, None, 0.0), progress, Some(&mut tracer));
        }
    }
    resolver.index.save().ok();
    if !opts.dry_run {
        cache.save_record(&pipeline.name, &record)?;
    }
    progress.end();
    let stages: Vec<StageOutcome> = pipeline.dag.order.iter().filter_map(|&i| board.outcomes[i].take()).collect();
    let failed = stages.iter().any(|s| matches!(s.status, Outcome::Failed | Outcome::Skipped));
    tracer.end(if cancelled { "interrupted" } else if failed { "failed" } else { "ok" });
    Ok(RunSummary { stages, interrupted: cancelled, traces: tracer.traces })
}

fn outcome(p: &Pipeline, i: usize, status: Outcome, key: Option<String>, seconds: f64) -> StageOutcome {
    let s = &p.stages[i];
    StageOutcome { name: s.name.clone(), kind: s.kind.name().to_string(), status, key, seconds, error: None, log: None, gpus: None }
}

/// The context a stage runs with: resolved input paths, its attempt's output directory, its
/// scratch directory and log.
#[allow(clippy::too_many_arguments)]
pub fn context(
    pipeline: &Pipeline,
    i: usize,
    entries: &[Option<Entry>],
    attempt: &Attempt,
    cache: &Cache,
    key: &str,
    threads: usize,
    gpus: usize,
) -> Result<StageContext> {
    let stage = &pipeline.stages[i];
    let mut inputs = std::collections::BTreeMap::new();
    for (slot, items) in &stage.inputs {
        let mut list = Vec::new();
        for item in items {
            match item {
                Input::Stage(u) => {
                    let entry = entries[*u].as_ref().ok_or_else(|| anyhow::anyhow!("upstream stage has no entry"))?;
                    list.push(InputItem { path: entry.out_dir(), stage: Some(pipeline.stages[*u].name.clone()) });
                }
                Input::Path { abs, .. } => list.push(InputItem { path: abs.clone(), stage: None }),
            }
        }
        inputs.insert(slot.clone(), list);
    }
    // The run's provenance, for a kind that asks for it; it is not part of the key.
    if let Some(slot) = stage.kind.provenance_slot() {
        let path = attempt.dir.join(format!("{slot}.json"));
        let mut record = super::materialize::run_record(pipeline, entries);
        super::trace::extend_record(&mut record, pipeline, cache);
        std::fs::write(&path, serde_json::to_vec_pretty(&record)?)?;
        inputs.insert(slot.to_string(), vec![InputItem { path, stage: None }]);
    }
    let scratch = cache.scratch_dir(key);
    std::fs::create_dir_all(&scratch)?;
    let log = cache.log_path(key);
    std::fs::write(&log, b"")?;
    Ok(StageContext {
        stage: stage.name.clone(),
        pipeline: pipeline.name.clone(),
        kind: stage.kind.name().to_string(),
        params: stage.params.clone(),
        inputs,
        out_dir: attempt.out_dir(),
        scratch_dir: scratch,
        work_dir: stage.work_dir.clone(),
        threads,
        gpus,
        visible_gpus: None,
        log,
    })
}
