//! `train_log.parquet` and `train_log.csv`, the train stage's per-iteration log: their names, their
//! columns, one writer (used by `train`) and one reader (used by `plot`). Torch-free, so the front
//! end reads it.
//!
//! Long form, one row per iteration (1-based) and task, in task order within an iteration:
//! `iteration` (i64), `task`, `train_loss` (L_j), `val_loss` (v_t[j]; null where no validation
//! batch was run, `val_every` > 1), `lambda` (the λ of that iteration's gradient), `lr`.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{Column, CsvWriter, DataFrame, DataType, ParquetReader, ParquetWriter, SerReader, SerWriter};

pub const LOG_PARQUET: &str = "train_log.parquet";
pub const LOG_CSV: &str = "train_log.csv";

/// The log as column-major arrays: `train_loss[(t−1)·M + j]` for iteration t and task j; `lr[t−1]`.
/// A NaN validation loss means "not measured".
pub struct LogColumns<'a> {
    pub tasks: &'a [String],
    pub train_loss: &'a [f64],
    pub val_loss: &'a [f64],
    pub lambda: &'a [f64],
    pub lr: &'a [f64],
}

/// One row as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub iteration: i64,
    pub task: String,
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub lambda: Option<f64>,
    pub lr: Option<f64>,
}

/// The long-form table.
pub fn log_frame(log: &LogColumns) -> Result<DataFrame> {
    let m = log.tasks.len();
    let n = log.lr.len() * m;
    if log.train_loss.len() != n || log.val_loss.len() != n || log.lambda.len() != n {
        bail!("the training log's arrays disagree in length ({} iterations × {m} tasks)", log.lr.len());
    }
    let mut iteration = Vec::with_capacity(n);
    let mut task = Vec::with_capacity(n);
    let mut lr = Vec::with_capacity(n);
    for (t, &rate) in log.lr.iter().enumerate() {
        for name in log.tasks {
            iteration.push(t as i64 + 1);
            task.push(name.as_str());
            lr.push(rate);
        }
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new("iteration".into(), iteration),
        Column::new("task".into(), task),
        Column::new("train_loss".into(), log.train_loss.to_vec()),
        val_column(log.val_loss),
        Column::new("lambda".into(), log.lambda.to_vec()),
        Column::new("lr".into(), lr),
    ])?)
}

/// `val_loss`: null where not measured (kept a plain float column when every value was, so a log
/// of `val_every: 1` has the bytes it always had).
fn val_column(values: &[f64]) -> Column {
    if values.iter().all(|v| !v.is_nan()) {
        return Column::new("val_loss".into(), values.to_vec());
    }
    Column::new("val_loss".into(), values.iter().map(|v| (!v.is_nan()).then_some(*v)).collect::<Vec<Option<f64>>>())
}

/// Writes `train_log.parquet` and `train_log.csv` into `dir`.
pub fn write_log(dir: &Path, log: &LogColumns) -> Result<()> {
    let mut df = log_frame(log)?;
    let pq = dir.join(LOG_PARQUET);
    ParquetWriter::new(File::create(&pq).with_context(|| format!("creating {}", pq.display()))?)
        .finish(&mut df)
        .with_context(|| format!("writing {}", pq.display()))?;
    let csv = dir.join(LOG_CSV);
    CsvWriter::new(File::create(&csv).with_context(|| format!("creating {}", csv.display()))?)
        .finish(&mut df)
        .with_context(|| format!("writing {}", csv.display()))?;
    Ok(())
}

/// Reads `train_log.parquet` from a train stage's output directory.
pub fn read_log(dir: &Path) -> Result<Vec<LogRow>> {
    let path = dir.join(LOG_PARQUET);
    let file = File::open(&path).with_context(|| format!("opening {} (is this input a `train` stage?)", path.display()))?;
    let df = ParquetReader::new(file).finish().with_context(|| format!("reading {}", path.display()))?;
    let column = |name: &str, dtype: &DataType| -> Result<Column> {
        let col = df.column(name).with_context(|| format!("{}: no column `{name}`", path.display()))?;
        col.cast(dtype).with_context(|| format!("{}: column `{name}` is not {dtype}", path.display()))
    };
    let floats = |name: &str| -> Result<Vec<Option<f64>>> { Ok(column(name, &DataType::Float64)?.f64()?.iter().collect()) };
    let iteration: Vec<Option<i64>> = column("iteration", &DataType::Int64)?.i64()?.iter().collect();
    let task: Vec<Option<String>> = column("task", &DataType::String)?.str()?.iter().map(|v| v.map(str::to_string)).collect();
    let (train_loss, val_loss, lambda, lr) = (floats("train_loss")?, floats("val_loss")?, floats("lambda")?, floats("lr")?);
    (0..df.height())
        .map(|r| {
            let (Some(it), Some(t)) = (iteration[r], &task[r]) else {
                bail!("{}: row {}: empty `iteration` or `task`; re-run the train stage", path.display(), r + 1);
            };
            Ok(LogRow { iteration: it, task: t.clone(), train_loss: train_loss[r], val_loss: val_loss[r], lambda: lambda[r], lr: lr[r] })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_round_trips_with_unmeasured_validation_losses_as_null() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = vec!["a".to_string(), "b".to_string()];
        let log = LogColumns {
            tasks: &tasks,
            train_loss: &[1.0, 2.0, 3.0, 4.0],
            val_loss: &[0.5, 0.25, f64::NAN, f64::NAN],
            lambda: &[1.0, 1.0, 0.5, 1.5],
            lr: &[0.1, 0.01],
        };
        write_log(dir.path(), &log).unwrap();
        let rows = read_log(dir.path()).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1], LogRow { iteration: 1, task: "b".into(), train_loss: Some(2.0), val_loss: Some(0.25), lambda: Some(1.0), lr: Some(0.1) });
        assert_eq!((rows[2].iteration, rows[2].val_loss, rows[2].lr), (2, None, Some(0.01)));
        let csv = std::fs::read_to_string(dir.path().join(LOG_CSV)).unwrap();
        assert!(csv.lines().nth(3).unwrap().starts_with("2,a,3.0,,0.5,"), "{csv}");
        let short = LogColumns { lr: &[0.1], ..log };
        assert!(log_frame(&short).is_err(), "arrays of the wrong length");
    }
}
