//! Per-attribute metrics (accuracy, balanced accuracy) and example-based metrics (accuracy,
//! precision, recall, F1) computed from scored prediction rows.
//!
//! Definitions (the datasets' official protocols; the evaluate stage in docs/STAGES.md):
//! - **accuracy** of a task: correct / scored rows of that task. Masked rows are not scored; a
//!   colour task's unmarked rows are scored and never correct (see `colour`).
//! - **balanced accuracy** of a task: the mean, over the classes that occur in the truth, of the
//!   fraction of that class's rows scored correct. For a binary task this is ½(TP/P + TN/N), the
//!   label-based mA of pedestrian-attribute papers; a class with no rows is left out of the mean.
//!   A row whose truth is several classes (a multi-marked colour) belongs to each of them; a row
//!   with none (unmarked) belongs to none, so it lowers accuracy but not balanced accuracy.
//! - **mean accuracy** / **mA**: unweighted means over the tasks that have scored rows.
//! - **majority rate** of a task: the accuracy of always giving the answer that is most often
//!   correct on the scored rows (the commoner label of a binary task; for a C-way task the class
//!   that is a true class of the most rows). Every measured accuracy is to be read against it.
//! - **example-based** (per image): Y = the image's true positive labels, Ŷ = its predicted ones,
//!   where a binary task contributes itself when its value is +1 and a C-way task contributes the
//!   pair (task, class) for each true class / the predicted class. accuracy = |Y∩Ŷ|/|Y∪Ŷ|,
//!   precision = |Y∩Ŷ|/|Ŷ|, recall = |Y∩Ŷ|/|Y|, each averaged over the images where its
//!   denominator is non-zero; F1 = 2PR/(P+R) from the averaged precision and recall.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::tasks::{Task, TaskType};

/// What a prediction is scored against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    /// Not scored (missing or masked label).
    Masked,
    /// One label: ±1 for a binary task, the class index for a C-way task.
    Label(i64),
    /// Correct iff the prediction is one of these classes; empty = never correct.
    AnyOf(Vec<i64>),
}

impl Truth {
    /// Whether `prediction` is correct; `None` when the row is not scored.
    pub fn correct(&self, prediction: i64) -> Option<bool> {
        match self {
            Truth::Masked => None,
            Truth::Label(l) => Some(*l == prediction),
            Truth::AnyOf(set) => Some(set.contains(&prediction)),
        }
    }

    /// The true classes (empty for masked or unmarked rows).
    pub fn classes(&self) -> &[i64] {
        match self {
            Truth::Masked => &[],
            Truth::Label(l) => std::slice::from_ref(l),
            Truth::AnyOf(set) => set,
        }
    }
}

/// One prediction of one task on one image, with its truth. `image` and `task` are dense indices
/// (into the caller's image list and task list).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub image: usize,
    pub task: usize,
    pub prediction: i64,
    pub truth: Truth,
}

/// Metrics of one task. `None` where there is nothing to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    pub task: String,
    #[serde(rename = "type")]
    pub kind: TaskType,
    pub accuracy: Option<f64>,
    pub balanced_accuracy: Option<f64>,
    /// Scored rows.
    pub n: usize,
    /// Correct rows.
    pub correct: usize,
    /// Accuracy of the best constant answer on the same rows (absent in files written before it
    /// was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub majority: Option<f64>,
}

/// Example-based metrics over images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleBased {
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Images with at least one scored task.
    pub images: usize,
}

/// Everything computed from one set of outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub tasks: Vec<TaskMetrics>,
    pub mean_accuracy: Option<f64>,
    pub mean_balanced_accuracy: Option<f64>,
    pub example_based: ExampleBased,
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (sum, count) = values.flatten().fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Accuracy and balanced accuracy of one task from its outcomes.
pub fn task_metrics(task: &Task, outcomes: &[&Outcome]) -> TaskMetrics {
    let mut n = 0;
    let mut correct = 0;
    // class -> (rows of that class scored correct, rows of that class)
    let mut per_class: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for o in outcomes {
        let Some(ok) = o.truth.correct(o.prediction) else { continue };
        n += 1;
        correct += ok as usize;
        for &c in o.truth.classes() {
            let e = per_class.entry(c).or_default();
            e.0 += ok as usize;
            e.1 += 1;
        }
    }
    TaskMetrics {
        task: task.name.clone(),
        kind: task.kind,
        accuracy: ratio(correct, n),
        balanced_accuracy: mean(per_class.values().map(|&(hit, all)| ratio(hit, all))),
        n,
        correct,
        majority: ratio(per_class.values().map(|&(_, all)| all).max().unwrap_or(0), n),
    }
}

/// Example-based metrics; `outcomes` may come in any order.
pub fn example_based(tasks: &[Task], outcomes: &[Outcome]) -> ExampleBased {
    // image -> (|Y∩Ŷ|, |Y|, |Ŷ|)
    let mut per_image: BTreeMap<usize, (usize, usize, usize)> = BTreeMap::new();
    for o in outcomes {
        if o.truth == Truth::Masked {
            continue;
        }
        let e = per_image.entry(o.image).or_default();
        match tasks[o.task].kind {
            TaskType::Binary => {
                let truth_pos = o.truth.classes().contains(&1);
                let pred_pos = o.prediction == 1;
                e.0 += (truth_pos && pred_pos) as usize;
                e.1 += truth_pos as usize;
                e.2 += pred_pos as usize;
            }
            TaskType::Multiclass => {
                e.0 += o.truth.classes().contains(&o.prediction) as usize;
                e.1 += o.truth.classes().len();
                e.2 += 1;
            }
        }
    }
    let acc = mean(per_image.values().map(|&(i, y, p)| ratio(i, y + p - i)));
    let precision = mean(per_image.values().map(|&(i, _, p)| ratio(i, p)));
    let recall = mean(per_image.values().map(|&(i, y, _)| ratio(i, y)));
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    ExampleBased { accuracy: acc, precision, recall, f1, images: per_image.len() }
}

/// All metrics of `outcomes` (whose `task` indexes `tasks`). Tasks keep the order of `tasks`.
pub fn evaluate(tasks: &[Task], outcomes: &[Outcome]) -> Metrics {
    let mut by_task: Vec<Vec<&Outcome>> = vec![Vec::new(); tasks.len()];
    for o in outcomes {
        by_task[o.task].push(o);
    }
    let per_task: Vec<TaskMetrics> = tasks.iter().zip(&by_task).map(|(t, rows)| task_metrics(t, rows)).collect();
    Metrics {
        mean_accuracy: mean(per_task.iter().map(|m| m.accuracy)),
        mean_balanced_accuracy: mean(per_task.iter().map(|m| m.balanced_accuracy)),
        example_based: example_based(tasks, outcomes),
        tasks: per_task,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a value");
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    /// Four images, two binary tasks and one 3-way colour-like task; values computed by hand.
    fn fixture() -> (Vec<Task>, Vec<Outcome>) {
        let tasks = vec![Task::binary("A"), Task::binary("B"), Task::multiclass("C", &["x", "y", "z"])];
        use Truth::*;
        let rows = [
            // A: truth 1,-1,-1,-1; prediction 1,1,-1,-1
            (0, 0, 1, Label(1)),
            (1, 0, 1, Label(-1)),
            (2, 0, -1, Label(-1)),
            (3, 0, -1, Label(-1)),
            // B: truth 1,1,masked,-1; prediction -1,1,1,-1
            (0, 1, -1, Label(1)),
            (1, 1, 1, Label(1)),
            (2, 1, 1, Masked),
            (3, 1, -1, Label(-1)),
            // C: truth {0},{1,2},{},2; prediction 0,2,1,1
            (0, 2, 0, AnyOf(vec![0])),
            (1, 2, 2, AnyOf(vec![1, 2])),
            (2, 2, 1, AnyOf(vec![])),
            (3, 2, 1, Label(2)),
        ];
        let outcomes = rows
            .into_iter()
            .map(|(image, task, prediction, truth)| Outcome { image, task, prediction, truth })
            .collect();
        (tasks, outcomes)
    }

    #[test]
    fn per_task_accuracy_and_balanced_accuracy() {
        let (tasks, outcomes) = fixture();
        let m = evaluate(&tasks, &outcomes);
        // A: 3/4 correct; TP/P = 1/1, TN/N = 2/3.
        close(m.tasks[0].accuracy, 0.75);
        close(m.tasks[0].balanced_accuracy, (1.0 + 2.0 / 3.0) / 2.0);
        assert_eq!((m.tasks[0].n, m.tasks[0].correct), (4, 3));
        // B: the masked row is not scored: 2/3; TP/P = 1/2, TN/N = 1/1.
        close(m.tasks[1].accuracy, 2.0 / 3.0);
        close(m.tasks[1].balanced_accuracy, 0.75);
        assert_eq!(m.tasks[1].n, 3);
        // C: unmarked image 2 counts and is wrong: 2/4; classes 0: 1/1, 1: 1/1, 2: 1/2.
        close(m.tasks[2].accuracy, 0.5);
        close(m.tasks[2].balanced_accuracy, 2.5 / 3.0);
        close(m.mean_accuracy, (0.75 + 2.0 / 3.0 + 0.5) / 3.0);
        close(m.mean_balanced_accuracy, ((1.0 + 2.0 / 3.0) / 2.0 + 0.75 + 2.5 / 3.0) / 3.0);
        // Majority rates: A always -1: 3/4; B always 1: 2/3 (the masked row is not scored); C
        // always class 2, a true class of images 1 and 3: 2/4 (the unmarked image never counts).
        close(m.tasks[0].majority, 0.75);
        close(m.tasks[1].majority, 2.0 / 3.0);
        close(m.tasks[2].majority, 0.5);
        assert_eq!(task_metrics(&tasks[0], &[]).majority, None, "nothing scored, no rate");
    }

    #[test]
    fn example_based_by_hand() {
        let (tasks, outcomes) = fixture();
        let e = evaluate(&tasks, &outcomes).example_based;
        // Per image (|Y∩Ŷ|, |Y|, |Ŷ|): 0: (2,3,2); 1: (2,3,3); 2: (0,0,1); 3: (0,1,1).
        close(e.accuracy, (2.0 / 3.0 + 2.0 / 4.0 + 0.0 + 0.0) / 4.0);
        close(e.precision, (1.0 + 2.0 / 3.0 + 0.0 + 0.0) / 4.0);
        // Image 2 has no true label: left out of recall.
        close(e.recall, (2.0 / 3.0 + 2.0 / 3.0 + 0.0) / 3.0);
        let (p, r) = (5.0 / 12.0, 4.0 / 9.0);
        close(e.f1, 2.0 * p * r / (p + r));
        assert_eq!(e.images, 4);
    }

    #[test]
    fn empty_task_has_no_accuracy_and_is_left_out_of_the_mean() {
        let tasks = vec![Task::binary("A"), Task::binary("B")];
        let outcomes = vec![Outcome { image: 0, task: 0, prediction: 1, truth: Truth::Label(1) }];
        let m = evaluate(&tasks, &outcomes);
        assert_eq!(m.tasks[1].accuracy, None);
        assert_eq!(m.tasks[1].n, 0);
        close(m.mean_accuracy, 1.0);
        // One class only: balanced accuracy is that class's recall.
        close(m.tasks[0].balanced_accuracy, 1.0);
    }
}
