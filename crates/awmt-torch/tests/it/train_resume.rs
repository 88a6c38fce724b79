//! A training run stopped after a checkpoint and resumed ends bit-identical (CPU) to an
//! uninterrupted run: same weights, same logs, same summary (less its measured `timing`), byte
//! for byte.

use crate::train_support;

use awmt_torch::train::{train, Outcome, RunOptions, RunPaths};

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            let mut bytes = std::fs::read(e.path()).unwrap();
            if name == "train_summary.json" {
                // The one measured field: present and sane, then left out of the comparison.
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let timing = v.as_object_mut().unwrap().remove("timing").expect("train_summary.json has `timing`");
                assert!(timing["wall_seconds"].as_f64().unwrap() > 0.0 && timing["images_per_second"].as_f64().unwrap() > 0.0, "{timing}");
                assert!(timing["iterations_timed"].as_u64().unwrap() >= 1);
                bytes = serde_json::to_vec(&v).unwrap();
            }
            (name, bytes)
        })
        .collect();
    v.sort();
    v
}

fn check_resume(extra: serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [60, 30, 10], 11);
    let cfg = train_support::small_config(extra);
    let opts = RunOptions { threads: 1, gpus: 0, stop_after: None };

    let (out_a, scratch_a) = (tmp.path().join("a"), tmp.path().join("sa"));
    std::fs::create_dir_all(&out_a).unwrap();
    let paths_a = RunPaths { data: &data, pretrained: None, out: &out_a, scratch: &scratch_a };
    assert_eq!(train(&cfg, &paths_a, &opts).unwrap(), Outcome::Finished);

    let (out_b, scratch_b) = (tmp.path().join("b"), tmp.path().join("sb"));
    std::fs::create_dir_all(&out_b).unwrap();
    let paths_b = RunPaths { data: &data, pretrained: None, out: &out_b, scratch: &scratch_b };
    // "Killed" at iteration 7: the work after the checkpoint at 5 is lost.
    let stopped = train(&cfg, &paths_b, &RunOptions { stop_after: Some(7), ..opts }).unwrap();
    assert_eq!(stopped, Outcome::Stopped { at: 7 });
    assert!(std::fs::read_dir(&out_b).unwrap().next().is_none(), "a stopped run writes no outputs");
    assert!(scratch_b.join("checkpoint-0000000005").is_dir());
    assert_eq!(train(&cfg, &paths_b, &opts).unwrap(), Outcome::Finished);

    let (fa, fb) = (files(&out_a), files(&out_b));
    assert_eq!(fa.iter().map(|f| &f.0).collect::<Vec<_>>(), fb.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name, a), (_, b)) in fa.iter().zip(&fb) {
        assert!(a == b, "{name} differs between the uninterrupted and the resumed run");
    }
    let names: Vec<&str> = fa.iter().map(|f| f.0.as_str()).collect();
    for want in ["model.json", "model.safetensors", "train_log.csv", "train_log.parquet", "train_summary.json"] {
        assert!(names.contains(&want), "missing {want}: {names:?}");
    }
}

#[test]
fn resume_is_bit_identical_with_trend_weighting_dropout_and_live_bn() {
    check_resume(serde_json::json!({
        "iterations": 12, "checkpoint_every": 5, "dropout": 0.5, "hidden": 16, "freeze_bn": false,
        "weighting": {"method": "validation_loss_trend", "k": 2}, "milestones": [6], "gamma": 0.5,
    }));
}

#[test]
fn resume_is_bit_identical_with_rlw_and_uncertainty() {
    check_resume(serde_json::json!({"iterations": 9, "checkpoint_every": 5, "weighting": "rlw", "preset": "release"}));
    check_resume(serde_json::json!({"iterations": 9, "checkpoint_every": 5, "weighting": "uncertainty", "loss": "bce", "multiclass_loss": "ce"}));
}

#[test]
fn same_seed_same_bytes_other_seed_other_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [40, 20, 10], 3);
    let opts = RunOptions { threads: 1, gpus: 0, stop_after: None };
    let run = |name: &str, seed: u64| {
        let out = tmp.path().join(name);
        std::fs::create_dir_all(&out).unwrap();
        let cfg = train_support::small_config(serde_json::json!({"iterations": 4, "seed": seed}));
        train(&cfg, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &tmp.path().join(format!("s{name}")) }, &opts).unwrap();
        std::fs::read(out.join("model.safetensors")).unwrap()
    };
    assert_eq!(run("x", 1), run("y", 1));
    assert_ne!(run("z", 2), run("w", 1));
}

#[test]
fn resume_is_bit_identical_with_a_seeded_gradient_method_and_famo() {
    // PCGrad draws its projection orders from its own stream; the checkpoint must carry it.
    check_resume(serde_json::json!({
        "iterations": 9, "checkpoint_every": 5, "dropout": 0.5, "hidden": 8, "weighting": "pcgrad",
    }));
    check_resume(serde_json::json!({
        "iterations": 9, "checkpoint_every": 5, "weighting": {"method": "gradnorm", "mode": "representation"},
    }));
    // FAMO's paper variant re-evaluates each batch after the step (with its dropout masks); the
    // other compares with the next batch and so carries the last losses across the checkpoint.
    check_resume(serde_json::json!({"iterations": 9, "checkpoint_every": 5, "dropout": 0.5, "hidden": 8, "weighting": "famo"}));
    check_resume(serde_json::json!({"iterations": 9, "checkpoint_every": 5, "weighting": {"method": "famo", "update": "next_batch"}}));
}
