//! Stage kinds: the only place that knows what a `kind:` does. One kind per file.
//!
//! A kind validates its `with:` parameters at load time (before anything runs) and, at run time,
//! reads its inputs from paths the executor hands it and writes its outputs under `ctx.out_dir`.
//! It never learns where the cache lives: inputs are plain paths, outputs go to a directory that
//! the executor publishes atomically afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::params::{canonical_params, parse_params, ParamError};

pub mod command;
pub mod compare;
pub mod evaluate;
pub mod plot;
pub mod prepare;
pub mod report;
pub mod split;
pub mod synth;
pub mod train;

/// One resolved input of a stage: a published upstream output directory, or a file/directory of
/// the workspace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputItem {
    /// Absolute path to read from. For an upstream stage this is its published output directory.
    pub path: PathBuf,
    /// The upstream stage's name (e.g. `eval[awmt]`) when the input is a stage output.
    pub stage: Option<String>,
}

/// Everything a stage needs to run. Serialised to JSON for `awmt exec-stage` subprocesses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageContext {
    /// The stage's (expanded) name, e.g. `separate[Smiling]`.
    pub stage: String,
    /// The pipeline's `name:`.
    pub pipeline: String,
    pub kind: String,
    /// Canonical parameters, as returned by [`StageKind::check_params`].
    pub params: serde_json::Value,
    /// Input slot name -> items, in declaration order.
    pub inputs: BTreeMap<String, Vec<InputItem>>,
    /// Where outputs go. Empty and private to this attempt.
    pub out_dir: PathBuf,
    /// Survives a killed attempt of the same stage key (checkpoints); removed after publishing.
    pub scratch_dir: PathBuf,
    /// The pipeline file's directory (or the stage's `wdir`): where relative paths point.
    pub work_dir: PathBuf,
    /// CPU threads this stage may use (`resources.cpus`).
    pub threads: usize,
    /// GPUs granted (`resources.gpus`); 0 means CPU only.
    pub gpus: usize,
    /// `CUDA_VISIBLE_DEVICES` for the stage's processes when the local executor placed it on
    /// specific GPUs (exec/gpus.rs); None leaves the inherited value alone.
    #[serde(default)]
    pub visible_gpus: Option<String>,
    /// The stage's log file; a kind that starts processes sends their output here (an isolated
    /// stage's own stdout and stderr already go here).
    #[serde(default)]
    pub log: PathBuf,
}

impl StageContext {
    /// A context for running one stage outside a pipeline (tests, benchmarks): `with:` checked by
    /// the kind, outputs in `out_dir` (created), scratch and log beside it, one thread, no GPU.
    pub fn standalone(kind: &str, stage: &str, with: &serde_json::Value, inputs: Vec<(&str, Vec<InputItem>)>, out_dir: &Path) -> Result<StageContext> {
        let k = find(kind).with_context(|| format!("no stage kind `{kind}`"))?;
        let params = k.check_params(with).map_err(|e| anyhow::anyhow!("{kind} `with:` {:?}: {}", e.path, e.message))?;
        std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        Ok(StageContext {
            stage: stage.to_string(),
            pipeline: "standalone".into(),
            kind: kind.to_string(),
            params,
            inputs: inputs.into_iter().map(|(slot, items)| (slot.to_string(), items)).collect(),
            out_dir: out_dir.to_path_buf(),
            scratch_dir: out_dir.with_extension("scratch"),
            work_dir: out_dir.parent().unwrap_or(out_dir).to_path_buf(),
            threads: 1,
            gpus: 0,
            visible_gpus: None,
            log: out_dir.with_extension("log"),
        })
    }

    /// Runs this context's kind (see [`StageContext::standalone`]).
    pub fn run_standalone(&self) -> Result<()> {
        find(&self.kind).with_context(|| format!("no stage kind `{}`", self.kind))?.run(self)
    }

    /// All items of an input slot (empty when the slot was not given).
    pub fn inputs(&self, name: &str) -> &[InputItem] {
        self.inputs.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// The single item of an input slot; an error if it is missing or has several.
    pub fn input(&self, name: &str) -> Result<&InputItem> {
        match self.inputs(name) {
            [one] => Ok(one),
            [] => bail!("stage `{}` needs input `{name}`", self.stage),
            many => bail!("stage `{}`: input `{name}` must name one item, got {}", self.stage, many.len()),
        }
    }

    /// The stage's parameters as the kind's own struct.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.params.clone())
            .with_context(|| format!("stage `{}`: parameters do not match kind `{}`", self.stage, self.kind))
    }

    /// A path under the output directory, creating its parent directories.
    pub fn out_path(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        let p = self.out_dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        Ok(p)
    }
}

/// One named input a kind reads.
#[derive(Debug, Clone, Copy)]
pub struct InputSlot {
    pub name: &'static str,
    pub required: bool,
    /// Whether the slot takes several items (`runs: [eval.*]`).
    pub many: bool,
}

/// Resources a stage asks the scheduler for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub cpus: usize,
    /// Whole GPUs; 1 for a share of one (see `gpu_split`).
    pub gpus: usize,
    /// Bytes; 0 = no reservation.
    pub mem: u64,
    /// n > 1: the stage takes 1/n of one GPU (`gpus: 0.25`), so n such stages share it
    /// (exec/gpus.rs). 1 for whole GPUs.
    #[serde(default = "one")]
    pub gpu_split: u32,
}

fn one() -> u32 {
    1
}

impl Default for Resources {
    fn default() -> Self {
        Resources { cpus: 1, gpus: 0, mem: 0, gpu_split: 1 }
    }
}

/// How the loader reads one key of a kind's own stage syntax (see [`OwnSyntax`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnKey {
    /// A string.
    Text,
    /// A list of workspace paths the stage writes, relative to its work directory: each must
    /// stay inside it, overlap no other, and not be the pipeline file; a stage whose input names
    /// one depends on this stage.
    Outputs,
    /// A list of files, folders or (as `stage:NAME`) stages the stage reads: the input slot of the
    /// key's name.
    Inputs,
    /// A map of names to values.
    Map,
}

/// Top-level keys of a stage definition that a kind reads itself, in place of `with:` and
/// `inputs:` (`kind: command`'s `cmd`, `deps`, `outs` and `params`, as in DVC).
#[derive(Debug)]
pub struct OwnSyntax {
    /// The keys and how each is read, in the order the loader reads them.
    pub keys: &'static [(&'static str, OwnKey)],
    /// The key a stage must set, and the help shown when it does not.
    pub required: (&'static str, &'static str),
}

/// What a stage kind must provide. Implementations are stateless unit structs.
pub trait StageKind: Send + Sync {
    /// The name used in `kind:`.
    fn name(&self) -> &'static str;
    /// Bump whenever the same parameters and inputs would now give different output bytes.
    /// It is part of every cache key of this kind.
    fn version(&self) -> u32;
    /// The input slots this kind reads; `inputs:` naming any other slot is an error.
    fn input_slots(&self) -> &'static [InputSlot];
    /// Validates `with:` (after interpolation) and returns the canonical parameters with every
    /// default filled in. The result is part of the cache key, so two spellings of the same
    /// settings give the same key.
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError>;
    /// Top-level keys of its own, in place of `with:` and `inputs:`. None (the default): the
    /// kind's parameters go under `with:`, its inputs under `inputs:`.
    fn own_syntax(&self) -> Option<&'static OwnSyntax> {
        None
    }
    /// With [`StageKind::own_syntax`]: the `with:` that [`StageKind::check_params`] checks, made
    /// from the values of the own keys the stage sets (interpolated; outputs as normalised
    /// relative paths) and `wdir` (the work directory as written; `.` by default).
    fn with_from_own_keys(&self, keys: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        serde_json::Value::Object(keys.clone())
    }
    /// Checks the canonical parameters against the input slots the stage fills (at load time,
    /// before anything runs). Err: (what is wrong, what to do).
    fn check_inputs(&self, _params: &serde_json::Value, _given: &[&str]) -> Result<(), (String, String)> {
        Ok(())
    }
    /// Default resources when the stage has no `resources:`.
    fn default_resources(&self, _params: &serde_json::Value) -> Resources {
        Resources::default()
    }
    /// Globs (relative to the output directory) copied to `reports/<pipeline>/<stage>/`.
    fn user_outputs(&self) -> &'static [&'static str] {
        &["*"]
    }
    /// Whether the stage runs in its own `awmt exec-stage` process (own torch threads and RNG,
    /// killable as a process group). Only kinds that spawn their own processes say no.
    fn isolated(&self) -> bool {
        true
    }
    /// Files of the output directory that also belong at a workspace path (relative to
    /// `work_dir`), restored there whenever the stage is found cached. `(entry path, workspace path)`.
    fn workspace_outputs(&self, _params: &serde_json::Value) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Top-level fields of JSON outputs that hold measurements (timings), `(file, field)`: they
    /// differ from run to run, so the output digest that feeds downstream keys leaves them out
    /// (the manifest still hashes every byte, for `verify`).
    fn volatile_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// The input slot, if any, that gets the run's provenance (what ran, how long, on which
    /// versions): a JSON file the scheduler writes for each attempt. It is not part of the key.
    fn provenance_slot(&self) -> Option<&'static str> {
        None
    }
    /// Does the work: reads `ctx.inputs`, writes under `ctx.out_dir`.
    fn run(&self, ctx: &StageContext) -> Result<()>;
}

/// The error of `run` for a kind whose work needs libtorch (`train`, `evaluate`): `awmt-worker`
/// runs it (`awmt_torch::stages::run`). Isolated kinds always run there, so reaching this is a bug,
/// not a user error.
pub fn needs_worker(kind: &str) -> Result<()> {
    bail!("kind `{kind}` needs libtorch and runs in `awmt-worker`; awmt itself never links it")
}

/// Every built-in kind.
pub fn registry() -> &'static [&'static dyn StageKind] {
    &[
        &command::Command,
        &synth::Synth,
        &split::Split,
        &prepare::Prepare,
        &train::Train,
        &evaluate::Evaluate,
        &compare::Compare,
        &plot::Plot,
        &report::Report,
    ]
}

/// Looks a kind up by name.
pub fn find(kind: &str) -> Option<&'static dyn StageKind> {
    registry().iter().copied().find(|k| k.name() == kind)
}

