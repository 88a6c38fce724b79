//! The per-iteration training log (per task: training loss L_j, raw validation loss v_t, the λ of
//! that iteration's gradient; and the learning rate), kept in checkpoints and written through
//! [`super::files`].

use std::path::Path;

use anyhow::{bail, Context as _, Result};

use super::files::{write_log, LogColumns};

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

    /// Writes `train_log.parquet` and `train_log.csv` into `dir` (see [`super::files`]).
    pub fn write(&self, task_names: &[String], dir: &Path) -> Result<()> {
        let columns = LogColumns { tasks: task_names, train_loss: &self.train_loss, val_loss: &self.val_loss, lambda: &self.lambda, lr: &self.lr };
        write_log(dir, &columns)
    }
}

