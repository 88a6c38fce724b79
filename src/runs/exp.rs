//! `awmt exp show FILE`: one row per variant of a pipeline's experiments that the cache holds.
//!
//! A variant is a published entry of one of the row stages (by default the pipeline's `evaluate`
//! stages, else its `train` stages; `--stage` picks others), whatever run produced it: every
//! entry of the same stage definition (its `foreach` group) counts, so changing a parameter and
//! rerunning adds a row. A row's parameters are its own and those of every entry upstream of it
//! (found through the output digests in its key), named `<kind>.<parameter>` (the nearest stage
//! of a kind; further ones of the same kind by their stage name; the members of one `foreach`
//! group read together, like a method's separate models, share one name). Metrics are the
//! numbers in the entry's `metrics*.json` files, and Δm over the separate models where the
//! family has them (`report::comparison`'s definition, the one the `compare` stage uses).
//!
//! Variants fall into families: those reading the same data (their inputs that are not a
//! `train` stage's model), so that every family compares like with like. Each family is its own
//! table, with only the parameters that differ within it as columns: first those that tell apart
//! rows of one stage (a `--set` variant), then the rest, nearest stage first (and, at one
//! distance, those with more distinct values), as many as fit.
//! Rows differing only in parameters named like `seed` fold into one (mean ± sample std over
//! seeds, and `n`), named by their stage with `*` for the seed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::{bail, Result};
use serde::Serialize;

use super::table::Table;
use crate::cache::{Cache, Entry};
use crate::eval::files::RunMetrics;
use crate::eval::seeds::over_seeds;
use crate::report::comparison::{self, headline::group_delta_m};
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
    /// The data it was run on: the stages (and files) of its inputs that are not a `train`
    /// stage's model, as `name` (for titles) and `name@key` (to tell variants of them apart).
    pub family: String,
    #[serde(skip)]
    pub family_key: String,
    /// How far upstream each parameter's stage is (0: the entry's own).
    #[serde(skip)]
    pub depth: BTreeMap<String, usize>,
    /// An `evaluate` entry's `metrics.json`, for Δm.
    #[serde(skip)]
    pub evaluated: Option<RunMetrics>,
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

    /// Parameters of `entry` and of every entry upstream of it.
    pub fn params_with_upstream(&self, entry: &Entry) -> BTreeMap<String, String> {
        self.params_with_depth(entry).0
    }

    /// Parameters of `entry` and of every entry upstream of it, with each one's distance. Breadth
    /// first, so the nearest stage of each kind gets the plain `<kind>.` prefix; entries of one
    /// stage definition at one distance (a method's separate models, read by one `evaluate`)
    /// share a prefix, and a parameter on which they differ reads `(N values)`.
    pub fn params_with_depth(&self, entry: &Entry) -> (BTreeMap<String, String>, BTreeMap<String, usize>) {
        let (mut out, mut depth) = (BTreeMap::new(), BTreeMap::new());
        let mut kinds_seen: HashSet<String> = HashSet::new();
        let mut seen: HashSet<&str> = HashSet::from([entry.manifest.key.as_str()]);
        let mut level: Vec<&Entry> = vec![entry];
        let mut distance = 0;
        while !level.is_empty() {
            let mut clusters: Vec<((&str, &str), Vec<&Entry>)> = Vec::new();
            for e in &level {
                let id = (e.manifest.parts.kind.as_str(), base_name(&e.manifest.stage));
                match clusters.iter_mut().find(|(c, _)| *c == id) {
                    Some((_, members)) => members.push(e),
                    None => clusters.push((id, vec![e])),
                }
            }
            let mut next: Vec<&Entry> = Vec::new();
            for ((kind, base), members) in clusters {
                let label = if kinds_seen.insert(kind.to_string()) { kind.to_string() } else { base.to_string() };
                let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for e in members {
                    let mut own = BTreeMap::new();
                    own_params(&e.manifest.parts, &label, &mut own);
                    for input in &e.manifest.parts.inputs {
                        match input.digest.strip_prefix("stage:").and_then(|d| self.by_digest.get(d)) {
                            Some(&u) => {
                                if seen.insert(self.all[u].manifest.key.as_str()) {
                                    next.push(&self.all[u]);
                                }
                            }
                            None if !input.digest.starts_with("stage:") => {
                                own.insert(format!("{label}.input[{}]", input.name), input.digest.chars().take(12).collect());
                            }
                            None => {}
                        }
                    }
                    for (k, v) in own {
                        values.entry(k).or_default().insert(v);
                    }
                }
                for (k, vs) in values {
                    let v = if vs.len() == 1 { vs.into_iter().next().unwrap_or_default() } else { format!("({} values)", vs.len()) };
                    depth.entry(k.clone()).or_insert(distance);
                    out.entry(k).or_insert(v);
                }
            }
            level = next;
            distance += 1;
        }
        (out, depth)
    }

    /// The data `entry` was run on (see `Variant::family`): names, and names with keys.
    fn family(&self, entry: &Entry) -> (String, String) {
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut keyed: BTreeSet<String> = BTreeSet::new();
        for input in &entry.manifest.parts.inputs {
            match input.digest.strip_prefix("stage:").and_then(|d| self.by_digest.get(d)) {
                Some(&u) if self.all[u].manifest.parts.kind == "train" => {}
                Some(&u) => {
                    let m = &self.all[u].manifest;
                    names.insert(m.stage.clone());
                    keyed.insert(format!("{}@{}", m.stage, &m.key[..12.min(m.key.len())]));
                }
                None => {
                    names.insert(input.name.clone());
                    keyed.insert(format!("{}@{}", input.name, input.digest));
                }
            }
        }
        (names.into_iter().collect::<Vec<_>>().join(", "), keyed.into_iter().collect::<Vec<_>>().join(", "))
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
        let (params, depth) = entries.params_with_depth(e);
        let (family, family_key) = entries.family(e);
        // Only an `evaluate` entry's metrics file is the shape Δm reads.
        let evaluated = (m.parts.kind == "evaluate").then(|| RunMetrics::load(&e.out_dir()).ok()).flatten();
        out.push(Variant { key: m.key.clone(), stage: m.stage.clone(), params, metrics: metrics(e, all_metrics), family, family_key, depth, evaluated });
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

/// The metric column of Δm (percent, over the family's separate models).
pub const DELTA_M: &str = "delta_m";

/// A row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The stage name; folded, with `*` where its members' names differ (`eval[AWMT,*]`).
    pub stage: String,
    /// The family (index into `Shown::families`).
    pub family: usize,
    pub keys: Vec<String>,
    /// Values of the family's varying parameters, by column.
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Stat>,
}

/// One family's table: the rows of variants run on the same data.
#[derive(Debug, Clone, Serialize)]
pub struct Family {
    /// The row stages' definitions and the data they read.
    pub title: String,
    /// Its varying parameters: the first `distinguishing` tell apart rows of one stage (a
    /// `--set` variant); the rest, nearest stage first, differ between stages.
    pub params: Vec<String>,
    pub distinguishing: usize,
    pub metrics: Vec<String>,
    /// Which rows Δm is relative to, or why there is none.
    pub delta_m: Option<String>,
}

/// The tables: every family's varying parameters and metrics (all families together in
/// `params` and `metrics`), rows family by family.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub params: Vec<String>,
    pub metrics: Vec<String>,
    pub folded: bool,
    pub families: Vec<Family>,
    pub rows: Vec<Row>,
}

fn is_seed(col: &str) -> bool {
    col.rsplit('.').next().unwrap_or(col).to_ascii_lowercase().contains("seed")
}

/// The paper's headline metrics first, then Δm.
pub(crate) fn metric_rank(m: &str) -> u8 {
    match m {
        "mean_accuracy" => 0,
        "mA" => 1,
        DELTA_M => 2,
        _ => 3,
    }
}

/// Parameter values compare as numbers where both are.
fn cmp_values(x: &str, y: &str) -> std::cmp::Ordering {
    match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(u), Ok(v)) => u.total_cmp(&v),
        _ => x.cmp(y),
    }
}

/// A folded row's name: its members' common stage name, `*` for the parts that differ.
fn folded_name(stages: &[&str]) -> String {
    let first = stages[0];
    if stages.iter().all(|s| *s == first) {
        return first.to_string();
    }
    let split = |s: &str| -> (String, Vec<String>) {
        match s.split_once('[') {
            Some((base, rest)) => (base.to_string(), rest.trim_end_matches(']').split(',').map(str::to_string).collect()),
            None => (s.to_string(), Vec::new()),
        }
    };
    let (base, mut parts) = split(first);
    for s in &stages[1..] {
        let (b, p) = split(s);
        if b != base || p.len() != parts.len() {
            return base;
        }
        for (mine, theirs) in parts.iter_mut().zip(p) {
            if *mine != theirs {
                *mine = "*".into();
            }
        }
    }
    if parts.is_empty() {
        base
    } else {
        format!("{base}[{}]", parts.join(","))
    }
}

/// Members of one row: one variant each, or (folding) those of one stage definition that differ
/// only in seeds.
fn fold<'a>(members: &[&'a Variant], varying: &[String], fold: bool) -> Vec<Vec<&'a Variant>> {
    let value = |v: &Variant, c: &str| v.params.get(c).cloned().unwrap_or_else(|| "-".to_string());
    let mut rows: Vec<(String, Vec<String>, Vec<&Variant>)> = Vec::new();
    for v in members {
        if !fold {
            rows.push((String::new(), Vec::new(), vec![v]));
            continue;
        }
        let id = (base_name(&v.stage).to_string(), varying.iter().map(|c| value(v, c)).collect::<Vec<_>>());
        match rows.iter_mut().find(|(s, p, _)| (s, p) == (&id.0, &id.1)) {
            Some(r) => r.2.push(v),
            None => rows.push((id.0, id.1, vec![v])),
        }
    }
    rows.into_iter().map(|r| r.2).collect()
}

/// Δm of each row over the family's separate models: the one folded configuration whose runs are
/// all single-task models (`comparison::delta_m_baselines`), Δm as the `compare` stage computes
/// it (`group_delta_m`: per seed against the baseline's mean over seeds). Rows that are not all
/// `evaluate` entries get none.
fn delta_m(members: &[&Variant], configs: &[Vec<&Variant>], rows: &[Vec<&Variant>]) -> (Vec<Option<Stat>>, Option<String>) {
    let runs: Vec<comparison::Run> = members
        .iter()
        .filter_map(|v| v.evaluated.clone().map(|metrics| comparison::Run { stage: v.stage.clone(), metrics }))
        .collect();
    let index: HashMap<&str, usize> = members.iter().filter(|v| v.evaluated.is_some()).enumerate().map(|(i, v)| (v.key.as_str(), i)).collect();
    let as_group = |row: &[&Variant]| -> Option<comparison::Group> {
        let idx: Vec<usize> = row.iter().map(|v| index.get(v.key.as_str()).copied()).collect::<Option<_>>()?;
        let m = &runs[*idx.first()?].metrics;
        let stages: Vec<&str> = row.iter().map(|v| v.stage.as_str()).collect();
        Some(comparison::Group { format: m.format.clone(), method: folded_name(&stages), source: m.source.clone(), runs: idx })
    };
    let none = vec![None; rows.len()];
    if runs.is_empty() {
        return (none, None);
    }
    let groups: Vec<comparison::Group> = configs.iter().filter_map(|c| as_group(c)).collect();
    let Ok(baselines) = comparison::delta_m_baselines(&runs, &groups, None) else { return (none, None) };
    let Some(base) = baselines.first() else { return (none, None) };
    let note = Some(base.note.clone());
    let Some(b) = base.group else { return (none, note) };
    let stats = rows
        .iter()
        .map(|row| {
            let g = as_group(row)?;
            if g.format != groups[b].format {
                return None;
            }
            group_delta_m(&runs, &g, &groups[b]).map(|s| Stat { mean: s.mean, std: s.std, n: s.seeds })
        })
        .collect();
    (stats, note)
}

pub fn show(variants: &[Variant], opts: &ShowOptions) -> Result<Shown> {
    let only: Vec<glob::Pattern> = opts
        .only
        .iter()
        .map(|p| glob::Pattern::new(p).map_err(|e| anyhow::anyhow!("--only `{p}`: {e}")))
        .collect::<Result<_>>()?;
    let keep = |c: &str| only.is_empty() || only.iter().any(|p| p.matches(c));
    let mut by_family: BTreeMap<&str, Vec<&Variant>> = BTreeMap::new();
    for v in variants {
        by_family.entry(v.family_key.as_str()).or_default().push(v);
    }
    let mut shown = Shown { params: Vec::new(), metrics: Vec::new(), folded: opts.fold, families: Vec::new(), rows: Vec::new() };
    let mut sort_found = opts.sort.is_none();
    for members in by_family.values() {
        let value = |v: &Variant, c: &str| v.params.get(c).cloned().unwrap_or_else(|| "-".to_string());
        let all_params: BTreeSet<&String> = members.iter().flat_map(|v| v.params.keys()).collect();
        let varying: Vec<String> = all_params
            .into_iter()
            .filter(|c| members.iter().map(|v| value(v, c)).collect::<BTreeSet<_>>().len() > 1)
            .cloned()
            .collect();
        let unseeded: Vec<String> = varying.iter().filter(|c| !is_seed(c)).cloned().collect();
        let columns = if opts.fold { &unseeded } else { &varying };
        let groups = fold(members, columns, opts.fold);
        let names: Vec<String> = groups.iter().map(|g| folded_name(&g.iter().map(|v| v.stage.as_str()).collect::<Vec<_>>())).collect();
        // Columns that tell apart rows of the same name come first; then the rest by distance.
        let distinguishing: BTreeSet<&String> = columns
            .iter()
            .filter(|c| {
                names.iter().enumerate().any(|(i, n)| {
                    names.iter().enumerate().any(|(j, m)| j != i && m == n && value(groups[i][0], c) != value(groups[j][0], c))
                })
            })
            .collect();
        let distance = |c: &String| members.iter().filter_map(|v| v.depth.get(c)).min().copied().unwrap_or(usize::MAX);
        let mut params: Vec<String> = columns.iter().filter(|c| keep(c)).cloned().collect();
        // Within one distance, a column that tells more rows apart first.
        let distinct = |c: &String| groups.iter().map(|g| value(g[0], c)).collect::<BTreeSet<_>>().len();
        params.sort_by(|a, b| {
            distinguishing
                .contains(b)
                .cmp(&distinguishing.contains(a))
                .then(distance(a).cmp(&distance(b)))
                .then(distinct(b).cmp(&distinct(a)))
                .then(a.cmp(b))
        });
        let n_distinguishing = params.iter().filter(|c| distinguishing.contains(c)).count();
        let configs = if opts.fold { groups.clone() } else { fold(members, &unseeded, true) };
        let (dm, dm_note) = delta_m(members, &configs, &groups);
        let mut metrics: Vec<String> = members.iter().flat_map(|v| v.metrics.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        if dm.iter().any(Option::is_some) {
            metrics.push(DELTA_M.to_string());
        }
        metrics.retain(|m| keep(m));
        metrics.sort_by_key(|m| metric_rank(m));
        let family = shown.families.len();
        let mut rows: Vec<Row> = groups
            .iter()
            .zip(names)
            .zip(dm)
            .map(|((members, stage), dm)| {
                let mut stats: BTreeMap<String, Stat> = metrics
                    .iter()
                    .filter_map(|m| {
                        let xs: Vec<f64> = members.iter().filter_map(|v| v.metrics.get(m).copied()).collect();
                        over_seeds(&xs).map(|s| (m.clone(), Stat { mean: s.mean, std: s.std, n: s.seeds }))
                    })
                    .collect();
                if let Some(d) = dm.filter(|_| metrics.iter().any(|m| m == DELTA_M)) {
                    stats.insert(DELTA_M.to_string(), d);
                }
                Row {
                    stage,
                    family,
                    keys: members.iter().map(|v| v.key.clone()).collect(),
                    params: params.iter().map(|c| (c.clone(), value(members[0], c))).collect(),
                    metrics: stats,
                }
            })
            .collect();
        // Without --sort: by name, then by each parameter column in turn.
        rows.sort_by(|a, b| {
            a.stage.cmp(&b.stage).then_with(|| params.iter().fold(std::cmp::Ordering::Equal, |o, p| o.then_with(|| cmp_values(&a.params[p], &b.params[p]))))
        });
        if let Some(col) = &opts.sort {
            let find = |names: &[String]| {
                names.iter().find(|n| *n == col || (col == "Δm" && *n == DELTA_M)).or_else(|| names.iter().find(|n| n.ends_with(&format!(".{col}")))).cloned()
            };
            if let Some(m) = find(&metrics) {
                sort_found = true;
                let x = |r: &Row| r.metrics.get(&m).map(|s| s.mean).unwrap_or(f64::NEG_INFINITY);
                rows.sort_by(|a, b| x(b).total_cmp(&x(a)));
            } else if let Some(p) = find(&params) {
                sort_found = true;
                rows.sort_by(|a, b| cmp_values(&a.params[&p], &b.params[&p]));
            }
        }
        let stages: BTreeSet<&str> = members.iter().map(|v| base_name(&v.stage)).collect();
        let data = &members[0].family;
        let title = if data.is_empty() {
            stages.into_iter().collect::<Vec<_>>().join(", ")
        } else {
            format!("{} on {data}", stages.into_iter().collect::<Vec<_>>().join(", "))
        };
        for p in &params {
            if !shown.params.contains(p) {
                shown.params.push(p.clone());
            }
        }
        for m in &metrics {
            if !shown.metrics.contains(m) {
                shown.metrics.push(m.clone());
            }
        }
        shown.families.push(Family { title, params, distinguishing: n_distinguishing, metrics, delta_m: dm_note });
        shown.rows.extend(rows);
    }
    shown.metrics.sort_by_key(|m| metric_rank(m));
    // Two families reading data of the same names differ in a variant of that data: say which.
    let titles: Vec<String> = shown.families.iter().map(|f| f.title.clone()).collect();
    for (f, key) in shown.families.iter_mut().zip(by_family.keys()) {
        if titles.iter().filter(|t| **t == f.title).count() > 1 {
            f.title = format!("{} ({key})", f.title);
        }
    }
    if !sort_found {
        let col = opts.sort.as_deref().unwrap_or_default();
        bail!("--sort `{col}`: no such column (parameters: {}; metrics: {})", shown.params.join(", "), shown.metrics.join(", "));
    }
    Ok(shown)
}

/// A metric cell: a value, or mean ± std; Δm in percent with its sign.
fn metric_cell(name: &str, s: Option<&Stat>) -> String {
    match (name, s) {
        (_, None) => "-".to_string(),
        (DELTA_M, Some(Stat { mean, std: Some(sd), .. })) => format!("{mean:+.2} ± {sd:.2}"),
        (DELTA_M, Some(Stat { mean, .. })) => format!("{mean:+.2}"),
        (_, Some(Stat { mean, std: Some(sd), .. })) => format!("{} ± {sd:.4}", number(*mean)),
        (_, Some(Stat { mean, .. })) => number(*mean),
    }
}

fn metric_header(name: &str) -> String {
    if name == DELTA_M {
        "Δm %".to_string()
    } else {
        name.to_string()
    }
}

/// The shortest dotted suffix of each name that no other name ends with, leaving out at most
/// the stage's label (`train.weighting.k` → `weighting.k`, `train.lr` → `lr`).
fn short_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let parts: Vec<&str> = n.split('.').collect();
            // A nested parameter keeps the name of what it is part of (`weighting.method`).
            (2.min(parts.len().saturating_sub(1)).max(1)..=parts.len())
                .map(|k| parts[parts.len() - k..].join("."))
                .find(|suffix| names.iter().filter(|m| *m == suffix || m.ends_with(&format!(".{suffix}"))).count() == 1)
                .unwrap_or_else(|| n.clone())
        })
        .collect()
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out += &line;
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line += word;
    }
    out + &line + "\n"
}

/// Parameter values longer than this are shortened in the text table (unless `--wide`).
const VALUE_WIDTH: usize = 16;

/// The text, CSV and Markdown forms of a `Shown`.
pub struct ShownTables<'a> {
    shown: &'a Shown,
}

impl Shown {
    pub fn table(&self) -> ShownTables<'_> {
        ShownTables { shown: self }
    }

    /// All families in one table (CSV, Markdown): the row names tell the families apart.
    fn flat(&self) -> Table {
        let mut header: Vec<String> = vec!["stage".into()];
        header.extend(self.params.iter().cloned());
        if self.folded {
            header.push("n".into());
        }
        header.extend(self.metrics.iter().cloned());
        let mut t = Table { header, rows: Vec::new(), whole: vec![0] };
        for r in &self.rows {
            let mut cells = vec![r.stage.clone()];
            cells.extend(self.params.iter().map(|p| r.params.get(p).cloned().unwrap_or_default()));
            if self.folded {
                cells.push(r.keys.len().to_string());
            }
            cells.extend(self.metrics.iter().map(|m| metric_cell(m, r.metrics.get(m))));
            t.row(cells);
        }
        t
    }

    /// One family's text table, fitted to `width` unless `wide`: long values cut, then (if still
    /// too wide) parameter names shortened to their shortest unique suffix and the parameters
    /// that differ only between stages left out: first those every row's name shows, then from
    /// the farthest, named on a last line.
    fn family_text(&self, f: usize, width: usize, wide: bool) -> String {
        let fam = &self.families[f];
        let rows: Vec<&Row> = self.rows.iter().filter(|r| r.family == f).collect();
        let build = |params: &[String], names: &[String]| -> Table {
            let mut header: Vec<String> = vec!["stage".into()];
            let (first, rest) = params.split_at(fam.distinguishing.min(params.len()));
            let (first_names, rest_names) = names.split_at(first.len());
            header.extend(first_names.iter().cloned());
            if self.folded {
                header.push("n".into());
            }
            header.extend(fam.metrics.iter().map(|m| metric_header(m)));
            header.extend(rest_names.iter().cloned());
            let mut t = Table { header, rows: Vec::new(), whole: vec![0] };
            for r in &rows {
                let cell = |p: &String| {
                    let v = r.params.get(p).cloned().unwrap_or_default();
                    if wide || v.chars().count() <= VALUE_WIDTH {
                        v
                    } else {
                        v.chars().take(VALUE_WIDTH - 1).collect::<String>() + "…"
                    }
                };
                let mut cells = vec![r.stage.clone()];
                cells.extend(first.iter().map(cell));
                if self.folded {
                    cells.push(r.keys.len().to_string());
                }
                cells.extend(fam.metrics.iter().map(|m| metric_cell(m, r.metrics.get(m))));
                cells.extend(rest.iter().map(cell));
                t.row(cells);
            }
            t
        };
        // A parameter every row's name already shows (`evaluate.method` of `eval[AWMT,*]`) goes
        // last: the first left out, and not named below the table.
        let in_name = |p: &String| {
            rows.iter().all(|r| {
                let v = r.params.get(p).map(String::as_str).unwrap_or("-");
                r.stage.split_once('[').is_some_and(|(_, rest)| rest.trim_end_matches(']').split(',').any(|part| part == v))
            })
        };
        let (mut params, mut named): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        for (i, p) in fam.params.iter().enumerate() {
            if i >= fam.distinguishing && in_name(p) {
                named.push(p.clone());
            } else {
                params.push(p.clone());
            }
        }
        let mut by_name = named.len();
        params.extend(named);
        let mut names = params.clone();
        let mut t = build(&params, &names);
        let mut left_out: Vec<String> = Vec::new();
        if !wide && t.width() > width {
            names = short_names(&params);
            t = build(&params, &names);
            while t.width() > width && params.len() > fam.distinguishing {
                let p = params.pop().unwrap_or_default();
                if by_name > 0 {
                    by_name -= 1;
                } else {
                    left_out.insert(0, p);
                }
                names.pop();
                t = build(&params, &names);
            }
        }
        let mut out = t.text(width, wide);
        if !left_out.is_empty() {
            out += &wrap(&format!("(also varying: {}; --wide shows them)", left_out.join(", ")), width);
        }
        out
    }
}

impl ShownTables<'_> {
    /// One table per family, each under its title when there are several.
    pub fn text(&self, width: usize, wide: bool) -> String {
        let s = self.shown;
        let mut out = String::new();
        for (f, fam) in s.families.iter().enumerate() {
            if s.families.len() > 1 {
                if f > 0 {
                    out.push('\n');
                }
                out += &format!("{}\n", fam.title);
            }
            out += &s.family_text(f, width, wide);
        }
        out
    }

    pub fn csv(&self) -> String {
        self.shown.flat().csv()
    }

    pub fn markdown(&self) -> String {
        self.shown.flat().markdown()
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

    /// A variant of stage `score` on `data` with parameter k, a seed and one constant parameter
    /// of an upstream stage.
    fn variant(stage: &str, data: &str, k: &str, seed: &str, acc: f64) -> Variant {
        let params: BTreeMap<String, String> = [
            ("command.k".to_string(), k.to_string()),
            ("command.seed".to_string(), seed.to_string()),
            ("command.fixed".to_string(), "1".to_string()),
            ("prep.rows".to_string(), if data == "a" { "100" } else { "200" }.to_string()),
        ]
        .into();
        let depth = params.keys().map(|p| (p.clone(), usize::from(p.starts_with("prep")))).collect();
        Variant {
            key: format!("{data}-{stage}-{k}-{seed}"),
            stage: stage.into(),
            params,
            metrics: [("acc".to_string(), acc)].into(),
            family: format!("prep_{data}"),
            family_key: format!("prep_{data}@{data}"),
            depth,
            evaluated: None,
        }
    }

    #[test]
    fn seeds_fold_into_mean_and_std_and_only_varying_columns_show() {
        let vs = vec![variant("s[a]", "a", "1", "1", 0.5), variant("s[b]", "a", "1", "2", 0.7), variant("s[c]", "a", "2", "1", 0.9), variant("s[d]", "a", "2", "2", 0.9)];
        let shown = show(&vs, &ShowOptions { fold: true, ..Default::default() }).unwrap();
        assert_eq!(shown.params, ["command.k"]);
        assert_eq!(shown.rows.len(), 2);
        assert_eq!(shown.rows[0].stage, "s[*]", "the members' names differ: folded to `*`");
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

    #[test]
    fn families_get_their_own_table_with_only_what_varies_inside_them() {
        // Two data variants (families a and b), each with k ∈ {1, 2, 3} × seeds {1, 2}.
        let mut vs = Vec::new();
        for data in ["a", "b"] {
            for k in ["1", "2", "3"] {
                for seed in ["1", "2"] {
                    let acc = k.parse::<f64>().unwrap() / 10.0 + seed.parse::<f64>().unwrap() / 100.0 + if data == "b" { 0.5 } else { 0.0 };
                    vs.push(variant(&format!("score[{k},{seed}]"), data, k, seed, acc));
                }
            }
        }
        let shown = show(&vs, &ShowOptions { fold: true, ..Default::default() }).unwrap();
        assert_eq!(shown.families.len(), 2);
        assert_eq!(shown.rows.len(), 6);
        for (f, fam) in shown.families.iter().enumerate() {
            // `prep.rows` differs between the families, not inside one: no column.
            assert_eq!(fam.params, ["command.k"], "{fam:?}");
            let rows: Vec<&Row> = shown.rows.iter().filter(|r| r.family == f).collect();
            assert_eq!(rows.iter().map(|r| r.stage.as_str()).collect::<Vec<_>>(), ["score[1,*]", "score[2,*]", "score[3,*]"]);
            assert!(rows.iter().all(|r| r.metrics["acc"].n == 2));
        }
        assert!((shown.rows[3].metrics["acc"].mean - 0.615).abs() < 1e-12, "family b second: {:?}", shown.rows[3]);
        let text = shown.table().text(100, false);
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        assert!(text.contains("score on prep_a\n") && text.contains("score on prep_b\n"), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("stage")).count(), 2, "{text}");
        assert!(!text.contains("seed") && !text.contains("fixed") && !text.contains("rows"), "{text}");
    }

    #[test]
    fn a_set_variant_of_one_stage_comes_first_and_what_does_not_fit_is_named() {
        // Rows of stage definitions `m[x]` (x tells them apart, like a method) with long
        // upstream parameters; one definition run again with another `lr` (a `--set` variant).
        let mut vs = Vec::new();
        for (x, lr) in [("a", "0.1"), ("b", "0.1"), ("c", "0.1"), ("c", "0.2")] {
            let mut v = variant(&format!("m[{x}]"), "a", "1", "1", 0.5);
            v.key = format!("{x}-{lr}");
            v.params.insert("train.lr".into(), lr.into());
            v.depth.insert("train.lr".into(), 1);
            for p in ["train.weighting.method", "train.augmentation.random_crop_padding", "train.other_long_parameter_name"] {
                v.params.insert(p.into(), format!("{x}-value-that-is-quite-long"));
                v.depth.insert(p.into(), 1);
            }
            vs.push(v);
        }
        let shown = show(&vs, &ShowOptions { fold: true, ..Default::default() }).unwrap();
        let fam = &shown.families[0];
        assert_eq!(fam.distinguishing, 1);
        assert_eq!(fam.params[0], "train.lr", "{fam:?}");
        let text = shown.table().text(60, false);
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        let header = text.lines().next().unwrap();
        assert_eq!(header.split_whitespace().take(4).collect::<Vec<_>>(), ["stage", "lr", "n", "acc"], "{text}");
        assert!(text.contains("(also varying: "), "{text}");
        let wide = shown.table().text(60, true);
        assert!(wide.contains("train.augmentation.random_crop_padding") && wide.contains("c-value-that-is-quite-long"), "{wide}");
    }

    #[test]
    fn delta_m_is_the_compare_stages_over_the_separate_models() {
        use crate::report::comparison::tests::run;
        let evaluated = |stage: &str, method: &str, accs: &[(&str, f64)], single: bool| {
            let mut v = variant(stage, "a", "1", &stage[stage.len() - 2..stage.len() - 1], 0.0);
            v.key = stage.into();
            v.params.insert("evaluate.method".into(), method.into());
            v.evaluated = Some(run(stage, method, "celeba", accs, single).metrics);
            v
        };
        let vs = vec![
            evaluated("eval[Separate,1]", "Separate", &[("A", 0.8), ("B", 0.5)], true),
            evaluated("eval[Separate,2]", "Separate", &[("A", 0.8), ("B", 0.5)], true),
            evaluated("eval[MTL,1]", "MTL", &[("A", 0.88), ("B", 0.5)], false),
            evaluated("eval[MTL,2]", "MTL", &[("A", 0.8), ("B", 0.55)], false),
        ];
        let shown = show(&vs, &ShowOptions { fold: true, ..Default::default() }).unwrap();
        assert!(shown.metrics.contains(&DELTA_M.to_string()), "{:?}", shown.metrics);
        let row = |name: &str| shown.rows.iter().find(|r| r.stage == name).unwrap();
        // Seed 1: (0.88−0.8)/0.8 = 10 %, 0 → 5 %; seed 2: 0, (0.55−0.5)/0.5 = 10 % → 5 %.
        let dm = &row("eval[MTL,*]").metrics[DELTA_M];
        assert!((dm.mean - 5.0).abs() < 1e-9 && dm.std.unwrap().abs() < 1e-9 && dm.n == 2, "{dm:?}");
        assert_eq!(row("eval[Separate,*]").metrics[DELTA_M].mean, 0.0);
        assert!(shown.families[0].delta_m.as_deref().unwrap().contains("separate"), "{:?}", shown.families[0].delta_m);
        let text = shown.table().text(100, false);
        assert!(text.lines().next().unwrap().contains("Δm %") && text.contains("+5.00 ± 0.00"), "{text}");
        // Without the separate models there is no Δm column.
        let shown = show(&vs[2..], &ShowOptions { fold: true, ..Default::default() }).unwrap();
        assert!(!shown.metrics.contains(&DELTA_M.to_string()));
    }

    #[test]
    fn short_names_are_the_shortest_unique_suffixes() {
        let names: Vec<String> = ["train.weighting.k", "train.k", "evaluate.method", "train.weighting.method"].iter().map(|s| s.to_string()).collect();
        assert_eq!(short_names(&names), ["weighting.k", "train.k", "evaluate.method", "weighting.method"]);
        assert_eq!(folded_name(&["e[A,1]", "e[A,2]"]), "e[A,*]");
        assert_eq!(folded_name(&["e[1]", "f[2]"]), "e");
    }
}
