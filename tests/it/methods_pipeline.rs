//! `pipelines/methods.yaml` end to end at a reduced scale (its `vars` shrunk: one seed, a few
//! iterations, small images), on 2 cores in a few minutes: every weighting method trains, is
//! evaluated, appears in both ranking tables and has its λ figure, and the report is written.

use crate::common;

use std::path::Path;

use common::{stderr, Project};

/// Every method label of `methods.yaml`, in its order.
const METHODS: [&str; 14] = [
    "Basic", "AWMT", "DWA", "Uncertainty", "RLW", "GLS", "FAMO", "MGDA-UB", "PCGrad", "CAGrad", "GradNorm", "IMTL", "Nash-MTL",
    "Aligned-MTL",
];

/// The shipped pipeline with its scale knobs turned down.
fn reduced() -> String {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/methods.yaml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let vars = doc["vars"].as_mapping_mut().expect("methods.yaml has vars");
    let methods = vars.get("methods").and_then(|m| m.as_mapping()).expect("vars.methods");
    let labels: Vec<&str> = methods.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(labels, METHODS, "the test's list of methods is methods.yaml's");
    for (k, v) in [
        ("seeds", "[1]"),
        ("iterations", "4"),
        ("milestone", "3"),
        ("pretext_iterations", "4"),
        ("pretext_milestone", "3"),
        ("face_images", "240"),
        ("pretext_face_images", "160"),
        ("people_identities", "40"),
        ("pretext_people_identities", "30"),
        ("resamples", "20"),
        ("face_size", "[16, 16]"),
        ("people_size", "[24, 12]"),
    ] {
        assert!(vars.contains_key(k), "methods.yaml has no var `{k}`");
        vars.insert(k.into(), serde_yaml::from_str(v).unwrap());
    }
    serde_yaml::to_string(&doc).unwrap()
}

fn csv_column(path: &Path, column: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == column).unwrap_or_else(|| panic!("{}: no column {column}", path.display()));
    lines.map(|l| l.split(',').nth(col).unwrap_or("").trim_matches('"').to_string()).collect()
}

#[test]
fn every_method_is_ranked_and_has_its_lambda_figure() {
    let p = Project::new();
    p.write("methods.yaml", &reduced());
    let out = p.awmt(&["run", "methods.yaml", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reports = p.path("reports/methods");
    for (table, format) in [("table1", "celeba"), ("table2", "market")] {
        let ranking = reports.join(table).join(format!("ranking_{format}.csv"));
        let ranked = csv_column(&ranking, "method");
        for m in METHODS.iter().chain(&["Separate"]) {
            assert!(ranked.iter().any(|r| r == m), "{m} missing from {}: {ranked:?}", ranking.display());
        }
        assert_eq!(ranked.len(), METHODS.len() + 1);
        // Ranked: the mean accuracies never increase down the table.
        let means: Vec<f64> = csv_column(&ranking, "mean_accuracy_pct").iter().map(|v| v.parse().unwrap()).collect();
        assert!(means.windows(2).all(|w| w[0] >= w[1]), "{means:?}");
        // Δm over the separate models (their own row is 0) and an interval against the best.
        let dm = csv_column(&ranking, "delta_m_pct");
        assert!(dm.iter().all(|v| v.parse::<f64>().is_ok()), "{dm:?}");
        let low = csv_column(&ranking, "ci_low_pct");
        assert!(low.iter().all(|v| v.parse::<f64>().is_ok()), "{low:?}");
    }
    // One λ figure per method and dataset (seed 1).
    let figures: Vec<String> = std::fs::read_dir(reports.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for prefix in ["faces_mtl", "people_mtl"] {
        for m in METHODS {
            let want = format!("lambda_{prefix}_{m}_1_.png");
            assert!(figures.contains(&want), "no {want} among {figures:?}");
        }
    }
    // The report carries the ranking tables and every method's λ figure.
    let html = std::fs::read_to_string(reports.join("report/report.html")).unwrap();
    assert!(html.contains("ranked by mean accuracy"), "the report has no ranking table");
    for m in METHODS {
        assert!(html.contains(&format!("Task weights λ over iterations — faces_mtl[{m},1]")), "the report has no λ figure of {m}");
    }
}
