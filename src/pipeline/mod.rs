//! Pipeline files: YAML → validated, expanded, concrete stages wired into a DAG.
//!
//! Loading does every check that can be done without running anything (unknown keys, types,
//! variables, kinds, parameters, input references, output paths, cycles) and reports each with
//! `file:line:column` and the quoted line, so that a bad file never starts a half-run.

pub mod dag;
pub mod diag;
pub mod interp;
pub mod overrides;
mod load;
pub mod spec;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use dag::Dag;
pub use diag::{Diagnostic, PipelineError, Pos};

use crate::stages::{Resources, StageKind};

/// A loaded pipeline: concrete stages (after `extends`, `foreach` and interpolation) and their DAG.
pub struct Pipeline {
    /// `name:` or the file stem; names `reports/<name>/`.
    pub name: String,
    pub description: Option<String>,
    /// The file as given on the command line (for messages).
    pub file: PathBuf,
    /// The file's directory, absolute: relative paths in the file are relative to it.
    pub dir: PathBuf,
    pub stages: Vec<Stage>,
    pub dag: Dag,
    /// The `--set` overrides it was loaded with, as given (`stages.a.with.n=3`).
    pub overrides: Vec<String>,
}

/// One concrete stage.
pub struct Stage {
    /// Expanded name: `basic`, `separate[Smiling]`.
    pub name: String,
    /// The definition it came from (`separate`); equal to `name` without `foreach`.
    pub group: String,
    pub kind: &'static dyn StageKind,
    /// Canonical parameters (defaults filled in); part of the cache key.
    pub params: serde_json::Value,
    /// Input slot -> resolved references, in the order written.
    pub inputs: BTreeMap<String, Vec<Input>>,
    /// Stages this one needs, by index into `Pipeline::stages`, sorted.
    pub upstream: Vec<usize>,
    pub resources: Resources,
    /// Where the stage runs and relative paths point (`wdir`, or the pipeline's directory).
    pub work_dir: PathBuf,
    /// `executor:` if set (`local` or `slurm`).
    pub executor: Option<String>,
    /// `slurm:` settings (partition, account, time, qos, extra).
    pub slurm: BTreeMap<String, String>,
    /// `retries:`: reruns of a failed attempt; `resources.mem_per_attempt`: the factor the memory
    /// request grows by on each rerun (1 = unchanged).
    pub retries: u32,
    pub mem_per_attempt: f64,
    /// Where the stage is defined in the file.
    pub pos: Pos,
}

/// A resolved input reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Another stage's published output.
    Stage(usize),
    /// A workspace file or directory. `rel` is as written (normalised), `abs` is absolute.
    Path { rel: String, abs: PathBuf },
}

impl Pipeline {
    /// Reads, validates and expands a pipeline file.
    pub fn load(file: &Path) -> Result<Pipeline, PipelineError> {
        load::load(file, &|name| std::env::var(name).ok())
    }

    /// Like [`Pipeline::load`] with an explicit environment (tests).
    pub fn load_with_env(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Pipeline, PipelineError> {
        load::load(file, env)
    }

    /// Like [`Pipeline::load`] with `--set PATH=VALUE` overrides (pipeline/overrides.rs) applied
    /// to the document before anything is expanded.
    pub fn load_with_overrides(file: &Path, overrides: &[overrides::Override]) -> Result<Pipeline, PipelineError> {
        load::load_with(file, &|name| std::env::var(name).ok(), overrides)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// Indices of the stages matching `pattern`: an exact name, a `foreach` group name, or a
    /// wildcard (`*`, `?`; `eval.*` also means the members of group `eval`).
    pub fn matching(&self, pattern: &str) -> Vec<usize> {
        load::match_stages(&self.stages, pattern)
    }

    /// All stage names, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|s| s.name.as_str())
    }
}

/// Normalises a relative path lexically (`a/./b/../c` → `a/c`). Returns None when it is absolute
/// or climbs above its base with `..`.
pub fn normalize_relative(path: &str) -> Option<String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Some(".".to_string());
    }
    Some(parts.join("/"))
}

/// Joins `rel` (which may contain `..`) onto an absolute base, lexically.
pub fn join_lexical(base: &Path, rel: &str) -> PathBuf {
    if Path::new(rel).is_absolute() {
        return PathBuf::from(rel);
    }
    let mut out = base.to_path_buf();
    for comp in rel.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_escapes() {
        assert_eq!(normalize_relative("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize_relative("../x"), None);
        assert_eq!(normalize_relative("a/../../x"), None);
        assert_eq!(normalize_relative("/etc/passwd"), None);
    }
}
