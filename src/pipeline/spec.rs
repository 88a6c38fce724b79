//! The pipeline file as written: serde structs with `deny_unknown_fields`, so that a typo is an
//! error with a location instead of a silently ignored key.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

/// Top level of a pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Names the pipeline's report folder (`reports/<name>/`); defaults to the file stem.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Variables for `${name}` interpolation, in order (later ones may use earlier ones).
    #[serde(default)]
    pub vars: Mapping,
    /// Paths that must exist before anything runs (real datasets), each with what to do if not.
    #[serde(default)]
    pub requires: Vec<RawRequire>,
    pub stages: BTreeMap<String, RawStage>,
}

/// One entry of `requires:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequire {
    /// A file or directory, relative to the pipeline file (may use `${...}`).
    pub path: String,
    /// Shown when the path is missing: what to download and how to lay it out. May use `${...}`;
    /// `${path}` is this entry's path resolved against the pipeline file.
    pub help: Option<String>,
}

/// One stage definition as written (before `extends` and `foreach`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub kind: Option<String>,
    pub description: Option<String>,
    /// Another stage definition whose keys this one inherits and overrides.
    pub extends: Option<String>,
    /// Slot -> a reference or a list of references (stage names, groups, globs, paths).
    pub inputs: Option<Mapping>,
    /// The kind's parameters.
    pub with: Option<Value>,
    /// Variable -> list of values, or -> map of name: value; several variables multiply.
    pub foreach: Option<Value>,
    /// `cpus`, `gpus`, `mem`.
    pub resources: Option<Mapping>,
    /// `local` or `slurm`.
    pub executor: Option<String>,
    /// Slurm settings: partition, account, time, qos, extra (sbatch arguments).
    pub slurm: Option<Mapping>,
    // `kind: command` keys, as in DVC.
    pub cmd: Option<String>,
    pub deps: Option<Vec<String>>,
    pub outs: Option<Vec<String>>,
    pub params: Option<Mapping>,
    pub wdir: Option<String>,
    /// Reruns of a failed attempt before the stage fails.
    pub retries: Option<Value>,
}

/// Keys allowed at the top level and in a stage, for "did you mean".
pub const TOP_KEYS: &[&str] = &["name", "description", "vars", "requires", "stages"];
pub const STAGE_KEYS: &[&str] = &[
    "kind", "description", "extends", "inputs", "with", "foreach", "resources", "executor", "slurm", "cmd", "deps",
    "outs", "params", "wdir", "retries",
];
pub const RESOURCE_KEYS: &[&str] = &["cpus", "gpus", "mem", "mem_per_attempt"];
pub const SLURM_KEYS: &[&str] = &["partition", "account", "time", "qos", "extra"];

impl RawStage {
    /// The value of a top-level key that a kind reads itself (`stages::OwnSyntax`), as written.
    pub fn own_value(&self, key: &str) -> Option<Value> {
        let list = |l: &Option<Vec<String>>| l.as_ref().map(|items| Value::Sequence(items.iter().cloned().map(Value::String).collect()));
        match key {
            "cmd" => self.cmd.clone().map(Value::String),
            "deps" => list(&self.deps),
            "outs" => list(&self.outs),
            "params" => self.params.clone().map(Value::Mapping),
            _ => None,
        }
    }

    /// `self` over `base`: keys set here win; `with`, `params`, `inputs`, `resources` and `slurm`
    /// maps are merged key by key (recursively for `with`).
    pub fn over(&self, base: &RawStage) -> RawStage {
        RawStage {
            kind: self.kind.clone().or_else(|| base.kind.clone()),
            description: self.description.clone().or_else(|| base.description.clone()),
            extends: None,
            inputs: merge_maps(&self.inputs, &base.inputs, false),
            with: match (&self.with, &base.with) {
                (Some(a), Some(b)) => Some(deep_merge(a, b)),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
            foreach: self.foreach.clone().or_else(|| base.foreach.clone()),
            resources: merge_maps(&self.resources, &base.resources, false),
            executor: self.executor.clone().or_else(|| base.executor.clone()),
            slurm: merge_maps(&self.slurm, &base.slurm, false),
            cmd: self.cmd.clone().or_else(|| base.cmd.clone()),
            deps: self.deps.clone().or_else(|| base.deps.clone()),
            outs: self.outs.clone().or_else(|| base.outs.clone()),
            params: merge_maps(&self.params, &base.params, false),
            wdir: self.wdir.clone().or_else(|| base.wdir.clone()),
            retries: self.retries.clone().or_else(|| base.retries.clone()),
        }
    }
}

fn merge_maps(top: &Option<Mapping>, base: &Option<Mapping>, deep: bool) -> Option<Mapping> {
    match (top, base) {
        (Some(t), Some(b)) => {
            let mut out = b.clone();
            for (k, v) in t {
                let merged = match (deep, out.get(k)) {
                    (true, Some(old)) => deep_merge(v, old),
                    _ => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Some(out)
        }
        (t, b) => t.clone().or_else(|| b.clone()),
    }
}

/// `top` over `base`, merging mappings recursively; anything else in `top` replaces `base`.
pub fn deep_merge(top: &Value, base: &Value) -> Value {
    match (top, base) {
        (Value::Mapping(t), Value::Mapping(b)) => {
            Value::Mapping(merge_maps(&Some(t.clone()), &Some(b.clone()), true).unwrap_or_default())
        }
        _ => top.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_merges_with_recursively() {
        let base: RawStage = serde_yaml::from_str("kind: train\nwith: {model: cnn, weighting: {method: equal, k: 5}}").unwrap();
        let top: RawStage = serde_yaml::from_str("with: {weighting: {method: dwa}}").unwrap();
        let merged = top.over(&base);
        assert_eq!(merged.kind.as_deref(), Some("train"));
        let with = merged.with.unwrap();
        assert_eq!(with["model"], Value::from("cnn"));
        assert_eq!(with["weighting"]["method"], Value::from("dwa"));
        assert_eq!(with["weighting"]["k"], Value::from(5));
    }
}
