//! `awmt diff A B`: what changed between two runs (stage by stage: the parameters and inputs that
//! changed, with old → new values, and the metrics that changed, with the difference) or between
//! two cache entries (all parameters, their own and upstream, and their metrics).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use serde::Serialize;

use super::exp::{self, number, Entries};
use crate::cache::run_index::Run;
use crate::cache::Cache;

/// A parameter whose value differs (`None`: absent on that side).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParamChange {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A metric whose value differs; `delta` = new − old when both exist.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricChange {
    pub name: String,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub delta: Option<f64>,
}

/// The differences of one pair of entries.
#[derive(Debug, Clone, Serialize)]
pub struct EntryDiff {
    /// The stage name (for a run diff) or both entries' stage names.
    pub stage: String,
    pub old_key: Option<String>,
    pub new_key: Option<String>,
    pub params: Vec<ParamChange>,
    /// Other reasons the keys differ, in words (an input's content, an upstream output).
    pub inputs: Vec<String>,
    pub metrics: Vec<MetricChange>,
    /// Set when an entry is no longer in the cache (or the stage is in one run only).
    pub note: Option<String>,
}

pub fn param_changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<ParamChange> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| ParamChange { name: n.clone(), old: old.get(n).cloned(), new: new.get(n).cloned() })
        .collect()
}

pub fn metric_changes(old: &BTreeMap<String, f64>, new: &BTreeMap<String, f64>) -> Vec<MetricChange> {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect::<BTreeSet<_>>().into_iter().collect();
    // The paper's headline metrics first, as in `exp show`.
    names.sort_by_key(|m| exp::metric_rank(m));
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| {
            let (o, w) = (old.get(n).copied(), new.get(n).copied());
            MetricChange { name: n.clone(), old: o, new: w, delta: o.zip(w).map(|(a, b)| b - a) }
        })
        .collect()
}

/// Two entries by key (prefix): all their parameters (own and upstream) and metrics.
pub fn entries(cache: &Cache, a: &str, b: &str) -> Result<EntryDiff> {
    let all = Entries::load(cache)?;
    let (x, y) = (all.by_key_prefix(a)?, all.by_key_prefix(b)?);
    let stage = if x.manifest.stage == y.manifest.stage { x.manifest.stage.clone() } else { format!("{} / {}", x.manifest.stage, y.manifest.stage) };
    Ok(EntryDiff {
        stage,
        old_key: Some(x.manifest.key.clone()),
        new_key: Some(y.manifest.key.clone()),
        params: param_changes(&all.params_with_upstream(x), &all.params_with_upstream(y)),
        inputs: Vec::new(),
        metrics: metric_changes(&exp::metrics(x, true), &exp::metrics(y, true)),
        note: None,
    })
}

/// Two runs: every stage whose key differs, with its own parameter and input changes and its
/// metric changes.
pub fn runs(cache: &Cache, a: &Run, b: &Run) -> Result<Vec<EntryDiff>> {
    let keys = |r: &Run| -> BTreeMap<String, Option<String>> { r.stages.iter().map(|s| (s.stage.clone(), s.key.clone())).collect() };
    let (ka, kb) = (keys(a), keys(b));
    let mut order: Vec<String> = b.stages.iter().map(|s| s.stage.clone()).collect();
    order.extend(a.stages.iter().map(|s| s.stage.clone()).filter(|s| !kb.contains_key(s)));
    let mut out = Vec::new();
    for stage in order {
        let (old, new) = (ka.get(&stage).cloned().flatten(), kb.get(&stage).cloned().flatten());
        if old == new {
            continue;
        }
        let mut d = EntryDiff { stage: stage.clone(), old_key: old.clone(), new_key: new.clone(), params: Vec::new(), inputs: Vec::new(), metrics: Vec::new(), note: None };
        match (old.as_deref().and_then(|k| cache.entry(k)), new.as_deref().and_then(|k| cache.entry(k))) {
            (Some(x), Some(y)) => {
                let label = &x.manifest.parts.kind;
                let (mut px, mut py) = (BTreeMap::new(), BTreeMap::new());
                exp::own_params(&x.manifest.parts, label, &mut px);
                exp::own_params(&y.manifest.parts, label, &mut py);
                d.params = param_changes(&px, &py);
                let kind_changed = (x.manifest.parts.kind.clone(), x.manifest.parts.kind_version) != (y.manifest.parts.kind.clone(), y.manifest.parts.kind_version);
                d.inputs = y
                    .manifest
                    .parts
                    .changes_since(&x.manifest.parts)
                    .into_iter()
                    .filter(|w| !w.starts_with("parameter ") || kind_changed)
                    .collect();
                d.metrics = metric_changes(&exp::metrics(&x, true), &exp::metrics(&y, true));
            }
            _ if old.is_none() => d.note = Some(format!("only in run {}", b.start.run)),
            _ if new.is_none() => d.note = Some(format!("only in run {}", a.start.run)),
            _ => d.note = Some("an entry is no longer in the cache (removed by `awmt gc`): its parameters cannot be compared".into()),
        }
        out.push(d);
    }
    Ok(out)
}

/// The two arguments as runs (ids or prefixes, or `last`), else as cache keys (prefixes).
pub fn resolve<'a>(runs: &'a [Run], a: &str, b: &str) -> Result<Option<(&'a Run, &'a Run)>> {
    match (super::find_run(runs, a), super::find_run(runs, b)) {
        (Ok(x), Ok(y)) => Ok(Some((x, y))),
        (Ok(_), Err(_)) | (Err(_), Ok(_)) => bail!("give two runs or two cache keys, not one of each"),
        _ => Ok(None),
    }
}

/// The text `awmt diff` prints.
pub fn text(diffs: &[EntryDiff], single: bool) -> String {
    let mut out = String::new();
    if diffs.is_empty() {
        return "no stage differs: both runs used the same entries\n".to_string();
    }
    for d in diffs {
        let short = |k: &Option<String>| k.as_deref().map(|k| k[..12.min(k.len())].to_string()).unwrap_or_else(|| "-".into());
        if !single {
            out += &format!("stage `{}`  ({} → {})\n", d.stage, short(&d.old_key), short(&d.new_key));
        } else {
            out += &format!("{}  ({} → {})\n", d.stage, short(&d.old_key), short(&d.new_key));
        }
        if let Some(n) = &d.note {
            out += &format!("  {n}\n");
        }
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        let width = d.params.iter().map(|p| p.name.len()).chain(d.metrics.iter().map(|m| m.name.len())).max().unwrap_or(0);
        for p in &d.params {
            out += &format!("  param   {:<width$}  {} → {}\n", p.name, opt(&p.old), opt(&p.new));
        }
        for w in &d.inputs {
            out += &format!("  input   {w}\n");
        }
        for m in &d.metrics {
            let num = |v: Option<f64>| v.map(number).unwrap_or_else(|| "(none)".into());
            let delta = m.delta.map(|x| format!("  ({}{})", if x >= 0.0 { "+" } else { "" }, number(x))).unwrap_or_default();
            out += &format!("  metric  {:<width$}  {} → {}{delta}\n", m.name, num(m.old), num(m.new));
        }
        if d.params.is_empty() && d.inputs.is_empty() && d.metrics.is_empty() && d.note.is_none() {
            out += "  no parameter or metric differs\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_exactly_what_differs() {
        let old: BTreeMap<String, String> = [("t.lr".into(), "0.1".into()), ("t.seed".into(), "1".into())].into();
        let new: BTreeMap<String, String> = [("t.lr".into(), "0.2".into()), ("t.seed".into(), "1".into()), ("t.k".into(), "3".into())].into();
        let c = param_changes(&old, &new);
        assert_eq!(c.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["t.k", "t.lr"]);
        assert_eq!(c[0].old, None);
        let m = metric_changes(&[("acc".into(), 0.5), ("n".into(), 10.0)].into(), &[("acc".into(), 0.75), ("n".into(), 10.0)].into());
        assert_eq!(m, vec![MetricChange { name: "acc".into(), old: Some(0.5), new: Some(0.75), delta: Some(0.25) }]);
    }
}
