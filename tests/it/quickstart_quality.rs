//! The shipped quickstart learns: one seed of its basic model on both datasets (the reduced
//! configuration that fits CI: pre-training, fine-tuning and evaluation exactly as
//! `pipelines/quickstart.yaml` sets them, without the other seeds and methods) beats the
//! majority-class rate on the cue attributes and on the mean, and no attribute collapses far below
//! it (the pedestrians' small backpack sits 1–4 points below its majority rate; docs/QUICKSTART.md).

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use common::{stderr, Project};

/// `task -> accuracy` from an evaluate stage's `metrics.csv` (the `mean` row included).
fn accuracies(path: &Path) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().skip(1).map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (f[0].to_string(), f[1].parse::<f64>().unwrap())
    }).collect()
}

/// `task -> majority-class rate` over the labelled rows of a split's `test.csv`.
fn majority_rates(path: &Path, tasks: &[&str]) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    tasks
        .iter()
        .map(|t| {
            let col = header.iter().position(|h| h == t).unwrap_or_else(|| panic!("no column {t}"));
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for r in &rows {
                if !r[col].is_empty() {
                    *counts.entry(r[col]).or_default() += 1;
                }
            }
            let n: usize = counts.values().sum();
            (t.to_string(), *counts.values().max().unwrap() as f64 / n as f64)
        })
        .collect()
}

fn check(reports: &Path, split: &str, eval: &str, tasks: &[&str], cues: &[(&str, f64)], mean_margin: f64) {
    let acc = accuracies(&reports.join(eval).join("metrics.csv"));
    let maj = majority_rates(&reports.join(split).join("test.csv"), tasks);
    let mean_majority = maj.values().sum::<f64>() / maj.len() as f64;
    let report: Vec<String> = tasks.iter().map(|t| format!("{t}: {:.3} (majority {:.3})", acc[*t], maj[*t])).collect();
    let report = report.join("\n  ");
    for t in tasks {
        // Far below the majority rate means training went wrong (worse than always answering the
        // common label); a few points below is the noise of an attribute with a weak cue.
        assert!(acc[*t] >= maj[*t] - 0.06, "{eval}: {t} far below its majority rate:\n  {report}");
    }
    for (t, margin) in cues {
        assert!(acc[*t] >= maj[*t] + margin, "{eval}: {t} should beat its majority rate by {margin}:\n  {report}");
    }
    assert!(
        acc["mean"] >= mean_majority + mean_margin,
        "{eval}: mean accuracy {:.3} vs majority {mean_majority:.3}:\n  {report}",
        acc["mean"]
    );
}

#[test]
fn the_quickstart_basic_model_learns_on_faces_and_pedestrians() {
    let p = Project::new();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/quickstart.yaml");
    std::fs::copy(&shipped, p.path("quickstart.yaml")).unwrap();
    let out = p.awmt(&["run", "quickstart.yaml", "-q", "--stage", "faces_eval[Basic,1]", "--stage", "people_eval[Basic,1]"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reports = p.path("reports/quickstart");
    let faces = ["Eyeglasses", "Wearing_Hat", "Male", "Blond_Hair", "Smiling", "No_Beard", "Narrow_Eyes", "Oval_Face"];
    check(
        &reports,
        "faces_split",
        "faces_eval[Basic,1]",
        &faces,
        &[("Male", 0.25), ("Blond_Hair", 0.05), ("Smiling", 0.15), ("No_Beard", 0.03)],
        0.08,
    );
    let people = ["gender", "age", "hair", "up", "down", "clothes", "backpack", "handbag", "bag", "hat", "upcolor", "downcolor"];
    check(
        &reports,
        "people_split",
        "people_eval[Basic,1]",
        &people,
        &[("gender", 0.15), ("hair", 0.15), ("down", 0.15), ("upcolor", 0.2), ("downcolor", 0.2)],
        0.08,
    );
}
