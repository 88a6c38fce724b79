//! `kind: evaluate` — scores trained models on a prepared split and writes predictions and metrics.
//!
//! ```yaml
//! eval_awmt:
//!   kind: evaluate
//!   inputs: {model: awmt, data: prepared}          # model: one train stage, or several
//!   with: {split: test, tau: 0.0, method: AWMT}     # every parameter optional
//! ```
//! Inputs:
//! - `model` (one or more `train` stage outputs): one multi-task model, or several single-task
//!   models (e.g. `separate[*]`) evaluated together as one method, each task from its own model.
//!   Two models predicting the same task is an error.
//! - `data` (a `prepare` stage output): `tasks.json`, the split tables and the decoded images.
//!
//! Parameters (`with:`):
//! - `split` (default `test`): the split to score.
//! - `tau` (default `0.0`): the decision threshold of binary outputs (+1 iff ψ > τ).
//! - `method` (default: the model stage's name without a `[…]` foreach suffix, e.g. `separate`
//!   for `separate[Smiling]`; several differing names are joined with `+`): the label tables and
//!   figures use for this run. Runs sharing a label are treated as seeds of one method.
//! - `device` (default `auto`: the stage's GPU when it was granted one, `resources: {gpus: …}`,
//!   and CUDA is available, else the CPU; `cpu` or `cuda` to insist): where the network runs.
//!
//! Outputs: `predictions.parquet` (+ `predictions.csv` under a million rows; columns `image`,
//! `identity` (from the split table; null where unknown), `task`, `score`, `prediction`, `label`,
//! `correct`), `metrics.csv` (`task`, `accuracy`,
//! `balanced_accuracy`, `n`, then a `mean` row), `metrics.json` (method, source, format, model
//! stages, training settings, per-task and example-based metrics; see `eval::files::RunMetrics`).
//! Colour tasks of Market/Duke follow the official rule (`eval::colour`) when the split table has
//! `<task>__marked` columns.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{DataType, ParquetReader, SerReader};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputItem, InputSlot, ParamError, StageContext, StageKind};
use crate::data::tasks::TaskSet;
use crate::eval::colour::MARKED_SUFFIX;
use crate::eval::files::{write_metrics_csv, write_predictions, Identities, RunMetrics};
use crate::eval::scoring::{score, MarkedSets};
use crate::train::config::DeviceChoice;
use crate::train::prediction::PredictionRow;

pub struct Evaluate;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    split: String,
    tau: f64,
    method: Option<String>,
    /// Left out of the key when not set, so keys from before it existed stay valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceChoice>,
}

impl Default for Params {
    fn default() -> Self {
        Params { split: "test".into(), tau: 0.0, method: None, device: None }
    }
}

/// Where the stage predicts: its `device` parameter, `auto` (a granted GPU when CUDA is there,
/// else the CPU) when not set, as `train` decides.
pub fn device_choice(ctx: &StageContext) -> Result<DeviceChoice> {
    let p: Params = ctx.params()?;
    Ok(p.device.unwrap_or(DeviceChoice::Auto))
}

/// `separate[Smiling]` → `separate`.
pub fn base_stage_name(stage: &str) -> &str {
    stage.split('[').next().unwrap_or(stage)
}

/// The default method label of a set of model inputs.
pub fn default_method(models: &[InputItem]) -> String {
    let mut names: Vec<String> = Vec::new();
    for m in models {
        let name = match &m.stage {
            Some(s) => base_stage_name(s).to_string(),
            None => m.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into()),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join("+")
}

/// The image column, the known identities (the `identity` column; null or negative = unknown)
/// and every `<task>__marked` column of `<data>/<split>.parquet`.
fn read_split_table(data: &Path, split: &str) -> Result<(Vec<String>, Identities, MarkedSets)> {
    let path = data.join(format!("{split}.parquet"));
    let file = File::open(&path)
        .with_context(|| format!("opening {} (does the data input prepare split `{split}`?)", path.display()))?;
    let df = ParquetReader::new(file).finish().with_context(|| format!("reading {}", path.display()))?;
    let images_col = df.column("image").with_context(|| format!("{}: no column `image`", path.display()))?;
    let images: Vec<String> = images_col
        .str()
        .with_context(|| format!("{}: column `image` is not text", path.display()))?
        .iter()
        .enumerate()
        .map(|(row, v)| {
            v.map(str::to_string).with_context(|| format!("{}: row {}: empty `image`", path.display(), row + 1))
        })
        .collect::<Result<_>>()?;
    let identity_col = df.column("identity").with_context(|| {
        format!("{}: no column `identity`; re-run the split stage that wrote it", path.display())
    })?;
    let identity_col = identity_col
        .cast(&DataType::Int64)
        .with_context(|| format!("{}: column `identity` is not an integer", path.display()))?;
    let identities: Identities = images
        .iter()
        .zip(identity_col.i64()?.iter())
        .filter_map(|(image, id)| id.filter(|v| *v >= 0).map(|v| (image.clone(), v)))
        .collect();
    let mut marked = MarkedSets::new();
    for col in df.columns() {
        let Some(task) = col.name().as_str().strip_suffix(MARKED_SUFFIX) else { continue };
        let text = col
            .cast(&DataType::String)
            .with_context(|| format!("{}: column `{}` is not text", path.display(), col.name()))?;
        let cells: HashMap<String, Option<String>> =
            images.iter().cloned().zip(text.str()?.iter().map(|v| v.map(str::to_string))).collect();
        marked.insert(task.to_string(), cells);
    }
    Ok((images, identities, marked))
}

/// The training settings a model reported, for provenance (missing file: just the stage name).
fn training_summary(model: &InputItem) -> Result<serde_json::Value> {
    let stage = model.stage.clone().unwrap_or_default();
    let path = model.path.join("train_summary.json");
    let mut out = serde_json::Map::new();
    out.insert("stage".into(), stage.into());
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON; re-run the train stage", path.display()))?;
        for key in ["weighting", "seed", "iterations", "tasks", "model", "source"] {
            if let Some(x) = v.get(key) {
                out.insert(key.into(), x.clone());
            }
        }
    }
    Ok(serde_json::Value::Object(out))
}

impl StageKind for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }
    /// 2: `predictions` gained the `identity` column.
    fn version(&self) -> u32 {
        2
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[
            InputSlot { name: "model", required: true, many: true },
            InputSlot { name: "data", required: true, many: false },
        ]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let canonical = canonical_params::<Params>(with)?;
        let p: Params = serde_json::from_value(canonical.clone()).map_err(|e| ParamError::new(&[], e.to_string()))?;
        if p.split.is_empty() || p.split.contains(['/', '\\']) {
            return Err(ParamError::new(&["split"], "a split name such as `test`, `val` or `train`"));
        }
        if !p.tau.is_finite() {
            return Err(ParamError::new(&["tau"], "must be a finite number"));
        }
        if p.method.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(ParamError::new(&["method"], "must not be empty (leave it out to use the model stage's name)"));
        }
        Ok(canonical)
    }
    /// Prediction needs libtorch: `awmt-worker` runs [`run_with`] with its predictor
    /// (`awmt_torch::stages::evaluate`).
    fn run(&self, _ctx: &StageContext) -> Result<()> {
        super::needs_worker("evaluate")
    }
}

/// `predict(model_dir, data_dir, split, tau, threads)`, as `awmt_torch::train::predict::predict`.
pub type Predictor<'a> = dyn Fn(&Path, &Path, &str, f64, usize) -> Result<Vec<PredictionRow>> + 'a;

/// The stage's work with the prediction step passed in, so the glue (reading the split table,
/// scoring, writing files) is testable without a trained model.
pub fn run_with(ctx: &StageContext, predict: &Predictor) -> Result<()> {
    {
        let p: Params = ctx.params()?;
        let data = ctx.input("data")?;
        let models = ctx.inputs("model");
        if models.is_empty() {
            bail!("stage `{}` needs input `model` (one or more train stages)", ctx.stage);
        }
        let tasks = TaskSet::load(&data.path)?;
        let (image_order, identities, marked) = read_split_table(&data.path, &p.split)?;
        let mut rows = Vec::new();
        let mut training = Vec::new();
        for model in models {
            let label = model.stage.as_deref().unwrap_or("model");
            let predicted = predict(&model.path, &data.path, &p.split, p.tau, ctx.threads.max(1))
                .with_context(|| format!("stage `{}`: predicting with `{label}`", ctx.stage))?;
            rows.extend(predicted);
            training.push(training_summary(model)?);
        }
        let scored = score(&tasks, &image_order, &marked, rows).with_context(|| format!("stage `{}`", ctx.stage))?;
        if scored.rows.is_empty() {
            bail!("stage `{}`: the models predicted nothing on split `{}`", ctx.stage, p.split);
        }
        write_predictions(&ctx.out_dir, &scored.rows, &identities)?;
        write_metrics_csv(&ctx.out_dir, &scored.metrics)?;
        let record = RunMetrics {
            method: p.method.clone().unwrap_or_else(|| default_method(models)),
            source: tasks.source.clone(),
            format: tasks.format.clone(),
            split: p.split.clone(),
            tau: p.tau,
            model_stages: models.iter().map(|m| m.stage.clone().unwrap_or_default()).collect(),
            training,
            mean_accuracy: scored.metrics.mean_accuracy,
            mean_balanced_accuracy: scored.metrics.mean_balanced_accuracy,
            example_based: scored.metrics.example_based.clone(),
            tasks: scored.metrics.tasks.clone(),
        };
        record.save(&ctx.out_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_defaults_to_the_base_stage_name() {
        let item = |s: &str| InputItem { path: format!("/x/{s}").into(), stage: Some(s.into()) };
        assert_eq!(default_method(&[item("awmt")]), "awmt");
        assert_eq!(default_method(&[item("separate[Smiling]"), item("separate[Male]")]), "separate");
        assert_eq!(default_method(&[item("a"), item("b")]), "a+b");
        assert_eq!(base_stage_name("eval[awmt]"), "eval");
    }

    #[test]
    fn parameters_get_defaults_and_are_checked() {
        let c = Evaluate.check_params(&serde_json::Value::Null).unwrap();
        assert_eq!(c, serde_json::json!({"split": "test", "tau": 0.0, "method": null}));
        assert!(Evaluate.check_params(&serde_json::json!({"split": "../x"})).is_err());
        assert!(Evaluate.check_params(&serde_json::json!({"splt": "test"})).is_err());
        assert!(Evaluate.check_params(&serde_json::json!({"method": " "})).is_err());
    }
}
