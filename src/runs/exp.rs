//! `awmt exp show FILE`: one row per variant of a pipeline's experiments that the cache holds.
//!
//! A variant is a published entry of one of the row stages (by default the pipeline's `evaluate`
//! stages, else its `train` stages; `--stage` picks others), whatever run produced it: every
//! entry of the same stage definition (its `foreach` group) counts, so changing a parameter and
//! rerunning adds a row. A row's parameters are its own and those of every entry upstream of it
//! (found through the output digests in its key), named `<kind>.<parameter>` (the nearest stage
//! of a kind; further ones of the same kind by their stage name); only parameters that differ
//! between rows become columns. Metrics are the numbers in the entry's `metrics*.json` files.
//! Rows differing only in parameters named like `seed` fold into one (mean ± sample std over
//! seeds, and `n`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use anyhow::{bail, Result};
use serde::Serialize;

use super::table::Table;
use crate::cache::{Cache, Entry};
use crate::pipeline::Pipeline;

/// One entry of a row stage, with everything needed to compare it.
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    pub key: String,
    /// The entry's stage name (`score[k=1]`).
    pub stage: String,
    /// Parameters of the entry and its upstream entries, flattened.
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
}

/// Every published entry, and entries by output digest.
pub struct Entries {
    pub all: Vec<Entry>,
    by_digest: HashMap<String, usize>,
}

impl Entries {
    pub fn load(cache: &Cache) -> Result<Entries> {
        let all: Vec<Entry> = cache.keys()?.iter().filter_map(|k| cache.entry(k)).collect();
        let by_digest = all.iter().enumerate().map(|(i, e)| (e.manifest.digest.clone(), i)).collect();
        Ok(Entries { all, by_digest })
    }

    pub fn by_key_prefix(&self, prefix: &str) -> Result<&Entry> {
        let hits: Vec<&Entry> = self.all.iter().filter(|e| e.manifest.key.starts_with(prefix)).collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => bail!("no cache entry with a key starting `{prefix}` (`awmt runs RUN` lists a run's keys)"),
            many => bail!("`{prefix}` starts {} cache keys; give more of the key", many.len()),
        }
    }

    /// Parameters of `entry` and of every entry upstream of it (breadth first, so the nearest
    /// stage of each kind gets the plain `<kind>.` prefix).
    pub fn params_with_upstream(&self, entry: &Entry) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut kinds_seen: HashSet<String> = HashSet::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<&Entry> = VecDeque::from([entry]);
        while let Some(e) = queue.pop_front() {
            if !seen.insert(e.manifest.key.clone()) {
                continue;
            }
            let parts = &e.manifest.parts;
            let label = if kinds_seen.insert(parts.kind.clone()) { parts.kind.clone() } else { base_name(&e.manifest.stage).to_string() };
            own_params(parts, &label, &mut out);
            for input in &parts.inputs {
                match input.digest.strip_prefix("stage:").and_then(|d| self.by_digest.get(d)) {
                    Some(&u) => queue.push_back(&self.all[u]),
                    None if !input.digest.starts_with("stage:") => {
                        out.insert(format!("{label}.input[{}]", input.name), input.digest.chars().take(12).collect());
                    }
                    None => {}
                }
            }
        }
        out
    }
}

/// The stage definition a stage name comes from (`score[k=1]` → `score`).
pub fn base_name(stage: &str) -> &str {
    stage.split('[').next().unwrap_or(stage)
}

/// A stage's own parameters as `<label>.<path>` → text. A command's `cmd`, `outs` and `wdir`
/// are left out (they name files and repeat its `params`, which are what varies).
pub fn own_params(parts: &crate::cache::KeyParts, label: &str, out: &mut BTreeMap<String, String>) {
    if parts.kind == "command" {
        flatten(&parts.params["params"], label, out);
    } else {
        flatten(&parts.params, label, out);
    }
}

fn flatten(v: &serde_json::Value, path: &str, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(x, &format!("{path}.{k}"), out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => {
            out.insert(path.to_string(), s.clone());
        }
        other => {
            out.insert(path.to_string(), other.to_string());
        }
    }
}

/// Numbers of the entry's `metrics*.json` files (an `evaluate` stage's mean accuracy and mA; with
/// `all`, its example-based metrics and per-attribute accuracy too).
pub fn metrics(entry: &Entry, all: bool) -> BTreeMap<String, f64> {
    let files: Vec<&str> = entry
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| {
            let name = p.rsplit('/').next().unwrap_or(p);
            name.starts_with("metrics") && name.ends_with(".json")
        })
        .collect();
    let mut out = BTreeMap::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(entry.out_dir().join(f)) else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let prefix = if files.len() > 1 { format!("{}.", f.trim_end_matches(".json")) } else { String::new() };
        let serde_json::Value::Object(m) = &v else { continue };
        for (k, x) in m {
            match (k.as_str(), x) {
                // Settings and provenance an `evaluate` stage records beside its metrics.
                ("training" | "tau" | "model_stages", _) => {}
                ("mean_balanced_accuracy", x) => numbers(x, &format!("{prefix}mA"), &mut out),
                ("example_based", x) => {
                    if all {
                        numbers(x, &format!("{prefix}ex"), &mut out)
                    }
                }
                ("tasks", serde_json::Value::Array(items)) => {
                    if all {
                        for t in items {
                            if let (Some(name), Some(acc)) = (t["task"].as_str(), t["accuracy"].as_f64()) {
                                out.insert(format!("{prefix}acc[{name}]"), acc);
                            }
                        }
                    }
                }
                (k, x) => numbers(x, &format!("{prefix}{k}"), &mut out),
            }
        }
    }
    out
}

fn numbers(v: &serde_json::Value, path: &str, out: &mut BTreeMap<String, f64>) {
    // Counts (`n`, `correct`) say how much was scored, not how well.
    if matches!(path.rsplit('.').next(), Some("n" | "correct" | "images")) {
        return;
    }
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                out.insert(path.to_string(), f);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                numbers(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// Every variant of the row stages: those matching `patterns`, else the `evaluate` stages, else
/// the `train` stages.
pub fn variants(pipeline: &Pipeline, cache: &Cache, patterns: &[String], all_metrics: bool) -> Result<Vec<Variant>> {
    let mut rows: Vec<usize> = Vec::new();
    if patterns.is_empty() {
        for kind in ["evaluate", "train"] {
            rows = (0..pipeline.stages.len()).filter(|&i| pipeline.stages[i].kind.name() == kind).collect();
            if !rows.is_empty() {
                break;
            }
        }
        if rows.is_empty() {
            bail!("{} has no `evaluate` or `train` stage; name the stages to show with --stage", pipeline.file.display());
        }
    } else {
        for p in patterns {
            let m = pipeline.matching(p);
            if m.is_empty() {
                bail!("no stage `{p}` in {}", pipeline.file.display());
            }
            rows.extend(m);
        }
    }
    let groups: BTreeSet<(String, String)> =
        rows.iter().map(|&i| (pipeline.stages[i].group.clone(), pipeline.stages[i].kind.name().to_string())).collect();
    let entries = Entries::load(cache)?;
    let mut out = Vec::new();
    for e in &entries.all {
        let m = &e.manifest;
        if !groups.iter().any(|(g, k)| *k == m.parts.kind && base_name(&m.stage) == g) {
            continue;
        }
        out.push(Variant { key: m.key.clone(), stage: m.stage.clone(), params: entries.params_with_upstream(e), metrics: metrics(e, all_metrics) });
    }
    out.sort_by(|a, b| a.stage.cmp(&b.stage).then(a.key.cmp(&b.key)));
    Ok(out)
}

/// How `exp show` lays out its rows.
#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    /// Fold seeds into mean ± std.
    pub fold: bool,
    /// A column to sort by: metrics best (largest) first, parameters ascending.
    pub sort: Option<String>,
    /// Globs: keep only the parameter and metric columns they match.
    pub only: Vec<String>,
}

/// One metric of a row: a value, or mean ± std over `n` seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub n: usize,
}

/// A row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The stage definition (folded) or stage name (not folded).
    pub stage: String,
    pub keys: Vec<String>,
    /// Values of the varying parameters, by column.
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Stat>,
}

/// The table: varying parameters, metrics, rows.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub params: Vec<String>,
    pub metrics: Vec<String>,
    pub folded: bool,
    pub rows: Vec<Row>,
}

fn is_seed(col: &str) -> bool {
    col.rsplit('.').next().unwrap_or(col).to_ascii_lowercase().contains("seed")
}

pub fn show(variants: &[Variant], opts: &ShowOptions) -> Result<Shown> {
    let all_params: BTreeSet<&String> = variants.iter().flat_map(|v| v.params.keys()).collect();
    let value = |v: &Variant, c: &str| v.params.get(c).cloned().unwrap_or_else(|| "-".to_string());
    let mut varying: Vec<String> =
        all_params.into_iter().filter(|c| variants.iter().map(|v| value(v, c)).collect::<BTreeSet<_>>().len() > 1).cloned().collect();
    let mut metric_names: Vec<String> = variants.iter().flat_map(|v| v.metrics.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
    // The paper's headline metrics first.
    metric_names.sort_by_key(|m| match m.as_str() {
        "mean_accuracy" => 0,
        "mA" => 1,
        _ => 2,
    });
    let seeds: Vec<String> = if opts.fold { varying.iter().filter(|c| is_seed(c)).cloned().collect() } else { Vec::new() };
    varying.retain(|c| !seeds.contains(c));
    // Rows: one per variant, or one per (stage definition, non-seed parameters) when folding.
    let mut groups: Vec<(String, BTreeMap<String, String>, Vec<&Variant>)> = Vec::new();
    for v in variants {
        let stage = if opts.fold { base_name(&v.stage).to_string() } else { v.stage.clone() };
        let params: BTreeMap<String, String> = varying.iter().map(|c| (c.clone(), value(v, c))).collect();
        let unfolded_params = if opts.fold { params.clone() } else { BTreeMap::new() };
        match groups.iter_mut().find(|(s, p, _)| opts.fold && *s == stage && *p == unfolded_params) {
            Some(g) => g.2.push(v),
            None => groups.push((stage, params, vec![v])),
        }
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|(stage, params, members)| {
            let metrics = metric_names
                .iter()
                .filter_map(|m| {
                    let xs: Vec<f64> = members.iter().filter_map(|v| v.metrics.get(m).copied()).collect();
                    (!xs.is_empty()).then(|| (m.clone(), stat(&xs)))
                })
                .collect();
            Row { stage, keys: members.iter().map(|v| v.key.clone()).collect(), params, metrics }
        })
        .collect();
    if !opts.only.is_empty() {
        let pats: Vec<glob::Pattern> = opts
            .only
            .iter()
            .map(|p| glob::Pattern::new(p).map_err(|e| anyhow::anyhow!("--only `{p}`: {e}")))
            .collect::<Result<_>>()?;
        let keep = |c: &String| pats.iter().any(|p| p.matches(c));
        varying.retain(keep);
        metric_names.retain(keep);
    }
    // Without --sort: by stage, then by each parameter column in turn (numbers as numbers).
    let by_params = |a: &Row, b: &Row| {
        a.stage.cmp(&b.stage).then_with(|| {
            varying.iter().fold(std::cmp::Ordering::Equal, |o, p| {
                o.then_with(|| {
                    let (x, y) = (&a.params[p], &b.params[p]);
                    match (x.parse::<f64>(), y.parse::<f64>()) {
                        (Ok(u), Ok(v)) => u.total_cmp(&v),
                        _ => x.cmp(y),
                    }
                })
            })
        })
    };
    rows.sort_by(by_params);
    if let Some(col) = &opts.sort {
        let find = |names: &[String]| names.iter().find(|n| *n == col).or_else(|| names.iter().find(|n| n.ends_with(&format!(".{col}")))).cloned();
        if let Some(m) = find(&metric_names) {
            rows.sort_by(|a, b| {
                let x = |r: &Row| r.metrics.get(&m).map(|s| s.mean).unwrap_or(f64::NEG_INFINITY);
                x(b).total_cmp(&x(a))
            });
        } else if let Some(p) = find(&varying) {
            rows.sort_by(|a, b| {
                let (x, y) = (&a.params[&p], &b.params[&p]);
                match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(u), Ok(v)) => u.total_cmp(&v),
                    _ => x.cmp(y),
                }
            });
        } else {
            bail!("--sort `{col}`: no such column (parameters: {}; metrics: {})", varying.join(", "), metric_names.join(", "));
        }
    }
    Ok(Shown { params: varying, metrics: metric_names, folded: opts.fold, rows })
}

fn stat(xs: &[f64]) -> Stat {
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Stat { mean, std, n }
}

impl Shown {
    pub fn table(&self) -> Table {
        let mut header: Vec<String> = vec!["stage".into()];
        header.extend(self.params.iter().cloned());
        if self.folded {
            header.push("n".into());
        }
        header.extend(self.metrics.iter().cloned());
        let mut t = Table { header, rows: Vec::new() };
        for r in &self.rows {
            let mut cells = vec![r.stage.clone()];
            cells.extend(self.params.iter().map(|p| r.params.get(p).cloned().unwrap_or_default()));
            if self.folded {
                cells.push(r.keys.len().to_string());
            }
            cells.extend(self.metrics.iter().map(|m| match r.metrics.get(m) {
                None => "-".to_string(),
                Some(Stat { mean, std: Some(s), .. }) => format!("{} ± {s:.4}", number(*mean)),
                Some(Stat { mean, .. }) => number(*mean),
            }));
            t.row(cells);
        }
        t
    }
}

/// Four decimals for fractions, fewer for large numbers, integers as integers.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 1000.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(stage: &str, k: &str, seed: &str, acc: f64) -> Variant {
        Variant {
            key: format!("{stage}-{k}-{seed}"),
            stage: stage.into(),
            params: [("command.k".to_string(), k.to_string()), ("command.seed".to_string(), seed.to_string()), ("command.fixed".to_string(), "1".to_string())].into(),
            metrics: [("acc".to_string(), acc)].into(),
        }
    }

    #[test]
    fn seeds_fold_into_mean_and_std_and_only_varying_columns_show() {
        let vs = vec![variant("s[a]", "1", "1", 0.5), variant("s[b]", "1", "2", 0.7), variant("s[c]", "2", "1", 0.9), variant("s[d]", "2", "2", 0.9)];
        let shown = show(&vs, &ShowOptions { fold: true, ..Default::default() }).unwrap();
        assert_eq!(shown.params, ["command.k"]);
        assert_eq!(shown.rows.len(), 2);
        let acc = &shown.rows[0].metrics["acc"];
        assert!((acc.mean - 0.6).abs() < 1e-12 && (acc.std.unwrap() - 0.1414213562).abs() < 1e-9 && acc.n == 2);
        let text = shown.table().text(100, false);
        assert!(text.contains("0.6000 ± 0.1414"), "{text}");
        let unfolded = show(&vs, &ShowOptions::default()).unwrap();
        assert_eq!(unfolded.params, ["command.k", "command.seed"]);
        assert_eq!(unfolded.rows.len(), 4);
        let sorted = show(&vs, &ShowOptions { fold: true, sort: Some("acc".into()), ..Default::default() }).unwrap();
        assert_eq!(sorted.rows[0].params["command.k"], "2");
        let only = show(&vs, &ShowOptions { fold: true, only: vec!["acc".into()], ..Default::default() }).unwrap();
        assert!(only.params.is_empty() && only.metrics == ["acc"]);
        assert!(show(&vs, &ShowOptions { sort: Some("nope".into()), ..Default::default() }).is_err());
    }
}
