//! Shared helpers of the train tests: a prepared-data directory of synthetic images whose labels
//! are visible in the pixels, so a small CNN can learn them in tens of iterations.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use awmt::data::prepared::PreparedInfo;
use awmt::data::tasks::{LabelTable, Task, TaskSet};

/// Tiny deterministic generator for test data (independent of the code under test).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 10_000) as f64 / 10_000.0
    }
}

/// Writes a prepared directory with splits train/val/test of `counts` images of size×size:
/// tasks `Bright_Top` (top half brighter), `Reddish` (red channel up), `Left_Heavy` (left half
/// brighter), and the 4-way `Spot` (which quadrant holds a bright square). Some labels are masked.
pub fn write_prepared(dir: &Path, size: usize, counts: [usize; 3], seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let tasks = TaskSet {
        format: "market".into(),
        source: "synthetic".into(),
        root: "release".into(),
        tasks: vec![
            Task::binary("Bright_Top"),
            Task::binary("Reddish"),
            Task::binary("Left_Heavy"),
            Task::multiclass("Spot", &["tl", "tr", "bl", "br"]),
        ],
    };
    tasks.save(dir).unwrap();
    let mut rng = Lcg(seed);
    let mut splits = BTreeMap::new();
    for (split, &n) in ["train", "val", "test"].iter().zip(&counts) {
        let mut bytes = Vec::with_capacity(n * size * size * 3);
        let mut table = LabelTable::default();
        let mut labels = vec![Vec::new(); 4];
        for i in 0..n {
            let top = rng.next() % 2 == 1;
            let red = rng.next() % 2 == 1;
            let left = rng.next() % 2 == 1;
            let spot = (rng.next() % 4) as usize;
            for y in 0..size {
                for x in 0..size {
                    let mut v = 90.0 + 40.0 * rng.unit();
                    if (y < size / 2) == top {
                        v += 50.0;
                    }
                    if (x < size / 2) == left {
                        v += 35.0;
                    }
                    let (qy, qx) = (spot / 2, spot % 2);
                    let (cy, cx) = (qy * size / 2 + size / 4, qx * size / 2 + size / 4);
                    let in_spot = y.abs_diff(cy) < size / 8 + 1 && x.abs_diff(cx) < size / 8 + 1;
                    let g = if in_spot { 250.0 } else { v };
                    let r = if red { (v + 60.0).min(255.0) } else { v };
                    bytes.push(r as u8);
                    bytes.push(g as u8);
                    bytes.push(v as u8);
                }
            }
            table.images.push(format!("{split}/{i:05}.jpg"));
            table.identities.push(i as i64);
            let masked = i % 7 == 3;
            labels[0].push(Some(if top { 1 } else { -1 }));
            labels[1].push(if masked { None } else { Some(if red { 1 } else { -1 }) });
            labels[2].push(Some(if left { 1 } else { -1 }));
            labels[3].push(if i % 11 == 5 { None } else { Some(spot as i32) });
        }
        table.labels = labels;
        table.write(&tasks, dir, split).unwrap();
        std::fs::write(dir.join(format!("{split}.u8")), &bytes).unwrap();
        splits.insert(split.to_string(), n);
    }
    PreparedInfo { height: size, width: size, channels: 3, splits, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }
        .save(dir)
        .unwrap();
}

/// A small-CNN config for tests, merged with `extra`.
pub fn small_config(extra: serde_json::Value) -> awmt::train::TrainConfig {
    let mut with = serde_json::json!({
        "model": "small_cnn",
        "iterations": 30,
        "lr": 0.01,
        "milestones": [],
        "seed": 5,
        "checkpoint_every": 0,
        "device": "cpu",
    });
    if let (Some(base), Some(more)) = (with.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            base.insert(k.clone(), v.clone());
        }
    }
    awmt::train::TrainConfig::from_with(&with).unwrap_or_else(|e| panic!("{:?}: {}", e.path, e.message))
}

/// Reads `train_log.csv`: rows of (iteration, task, train_loss, val_loss, lambda, lr).
pub fn read_log(dir: &Path) -> Vec<(u64, String, f64, f64, f64, f64)> {
    let text = std::fs::read_to_string(dir.join("train_log.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "iteration,task,train_loss,val_loss,lambda,lr");
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].to_string(), f[2].parse().unwrap(), f[3].parse().unwrap(), f[4].parse().unwrap(), f[5].parse().unwrap())
        })
        .collect()
}
