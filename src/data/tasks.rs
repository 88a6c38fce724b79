//! The task list (`tasks.json`) and the per-split label tables (`<split>.parquet` / `.csv`) that
//! the `split` stage writes and every later stage reads (docs/STAGES.md).

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use polars::prelude::{Column, CsvWriter, DataFrame, ParquetReader, ParquetWriter, SerReader, SerWriter};
use serde::{Deserialize, Serialize};

/// Whether a task is one ±1 attribute or one C-way attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskType {
    Binary,
    Multiclass,
}

/// One evaluated task (attribute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: TaskType,
    /// Class names of a multiclass task (empty for binary tasks).
    #[serde(default)]
    pub classes: Vec<String>,
}

impl Task {
    pub fn binary(name: &str) -> Task {
        Task { name: name.to_string(), kind: TaskType::Binary, classes: Vec::new() }
    }
    pub fn multiclass(name: &str, classes: &[&str]) -> Task {
        Task { name: name.to_string(), kind: TaskType::Multiclass, classes: classes.iter().map(|c| c.to_string()).collect() }
    }
    /// Number of network outputs this task needs: 1 for binary, C for C-way.
    pub fn outputs(&self) -> usize {
        match self.kind {
            TaskType::Binary => 1,
            TaskType::Multiclass => self.classes.len(),
        }
    }
    /// Whether `value` is a legal label of this task.
    pub fn valid_label(&self, value: i32) -> bool {
        match self.kind {
            TaskType::Binary => value == -1 || value == 1,
            TaskType::Multiclass => value >= 0 && (value as usize) < self.classes.len(),
        }
    }
}

/// The content of `tasks.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSet {
    /// `celeba`, `market` or `duke`.
    pub format: String,
    /// `synthetic` (procedurally rendered by awmt) or `real`.
    pub source: String,
    /// The release root the `image` paths are relative to, relative to the dataset input.
    #[serde(default)]
    pub root: String,
    pub tasks: Vec<Task>,
}

impl TaskSet {
    pub const FILE: &'static str = "tasks.json";

    pub fn load(dir: &Path) -> Result<TaskSet> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid tasks file", path.display()))
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(Self::FILE);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// Total number of network outputs over all tasks.
    pub fn outputs(&self) -> usize {
        self.tasks.iter().map(Task::outputs).sum()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name == name)
    }

    /// A task set restricted to `names` (in the order given); an error names an unknown task.
    pub fn subset(&self, names: &[String]) -> Result<TaskSet> {
        let mut tasks = Vec::with_capacity(names.len());
        for n in names {
            match self.tasks.iter().find(|t| &t.name == n) {
                Some(t) => tasks.push(t.clone()),
                None => bail!(
                    "unknown task `{n}`; the dataset's tasks are: {}",
                    self.tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        }
        Ok(TaskSet { tasks, ..self.clone() })
    }
}

/// One split's labels: `image`, `identity`, then one column per task (None = masked).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelTable {
    pub images: Vec<String>,
    pub identities: Vec<i64>,
    /// `labels[task][row]`, tasks in the order of the [`TaskSet`].
    pub labels: Vec<Vec<Option<i32>>>,
}

impl LabelTable {
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The table as a polars frame with the documented columns.
    pub fn to_frame(&self, tasks: &TaskSet) -> Result<DataFrame> {
        let mut cols: Vec<Column> = Vec::with_capacity(tasks.tasks.len() + 2);
        cols.push(Column::new("image".into(), self.images.clone()));
        cols.push(Column::new("identity".into(), self.identities.clone()));
        for (task, values) in tasks.tasks.iter().zip(&self.labels) {
            cols.push(Column::new(task.name.as_str().into(), values.clone()));
        }
        Ok(DataFrame::new_infer_height(cols)?)
    }

    /// Writes `<dir>/<split>.parquet` and `<dir>/<split>.csv`.
    pub fn write(&self, tasks: &TaskSet, dir: &Path, split: &str) -> Result<()> {
        self.write_with_extra(tasks, dir, split, &[])
    }

    /// Like [`LabelTable::write`], with extra text columns appended after the task columns
    /// (the `<task>__marked` columns of Market/Duke colour tasks).
    pub fn write_with_extra(&self, tasks: &TaskSet, dir: &Path, split: &str, extra: &[(String, Vec<Option<String>>)]) -> Result<()> {
        let mut df = self.to_frame(tasks)?;
        for (name, values) in extra {
            if values.len() != self.len() {
                bail!("extra column `{name}` has {} values for {} rows", values.len(), self.len());
            }
            df.with_column(Column::new(name.as_str().into(), values.clone()))?;
        }
        let pq = dir.join(format!("{split}.parquet"));
        ParquetWriter::new(File::create(&pq).with_context(|| format!("creating {}", pq.display()))?)
            .finish(&mut df)
            .with_context(|| format!("writing {}", pq.display()))?;
        let csv = dir.join(format!("{split}.csv"));
        CsvWriter::new(File::create(&csv).with_context(|| format!("creating {}", csv.display()))?)
            .finish(&mut df)
            .with_context(|| format!("writing {}", csv.display()))?;
        Ok(())
    }

    /// Reads `<dir>/<split>.parquet`, checking every label against its task.
    pub fn read(tasks: &TaskSet, dir: &Path, split: &str) -> Result<LabelTable> {
        let pq = dir.join(format!("{split}.parquet"));
        let file = File::open(&pq).with_context(|| format!("opening {}", pq.display()))?;
        let df = ParquetReader::new(file).finish().with_context(|| format!("reading {}", pq.display()))?;
        let images: Vec<String> = df
            .column("image")?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect();
        let identities: Vec<i64> = df.column("identity")?.i64()?.iter().map(|v| v.unwrap_or(-1)).collect();
        let mut labels = Vec::with_capacity(tasks.tasks.len());
        for task in &tasks.tasks {
            let col = df
                .column(&task.name)
                .with_context(|| format!("{}: no column for task `{}`", pq.display(), task.name))?;
            let values: Vec<Option<i32>> = col.i32()?.iter().collect();
            for (row, v) in values.iter().enumerate() {
                if let Some(v) = v {
                    if !task.valid_label(*v) {
                        bail!("{}: row {}: task `{}` has invalid label {v}", pq.display(), row + 1, task.name);
                    }
                }
            }
            labels.push(values);
        }
        Ok(LabelTable { images, identities, labels })
    }
}
