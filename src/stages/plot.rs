//! `kind: plot` — draws the paper's figures and a few it never showed, as PNG and SVG.
//!
//! ```yaml
//! figures:
//!   kind: plot
//!   inputs: {compare: table1, train: [basic, awmt], data: faces_split}
//!   with: {smoothing: auto}
//! ```
//! Inputs (all optional, at least one needed):
//! - `compare` (one or more `compare` outputs): per-attribute error (1 − accuracy) as grouped bars,
//!   one bar per method, published methods included where per-attribute numbers exist (Figs. 4, 6,
//!   7), one figure per dataset format.
//! - `train` (one or more `train` outputs): validation loss vs iteration, one line per run (Fig. 5),
//!   and the task weights λ of every task over iterations, one figure per run (lines up to ten
//!   tasks, a heat map with one row per task beyond). Runs are grouped by
//!   their task set; single-task runs (separate models) are left out.
//! - `data` (one or more `split` or `prepare` outputs): label balance per attribute.
//!
//! Parameters (`with:`):
//! - `smoothing` (default `auto`): trailing moving-average window, in logged iterations, for the
//!   loss and λ curves; `auto` = 1/50 of the run (at least 1); `1` = raw.
//! - `published` (default `true`): draw published methods in the error figures.
//! - `balance_split` (default `train`): the split whose labels the balance figure counts.
//!
//! Outputs: `<figure>.png` and `<figure>.svg` per figure, and `figures.json`
//! (`[{"stem", "kind", "title", "caption"}]`, in drawing order) for the report.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputItem, InputSlot, ParamError, StageContext, StageKind};
use crate::data::tasks::{LabelTable, TaskSet, TaskType};
use crate::report::figures::{self, BarSeries, Curve, GroupedBars, LineChart, ShareBar, StackedShares};
use crate::report::files::{read_per_attribute_long, CompareSummary, FigureInfo};
use crate::report::tables::PUBLISHED;
use crate::train::files::read_log;

pub struct Plot;

/// λ figures draw one line per task up to this many tasks, a heat map beyond.
const LINES_UP_TO: usize = 10;
/// Iteration bins of a λ heat map.
const HEATMAP_BINS: usize = 120;

/// `auto` or a window length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Smoothing {
    Auto(AutoKeyword),
    Window(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoKeyword {
    Auto,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    smoothing: Smoothing,
    published: bool,
    balance_split: String,
}

impl Default for Params {
    fn default() -> Self {
        Params { smoothing: Smoothing::Auto(AutoKeyword::Auto), published: true, balance_split: "train".into() }
    }
}

impl Smoothing {
    fn window(&self, points: usize) -> usize {
        match self {
            Smoothing::Auto(_) => (points / 50).max(1),
            Smoothing::Window(w) => (*w).max(1),
        }
    }
}

fn fig_name(format: &str) -> (&str, &str) {
    match format {
        "celeba" => ("CelebA", " (cf. the paper's Fig. 4)"),
        "market" => ("Market-1501", " (cf. Fig. 6)"),
        "duke" => ("DukeMTMC-reID", " (cf. Fig. 7)"),
        other => (other, ""),
    }
}

/// A fresh stem (`base`, `base_2`, …).
fn unique_stem(used: &mut Vec<String>, base: &str) -> String {
    let mut stem = base.to_string();
    let mut k = 2;
    while used.contains(&stem) {
        stem = format!("{base}_{k}");
        k += 1;
    }
    used.push(stem.clone());
    stem
}

/// Error figures from one compare output.
fn error_figures(item: &InputItem, p: &Params, used: &mut Vec<String>, out: &Path) -> Result<Vec<FigureInfo>> {
    let summary = CompareSummary::load(&item.path)?;
    let rows = read_per_attribute_long(&item.path)?;
    let mut infos = Vec::new();
    for fmt in &summary.formats {
        let mut attrs: Vec<String> = Vec::new();
        let mut series: Vec<(String, bool, BTreeMap<String, f64>)> = Vec::new();
        for row in rows.iter().filter(|r| &r.format == fmt) {
            let published = row.kind == PUBLISHED;
            if published && !p.published {
                continue;
            }
            if !attrs.contains(&row.attribute) {
                attrs.push(row.attribute.clone());
            }
            let idx = match series.iter().position(|s| s.0 == row.method && s.1 == published) {
                Some(i) => i,
                None => {
                    series.push((row.method.clone(), published, BTreeMap::new()));
                    series.len() - 1
                }
            };
            if let Some(acc) = row.accuracy_pct {
                series[idx].2.insert(row.attribute.clone(), 100.0 - acc);
            }
        }
        if attrs.is_empty() {
            continue;
        }
        let (name, fig) = fig_name(fmt);
        let measured_sources: Vec<&String> = summary.sources.iter().collect();
        let any_published = series.iter().any(|s| s.1);
        let subtitle = if summary.synthetic {
            Some(if any_published {
                "Measured bars: synthetic data. Published bars: other authors' real-data numbers (not comparable)"
                    .to_string()
            } else {
                "Measured on synthetic data".to_string()
            })
        } else {
            Some(format!(
                "Measured on {} data",
                measured_sources.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" + ")
            ))
        };
        let bars = GroupedBars {
            title: format!("Per-attribute error, {name}{fig}"),
            subtitle,
            x_label: "error = 1 − accuracy (%)".into(),
            categories: attrs.clone(),
            series: series
                .iter()
                .map(|(m, published, values)| BarSeries {
                    label: if *published { format!("{m} (published)") } else { m.clone() },
                    published: *published,
                    values: attrs.iter().map(|a| values.get(a).copied()).collect(),
                })
                .collect(),
        };
        let stem = unique_stem(used, &format!("error_{fmt}"));
        figures::save(&bars, out, &stem)?;
        infos.push(FigureInfo {
            stem,
            kind: "per_attribute_error".into(),
            title: bars.title.clone(),
            caption: format!(
                "Error (1 − accuracy) per attribute on {name}; shorter bars are better.{}",
                if any_published { " Outlined light bars are published numbers." } else { "" }
            ),
        });
    }
    Ok(infos)
}

/// One train run's log: iteration → (task → (val_loss, lambda)).
struct TrainLog {
    label: String,
    tasks: Vec<String>,
    rows: BTreeMap<i64, Vec<(usize, Option<f64>, Option<f64>)>>,
}

fn read_train_log(item: &InputItem) -> Result<TrainLog> {
    let mut tasks: Vec<String> = Vec::new();
    let mut rows: BTreeMap<i64, Vec<(usize, Option<f64>, Option<f64>)>> = BTreeMap::new();
    for row in read_log(&item.path)? {
        let ti = match tasks.iter().position(|x| *x == row.task) {
            Some(i) => i,
            None => {
                tasks.push(row.task.clone());
                tasks.len() - 1
            }
        };
        rows.entry(row.iteration).or_default().push((ti, row.val_loss, row.lambda));
    }
    let label = item
        .stage
        .clone()
        .unwrap_or_else(|| item.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
    Ok(TrainLog { label, tasks, rows })
}

fn train_figures(items: &[InputItem], p: &Params, used: &mut Vec<String>, out: &Path) -> Result<Vec<FigureInfo>> {
    let mut logs = Vec::new();
    for item in items {
        let log = read_train_log(item)?;
        if log.tasks.len() > 1 {
            logs.push(log);
        }
    }
    // Group runs by their task set.
    let mut groups: Vec<(Vec<String>, Vec<&TrainLog>)> = Vec::new();
    for log in &logs {
        let mut key = log.tasks.clone();
        key.sort();
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(log),
            None => groups.push((key, vec![log])),
        }
    }
    let mut infos = Vec::new();
    for (tasks, runs) in &groups {
        let mut curves = Vec::new();
        let mut window = 1;
        for log in runs {
            let raw: Vec<(f64, f64)> = log
                .rows
                .iter()
                .filter_map(|(it, cells)| {
                    let vals: Vec<f64> = cells.iter().filter_map(|c| c.1).filter(|v| v.is_finite()).collect();
                    (!vals.is_empty()).then(|| (*it as f64, vals.iter().sum::<f64>() / vals.len() as f64))
                })
                .collect();
            window = p.smoothing.window(raw.len());
            curves.push(Curve { label: log.label.clone(), points: figures::moving_average(&raw, window) });
        }
        let chart = LineChart {
            title: format!("Validation loss vs iteration — {} tasks (cf. the paper's Fig. 5)", tasks.len()),
            subtitle: Some(format!(
                "Mean over tasks of the per-batch validation loss, moving average over {window} iteration(s)"
            )),
            x_label: "iteration".into(),
            y_label: "validation loss".into(),
            curves,
        };
        let stem = unique_stem(used, "val_loss");
        figures::save(&chart, out, &stem)?;
        infos.push(FigureInfo {
            stem,
            kind: "val_loss".into(),
            title: chart.title.clone(),
            caption: format!("Runs: {}.", runs.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join(", ")),
        });
    }
    for log in &logs {
        let series: Vec<Vec<(f64, f64)>> = (0..log.tasks.len())
            .map(|ti| {
                log.rows
                    .iter()
                    .filter_map(|(it, cells)| {
                        cells.iter().find(|c| c.0 == ti).and_then(|c| c.2).map(|l| (*it as f64, l))
                    })
                    .filter(|(_, l)| l.is_finite())
                    .collect()
            })
            .collect();
        let stem = unique_stem(used, &format!("lambda_{}", sanitize(&log.label)));
        let title = format!("Task weights λ over iterations — {}", log.label);
        if log.tasks.len() > LINES_UP_TO {
            // Too many tasks for one line each: a heat map, one row per task, λ averaged per bin.
            let (x0, x1) = series.iter().flatten().fold((f64::MAX, f64::MIN), |(a, b), &(x, _)| (a.min(x), b.max(x)));
            let (x0, x1) = if x0 > x1 { (0.0, 1.0) } else { (x0, x1) };
            let bins = HEATMAP_BINS.min(series.iter().map(Vec::len).max().unwrap_or(1).max(1));
            let values = series
                .iter()
                .map(|pts| {
                    let mut sum = vec![(0.0, 0usize); bins];
                    for &(x, l) in pts {
                        let b = (((x - x0) / (x1 - x0).max(1e-12)) * bins as f64).floor() as usize;
                        let e = &mut sum[b.min(bins - 1)];
                        e.0 += l;
                        e.1 += 1;
                    }
                    sum.into_iter().map(|(s, c)| (c > 0).then(|| s / c as f64)).collect()
                })
                .collect();
            let map = figures::Heatmap {
                title: title.clone(),
                subtitle: Some(format!("One row per task, mean λ over {bins} equal iteration bins")),
                x_label: "iteration".into(),
                value_label: "λ".into(),
                rows: log.tasks.clone(),
                x_range: (x0, x1),
                values,
            };
            figures::save(&map, out, &stem)?;
        } else {
            let mut window = 1;
            let curves = log
                .tasks
                .iter()
                .zip(&series)
                .map(|(task, raw)| {
                    window = p.smoothing.window(raw.len());
                    Curve { label: task.clone(), points: figures::moving_average(raw, window) }
                })
                .collect();
            let chart = LineChart {
                title: title.clone(),
                subtitle: Some(format!("One line per task, moving average over {window} iteration(s)")),
                x_label: "iteration".into(),
                y_label: "λ".into(),
                curves,
            };
            figures::save(&chart, out, &stem)?;
        }
        infos.push(FigureInfo {
            stem,
            kind: "lambda".into(),
            title,
            caption: "How the weighting distributed the loss over the tasks during training.".into(),
        });
    }
    Ok(infos)
}

/// A file-name-safe version of a stage name.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn balance_figure(item: &InputItem, p: &Params, used: &mut Vec<String>, out: &Path) -> Result<FigureInfo> {
    let tasks = TaskSet::load(&item.path)?;
    let table = LabelTable::read(&tasks, &item.path, &p.balance_split)?;
    let mut bars = Vec::new();
    for (task, labels) in tasks.tasks.iter().zip(&table.labels) {
        let values: Vec<i32> = labels.iter().flatten().copied().collect();
        let n = values.len().max(1) as f64;
        let (segments, binary) = match task.kind {
            TaskType::Binary => {
                let pos = values.iter().filter(|&&v| v == 1).count() as f64 / n;
                (vec![("+1".to_string(), pos), ("−1".to_string(), 1.0 - pos)], true)
            }
            TaskType::Multiclass => (
                task.classes
                    .iter()
                    .enumerate()
                    .map(|(c, name)| (name.clone(), values.iter().filter(|&&v| v == c as i32).count() as f64 / n))
                    .collect(),
                false,
            ),
        };
        bars.push(ShareBar { category: task.name.clone(), segments, binary });
    }
    let (name, _) = fig_name(&tasks.format);
    let fig = StackedShares {
        title: format!("Label balance per attribute — {name}, {} split", p.balance_split),
        subtitle: Some(format!("{} images, {} data", table.len(), tasks.source)),
        bars,
    };
    let stem = unique_stem(used, &format!("label_balance_{}", sanitize(&tasks.format)));
    figures::save(&fig, out, &stem)?;
    Ok(FigureInfo {
        stem,
        kind: "label_balance".into(),
        title: fig.title.clone(),
        caption: "Share of each label among the labelled images; far from 50% means plain accuracy flatters a classifier that always answers the majority (see mA).".into(),
    })
}

impl StageKind for Plot {
    fn name(&self) -> &'static str {
        "plot"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[
            InputSlot { name: "compare", required: false, many: true },
            InputSlot { name: "train", required: false, many: true },
            InputSlot { name: "data", required: false, many: true },
        ]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let canonical = canonical_params::<Params>(with)?;
        let p: Params = serde_json::from_value(canonical.clone()).map_err(|e| ParamError::new(&[], e.to_string()))?;
        if p.smoothing == Smoothing::Window(0) {
            return Err(ParamError::new(&["smoothing"], "a window of at least 1 iteration, or `auto`"));
        }
        if p.balance_split.is_empty() || p.balance_split.contains(['/', '\\']) {
            return Err(ParamError::new(&["balance_split"], "a split name such as `train`"));
        }
        Ok(canonical)
    }
    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: Params = ctx.params()?;
        let (compares, trains, datas) = (ctx.inputs("compare"), ctx.inputs("train"), ctx.inputs("data"));
        if compares.is_empty() && trains.is_empty() && datas.is_empty() {
            bail!("stage `{}` has nothing to draw: give it `compare`, `train` and/or `data` inputs", ctx.stage);
        }
        let mut used = Vec::new();
        let mut infos = Vec::new();
        for item in compares {
            infos.extend(error_figures(item, &p, &mut used, &ctx.out_dir)?);
        }
        if !trains.is_empty() {
            infos.extend(train_figures(trains, &p, &mut used, &ctx.out_dir)?);
        }
        for item in datas {
            infos.push(balance_figure(item, &p, &mut used, &ctx.out_dir)?);
        }
        FigureInfo::save_all(&ctx.out_dir, &infos)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_default_and_validate() {
        let c = Plot.check_params(&serde_json::Value::Null).unwrap();
        assert_eq!(c, serde_json::json!({"smoothing": "auto", "published": true, "balance_split": "train"}));
        assert_eq!(Plot.check_params(&serde_json::json!({"smoothing": 5})).unwrap()["smoothing"], 5);
        assert!(Plot.check_params(&serde_json::json!({"smoothing": 0})).is_err());
        assert!(Plot.check_params(&serde_json::json!({"smoothing": "fast"})).is_err());
    }

    #[test]
    fn smoothing_windows() {
        assert_eq!(Smoothing::Auto(AutoKeyword::Auto).window(1000), 20);
        assert_eq!(Smoothing::Auto(AutoKeyword::Auto).window(10), 1);
        assert_eq!(Smoothing::Window(7).window(10), 7);
    }
}
