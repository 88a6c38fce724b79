//! A small run on images with learnable structure drives the training and the validation loss
//! down under every weighting method.

use crate::train_support;

use awmt_torch::train::{train, RunOptions, RunPaths};

fn mean_over(rows: &[(u64, String, f64, f64, f64, f64)], from: u64, to: u64, col: usize) -> f64 {
    let sel: Vec<f64> = rows
        .iter()
        .filter(|r| r.0 >= from && r.0 <= to)
        .map(|r| if col == 2 { r.2 } else { r.3 })
        .collect();
    sel.iter().sum::<f64>() / sel.len() as f64
}

/// Trains `iterations` iterations of a small CNN with `weighting` at learning rate `lr` and checks that the
/// mean training and validation losses of the last 15 iterations are well below the first 15's.
fn check(weighting: serde_json::Value, lr: f64, iterations: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [200, 100, 10], 7);
    let opts = RunOptions { threads: 1, gpus: 0, stop_after: None };
    let cfg = train_support::small_config(serde_json::json!({
        "iterations": iterations, "weighting": weighting, "lr": lr, "dropout": 0.0, "freeze_bn": false,
    }));
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    train(&cfg, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &tmp.path().join("s") }, &opts).unwrap();
    let rows = train_support::read_log(&out);
    let (tr0, tr1) = (mean_over(&rows, 1, 15, 2), mean_over(&rows, iterations - 14, iterations, 2));
    let (v0, v1) = (mean_over(&rows, 1, 15, 3), mean_over(&rows, iterations - 14, iterations, 3));
    let w = &weighting;
    eprintln!("{w}: train {tr0:.4} -> {tr1:.4}, val {v0:.4} -> {v1:.4}");
    assert!(tr1 < 0.8 * tr0, "{w}: training loss did not go down: {tr0} -> {tr1}");
    assert!(v1 < 0.8 * v0, "{w}: validation loss did not go down: {v0} -> {v1}");
    assert!(rows.iter().all(|r| r.4.is_finite()), "{w}: non-finite λ");
}

#[test]
fn equal_weights_learn() {
    check(serde_json::json!("equal"), 0.02, 80);
}

#[test]
fn validation_loss_trend_learns() {
    check(serde_json::json!({"method": "validation_loss_trend", "k": 10}), 0.02, 80);
}

#[test]
fn dwa_on_training_losses_learns() {
    check(serde_json::json!({"method": "dwa", "epoch": 10, "losses": "train"}), 0.02, 80);
}

#[test]
fn dwa_on_validation_losses_learns() {
    check(serde_json::json!({"method": "dwa", "epoch": 10, "losses": "val"}), 0.02, 80);
}

#[test]
fn uncertainty_weighting_learns() {
    check(serde_json::json!("uncertainty"), 0.02, 80);
}

#[test]
fn rlw_learns() {
    check(serde_json::json!("rlw"), 0.02, 80);
}

#[test]
fn gls_learns() {
    // GLS weighs task j by G/L_j: the hardest task (the 4-way square loss, the largest term of
    // the mean) gets the smallest weight, so the mean loss falls more slowly; and an almost solved
    // task gets a large effective step, so a smaller learning rate keeps it stable.
    check(serde_json::json!("gls"), 0.01, 160);
}
