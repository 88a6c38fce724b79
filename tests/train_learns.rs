//! A small run on images with learnable structure drives the training and the validation loss
//! down under every weighting method.

mod train_support;

use awmt::train::{train, RunOptions, RunPaths};

fn mean_over(rows: &[(u64, String, f64, f64, f64, f64)], from: u64, to: u64, col: usize) -> f64 {
    let sel: Vec<f64> = rows
        .iter()
        .filter(|r| r.0 >= from && r.0 <= to)
        .map(|r| if col == 2 { r.2 } else { r.3 })
        .collect();
    sel.iter().sum::<f64>() / sel.len() as f64
}

#[test]
fn every_weighting_method_reduces_training_and_validation_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [200, 100, 10], 7);
    let iterations = 80u64;
    let methods = [
        serde_json::json!("equal"),
        serde_json::json!({"method": "validation_loss_trend", "k": 10}),
        serde_json::json!({"method": "dwa", "epoch": 10, "losses": "train"}),
        serde_json::json!({"method": "dwa", "epoch": 10, "losses": "val"}),
        serde_json::json!("uncertainty"),
        serde_json::json!("rlw"),
        serde_json::json!("gls"),
    ];
    let opts = RunOptions { threads: 2, gpus: 0, stop_after: None };
    for (i, w) in methods.iter().enumerate() {
        let cfg = train_support::small_config(serde_json::json!({
            "iterations": iterations, "weighting": w, "lr": 0.02, "dropout": 0.0, "freeze_bn": false,
        }));
        let out = tmp.path().join(format!("out{i}"));
        std::fs::create_dir_all(&out).unwrap();
        train(&cfg, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &tmp.path().join(format!("s{i}")) }, &opts).unwrap();
        let rows = train_support::read_log(&out);
        let (tr0, tr1) = (mean_over(&rows, 1, 15, 2), mean_over(&rows, iterations - 14, iterations, 2));
        let (v0, v1) = (mean_over(&rows, 1, 15, 3), mean_over(&rows, iterations - 14, iterations, 3));
        eprintln!("{w}: train {tr0:.4} -> {tr1:.4}, val {v0:.4} -> {v1:.4}");
        assert!(tr1 < 0.9 * tr0, "{w}: training loss did not go down: {tr0} -> {tr1}");
        assert!(v1 < 0.8 * v0, "{w}: validation loss did not go down: {v0} -> {v1}");
        assert!(rows.iter().all(|r| r.4.is_finite()), "{w}: non-finite λ");
    }
}
