//! The per-iteration training log (per task: training loss L_j, raw validation loss v_t, the λ of
//! that iteration's gradient; and the learning rate), written in long form as Parquet and CSV.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{Column, CsvWriter, DataFrame, ParquetWriter, SerWriter};

/// Column-major per-iteration arrays: `train_loss[(t−1)·M + j]` etc.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainLog {
    pub tasks: usize,
    pub train_loss: Vec<f64>,
    pub val_loss: Vec<f64>,
    pub lambda: Vec<f64>,
    pub lr: Vec<f64>,
}

impl TrainLog {
    pub fn new(tasks: usize) -> TrainLog {
        TrainLog { tasks, ..Default::default() }
    }

    /// Iterations logged so far.
    pub fn len(&self) -> usize {
        self.lr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lr.is_empty()
    }

    pub fn push(&mut self, train: &[f64], val: &[f64], lambda: &[f64], lr: f64) {
        self.train_loss.extend_from_slice(train);
        self.val_loss.extend_from_slice(val);
        self.lambda.extend_from_slice(lambda);
        self.lr.push(lr);
    }

    /// The arrays as f64 tensors (for checkpoints).
    pub fn to_tensors(&self) -> Vec<(String, tch::Tensor)> {
        let (t, m) = (self.len() as i64, self.tasks as i64);
        vec![
            ("log/train_loss".into(), tch::Tensor::from_slice(&self.train_loss).view([t, m])),
            ("log/val_loss".into(), tch::Tensor::from_slice(&self.val_loss).view([t, m])),
            ("log/lambda".into(), tch::Tensor::from_slice(&self.lambda).view([t, m])),
            ("log/lr".into(), tch::Tensor::from_slice(&self.lr)),
        ]
    }

    pub fn from_tensors(tasks: usize, named: &std::collections::HashMap<String, tch::Tensor>, origin: &str) -> Result<TrainLog> {
        let get = |k: &str| -> Result<Vec<f64>> {
            let t = named.get(k).with_context(|| format!("{origin}: `{k}` is missing"))?;
            Ok(Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).reshape([-1]))?)
        };
        let log = TrainLog { tasks, train_loss: get("log/train_loss")?, val_loss: get("log/val_loss")?, lambda: get("log/lambda")?, lr: get("log/lr")? };
        let n = log.len() * tasks;
        if log.train_loss.len() != n || log.val_loss.len() != n || log.lambda.len() != n {
            bail!("{origin}: the logged arrays disagree in length");
        }
        Ok(log)
    }

    /// The long-form table: one row per iteration (1-based) and task.
    pub fn to_frame(&self, task_names: &[String]) -> Result<DataFrame> {
        let n = self.len() * self.tasks;
        let mut iteration = Vec::with_capacity(n);
        let mut task = Vec::with_capacity(n);
        let mut lr = Vec::with_capacity(n);
        for t in 0..self.len() {
            for name in task_names {
                iteration.push(t as i64 + 1);
                task.push(name.as_str());
                lr.push(self.lr[t]);
            }
        }
        let df = DataFrame::new_infer_height(vec![
            Column::new("iteration".into(), iteration),
            Column::new("task".into(), task),
            Column::new("train_loss".into(), self.train_loss.clone()),
            Column::new("val_loss".into(), self.val_loss.clone()),
            Column::new("lambda".into(), self.lambda.clone()),
            Column::new("lr".into(), lr),
        ])?;
        Ok(df)
    }

    /// Writes `train_log.parquet` and `train_log.csv` into `dir`.
    pub fn write(&self, task_names: &[String], dir: &Path) -> Result<()> {
        let mut df = self.to_frame(task_names)?;
        let pq = dir.join("train_log.parquet");
        ParquetWriter::new(File::create(&pq).with_context(|| format!("creating {}", pq.display()))?)
            .finish(&mut df)
            .with_context(|| format!("writing {}", pq.display()))?;
        let csv = dir.join("train_log.csv");
        CsvWriter::new(File::create(&csv).with_context(|| format!("creating {}", csv.display()))?)
            .finish(&mut df)
            .with_context(|| format!("writing {}", csv.display()))?;
        Ok(())
    }
}
