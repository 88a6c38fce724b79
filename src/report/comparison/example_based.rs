//! `example_based`: per run, mean accuracy, mA and the example-based metrics, in percent.

use anyhow::Result;
use polars::prelude::{Column, DataFrame};

use super::{frame, measured_kind, pct, Run};
use crate::eval::files::RunMetrics;
use crate::report::files::TableInfo;

/// One row per run, in input order.
pub fn example_based_frame(runs: &[Run]) -> Result<DataFrame> {
    let num = |f: fn(&RunMetrics) -> Option<f64>| runs.iter().map(|r| pct(f(&r.metrics))).collect::<Vec<_>>();
    frame(vec![
        Column::new("format".into(), runs.iter().map(|r| r.metrics.format.clone()).collect::<Vec<_>>()),
        Column::new("method".into(), runs.iter().map(|r| r.metrics.method.clone()).collect::<Vec<_>>()),
        Column::new("kind".into(), runs.iter().map(|r| measured_kind(&r.metrics.source)).collect::<Vec<_>>()),
        Column::new("run".into(), runs.iter().map(|r| r.stage.clone()).collect::<Vec<_>>()),
        Column::new("mean_accuracy_pct".into(), num(|m| m.mean_accuracy)),
        Column::new("mA_pct".into(), num(|m| m.mean_balanced_accuracy)),
        Column::new("example_accuracy_pct".into(), num(|m| m.example_based.accuracy)),
        Column::new("example_precision_pct".into(), num(|m| m.example_based.precision)),
        Column::new("example_recall_pct".into(), num(|m| m.example_based.recall)),
        Column::new("example_f1_pct".into(), num(|m| m.example_based.f1)),
    ])
}

/// The table's file stem, title and caption.
pub fn example_based_info() -> TableInfo {
    TableInfo {
        stem: "example_based".into(),
        title: "Balanced and example-based metrics per run".into(),
        caption: "mA = mean over attributes of ½(TP/P + TN/N) (per-class recall for multi-class attributes); example-based accuracy |Y∩Ŷ|/|Y∪Ŷ|, precision, recall and F1 per image.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::*;

    #[test]
    fn one_row_per_run_in_percent() {
        let mut b = run("b[1]", "B", "celeba", &[("x", 0.9), ("y", 0.7)], false);
        b.metrics.example_based.f1 = Some(0.25);
        let runs = vec![run("a[1]", "A", "celeba", &[("x", 0.6), ("y", 0.8)], false), b];
        let df = example_based_frame(&runs).unwrap();
        assert_eq!(df.height(), 2);
        let floats = |name: &str| df.column(name).unwrap().f64().unwrap().iter().collect::<Vec<_>>();
        let close = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < 1e-9);
        let (mean, ma) = (floats("mean_accuracy_pct"), floats("mA_pct"));
        assert!(close(mean[0], 70.0) && close(mean[1], 80.0), "{mean:?}");
        assert!(close(ma[0], 60.0), "mA is the balanced accuracy: {ma:?}");
        assert_eq!(floats("example_f1_pct")[0], None);
        assert!(close(floats("example_f1_pct")[1], 25.0));
        let run_names: Vec<Option<&str>> = df.column("run").unwrap().str().unwrap().iter().collect();
        assert_eq!(run_names, [Some("a[1]"), Some("b[1]")]);
        assert_eq!(example_based_info().stem, "example_based");
    }
}
