//! The files an `evaluate` stage writes and `compare` reads (docs/STAGES.md): `predictions.parquet`
//! (+ `.csv` under a million rows), `metrics.csv` and `metrics.json`.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{Column, CsvWriter, DataFrame, DataType, ParquetReader, ParquetWriter, SerReader, SerWriter};
use serde::{Deserialize, Serialize};

use super::paired::Correctness;
use super::metrics::{ExampleBased, Metrics, TaskMetrics};
use super::scoring::ScoredRow;

pub const PREDICTIONS_PARQUET: &str = "predictions.parquet";
pub const PREDICTIONS_CSV: &str = "predictions.csv";
pub const METRICS_CSV: &str = "metrics.csv";
pub const METRICS_JSON: &str = "metrics.json";
/// `predictions.csv` is written only below this many rows (the Parquet file always).
pub const CSV_ROW_LIMIT: usize = 1_000_000;

/// `metrics.json`: everything a comparison needs to know about one evaluated run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// The method label (the model stage's base name unless overridden).
    pub method: String,
    /// `synthetic` or `real`, from the dataset's `tasks.json`.
    pub source: String,
    /// `celeba`, `market` or `duke`.
    pub format: String,
    pub split: String,
    pub tau: f64,
    /// The `train` stages whose models were evaluated (one per task for separate models).
    pub model_stages: Vec<String>,
    /// The training settings each model reported in its `train_summary.json` (weighting, seed,
    /// iterations, tasks), where present.
    pub training: Vec<serde_json::Value>,
    pub mean_accuracy: Option<f64>,
    pub mean_balanced_accuracy: Option<f64>,
    pub example_based: ExampleBased,
    pub tasks: Vec<TaskMetrics>,
}

impl RunMetrics {
    pub fn load(dir: &Path) -> Result<RunMetrics> {
        let path = dir.join(METRICS_JSON);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (is this input an `evaluate` stage?)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid metrics file", path.display()))
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(METRICS_JSON);
        crate::util::write_json(&path, self)
    }
}

fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    ParquetWriter::new(file).finish(df).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    CsvWriter::new(file).finish(df).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Identity of each image of a split (images of unknown identity are absent).
pub type Identities = HashMap<String, i64>;

/// Writes `predictions.parquet` (and `.csv` below [`CSV_ROW_LIMIT`] rows): `image`, `identity`
/// (null where unknown), `task`, `score`, `prediction`, `label`, and `correct` (null where not
/// scored), which is what later comparisons pair methods on (it already applies the colour rule)
/// and cluster by identity.
pub fn write_predictions(dir: &Path, rows: &[ScoredRow], identities: &Identities) -> Result<()> {
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("image".into(), rows.iter().map(|r| r.row.image.as_str()).collect::<Vec<_>>()),
        Column::new(
            "identity".into(),
            rows.iter().map(|r| identities.get(&r.row.image).copied()).collect::<Vec<Option<i64>>>(),
        ),
        Column::new("task".into(), rows.iter().map(|r| r.row.task.as_str()).collect::<Vec<_>>()),
        Column::new("score".into(), rows.iter().map(|r| r.row.score).collect::<Vec<_>>()),
        Column::new("prediction".into(), rows.iter().map(|r| r.row.prediction).collect::<Vec<_>>()),
        Column::new("label".into(), rows.iter().map(|r| r.row.label).collect::<Vec<_>>()),
        Column::new("correct".into(), rows.iter().map(|r| r.correct).collect::<Vec<_>>()),
    ])?;
    write_parquet(&mut df, &dir.join(PREDICTIONS_PARQUET))?;
    if rows.len() < CSV_ROW_LIMIT {
        write_csv(&mut df, &dir.join(PREDICTIONS_CSV))?;
    }
    Ok(())
}

/// Writes `metrics.csv`: `task`, `accuracy`, `balanced_accuracy`, `n` per task (fractions), then
/// a `mean` row with the unweighted means and, as `n`, the number of images scored.
pub fn write_metrics_csv(dir: &Path, metrics: &Metrics) -> Result<()> {
    let mut task: Vec<&str> = metrics.tasks.iter().map(|t| t.task.as_str()).collect();
    let mut acc: Vec<Option<f64>> = metrics.tasks.iter().map(|t| t.accuracy).collect();
    let mut bal: Vec<Option<f64>> = metrics.tasks.iter().map(|t| t.balanced_accuracy).collect();
    let mut n: Vec<u64> = metrics.tasks.iter().map(|t| t.n as u64).collect();
    task.push("mean");
    acc.push(metrics.mean_accuracy);
    bal.push(metrics.mean_balanced_accuracy);
    n.push(metrics.example_based.images as u64);
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("task".into(), task),
        Column::new("accuracy".into(), acc),
        Column::new("balanced_accuracy".into(), bal),
        Column::new("n".into(), n),
    ])?;
    write_csv(&mut df, &dir.join(METRICS_CSV))
}

/// Per-(image, task) correctness of one run, read back from `predictions.parquet`.
#[derive(Debug, Clone)]
pub struct RunCorrectness {
    /// Images in file order.
    pub images: Vec<String>,
    /// The identity of each image (`None`: unknown).
    pub identities: Vec<Option<i64>>,
    /// Tasks in order of first appearance.
    pub tasks: Vec<String>,
    pub correct: Correctness,
}

impl RunCorrectness {
    pub fn image_index(&self) -> HashMap<&str, usize> {
        self.images.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect()
    }
}

/// Reads `image`, `identity`, `task` and `correct` from `<dir>/predictions.parquet`.
pub fn read_correctness(dir: &Path) -> Result<RunCorrectness> {
    let path = dir.join(PREDICTIONS_PARQUET);
    let file = File::open(&path)
        .with_context(|| format!("opening {} (is this input an `evaluate` stage?)", path.display()))?;
    let df = ParquetReader::new(file).finish().with_context(|| format!("reading {}", path.display()))?;
    let col = |name: &str| df.column(name).with_context(|| format!("{}: no column `{name}`", path.display()));
    let images = col("image")?.str().with_context(|| format!("{}: column `image` is not text", path.display()))?;
    let identity = df
        .column("identity")
        .with_context(|| {
            format!(
                "{}: no column `identity` (written by an older awmt); re-run the evaluate stage",
                path.display()
            )
        })?
        .cast(&DataType::Int64)
        .with_context(|| format!("{}: column `identity` is not an integer", path.display()))?;
    let identity = identity.i64()?;
    let tasks = col("task")?.str().with_context(|| format!("{}: column `task` is not text", path.display()))?;
    let correct =
        col("correct")?.bool().with_context(|| format!("{}: column `correct` is not boolean", path.display()))?;
    let mut image_ids: HashMap<String, usize> = HashMap::new();
    let mut task_ids: HashMap<String, usize> = HashMap::new();
    let mut image_names = Vec::new();
    let mut image_identities: Vec<Option<i64>> = Vec::new();
    let mut task_names = Vec::new();
    let mut cells = Vec::with_capacity(df.height());
    for (row, (((image, task), ok), id)) in
        images.iter().zip(tasks.iter()).zip(correct.iter()).zip(identity.iter()).enumerate()
    {
        let (Some(image), Some(task)) = (image, task) else {
            bail!(
                "{}: row {}: `image` and `task` must not be empty; re-run the evaluate stage",
                path.display(),
                row + 1
            );
        };
        let i = *image_ids.entry(image.to_string()).or_insert_with(|| {
            image_names.push(image.to_string());
            image_identities.push(id);
            image_names.len() - 1
        });
        if image_identities[i] != id {
            bail!(
                "{}: row {}: image `{image}` has identity {} here and {} on an earlier row; re-run the evaluate stage",
                path.display(),
                row + 1,
                id.map_or("null".into(), |v| v.to_string()),
                image_identities[i].map_or("null".into(), |v| v.to_string())
            );
        }
        let t = *task_ids.entry(task.to_string()).or_insert_with(|| {
            task_names.push(task.to_string());
            task_names.len() - 1
        });
        cells.push((i, t, ok));
    }
    let mut matrix = Correctness::new(image_names.len(), task_names.len());
    for (i, t, ok) in cells {
        matrix.set(i, t, ok);
    }
    Ok(RunCorrectness { images: image_names, identities: image_identities, tasks: task_names, correct: matrix })
}
