//! `kind: compare` — sets evaluated runs beside the published numbers: Table 1 (CelebA) or
//! Table 2 (Market-1501 / Duke) layouts, per-attribute tables, win counts, McNemar tests and
//! paired bootstrap intervals.
//!
//! ```yaml
//! table1:
//!   kind: compare
//!   inputs: {runs: [eval.*]}
//!   with: {table: celeba, published: all, resamples: 1000, seed: 0}
//! ```
//! Inputs:
//! - `runs` (one or more `evaluate` outputs). Runs sharing a method label are seeds of one method
//!   (shown as mean ± std over seeds).
//! - `baselines` (optional directory with the four files of the project's `baselines/`): replaces
//!   the copy compiled into awmt.
//!
//! Parameters (`with:`):
//! - `table`: `celeba` (Table 1 layout; runs must be CelebA-format) or `pedestrian` (Table 2
//!   layout; runs are Market-1501 and/or Duke).
//! - `published`: `all` (default), `none`, or a list of published method names to include.
//! - `resamples` (default 1000), `level` (default 0.95), `seed` (default 0): the paired bootstrap.
//! - `alpha` (default 0.05): the level at which a McNemar p-value counts as significant.
//!
//! Outputs (each table as `.csv`, `.md`, `.html` fragment and `.parquet`; accuracies in percent):
//! - `table1` / `table2`: one row per method; `kind` is `published` (with its citation in
//!   `reference`) or `measured (synthetic data)` / `measured (real data)` (with the runs).
//! - `per_attribute_<format>`: attribute × method accuracies (published columns say so), and
//!   `per_attribute_long` (every number with its method, kind, std over seeds and mA).
//! - `wins_<format>`: on how many attributes the row method beats the column method. Published
//!   methods take part only where the measured runs are on real data.
//! - `mcnemar_<format>`: McNemar per attribute for each pair of measured methods (first seed of
//!   each; the test form per row, see `eval::mcnemar`).
//! - `bootstrap_<format>`: paired bootstrap interval of the mean-accuracy difference per pair.
//! - `example_based`: per run, mean accuracy, mA and the example-based metrics.
//! - `compare.json`: the layout, data sources, methods, runs and the list of tables.

use anyhow::{bail, Context as _, Result};
use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputSlot, ParamError, StageContext, StageKind};
use crate::eval::bootstrap::{paired_mean_accuracy_difference, Correctness};
use crate::eval::files::{read_correctness, RunCorrectness, RunMetrics};
use crate::eval::mcnemar::mcnemar;
use crate::eval::seeds::{over_seeds, OverSeeds};
use crate::report::baselines::Baselines;
use crate::report::tables::{self, PUBLISHED, PUBLISHED_SUFFIX};

pub struct Compare;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Celeba,
    Pedestrian,
}

/// `all`, `none`, or a list of names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Published {
    Keyword(PublishedKeyword),
    Names(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishedKeyword {
    All,
    None,
}

impl Published {
    fn includes(&self, method: &str) -> bool {
        match self {
            Published::Keyword(PublishedKeyword::All) => true,
            Published::Keyword(PublishedKeyword::None) => false,
            Published::Names(names) => names.iter().any(|n| n == method),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    table: Layout,
    published: Published,
    resamples: usize,
    level: f64,
    seed: u64,
    alpha: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            table: Layout::Celeba,
            published: Published::Keyword(PublishedKeyword::All),
            resamples: 1000,
            level: 0.95,
            seed: 0,
            alpha: 0.05,
        }
    }
}

/// One evaluated run.
struct Run {
    stage: String,
    metrics: RunMetrics,
    dir: std::path::PathBuf,
}

/// The runs of one method on one dataset format.
struct Group {
    format: String,
    method: String,
    source: String,
    runs: Vec<usize>,
}

/// How a measured row says where its data came from.
pub fn measured_kind(source: &str) -> String {
    format!("measured ({source} data)")
}

fn pct(v: Option<f64>) -> Option<f64> {
    v.map(|x| x * 100.0)
}

/// Long-form per-attribute rows: (format, attribute, method, kind, accuracy, std, seeds, mA, n, reference).
#[derive(Default)]
struct Long {
    format: Vec<String>,
    attribute: Vec<String>,
    method: Vec<String>,
    kind: Vec<String>,
    accuracy: Vec<Option<f64>>,
    std: Vec<Option<f64>>,
    seeds: Vec<Option<u32>>,
    balanced: Vec<Option<f64>>,
    n: Vec<Option<u64>>,
}

/// Names of the tables written, with titles for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableInfo {
    pub stem: String,
    pub title: String,
    pub caption: String,
}

/// `compare.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareSummary {
    pub table: Layout,
    pub formats: Vec<String>,
    pub sources: Vec<String>,
    pub synthetic: bool,
    pub methods: Vec<serde_json::Value>,
    pub published: Vec<serde_json::Value>,
    pub runs: Vec<serde_json::Value>,
    pub tables: Vec<TableInfo>,
    pub params: serde_json::Value,
}

impl CompareSummary {
    pub const FILE: &'static str = "compare.json";

    pub fn load(dir: &std::path::Path) -> Result<CompareSummary> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (is this input a `compare` stage?)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid compare summary", path.display()))
    }
}

fn format_title(format: &str) -> &str {
    match format {
        "celeba" => "CelebA",
        "market" => "Market-1501",
        "duke" => "DukeMTMC-reID",
        other => other,
    }
}

fn df(cols: Vec<Column>) -> Result<DataFrame> {
    Ok(DataFrame::new_infer_height(cols)?)
}

fn load_runs(ctx: &StageContext, layout: Layout) -> Result<Vec<Run>> {
    let items = ctx.inputs("runs");
    if items.is_empty() {
        bail!("stage `{}` needs input `runs` (one or more evaluate stages)", ctx.stage);
    }
    let mut runs = Vec::new();
    for item in items {
        let metrics = RunMetrics::load(&item.path)?;
        let stage = item.stage.clone().unwrap_or_else(|| metrics.method.clone());
        let ok = match layout {
            Layout::Celeba => metrics.format == "celeba",
            Layout::Pedestrian => metrics.format == "market" || metrics.format == "duke",
        };
        if !ok {
            let hint = if layout == Layout::Celeba { "table: pedestrian" } else { "table: celeba" };
            bail!(
                "stage `{}`: run `{stage}` evaluated a `{}` dataset, which the `table: {}` layout does not show; compare it in a stage with `{hint}`",
                ctx.stage,
                metrics.format,
                if layout == Layout::Celeba { "celeba" } else { "pedestrian" }
            );
        }
        runs.push(Run { stage, metrics, dir: item.path.clone() });
    }
    Ok(runs)
}

fn group_runs(runs: &[Run]) -> Result<Vec<Group>> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        match groups.iter_mut().find(|g| g.format == r.metrics.format && g.method == r.metrics.method) {
            Some(g) => {
                if g.source != r.metrics.source {
                    bail!(
                        "method `{}` has runs on {} data and on {} data (`{}`); give them different `method` labels",
                        g.method,
                        g.source,
                        r.metrics.source,
                        r.stage
                    );
                }
                g.runs.push(i);
            }
            None => groups.push(Group {
                format: r.metrics.format.clone(),
                method: r.metrics.method.clone(),
                source: r.metrics.source.clone(),
                runs: vec![i],
            }),
        }
    }
    Ok(groups)
}

/// Mean ± std over a group's runs of a per-run number.
fn group_stat(runs: &[Run], g: &Group, value: impl Fn(&RunMetrics) -> Option<f64>) -> Option<OverSeeds> {
    let values: Vec<f64> = g.runs.iter().filter_map(|&i| value(&runs[i].metrics)).collect();
    over_seeds(&values)
}

fn task_value(m: &RunMetrics, task: &str, balanced: bool) -> Option<f64> {
    m.tasks.iter().find(|t| t.task == task).and_then(|t| if balanced { t.balanced_accuracy } else { t.accuracy })
}

/// Attributes of a format, in the order of the first run that has each.
fn attributes(runs: &[Run], groups: &[&Group]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        for &i in &g.runs {
            for t in &runs[i].metrics.tasks {
                if !out.contains(&t.task) {
                    out.push(t.task.clone());
                }
            }
        }
    }
    out
}

/// Correctness matrices of two runs over their common images and tasks.
fn align(a: &RunCorrectness, b: &RunCorrectness) -> (Vec<String>, Correctness, Correctness) {
    let b_images = b.image_index();
    let tasks: Vec<String> = a.tasks.iter().filter(|t| b.tasks.contains(t)).cloned().collect();
    let ta: Vec<usize> = tasks.iter().map(|t| a.tasks.iter().position(|x| x == t).unwrap_or(0)).collect();
    let tb: Vec<usize> = tasks.iter().map(|t| b.tasks.iter().position(|x| x == t).unwrap_or(0)).collect();
    let common: Vec<(usize, usize)> =
        a.images.iter().enumerate().filter_map(|(i, name)| b_images.get(name.as_str()).map(|&j| (i, j))).collect();
    let mut ma = Correctness::new(common.len(), tasks.len());
    let mut mb = Correctness::new(common.len(), tasks.len());
    for (row, &(i, j)) in common.iter().enumerate() {
        for t in 0..tasks.len() {
            ma.set(row, t, a.correct.get(i, ta[t]));
            mb.set(row, t, b.correct.get(j, tb[t]));
        }
    }
    (tasks, ma, mb)
}

impl StageKind for Compare {
    fn name(&self) -> &'static str {
        "compare"
    }
    /// Bump when the output bytes change for the same inputs, including edits to `baselines/`.
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[
            InputSlot { name: "runs", required: true, many: true },
            InputSlot { name: "baselines", required: false, many: false },
        ]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let canonical = canonical_params::<Params>(with)?;
        let p: Params = serde_json::from_value(canonical.clone()).map_err(|e| ParamError::new(&[], e.to_string()))?;
        if p.resamples == 0 {
            return Err(ParamError::new(&["resamples"], "must be at least 1"));
        }
        if !(p.level > 0.0 && p.level < 1.0) {
            return Err(ParamError::new(&["level"], "must lie strictly between 0 and 1 (e.g. 0.95)"));
        }
        if !(p.alpha > 0.0 && p.alpha < 1.0) {
            return Err(ParamError::new(&["alpha"], "must lie strictly between 0 and 1 (e.g. 0.05)"));
        }
        if let Published::Names(names) = &p.published {
            let known = Baselines::embedded().map_err(|e| ParamError::new(&[], e.to_string()))?;
            for (k, n) in names.iter().enumerate() {
                let exists = known.table1.iter().any(|r| &r.method == n)
                    || known.table2.iter().any(|r| &r.method == n)
                    || known.per_attribute.methods.contains(n);
                if !exists {
                    let all: Vec<&str> = known
                        .table1
                        .iter()
                        .map(|r| r.method.as_str())
                        .chain(known.table2.iter().map(|r| r.method.as_str()))
                        .collect();
                    return Err(ParamError::new(
                        &["published", &k.to_string()],
                        format!("unknown published method `{n}`; known: {}", all.join(", ")),
                    ));
                }
            }
        }
        Ok(canonical)
    }

    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: Params = ctx.params()?;
        let baselines = match ctx.inputs("baselines") {
            [] => Baselines::embedded()?,
            [one] => Baselines::load_dir(&one.path)?,
            many => bail!("stage `{}`: input `baselines` must name one directory, got {}", ctx.stage, many.len()),
        };
        let runs = load_runs(ctx, p.table)?;
        let groups = group_runs(&runs)?;
        let out = &ctx.out_dir;
        let mut infos: Vec<TableInfo> = Vec::new();
        let mut formats: Vec<String> = Vec::new();
        for g in &groups {
            if !formats.contains(&g.format) {
                formats.push(g.format.clone());
            }
        }
        let mut sources: Vec<String> = runs.iter().map(|r| r.metrics.source.clone()).collect();
        sources.sort();
        sources.dedup();
        let synthetic = sources.iter().any(|s| s != "real");

        // --- Table 1 / Table 2 ---
        match p.table {
            Layout::Celeba => {
                let (mut method, mut kind, mut mean, mut std, mut seeds, mut ma, mut reference) =
                    (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
                for r in baselines.table1.iter().filter(|r| p.published.includes(&r.method)) {
                    method.push(r.method.clone());
                    kind.push(PUBLISHED.to_string());
                    mean.push(Some(r.mean_accuracy));
                    std.push(None);
                    seeds.push(None);
                    ma.push(None);
                    reference.push(r.source.clone());
                }
                for g in &groups {
                    let acc = group_stat(&runs, g, |m| m.mean_accuracy);
                    let bal = group_stat(&runs, g, |m| m.mean_balanced_accuracy);
                    method.push(g.method.clone());
                    kind.push(measured_kind(&g.source));
                    mean.push(pct(acc.as_ref().map(|s| s.mean)));
                    std.push(pct(acc.as_ref().and_then(|s| s.std)));
                    seeds.push(Some(g.runs.len() as u32));
                    ma.push(pct(bal.map(|s| s.mean)));
                    reference.push(format!(
                        "awmt runs: {}",
                        g.runs.iter().map(|&i| runs[i].stage.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                let mut t = df(vec![
                    Column::new("method".into(), method),
                    Column::new("kind".into(), kind),
                    Column::new("mean_accuracy_pct".into(), mean),
                    Column::new("std_pct".into(), std),
                    Column::new("seeds".into(), seeds),
                    Column::new("mA_pct".into(), ma),
                    Column::new("reference".into(), reference),
                ])?;
                tables::write_all(&mut t, out, "table1")?;
                infos.push(TableInfo {
                    stem: "table1".into(),
                    title: "Table 1 — mean accuracy on CelebA".into(),
                    caption: format!(
                        "Published rows are the means over all 40 attributes their authors reported on the real CelebA test set. Measured rows are this pipeline's runs over {} attributes (mean ± sample std over seeds; mA = mean balanced accuracy).",
                        attributes(&runs, &groups.iter().collect::<Vec<_>>()).len()
                    ),
                });
            }
            Layout::Pedestrian => {
                let mut method = vec![];
                let mut kind = vec![];
                let (mut mk, mut mk_sd, mut dk, mut dk_sd) = (vec![], vec![], vec![], vec![]);
                let mut seeds = vec![];
                let mut reference = vec![];
                for r in baselines.table2.iter().filter(|r| p.published.includes(&r.method)) {
                    method.push(r.method.clone());
                    kind.push(PUBLISHED.to_string());
                    mk.push(r.market);
                    mk_sd.push(None);
                    dk.push(r.duke);
                    dk_sd.push(None);
                    seeds.push(None::<String>);
                    reference.push(r.source.clone());
                }
                // One row per (method, source); Market and Duke runs of a method share it.
                let mut rows: Vec<(String, String)> = Vec::new();
                for g in &groups {
                    let key = (g.method.clone(), g.source.clone());
                    if !rows.contains(&key) {
                        rows.push(key);
                    }
                }
                for (m, source) in rows {
                    let find = |f: &str| groups.iter().find(|g| g.method == m && g.source == source && g.format == f);
                    let stat = |g: Option<&Group>| g.and_then(|g| group_stat(&runs, g, |x| x.mean_accuracy));
                    let (gm, gd) = (find("market"), find("duke"));
                    let (sm, sd) = (stat(gm), stat(gd));
                    method.push(m.clone());
                    kind.push(measured_kind(&source));
                    mk.push(pct(sm.as_ref().map(|s| s.mean)));
                    mk_sd.push(pct(sm.as_ref().and_then(|s| s.std)));
                    dk.push(pct(sd.as_ref().map(|s| s.mean)));
                    dk_sd.push(pct(sd.as_ref().and_then(|s| s.std)));
                    let count = |g: Option<&Group>| g.map(|g| g.runs.len().to_string()).unwrap_or_else(|| "0".into());
                    seeds.push(Some(format!("{} / {}", count(gm), count(gd))));
                    let stages: Vec<&str> = [gm, gd]
                        .iter()
                        .flatten()
                        .flat_map(|g| g.runs.iter().map(|&i| runs[i].stage.as_str()))
                        .collect();
                    reference.push(format!("awmt runs: {}", stages.join(", ")));
                }
                let mut t = df(vec![
                    Column::new("method".into(), method),
                    Column::new("kind".into(), kind),
                    Column::new("market1501_pct".into(), mk),
                    Column::new("market1501_std".into(), mk_sd),
                    Column::new("duke_pct".into(), dk),
                    Column::new("duke_std".into(), dk_sd),
                    Column::new("seeds (market / duke)".into(), seeds),
                    Column::new("reference".into(), reference),
                ])?;
                tables::write_all(&mut t, out, "table2")?;
                infos.push(TableInfo {
                    stem: "table2".into(),
                    title: "Table 2 — mean accuracy (%) on Market-1501 and DukeMTMC-reID attributes".into(),
                    caption: "Published rows are the numbers their authors reported on the real datasets (official 12- and 10-attribute protocols). Measured rows are this pipeline's runs (mean ± sample std over seeds).".into(),
                });
            }
        }

        // --- per-attribute, wins, McNemar, bootstrap: one set per format ---
        let mut long = Long::default();
        for format in &formats {
            let fgroups: Vec<&Group> = groups.iter().filter(|g| &g.format == format).collect();
            let attrs = attributes(&runs, &fgroups);
            let all_real = fgroups.iter().all(|g| g.source == "real");
            let published: Vec<(usize, &String)> = if format == "celeba" {
                baselines.per_attribute.methods.iter().enumerate().filter(|(_, m)| p.published.includes(m)).collect()
            } else {
                Vec::new()
            };
            // Wide table.
            let mut cols = vec![Column::new("attribute".into(), attrs.clone())];
            let mut names_seen: Vec<String> = vec!["attribute".into()];
            // (name, per-attribute accuracy) of every method, for the win counts.
            let mut contenders: Vec<(String, Vec<Option<f64>>)> = Vec::new();
            for g in &fgroups {
                let mut acc = Vec::with_capacity(attrs.len());
                for a in &attrs {
                    let s = group_stat(&runs, g, |m| task_value(m, a, false));
                    let b = group_stat(&runs, g, |m| task_value(m, a, true));
                    let n = g
                        .runs
                        .first()
                        .and_then(|&i| runs[i].metrics.tasks.iter().find(|t| &t.task == a))
                        .map(|t| t.n as u64);
                    acc.push(pct(s.as_ref().map(|s| s.mean)));
                    long.format.push(format.clone());
                    long.attribute.push(a.clone());
                    long.method.push(g.method.clone());
                    long.kind.push(measured_kind(&g.source));
                    long.accuracy.push(pct(s.as_ref().map(|s| s.mean)));
                    long.std.push(pct(s.as_ref().and_then(|s| s.std)));
                    long.seeds.push(s.as_ref().map(|s| s.seeds as u32));
                    long.balanced.push(pct(b.map(|b| b.mean)));
                    long.n.push(n);
                }
                if names_seen.contains(&g.method) {
                    bail!("stage `{}`: two columns would be named `{}`; rename a method", ctx.stage, g.method);
                }
                names_seen.push(g.method.clone());
                cols.push(Column::new(g.method.as_str().into(), acc.clone()));
                contenders.push((g.method.clone(), acc));
            }
            for &(_, name) in &published {
                let values: Vec<Option<f64>> = attrs.iter().map(|a| baselines.per_attribute.get(name, a)).collect();
                for (a, v) in attrs.iter().zip(&values) {
                    long.format.push(format.clone());
                    long.attribute.push(a.clone());
                    long.method.push(name.clone());
                    long.kind.push(PUBLISHED.into());
                    long.accuracy.push(*v);
                    long.std.push(None);
                    long.seeds.push(None);
                    long.balanced.push(None);
                    long.n.push(None);
                }
                let col = format!("{name}{PUBLISHED_SUFFIX}");
                if names_seen.contains(&col) {
                    bail!("stage `{}`: two columns would be named `{col}`; rename a method", ctx.stage);
                }
                names_seen.push(col.clone());
                cols.push(Column::new(col.as_str().into(), values.clone()));
                if all_real && values.iter().any(Option::is_some) {
                    contenders.push((col, values));
                }
            }
            let stem = format!("per_attribute_{format}");
            tables::write_all(&mut df(cols)?, out, &stem)?;
            infos.push(TableInfo {
                stem: stem.clone(),
                title: format!("Per-attribute accuracy (%) — {}", format_title(format)),
                caption: if published.is_empty() {
                    "Measured runs, mean over seeds.".into()
                } else {
                    format!(
                        "Measured runs (mean over seeds) and, in columns marked “{}”, the numbers other authors reported on the real CelebA test set.",
                        PUBLISHED_SUFFIX.trim()
                    )
                },
            });

            // Win counts.
            let mut wcols =
                vec![Column::new("method".into(), contenders.iter().map(|c| c.0.clone()).collect::<Vec<_>>())];
            for (j, (opponent, ov)) in contenders.iter().enumerate() {
                let counts: Vec<Option<u32>> = contenders
                    .iter()
                    .enumerate()
                    .map(|(i, (_, mv))| {
                        (i != j).then(|| {
                            mv.iter().zip(ov).filter(|(a, b)| matches!((a, b), (Some(a), Some(b)) if a > b)).count()
                                as u32
                        })
                    })
                    .collect();
                wcols.push(Column::new(format!("beats {opponent}").as_str().into(), counts));
            }
            let stem = format!("wins_{format}");
            tables::write_all(&mut df(wcols)?, out, &stem)?;
            infos.push(TableInfo {
                stem,
                title: format!("Wins — {}: on how many of the {} attributes the row method is more accurate than the column method", format_title(format), attrs.len()),
                caption: if all_real || published.is_empty() {
                    "Ties count for neither method.".into()
                } else {
                    "Ties count for neither method. Published methods are left out because the measured runs are not on the real dataset.".into()
                },
            });

            // McNemar per attribute and the bootstrap, for each pair of measured methods.
            let correctness: Vec<RunCorrectness> =
                fgroups.iter().map(|g| read_correctness(&runs[g.runs[0]].dir)).collect::<Result<_>>()?;
            let (
                mut ma,
                mut mb,
                mut ra,
                mut rb,
                mut attr,
                mut nn,
                mut a_only,
                mut b_only,
                mut test,
                mut stat,
                mut pv,
                mut sig,
            ) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            let (mut ba, mut bb, mut bra, mut brb, mut bimg, mut bdiff, mut blo, mut bhi, mut bsig) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            for i in 0..fgroups.len() {
                for j in (i + 1)..fgroups.len() {
                    let (gi, gj) = (fgroups[i], fgroups[j]);
                    let (tasks, ca, cb) = align(&correctness[i], &correctness[j]);
                    let (run_a, run_b) = (&runs[gi.runs[0]].stage, &runs[gj.runs[0]].stage);
                    if ca.images() == 0 || tasks.is_empty() {
                        continue;
                    }
                    let mut significant = 0;
                    for (t, task) in tasks.iter().enumerate() {
                        let pairs = (0..ca.images()).filter_map(|im| match (ca.get(im, t), cb.get(im, t)) {
                            (Some(x), Some(y)) => Some((x, y)),
                            _ => None,
                        });
                        let m = mcnemar(pairs);
                        significant += (m.p_value < p.alpha) as u32;
                        ma.push(gi.method.clone());
                        mb.push(gj.method.clone());
                        ra.push(run_a.clone());
                        rb.push(run_b.clone());
                        attr.push(task.clone());
                        nn.push(m.n);
                        a_only.push(m.a_only);
                        b_only.push(m.b_only);
                        test.push(m.test.label().to_string());
                        stat.push(m.statistic);
                        pv.push(m.p_value);
                        sig.push(m.p_value < p.alpha);
                    }
                    let ci =
                        paired_mean_accuracy_difference(&ca, &cb, p.resamples, p.seed, p.level).with_context(|| {
                            format!("stage `{}`: bootstrap of `{}` vs `{}`", ctx.stage, gi.method, gj.method)
                        })?;
                    ba.push(gi.method.clone());
                    bb.push(gj.method.clone());
                    bra.push(run_a.clone());
                    brb.push(run_b.clone());
                    bimg.push(ci.images as u64);
                    bdiff.push(ci.observed * 100.0);
                    blo.push(ci.low * 100.0);
                    bhi.push(ci.high * 100.0);
                    bsig.push(format!("{significant} of {}", tasks.len()));
                }
            }
            let stem = format!("mcnemar_{format}");
            let mut t = df(vec![
                Column::new("method_a".into(), ma),
                Column::new("method_b".into(), mb),
                Column::new("run_a".into(), ra),
                Column::new("run_b".into(), rb),
                Column::new("attribute".into(), attr),
                Column::new("n".into(), nn),
                Column::new("a_right_b_wrong".into(), a_only),
                Column::new("b_right_a_wrong".into(), b_only),
                Column::new("test".into(), test),
                Column::new("chi2".into(), stat),
                Column::new("p_value".into(), pv),
                Column::new("significant".into(), sig),
            ])?;
            tables::write_all(&mut t, out, &stem)?;
            infos.push(TableInfo {
                stem,
                title: format!("McNemar's test per attribute — {}", format_title(format)),
                caption: format!(
                    "Paired on the same images (first seed of each method). Exact binomial test when fewer than {} rows disagree, else chi-square with continuity correction; significant = p < {}.",
                    crate::eval::mcnemar::EXACT_BELOW,
                    p.alpha
                ),
            });
            let stem = format!("bootstrap_{format}");
            let mut t = df(vec![
                Column::new("method_a".into(), ba),
                Column::new("method_b".into(), bb),
                Column::new("run_a".into(), bra),
                Column::new("run_b".into(), brb),
                Column::new("images".into(), bimg),
                Column::new("mean_diff_pct".into(), bdiff),
                Column::new("ci_low_pct".into(), blo),
                Column::new("ci_high_pct".into(), bhi),
                Column::new("mcnemar_significant".into(), bsig),
            ])?;
            tables::write_all(&mut t, out, &stem)?;
            infos.push(TableInfo {
                stem,
                title: format!("Mean-accuracy difference A − B with a {:.0}% paired bootstrap interval — {}", p.level * 100.0, format_title(format)),
                caption: format!(
                    "{} resamples of the test images (seed {}), percentile interval. An interval that contains 0 means the difference is not distinguishable from noise at this sample size.",
                    p.resamples, p.seed
                ),
            });
        }
        let mut t = df(vec![
            Column::new("format".into(), long.format),
            Column::new("attribute".into(), long.attribute),
            Column::new("method".into(), long.method),
            Column::new("kind".into(), long.kind),
            Column::new("accuracy_pct".into(), long.accuracy),
            Column::new("std_pct".into(), long.std),
            Column::new("seeds".into(), long.seeds),
            Column::new("mA_pct".into(), long.balanced),
            Column::new("n".into(), long.n),
        ])?;
        tables::write_all(&mut t, out, "per_attribute_long")?;

        // Example-based metrics per run.
        let mut t = df(vec![
            Column::new("format".into(), runs.iter().map(|r| r.metrics.format.clone()).collect::<Vec<_>>()),
            Column::new("method".into(), runs.iter().map(|r| r.metrics.method.clone()).collect::<Vec<_>>()),
            Column::new("kind".into(), runs.iter().map(|r| measured_kind(&r.metrics.source)).collect::<Vec<_>>()),
            Column::new("run".into(), runs.iter().map(|r| r.stage.clone()).collect::<Vec<_>>()),
            Column::new(
                "mean_accuracy_pct".into(),
                runs.iter().map(|r| pct(r.metrics.mean_accuracy)).collect::<Vec<_>>(),
            ),
            Column::new(
                "mA_pct".into(),
                runs.iter().map(|r| pct(r.metrics.mean_balanced_accuracy)).collect::<Vec<_>>(),
            ),
            Column::new(
                "example_accuracy_pct".into(),
                runs.iter().map(|r| pct(r.metrics.example_based.accuracy)).collect::<Vec<_>>(),
            ),
            Column::new(
                "example_precision_pct".into(),
                runs.iter().map(|r| pct(r.metrics.example_based.precision)).collect::<Vec<_>>(),
            ),
            Column::new(
                "example_recall_pct".into(),
                runs.iter().map(|r| pct(r.metrics.example_based.recall)).collect::<Vec<_>>(),
            ),
            Column::new(
                "example_f1_pct".into(),
                runs.iter().map(|r| pct(r.metrics.example_based.f1)).collect::<Vec<_>>(),
            ),
        ])?;
        tables::write_all(&mut t, out, "example_based")?;
        infos.push(TableInfo {
            stem: "example_based".into(),
            title: "Balanced and example-based metrics per run".into(),
            caption: "mA = mean over attributes of ½(TP/P + TN/N) (per-class recall for multi-class attributes); example-based accuracy |Y∩Ŷ|/|Y∪Ŷ|, precision, recall and F1 per image.".into(),
        });

        let summary = CompareSummary {
            table: p.table,
            formats: formats.clone(),
            sources,
            synthetic,
            methods: groups
                .iter()
                .map(|g| {
                    serde_json::json!({
                        "method": g.method, "format": g.format, "kind": measured_kind(&g.source), "source": g.source,
                        "runs": g.runs.iter().map(|&i| runs[i].stage.clone()).collect::<Vec<_>>(), "seeds": g.runs.len()
                    })
                })
                .collect(),
            published: match p.table {
                Layout::Celeba => baselines
                    .table1
                    .iter()
                    .filter(|r| p.published.includes(&r.method))
                    .map(|r| serde_json::json!({"method": r.method, "source": r.source}))
                    .collect(),
                Layout::Pedestrian => baselines
                    .table2
                    .iter()
                    .filter(|r| p.published.includes(&r.method))
                    .map(|r| serde_json::json!({"method": r.method, "source": r.source}))
                    .collect(),
            },
            runs: runs
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "stage": r.stage, "method": r.metrics.method, "format": r.metrics.format, "source": r.metrics.source,
                        "split": r.metrics.split, "model_stages": r.metrics.model_stages, "training": r.metrics.training
                    })
                })
                .collect(),
            tables: infos,
            params: ctx.params.clone(),
        };
        let path = out.join(CompareSummary::FILE);
        crate::util::write_json(&path, &summary)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_default_and_validate() {
        let c = Compare.check_params(&serde_json::Value::Null).unwrap();
        assert_eq!(c["table"], "celeba");
        assert_eq!(c["published"], "all");
        assert_eq!(c["resamples"], 1000);
        let names = Compare.check_params(&serde_json::json!({"published": ["Moon", "APR"]})).unwrap();
        assert_eq!(names["published"], serde_json::json!(["Moon", "APR"]));
        let err = Compare.check_params(&serde_json::json!({"published": ["Mooon"]})).unwrap_err();
        assert_eq!(err.path, vec!["published", "0"]);
        assert!(Compare.check_params(&serde_json::json!({"table": "market"})).is_err());
        assert!(Compare.check_params(&serde_json::json!({"level": 1.5})).is_err());
    }
}
