//! `kind: compare` — sets evaluated runs beside the published numbers: Table 1 (CelebA) or
//! Table 2 (Market-1501 / Duke) layouts with Δm, per-attribute tables, win counts, and the
//! identity-level statistics between methods (docs/STATISTICS.md). The tables are built
//! by `report::comparison`; this file reads the runs and writes the files.
//!
//! ```yaml
//! table1:
//!   kind: compare
//!   inputs: {runs: [eval.*]}
//!   with: {table: celeba, published: all, resamples: 2000, seed: 0}
//! ```
//! Inputs:
//! - `runs` (one or more `evaluate` outputs). Runs sharing a method label are seeds of one method
//!   (shown as mean ± sample std over seeds; paired seed k with seed k in the tests).
//! - `baselines` (optional directory with the four files of the project's `baselines/`): replaces
//!   the copy compiled into awmt.
//!
//! Parameters (`with:`):
//! - `table`: `celeba` (Table 1 layout; runs must be CelebA-format) or `pedestrian` (Table 2
//!   layout; runs are Market-1501 and/or Duke).
//! - `published`: `all` (default), `none`, or a list of published method names to include.
//! - `resamples` (default 2000), `level` (default 0.95), `seed` (default 0): the identity-level
//!   paired bootstrap.
//! - `flips` (default 10000): random sign flips of the per-attribute test when more than 20
//!   identities differ (exact below).
//! - `alpha` (default 0.05): significance level of the Holm-adjusted p-values (and of McNemar's).
//! - `delta_m_baseline` (default: the one method whose runs are single-task models): the method
//!   Δm is measured against.
//!
//! Outputs (each table as `.csv`, `.md`, `.html` fragment and `.parquet`; accuracies in percent):
//! - `table1` / `table2`: one row per method; `kind` is `published` (with its citation in
//!   `reference`) or `measured (synthetic data)` / `measured (real data)` (with the runs), and Δm.
//! - `per_attribute_<format>`: attribute × method accuracies (published columns say so), and
//!   `per_attribute_long` (every number with its method, kind, std over seeds and mA).
//! - `wins_<format>`: on how many attributes the row method beats the column method. Published
//!   methods take part only where the measured runs are on real data.
//! - `ranking_<format>`: the measured methods ranked by mean accuracy, with Δm and the
//!   identity-level interval of each one's difference from the top-ranked method.
//! - `bootstrap_<format>`: identity-level paired bootstrap interval of the mean-accuracy
//!   difference per pair of measured methods.
//! - `attribute_tests_<format>`: per pair and attribute, the difference with its bootstrap
//!   interval, the identity-level sign-flip p-value and its Holm adjustment.
//! - `mcnemar_<format>`: McNemar per attribute, the image-level view (first seed of each).
//! - `example_based`: per run, mean accuracy, mA and the example-based metrics.
//! - `compare.json` (`report::files::CompareSummary`): the layout, data sources, model-selection
//!   rule, statistics settings, methods, runs and the list of tables.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputSlot, ParamError, StageContext, StageKind};
use crate::eval::files::{read_correctness, RunCorrectness, RunMetrics};
use crate::report::baselines::Baselines;
use crate::report::comparison::example_based::{example_based_frame, example_based_info};
use crate::report::comparison::headline::{table1, table1_frame, table1_info, table2, table2_frame, table2_info};
use crate::report::comparison::ranking::{ranking, ranking_frame, ranking_info};
use crate::report::comparison::pairwise::{
    bootstrap_frame, bootstrap_info, mcnemar_frame, mcnemar_info, pairwise, tests_frame, tests_info,
    MethodPredictions, Settings,
};
use crate::report::comparison::per_attribute::{per_attribute, per_attribute_info, wins, wins_info};
use crate::report::comparison::{
    attributes, delta_m_baselines, group_runs, measured_kind, DeltaMBaseline, Group, Published,
    PublishedKeyword, Run, MODEL_SELECTION, SEED_PAIRING,
};
use crate::report::files::{
    write_per_attribute_long, CompareSummary, FormatStatistics, Layout, PerAttributeRow, StatisticsSettings,
    TableInfo,
};
use crate::report::tables;

pub struct Compare;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    table: Layout,
    published: Published,
    resamples: usize,
    level: f64,
    seed: u64,
    flips: usize,
    alpha: f64,
    delta_m_baseline: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            table: Layout::Celeba,
            published: Published::Keyword(PublishedKeyword::All),
            resamples: 2000,
            level: 0.95,
            seed: 0,
            flips: 10_000,
            alpha: 0.05,
            delta_m_baseline: None,
        }
    }
}

/// The evaluated runs and, in the same order, the directories their files are in.
fn load_runs(ctx: &StageContext, layout: Layout) -> Result<(Vec<Run>, Vec<PathBuf>)> {
    let items = ctx.inputs("runs");
    if items.is_empty() {
        bail!("stage `{}` needs input `runs` (one or more evaluate stages)", ctx.stage);
    }
    let (mut runs, mut dirs) = (Vec::new(), Vec::new());
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
        runs.push(Run { stage, metrics });
        dirs.push(item.path.clone());
    }
    Ok((runs, dirs))
}

fn write(df: polars::prelude::DataFrame, out: &Path, info: TableInfo, infos: &mut Vec<TableInfo>) -> Result<()> {
    let mut df = df;
    tables::write_all(&mut df, out, &info.stem)?;
    infos.push(info);
    Ok(())
}

/// What every table of one comparison is built from.
struct Inputs<'a> {
    p: &'a Params,
    dirs: &'a [PathBuf],
    runs: &'a [Run],
    groups: &'a [Group],
    baselines: &'a Baselines,
    delta_m: &'a [DeltaMBaseline],
}

/// The per-attribute, wins and pairwise tables of one format; returns the `per_attribute_long`
/// rows and what the statistics resampled.
fn write_format_tables(
    inputs: &Inputs,
    format: &str,
    infos: &mut Vec<TableInfo>,
    out: &Path,
) -> Result<(Vec<PerAttributeRow>, FormatStatistics)> {
    let Inputs { p, dirs, runs, groups, baselines, delta_m } = *inputs;
    let fgroups: Vec<&Group> = groups.iter().filter(|g| g.format == format).collect();
    let t = per_attribute(runs, &fgroups, format, baselines, |m| p.published.includes(m))?;
    write(t.wide.frame()?, out, per_attribute_info(format, &t), infos)?;
    write(wins(&t.contenders).frame()?, out, wins_info(format, &t), infos)?;

    let correctness: Vec<Vec<RunCorrectness>> = fgroups
        .iter()
        .map(|g| g.runs.iter().map(|&i| read_correctness(&dirs[i])).collect::<Result<Vec<_>>>())
        .collect::<Result<_>>()?;
    let methods: Vec<MethodPredictions> = fgroups
        .iter()
        .zip(&correctness)
        .map(|(g, c)| MethodPredictions {
            method: g.method.clone(),
            runs: g.runs.iter().zip(c).map(|(&i, c)| (runs[i].stage.clone(), c)).collect(),
        })
        .collect();
    let settings = Settings { resamples: p.resamples, level: p.level, seed: p.seed, flips: p.flips, alpha: p.alpha };
    let pw = pairwise(&methods, &settings)?;
    write(bootstrap_frame(&pw.bootstrap)?, out, bootstrap_info(format, &pw, &settings), infos)?;
    let ranked = ranking(runs, &fgroups, groups, delta_m, &pw.bootstrap);
    write(ranking_frame(&ranked)?, out, ranking_info(format, p.level), infos)?;
    write(tests_frame(&pw.tests)?, out, tests_info(format, &pw, &settings), infos)?;
    write(mcnemar_frame(&pw.mcnemar)?, out, mcnemar_info(format, &settings), infos)?;
    let stats = FormatStatistics {
        format: format.to_string(),
        units: pw.units,
        delta_m_baseline: delta_m
            .iter()
            .find(|d| d.format == format)
            .and_then(|d| d.group)
            .map(|i| groups[i].method.clone()),
    };
    Ok((t.long, stats))
}

impl StageKind for Compare {
    fn name(&self) -> &'static str {
        "compare"
    }
    /// Bump when the output bytes change for the same inputs, including edits to `baselines/`.
    /// 2: identity-level statistics, Δm, the model-selection rule. 3: `ranking_<format>`.
    fn version(&self) -> u32 {
        3
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
            return Err(ParamError::new(&["resamples"], "must be at least 1 (docs/STATISTICS.md uses 2000)"));
        }
        if p.flips == 0 {
            return Err(ParamError::new(&["flips"], "must be at least 1 (docs/STATISTICS.md uses 10000)"));
        }
        if !(p.level > 0.0 && p.level < 1.0) {
            return Err(ParamError::new(&["level"], "must lie strictly between 0 and 1 (e.g. 0.95)"));
        }
        if !(p.alpha > 0.0 && p.alpha < 1.0) {
            return Err(ParamError::new(&["alpha"], "must lie strictly between 0 and 1 (e.g. 0.05)"));
        }
        if p.delta_m_baseline.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(ParamError::new(&["delta_m_baseline"], "must name a method (leave it out to use the separate models)"));
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
        let (runs, dirs) = load_runs(ctx, p.table)?;
        let groups = group_runs(&runs).with_context(|| format!("stage `{}`", ctx.stage))?;
        let delta_m = delta_m_baselines(&runs, &groups, p.delta_m_baseline.as_deref())
            .with_context(|| format!("stage `{}`", ctx.stage))?;
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

        match p.table {
            Layout::Celeba => {
                let rows = table1(&baselines, &p.published, &runs, &groups, &delta_m);
                let count = attributes(&runs, &groups.iter().collect::<Vec<_>>()).len();
                write(table1_frame(&rows)?, out, table1_info(count, &delta_m), &mut infos)?;
            }
            Layout::Pedestrian => {
                let rows = table2(&baselines, &p.published, &runs, &groups, &delta_m);
                write(table2_frame(&rows)?, out, table2_info(&delta_m), &mut infos)?;
            }
        }

        let inputs =
            Inputs { p: &p, dirs: &dirs, runs: &runs, groups: &groups, baselines: &baselines, delta_m: &delta_m };
        let mut long = Vec::new();
        let mut format_statistics = Vec::new();
        for format in &formats {
            let (rows, stats) = write_format_tables(&inputs, format, &mut infos, out)
                .with_context(|| format!("stage `{}`", ctx.stage))?;
            long.extend(rows);
            format_statistics.push(stats);
        }
        write_per_attribute_long(out, &long)?;
        write(example_based_frame(&runs)?, out, example_based_info(), &mut infos)?;

        let published_rows = |methods: Vec<(&String, &String)>| -> Vec<serde_json::Value> {
            methods
                .into_iter()
                .filter(|(m, _)| p.published.includes(m))
                .map(|(m, s)| serde_json::json!({"method": m, "source": s}))
                .collect()
        };
        let summary = CompareSummary {
            table: p.table,
            formats,
            synthetic: sources.iter().any(|s| s != "real"),
            sources,
            model_selection: MODEL_SELECTION.into(),
            statistics: StatisticsSettings {
                resamples: p.resamples,
                level: p.level,
                seed: p.seed,
                flips: p.flips,
                alpha: p.alpha,
                seed_pairing: SEED_PAIRING.into(),
                multiple_testing: "Holm across the attributes of each pair of methods".into(),
                formats: format_statistics,
            },
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
                Layout::Celeba => published_rows(baselines.table1.iter().map(|r| (&r.method, &r.source)).collect()),
                Layout::Pedestrian => published_rows(baselines.table2.iter().map(|r| (&r.method, &r.source)).collect()),
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
        summary.save(out)
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
        assert_eq!(c["resamples"], 2000);
        assert_eq!(c["flips"], 10_000);
        assert_eq!(c["delta_m_baseline"], serde_json::Value::Null);
        let names = Compare.check_params(&serde_json::json!({"published": ["Moon", "APR"]})).unwrap();
        assert_eq!(names["published"], serde_json::json!(["Moon", "APR"]));
        let err = Compare.check_params(&serde_json::json!({"published": ["Mooon"]})).unwrap_err();
        assert_eq!(err.path, vec!["published", "0"]);
        assert!(Compare.check_params(&serde_json::json!({"table": "market"})).is_err());
        assert!(Compare.check_params(&serde_json::json!({"level": 1.5})).is_err());
        assert_eq!(Compare.check_params(&serde_json::json!({"flips": 0})).unwrap_err().path, vec!["flips"]);
        assert!(Compare.check_params(&serde_json::json!({"delta_m_baseline": " "})).is_err());
    }
}
