//! The tables of a `compare` stage as pure functions of evaluated runs (docs/STAGES.md): Table 1/2
//! with Δm (`headline`), per-attribute accuracies and win counts (`per_attribute`), the
//! identity-level statistics between methods (`pairwise`), the ranking (`ranking`) and the
//! per-run example-based metrics (`example_based`). Each builder returns row structs, a
//! frame with the documented columns and the table's title and caption; the stage only reads and
//! writes files.

pub mod example_based;
pub mod headline;
pub mod pairwise;
pub mod per_attribute;
pub mod ranking;

use anyhow::{bail, Result};
use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};

use crate::eval::files::RunMetrics;
use crate::eval::seeds::{over_seeds, OverSeeds};

/// The model each training run contributes, as every caption and `compare.json` state it.
pub const MODEL_SELECTION: &str =
    "last iteration (the weights after the final training iteration; no early stopping or selection on validation data)";

/// How methods with several seeds enter the pairwise statistics.
pub const SEED_PAIRING: &str = "seed k of A is paired with seed k of B in input order (a method with more seeds keeps its first ones); the pairings are pooled: one bootstrap draw of identities serves every pairing and the statistic is the mean over pairings of the difference (the bootstrap of the seed-averaged difference), and the sign-flip test sums each identity's differences over the pairings and flips them together";

/// `all`, `none`, or a list of published method names.
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
    pub fn includes(&self, method: &str) -> bool {
        match self {
            Published::Keyword(PublishedKeyword::All) => true,
            Published::Keyword(PublishedKeyword::None) => false,
            Published::Names(names) => names.iter().any(|n| n == method),
        }
    }
}

/// One evaluated run: its stage name and `metrics.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub stage: String,
    pub metrics: RunMetrics,
}

/// The runs (seeds) of one method on one dataset format: indices into the run list, input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub format: String,
    pub method: String,
    pub source: String,
    pub runs: Vec<usize>,
}

impl Group {
    /// Mean ± std over the group's runs of a per-run number.
    pub fn stat(&self, runs: &[Run], value: impl Fn(&RunMetrics) -> Option<f64>) -> Option<OverSeeds> {
        let values: Vec<f64> = self.runs.iter().filter_map(|&i| value(&runs[i].metrics)).collect();
        over_seeds(&values)
    }

    /// The stage names of the group's runs, comma-separated.
    pub fn run_names(&self, runs: &[Run]) -> String {
        self.runs.iter().map(|&i| runs[i].stage.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Whether every run evaluates single-task models only (the separate models): each model's
    /// training summary lists exactly one task. (With a single attribute every method is one:
    /// then several qualify and Δm, meaningless there, is left out.)
    pub fn is_single_task(&self, runs: &[Run]) -> bool {
        self.runs.iter().all(|&i| {
            let training = &runs[i].metrics.training;
            !training.is_empty()
                && training.iter().all(|t| t.get("tasks").and_then(|v| v.as_array()).is_some_and(|a| a.len() == 1))
        })
    }
}

/// Runs grouped by (format, method), in order of first appearance. A method label used on both
/// real and synthetic data is an error: its seeds would mix data sources.
pub fn group_runs(runs: &[Run]) -> Result<Vec<Group>> {
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

/// How a measured row says where its data came from.
pub fn measured_kind(source: &str) -> String {
    format!("measured ({source} data)")
}

/// The dataset's name as tables print it.
pub fn format_title(format: &str) -> &str {
    match format {
        "celeba" => "CelebA",
        "market" => "Market-1501",
        "duke" => "DukeMTMC-reID",
        other => other,
    }
}

pub(crate) fn pct(v: Option<f64>) -> Option<f64> {
    v.map(|x| x * 100.0)
}

/// Accuracy (or balanced accuracy) of `task` in one run.
pub fn task_value(m: &RunMetrics, task: &str, balanced: bool) -> Option<f64> {
    m.tasks.iter().find(|t| t.task == task).and_then(|t| if balanced { t.balanced_accuracy } else { t.accuracy })
}

/// The method label of the majority-class baseline rows and columns.
pub const MAJORITY: &str = "Majority class";

/// How a majority-class row says where its labels came from.
pub fn majority_kind(source: &str) -> String {
    format!("baseline ({source} test labels)")
}

/// The majority rate (fraction) of `task`: from the first run of `groups` that recorded it. The
/// methods of one format are evaluated on the same rows, so any run's rate is every run's.
pub fn majority_rate(runs: &[Run], groups: &[&Group], task: &str) -> Option<f64> {
    groups
        .iter()
        .flat_map(|g| &g.runs)
        .find_map(|&i| runs[i].metrics.tasks.iter().find(|t| t.task == task).and_then(|t| t.majority))
}

/// The mean majority rate over `attrs`; `None` unless every attribute has one.
pub fn mean_majority_rate(runs: &[Run], groups: &[&Group], attrs: &[String]) -> Option<f64> {
    let rates: Option<Vec<f64>> = attrs.iter().map(|a| majority_rate(runs, groups, a)).collect();
    rates.filter(|r| !r.is_empty()).map(|r| r.iter().sum::<f64>() / r.len() as f64)
}

/// Attributes of some groups, in the order of the first run that has each.
pub fn attributes(runs: &[Run], groups: &[&Group]) -> Vec<String> {
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

/// The method each format's Δm is measured against, with a sentence saying how it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaMBaseline {
    pub format: String,
    /// Index into the groups.
    pub group: Option<usize>,
    pub note: String,
}

/// Per format: `explicit` (the stage's `delta_m_baseline`) if given, else the one method whose
/// runs are all single-task models. Several candidates, or none, leave Δm out and say why.
pub fn delta_m_baselines(runs: &[Run], groups: &[Group], explicit: Option<&str>) -> Result<Vec<DeltaMBaseline>> {
    let mut formats: Vec<&str> = Vec::new();
    for g in groups {
        if !formats.contains(&g.format.as_str()) {
            formats.push(&g.format);
        }
    }
    if let Some(name) = explicit {
        if !groups.iter().any(|g| g.method == name) {
            let methods: Vec<&str> = groups.iter().map(|g| g.method.as_str()).collect();
            bail!("`delta_m_baseline: {name}` is not a method of these runs (methods: {})", methods.join(", "));
        }
    }
    Ok(formats
        .into_iter()
        .map(|format| {
            let in_format = |g: &(usize, &Group)| g.1.format == format;
            let (group, note) = match explicit {
                Some(name) => match groups.iter().enumerate().filter(in_format).find(|(_, g)| g.method == name) {
                    Some((i, _)) => (Some(i), format!("Δm relative to `{name}` (set by `delta_m_baseline`).")),
                    None => (None, format!("No Δm: `{name}` has no runs on {}.", format_title(format))),
                },
                None => {
                    let single: Vec<(usize, &Group)> =
                        groups.iter().enumerate().filter(in_format).filter(|(_, g)| g.is_single_task(runs)).collect();
                    match single.as_slice() {
                        [(i, g)] => (Some(*i), format!("Δm relative to `{}`, the separate (single-task) models.", g.method)),
                        [] => (None, "No Δm: no method evaluates single-task (separate) models.".to_string()),
                        many => (
                            None,
                            format!(
                                "No Δm: several methods evaluate single-task models ({}); choose one with `delta_m_baseline`.",
                                many.iter().map(|(_, g)| format!("`{}`", g.method)).collect::<Vec<_>>().join(", ")
                            ),
                        ),
                    }
                }
            };
            DeltaMBaseline { format: format.to_string(), group, note }
        })
        .collect())
}

/// A frame from columns, checking they have one height.
pub(crate) fn frame(cols: Vec<Column>) -> Result<DataFrame> {
    Ok(DataFrame::new_infer_height(cols)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::tasks::TaskType;
    use crate::eval::metrics::{ExampleBased, TaskMetrics};

    /// A run of `method` with per-task accuracies (fractions) and the training summaries of one
    /// model per task (`single_task`) or one model of all tasks.
    pub fn run(stage: &str, method: &str, format: &str, accuracies: &[(&str, f64)], single_task: bool) -> Run {
        let tasks: Vec<TaskMetrics> = accuracies
            .iter()
            .map(|(t, a)| TaskMetrics {
                task: t.to_string(),
                kind: TaskType::Binary,
                accuracy: Some(*a),
                balanced_accuracy: Some(a - 0.1),
                n: 100,
                correct: (a * 100.0).round() as usize,
                majority: Some(0.6),
            })
            .collect();
        let names: Vec<&str> = accuracies.iter().map(|(t, _)| *t).collect();
        let training = if single_task {
            names.iter().map(|t| serde_json::json!({"stage": format!("sep[{t}]"), "tasks": [t]})).collect()
        } else {
            vec![serde_json::json!({"stage": method, "tasks": names})]
        };
        let mean = |f: fn(&TaskMetrics) -> Option<f64>| {
            Some(tasks.iter().filter_map(f).sum::<f64>() / tasks.len() as f64)
        };
        Run {
            stage: stage.into(),
            metrics: RunMetrics {
                method: method.into(),
                source: "synthetic".into(),
                format: format.into(),
                split: "test".into(),
                tau: 0.0,
                model_stages: vec![method.into()],
                training,
                mean_accuracy: mean(|t| t.accuracy),
                mean_balanced_accuracy: mean(|t| t.balanced_accuracy),
                example_based: ExampleBased { accuracy: None, precision: None, recall: None, f1: None, images: 100 },
                tasks,
            },
        }
    }

    #[test]
    fn groups_and_the_delta_m_baseline() {
        let runs = vec![
            run("e[basic]", "basic", "celeba", &[("A", 0.8), ("B", 0.8)], false),
            run("e[sep]", "sep", "celeba", &[("A", 0.7), ("B", 0.7)], true),
            run("e[basic2]", "basic", "celeba", &[("A", 0.9), ("B", 0.9)], false),
        ];
        let groups = group_runs(&runs).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].runs, [0, 2]);
        assert_eq!(groups[0].run_names(&runs), "e[basic], e[basic2]");
        let s = groups[0].stat(&runs, |m| m.mean_accuracy).unwrap();
        assert!((s.mean - 0.85).abs() < 1e-12);
        assert!(groups[1].is_single_task(&runs) && !groups[0].is_single_task(&runs));
        let b = delta_m_baselines(&runs, &groups, None).unwrap();
        assert_eq!((b[0].group, b[0].format.as_str()), (Some(1), "celeba"));
        assert!(b[0].note.contains("`sep`"));
        let b = delta_m_baselines(&runs, &groups, Some("basic")).unwrap();
        assert_eq!(b[0].group, Some(0));
        assert!(delta_m_baselines(&runs, &groups, Some("nope")).unwrap_err().to_string().contains("basic, sep"));
        // Two single-task methods: Δm is left out, and the note says how to choose.
        let mut two = runs.clone();
        two.push(run("e[sep2]", "sep2", "celeba", &[("A", 0.7), ("B", 0.7)], true));
        let g2 = group_runs(&two).unwrap();
        let b = delta_m_baselines(&two, &g2, None).unwrap();
        assert_eq!(b[0].group, None);
        assert!(b[0].note.contains("delta_m_baseline"));
        // One label on two data sources is refused.
        let mut mixed = runs.clone();
        mixed[2].metrics.source = "real".into();
        assert!(group_runs(&mixed).unwrap_err().to_string().contains("different `method` labels"));
    }
}
