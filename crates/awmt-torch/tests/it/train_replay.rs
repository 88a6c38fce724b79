//! Replaying Algorithm 2 (written out independently here) over the validation losses logged by a
//! real training run reproduces the logged λ to 1e-6; a diverging run stops naming the iteration
//! and task.

use crate::train_support;

use awmt_torch::train::{train, RunOptions, RunPaths};

/// Algorithm 1 steps 4–5 + Algorithm 2 over v_t (rows: iterations, columns: tasks), each task's
/// v multiplied by `scale[j]` first (`class_scale`). Returns the λ of every iteration.
fn replay(v: &[Vec<f64>], k: usize, scale: &[f64]) -> Vec<Vec<f64>> {
    let m = v[0].len();
    let v: Vec<Vec<f64>> = v.iter().map(|row| row.iter().zip(scale).map(|(x, s)| x * s).collect()).collect();
    let mut lambda = vec![1.0; m];
    let mut pre_mean: Vec<f64> = Vec::new();
    let mut out = Vec::new();
    for t in 1..=v.len() {
        if t % k == 0 && t >= k {
            let window = &v[t - k..t];
            let cur: Vec<f64> = (0..m).map(|j| window.iter().map(|r| r[j]).sum::<f64>() / k as f64).collect();
            if t == k {
                pre_mean = cur;
            } else {
                let trend: Vec<f64> = (0..m).map(|j| (cur[j] - pre_mean[j]).abs() / cur[j]).collect();
                let tm = trend.iter().sum::<f64>() / m as f64;
                if tm > 0.0 && cur.iter().all(|c| *c > 0.0) {
                    let lm = cur.iter().sum::<f64>() / m as f64;
                    let w: Vec<f64> = (0..m).map(|j| trend[j] / tm * cur[j] / lm).collect();
                    let wm = w.iter().sum::<f64>() / m as f64;
                    lambda = w.iter().map(|x| x / wm).collect();
                }
                pre_mean = cur;
            }
        }
        out.push(lambda.clone());
    }
    out
}

/// Trains with Algorithm 2 (k = 4, 40 iterations) on 3 binary tasks and the 4-way `Spot`, and
/// checks the logged λ against the replay; returns the logged λ rows.
fn check_replay(class_scale: &str, scale: &[f64]) -> Vec<Vec<f64>> {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [80, 40, 10], 21);
    let (k, iterations) = (4usize, 40u64);
    let cfg = train_support::small_config(serde_json::json!({
        "iterations": iterations, "weighting": {"method": "validation_loss_trend", "k": k, "class_scale": class_scale}, "lr": 0.02,
    }));
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let opts = RunOptions { threads: 1, gpus: 0, stop_after: None };
    train(&cfg, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &tmp.path().join("s") }, &opts).unwrap();

    let rows = train_support::read_log(&out);
    let tasks = 4;
    assert_eq!(rows.len(), iterations as usize * tasks);
    let v: Vec<Vec<f64>> = rows.chunks(tasks).map(|c| c.iter().map(|r| r.3).collect()).collect();
    let logged: Vec<Vec<f64>> = rows.chunks(tasks).map(|c| c.iter().map(|r| r.4).collect()).collect();
    for (t, chunk) in rows.chunks(tasks).enumerate() {
        assert!(chunk.iter().all(|r| r.0 == t as u64 + 1));
    }
    let want = replay(&v, k, scale);
    let mut updates = 0;
    for t in 0..v.len() {
        for j in 0..tasks {
            assert!((want[t][j] - logged[t][j]).abs() < 1e-6, "iteration {} task {j}: replay {} logged {}", t + 1, want[t][j], logged[t][j]);
        }
        if logged[t] != vec![1.0; tasks] {
            updates += 1;
        }
        let mean: f64 = logged[t].iter().sum::<f64>() / tasks as f64;
        assert!((mean - 1.0).abs() < 1e-9, "λ must have mean 1, got {mean}");
    }
    // λ ≡ 1 before iteration 2k; afterwards the rule moved it.
    assert!(logged[..2 * k - 1].iter().all(|l| l == &vec![1.0; tasks]));
    assert!(updates > 0, "the rule never changed λ");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("train_summary.json")).unwrap()).unwrap();
    assert_eq!(summary["weighting"]["method"], "validation_loss_trend");
    assert_eq!(summary["source"], "synthetic");
    assert_eq!(summary["iterations"], iterations);
    logged
}

#[test]
fn logged_lambda_matches_an_independent_replay() {
    // `class_scale: mean` (the default): the 4-way task's summed square loss is divided by 4.
    let mean = check_replay("mean", &[1.0, 1.0, 1.0, 0.25]);
    // `sum`: Algorithm 2 sees the sum; the same run's λ then differs.
    let sum = check_replay("sum", &[1.0; 4]);
    assert_ne!(mean, sum, "class_scale must change what Algorithm 2 sees");
    // With `sum` the 4-way task's weight after the first update is larger than with `mean`.
    let first = 2 * 4 - 1;
    assert!(sum[first][3] > mean[first][3], "sum {:?} mean {:?}", sum[first], mean[first]);
}

#[test]
fn a_diverging_run_stops_naming_iteration_and_task() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [20, 10, 5], 2);
    let cfg = train_support::small_config(serde_json::json!({"iterations": 50, "lr": 1e12}));
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let opts = RunOptions { threads: 1, gpus: 0, stop_after: None };
    let err = train(&cfg, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &tmp.path().join("s") }, &opts).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("iteration ") && (msg.contains("task `") || msg.contains("objective")), "{msg}");
}

/// `val_every: 7` skips the validation forward pass at other iterations but draws the same
/// training batches: the trained weights and training losses equal those of `val_every: 1`, and
/// `val_loss` is logged only at iterations 1, 7, 14, … (empty in the CSV).
#[test]
fn val_every_skips_only_the_validation_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [80, 40, 10], 23);
    let run = |val_every: u64| {
        let cfg = train_support::small_config(serde_json::json!({"iterations": 30, "lr": 0.02, "val_every": val_every}));
        let out = tmp.path().join(format!("out{val_every}"));
        std::fs::create_dir_all(&out).unwrap();
        let opts = RunOptions { threads: 1, gpus: 0, stop_after: None };
        let scratch = tmp.path().join(format!("s{val_every}"));
        train(&cfg, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &scratch }, &opts).unwrap();
        out
    };
    let (every, sparse) = (run(1), run(7));
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    assert!(read(&every.join("model.safetensors")) == read(&sparse.join("model.safetensors")), "weights differ");
    let rows = |dir: &std::path::Path| -> Vec<Vec<String>> {
        std::fs::read_to_string(dir.join("train_log.csv")).unwrap().lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect()
    };
    let (a, b) = (rows(&every), rows(&sparse));
    assert_eq!(a.len(), b.len());
    for (ra, rb) in a.iter().zip(&b) {
        let t: u64 = ra[0].parse().unwrap();
        assert_eq!((&ra[0], &ra[1], &ra[2], &ra[4]), (&rb[0], &rb[1], &rb[2], &rb[4]), "iteration {t}");
        if t == 1 || t % 7 == 0 {
            assert_eq!(ra[3], rb[3], "iteration {t}: the measured validation loss differs");
        } else {
            assert_eq!(rb[3], "", "iteration {t}: a validation loss was logged without a validation batch");
        }
    }
}
