//! Running pipelines: key resolution, the scheduler, executors (local processes; Slurm), and
//! putting outputs where users look for them.

pub mod gpus;
pub mod local;
pub mod materialize;
pub mod progress;
pub mod retry;
pub mod scheduler;
pub mod slots;
pub mod slurm;
pub mod state;
pub mod trace;
pub mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::cache::digest::StatIndex;
use crate::cache::{Cache, Entry, KeyInput, KeyParts};
use crate::pipeline::{Input, Pipeline};
use crate::stages::{StageContext, StageKind};
pub use state::{Outcome, Status};

/// A stage handed to an executor.
pub struct Job {
    pub index: usize,
    pub kind: &'static dyn StageKind,
    /// The stage's name and its `foreach` group (stages of one group may be batched).
    pub name: String,
    pub group: String,
    /// The key the stage is expected to publish under.
    pub key: String,
    pub resources: crate::stages::Resources,
    /// `slurm:` settings of the stage.
    pub slurm: BTreeMap<String, String>,
    /// For executors that do not publish themselves: the prepared context and where to save it
    /// for a subprocess (inside the attempt, outside `out/`).
    pub work: Option<(StageContext, PathBuf)>,
}

/// A finished job.
pub struct JobDone {
    pub index: usize,
    pub result: Result<()>,
    pub seconds: f64,
    /// Set when the executor published the entry itself (Slurm jobs do).
    pub published: Option<Entry>,
    /// CPU time and peak memory of the stage's processes, when the executor measured them.
    pub usage: Option<crate::rusage::Usage>,
}

/// Something that runs jobs and reports when they end (local processes: `local`; a cluster:
/// `slurm`).
pub trait Executor {
    fn launch(&mut self, job: Job) -> Result<()>;
    /// The next finished job, waiting at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<JobDone>;
    /// Stops every running job; their `JobDone`s still arrive.
    fn cancel(&mut self);
    /// Whether this executor's jobs publish their own cache entries (then the scheduler prepares
    /// no attempt for them and expects `JobDone::published`).
    fn publishes(&self, _job_stage_executor: Option<&str>) -> bool {
        false
    }
    /// A line of live state for the progress display, if the executor has one.
    fn state_line(&mut self) -> Option<String> {
        None
    }
}

/// Computes stage keys from parameters and input digests.
pub struct Resolver<'a> {
    pub pipeline: &'a Pipeline,
    pub cache: &'a Cache,
    pub index: StatIndex,
    /// Re-hash every cached output used (`--paranoid`), not only small entries.
    full_check: bool,
    /// Digests of workspace paths already taken in this run. A path is digested only once every
    /// stage that writes it is done (they are all upstream of its readers), so it cannot change
    /// later in the run; two stages reading one 200,000-file dataset walk it once.
    digests: std::sync::Mutex<std::collections::HashMap<PathBuf, String>>,
}

/// The key of a stage, or the upstream stage whose output is not known yet.
pub enum Resolved {
    Key(KeyParts),
    Blocked(usize),
}

impl<'a> Resolver<'a> {
    pub fn new(pipeline: &'a Pipeline, cache: &'a Cache) -> Resolver<'a> {
        Resolver { pipeline, cache, index: StatIndex::load(&cache.index_path()), full_check: false, digests: Default::default() }
    }

    /// Trust no stat: hash every input file and every file of every cached entry used.
    pub fn paranoid(&mut self) {
        self.full_check = true;
        self.index.distrust_stats();
    }

    /// Key parts of stage `i`, given the entries of finished upstream stages (`done[u]`).
    pub fn resolve(&self, i: usize, done: &[Option<Entry>]) -> Result<Resolved> {
        let stage = &self.pipeline.stages[i];
        let mut inputs = Vec::new();
        for (slot, items) in &stage.inputs {
            for item in items {
                match item {
                    Input::Stage(u) => match &done[*u] {
                        Some(e) => inputs.push(KeyInput {
                            slot: slot.clone(),
                            name: self.pipeline.stages[*u].name.clone(),
                            digest: format!("stage:{}", e.manifest.digest),
                        }),
                        None => return Ok(Resolved::Blocked(*u)),
                    },
                    Input::Path { rel, abs } => {
                        // A path that another stage writes is only final once that stage is done.
                        if let Some(&u) = stage.upstream.iter().find(|&&u| done[u].is_none()) {
                            return Ok(Resolved::Blocked(u));
                        }
                        let digest = self.path_digest(abs).with_context(|| format!("stage `{}`: input `{rel}`", stage.name))?;
                        inputs.push(KeyInput { slot: slot.clone(), name: rel.clone(), digest });
                    }
                }
            }
        }
        Ok(Resolved::Key(KeyParts {
            kind: stage.kind.name().to_string(),
            kind_version: stage.kind.version(),
            params: stage.params.clone(),
            inputs,
        }))
    }

    fn path_digest(&self, abs: &Path) -> Result<String> {
        if let Some(d) = self.digests.lock().unwrap_or_else(|e| e.into_inner()).get(abs) {
            return Ok(d.clone());
        }
        let d = self.index.digest(abs)?;
        self.digests.lock().unwrap_or_else(|e| e.into_inner()).insert(abs.to_path_buf(), d.clone());
        Ok(d)
    }

    /// The usable entry for `key`: published and undamaged. A damaged one is evicted (and so
    /// recomputed by the caller).
    pub fn usable_entry(&self, key: &str) -> Result<Option<Entry>> {
        let entry = match self.cache.read_entry(key) {
            Ok(e) => e,
            Err(why) => {
                // A directory without a readable, consistent manifest is not an entry; clear it
                // for the rerun.
                if self.cache.entry_dir(key).exists() {
                    eprintln!("warning: cache entry {} is corrupt ({why}); recomputing it", &key[..12.min(key.len())]);
                    self.cache.evict(key)?;
                }
                return Ok(None);
            }
        };
        let damaged = entry.damaged_files(self.full_check);
        if damaged.is_empty() {
            Ok(Some(entry))
        } else {
            eprintln!(
                "warning: cache entry {} of stage `{}` is corrupt ({}); recomputing it",
                &key[..12],
                entry.manifest.stage,
                damaged.join(", ")
            );
            self.cache.evict(key)?;
            Ok(None)
        }
    }
}

/// One stage's state as `awmt status` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StageStatus {
    pub name: String,
    pub kind: String,
    pub state: Status,
    pub key: Option<String>,
    pub why: Vec<String>,
}

/// Fresh / stale (and why) / never run, for every stage, without running anything.
pub fn status(pipeline: &Pipeline, cache: &Cache) -> Result<Vec<StageStatus>> {
    let resolver = Resolver::new(pipeline, cache);
    let record = cache.load_record(&pipeline.name);
    let mut done: Vec<Option<Entry>> = vec![None; pipeline.stages.len()];
    let mut out: BTreeMap<usize, StageStatus> = BTreeMap::new();
    for &i in &pipeline.dag.order {
        let stage = &pipeline.stages[i];
        let previous = record.stages.get(&stage.name);
        let (state, key, why) = match resolver.resolve(i, &done) {
            Err(e) => (Status::Stale, None, vec![format!("{e:#}")]),
            Ok(Resolved::Blocked(u)) => {
                let mut why = vec![format!("upstream stage `{}` must run first (its output is one of this stage's inputs)", pipeline.stages[u].name)];
                if let Some(prev) = previous {
                    // Own parameter changes are still worth naming.
                    let own = KeyParts { inputs: prev.parts.inputs.clone(), ..own_parts(stage) };
                    why.extend(own.changes_since(&prev.parts));
                }
                let state = if previous.is_some() { Status::Stale } else { Status::NeverRun };
                (state, None, why)
            }
            Ok(Resolved::Key(parts)) => {
                let key = parts.key();
                match resolver.usable_entry_readonly(&key) {
                    Some(entry) => {
                        done[i] = Some(entry);
                        (Status::Fresh, Some(key), Vec::new())
                    }
                    None => match previous {
                        Some(prev) if prev.key != key => (Status::Stale, Some(key), parts.changes_since(&prev.parts)),
                        Some(_) => {
                            // Same key as last time: the entry itself went away.
                            let quarantined = std::fs::read_dir(cache.quarantine_dir())
                                .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(key.as_str())))
                                .unwrap_or(false);
                            let why = if quarantined {
                                "nothing it depends on changed, but `awmt verify` found its cache entry corrupt and quarantined it".to_string()
                            } else {
                                "nothing it depends on changed, but its cache entry is gone (removed by `awmt gc`?) or damaged".to_string()
                            };
                            (Status::Stale, Some(key), vec![why])
                        }
                        None => (Status::NeverRun, Some(key), vec!["never run".to_string()]),
                    },
                }
            }
        };
        out.insert(i, StageStatus { name: stage.name.clone(), kind: stage.kind.name().to_string(), state, key, why });
    }
    Ok(pipeline.dag.order.iter().filter_map(|i| out.remove(i)).collect())
}

fn own_parts(stage: &crate::pipeline::Stage) -> KeyParts {
    KeyParts { kind: stage.kind.name().to_string(), kind_version: stage.kind.version(), params: stage.params.clone(), inputs: Vec::new() }
}

impl<'a> Resolver<'a> {
    /// Like [`Resolver::usable_entry`] but never modifies the cache (for `status` and dry runs).
    pub fn usable_entry_readonly(&self, key: &str) -> Option<Entry> {
        let entry = self.cache.entry(key)?;
        entry.damaged_files(self.full_check).is_empty().then_some(entry)
    }
}

/// Keys of every stage whose inputs are all available now (for `gc`).
pub fn live_keys(pipeline: &Pipeline, cache: &Cache) -> Result<Vec<String>> {
    Ok(status(pipeline, cache)?.into_iter().filter_map(|s| s.key).collect())
}
