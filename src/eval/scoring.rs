//! Turns the prediction rows of one or several models into scored outcomes and metrics: attaches
//! each row's truth (the label, or a colour task's marked set from the split table), orders rows by
//! image then task, and rejects rows that do not belong to the dataset.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Result};

use super::colour::colour_truth;
use super::metrics::{evaluate, Metrics, Outcome, Truth};
use crate::data::tasks::{Task, TaskSet};
use crate::train::prediction::PredictionRow;

/// Marked colour classes from the split table: task -> image -> cell (`None` = null cell).
pub type MarkedSets = BTreeMap<String, HashMap<String, Option<String>>>;

/// One prediction row with its truth and whether it is correct (`None`: not scored).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRow {
    pub row: PredictionRow,
    pub truth: Truth,
    pub correct: Option<bool>,
}

/// The scored rows (ordered by image, then task) and their metrics over the predicted tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub rows: Vec<ScoredRow>,
    /// The tasks that were predicted, in the order of `tasks.json`.
    pub tasks: Vec<Task>,
    pub metrics: Metrics,
}

/// Scores `rows` against their labels and, for colour tasks, the marked sets. `image_order` is the
/// split table's image column (rows follow it; images not in it go last, in first-seen order).
pub fn score(tasks: &TaskSet, image_order: &[String], marked: &MarkedSets, rows: Vec<PredictionRow>) -> Result<Scored> {
    let mut image_index: HashMap<&str, usize> = HashMap::with_capacity(image_order.len());
    for (i, image) in image_order.iter().enumerate() {
        image_index.entry(image.as_str()).or_insert(i);
    }
    let mut extra_images: HashMap<String, usize> = HashMap::new();
    let mut keyed = Vec::with_capacity(rows.len());
    let mut used = vec![false; tasks.tasks.len()];
    for row in rows {
        let Some(t) = tasks.index_of(&row.task) else {
            bail!(
                "a prediction names task `{}`, which the dataset does not have (its tasks: {})",
                row.task,
                tasks.tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        };
        let task = &tasks.tasks[t];
        used[t] = true;
        let image = match image_index.get(row.image.as_str()) {
            Some(&i) => i,
            None => {
                let next = image_order.len() + extra_images.len();
                *extra_images.entry(row.image.clone()).or_insert(next)
            }
        };
        let marked_cell = marked.get(&task.name).map(|by_image| by_image.get(&row.image).and_then(|c| c.as_deref()));
        let classes = if task.classes.is_empty() { 2 } else { task.classes.len() };
        let truth = colour_truth(row.label, marked_cell, classes)
            .map_err(|e| anyhow::anyhow!("image `{}`, task `{}`: {e}", row.image, task.name))?;
        if let Truth::Label(l) = &truth {
            let l = *l;
            if l < i32::MIN as i64 || l > i32::MAX as i64 || !task.valid_label(l as i32) {
                bail!("image `{}`, task `{}`: label {l} is not a label of this task", row.image, task.name);
            }
        }
        keyed.push(((image, t), row, truth));
    }
    keyed.sort_by_key(|(k, _, _)| *k);
    for pair in keyed.windows(2) {
        if pair[0].0 == pair[1].0 {
            bail!(
                "image `{}`, task `{}` was predicted twice (are two models trained on the same task?)",
                pair[0].1.image,
                pair[0].1.task
            );
        }
    }
    // Dense task indices over the predicted tasks only.
    let mut dense = vec![usize::MAX; tasks.tasks.len()];
    let mut predicted = Vec::new();
    for (t, task) in tasks.tasks.iter().enumerate() {
        if used[t] {
            dense[t] = predicted.len();
            predicted.push(task.clone());
        }
    }
    let outcomes: Vec<Outcome> = keyed
        .iter()
        .map(|((image, t), row, truth)| Outcome {
            image: *image,
            task: dense[*t],
            prediction: row.prediction,
            truth: truth.clone(),
        })
        .collect();
    let metrics = evaluate(&predicted, &outcomes);
    let rows = keyed
        .into_iter()
        .map(|(_, row, truth)| {
            let correct = truth.correct(row.prediction);
            ScoredRow { row, truth, correct }
        })
        .collect();
    Ok(Scored { rows, tasks: predicted, metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(image: &str, task: &str, prediction: i64, label: Option<i64>) -> PredictionRow {
        PredictionRow { image: image.into(), task: task.into(), score: prediction as f64, prediction, label }
    }

    fn tasks() -> TaskSet {
        TaskSet {
            format: "market".into(),
            source: "synthetic".into(),
            root: String::new(),
            tasks: vec![Task::binary("gender"), Task::multiclass("C.up", &["black", "white", "red"])],
        }
    }

    #[test]
    fn orders_rows_and_applies_the_colour_rule() {
        let order = vec!["b.jpg".to_string(), "a.jpg".to_string(), "c.jpg".to_string()];
        let mut marked = MarkedSets::new();
        marked.insert(
            "C.up".into(),
            [("a.jpg", Some("0;2")), ("b.jpg", Some("")), ("c.jpg", None)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.map(String::from)))
                .collect(),
        );
        let rows = vec![
            row("a.jpg", "C.up", 2, None),
            row("a.jpg", "gender", 1, Some(1)),
            row("b.jpg", "C.up", 0, None),
            row("c.jpg", "C.up", 1, Some(1)),
            row("b.jpg", "gender", 1, Some(-1)),
        ];
        let s = score(&tasks(), &order, &marked, rows).unwrap();
        let order_seen: Vec<(&str, &str)> =
            s.rows.iter().map(|r| (r.row.image.as_str(), r.row.task.as_str())).collect();
        assert_eq!(
            order_seen,
            [("b.jpg", "gender"), ("b.jpg", "C.up"), ("a.jpg", "gender"), ("a.jpg", "C.up"), ("c.jpg", "C.up")]
        );
        let correct: Vec<Option<bool>> = s.rows.iter().map(|r| r.correct).collect();
        // b unmarked: wrong; a multi-marked {0,2}, predicted 2: right; c has a null marked cell,
        // which counts as unmarked even though its label column says 1: wrong.
        assert_eq!(correct, [Some(false), Some(false), Some(true), Some(true), Some(false)]);
        assert_eq!(s.metrics.tasks[1].accuracy, Some(1.0 / 3.0));
        assert_eq!(s.metrics.tasks[0].accuracy, Some(0.5));
    }

    #[test]
    fn rejects_unknown_tasks_duplicates_and_bad_labels() {
        let t = tasks();
        let err = score(&t, &[], &MarkedSets::new(), vec![row("a", "hat", 1, Some(1))]).unwrap_err();
        assert!(err.to_string().contains("`hat`"), "{err}");
        let dup = vec![row("a", "gender", 1, Some(1)), row("a", "gender", -1, Some(1))];
        assert!(score(&t, &[], &MarkedSets::new(), dup).unwrap_err().to_string().contains("twice"));
        let bad = vec![row("a", "gender", 1, Some(0))];
        assert!(score(&t, &[], &MarkedSets::new(), bad).unwrap_err().to_string().contains("label 0"));
    }
}
