//! synth → split → prepare: round trips for both styles, determinism, and bad-image handling.

use crate::data_support;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use awmt::data::market::read_marked;
use awmt::data::prepared::PreparedSplit;
use awmt::data::tasks::{LabelTable, TaskSet};
use data_support::{read_csv, run_stage, tree_digest};
use serde_json::json;

fn faces(dir: &Path, seed: u64, noise: f64, threads: usize) -> std::path::PathBuf {
    let out = dir.join(format!("faces-{seed}-{noise}-{threads}"));
    run_stage("synth", json!({"style": "faces", "images": 60, "images_per_identity": 3, "width": 89, "height": 109, "seed": seed, "label_noise": noise, "examples": 6}), &[], &out, threads).unwrap();
    out
}

fn pedestrians(dir: &Path, seed: u64, threads: usize) -> std::path::PathBuf {
    let out = dir.join(format!("peds-{seed}-{threads}"));
    run_stage("synth", json!({"style": "pedestrians", "identities": 12, "images_per_identity": 3, "distractors": 4, "seed": seed, "label_noise": 0.0, "examples": 6}), &[], &out, threads).unwrap();
    out
}

#[test]
fn faces_round_trip_through_the_celeba_loader() {
    let dir = tempfile::tempdir().unwrap();
    let synth = faces(dir.path(), 3, 0.0, 2);
    for f in ["release/list_attr_celeba.txt", "release/list_eval_partition.txt", "release/identity_CelebA.txt", "release/img_align_celeba/000060.jpg", "truth.csv", "contact_sheet.png", "synth.json"] {
        assert!(synth.join(f).is_file(), "{f} missing");
    }
    let split = dir.path().join("split");
    run_stage("split", json!({"format": "celeba"}), &[("root", &synth)], &split, 2).unwrap();
    let tasks = TaskSet::load(&split).unwrap();
    assert_eq!((tasks.tasks.len(), tasks.source.as_str(), tasks.root.as_str()), (40, "synthetic", "release"));
    let (header, truth) = read_csv(&synth.join("truth.csv"));
    assert_eq!(header.len(), 41);
    let truth: HashMap<String, Vec<i32>> = truth.into_iter().map(|r| (r[0].clone(), r[1..].iter().map(|v| v.parse().unwrap()).collect())).collect();
    let mut seen = 0;
    for s in ["train", "val", "test"] {
        let t = LabelTable::read(&tasks, &split, s).unwrap();
        assert!(!t.is_empty(), "{s} is empty");
        for (row, image) in t.images.iter().enumerate() {
            let want = &truth[image];
            let got: Vec<i32> = t.labels.iter().map(|col| col[row].unwrap()).collect();
            assert_eq!(&got, want, "{image}");
            seen += 1;
        }
    }
    assert_eq!(seen, 60);
    // Identity-disjoint partition: 20 identities of 3 images, 16/2/2.
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(synth.join("synth.json")).unwrap()).unwrap();
    assert_eq!(info["source"], "synthetic");
    assert_eq!(info["details"]["partition"], json!({"train": 48, "val": 6, "test": 6}));
}

#[test]
fn face_label_noise_flips_some_labels_but_truth_stays_clean() {
    let dir = tempfile::tempdir().unwrap();
    let clean = faces(dir.path(), 5, 0.0, 1);
    let noisy = faces(dir.path(), 5, 0.1, 1);
    // Same pictures and truth; only the written labels differ.
    assert_eq!(std::fs::read(clean.join("truth.csv")).unwrap(), std::fs::read(noisy.join("truth.csv")).unwrap());
    assert_eq!(std::fs::read(clean.join("release/img_align_celeba/000001.jpg")).unwrap(), std::fs::read(noisy.join("release/img_align_celeba/000001.jpg")).unwrap());
    let a = std::fs::read_to_string(clean.join("release/list_attr_celeba.txt")).unwrap();
    let b = std::fs::read_to_string(noisy.join("release/list_attr_celeba.txt")).unwrap();
    let flips: usize = a.lines().zip(b.lines()).skip(2).map(|(x, y)| x.split_whitespace().zip(y.split_whitespace()).filter(|(p, q)| p != q).count()).sum();
    assert!(flips > 60 && flips < 600, "{flips} flips of 2400 labels at 10% noise scaled per attribute");
}

#[test]
fn pedestrians_round_trip_through_the_market_loader() {
    let dir = tempfile::tempdir().unwrap();
    let synth = pedestrians(dir.path(), 11, 2);
    assert!(synth.join("release/market_attribute.mat").is_file());
    let split = dir.path().join("split");
    run_stage("split", json!({"format": "market", "val_fraction": 0.2, "seed": 4}), &[("root", &synth)], &split, 2).unwrap();
    let tasks = TaskSet::load(&split).unwrap();
    assert_eq!(tasks.tasks.len(), 12);
    let (header, truth) = read_csv(&synth.join("truth.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let truth: HashMap<String, Vec<String>> = truth.into_iter().map(|r| (r[0].clone(), r)).collect();
    let ups = ["upblack", "upwhite", "upred", "uppurple", "upyellow", "upgray", "upblue", "upgreen"];
    let mut ids_by_split: Vec<HashSet<i64>> = Vec::new();
    let mut rows = 0;
    for s in ["train", "val", "test"] {
        let t = LabelTable::read(&tasks, &split, s).unwrap();
        let (h, csv) = read_csv(&split.join(format!("{s}.csv")));
        assert!(h.contains(&"upcolor__marked".to_string()) && h.contains(&"downcolor__marked".to_string()));
        for (row, image) in t.images.iter().enumerate() {
            let r = &truth[image];
            let raw = |n: &str| r[col(n)].parse::<i32>().unwrap();
            let pm = |n: &str| if raw(n) == 2 { 1 } else { -1 };
            let label = |task: &str| t.labels[tasks.index_of(task).unwrap()][row];
            assert_eq!(label("gender"), Some(pm("gender")), "{image}");
            assert_eq!(label("hair"), Some(pm("hair")));
            assert_eq!(label("backpack"), Some(pm("backpack")));
            assert_eq!(label("age"), Some(raw("age") - 1));
            let up: Vec<usize> = (0..8).filter(|&k| raw(ups[k]) == 2).collect();
            assert_eq!(label("upcolor"), if up.len() == 1 { Some(up[0] as i32) } else { None }, "{image}");
            let marked = &csv[row][h.iter().position(|x| x == "upcolor__marked").unwrap()];
            assert_eq!(marked, &up.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(";"));
            assert_eq!(read_marked(&split, s, "upcolor").unwrap().unwrap()[row], up);
            assert_eq!(t.identities[row], image.split('/').nth(1).unwrap()[..4].parse::<i64>().unwrap());
            rows += 1;
        }
        ids_by_split.push(t.identities.iter().copied().collect());
    }
    // 6 train + 6 test identities × 3 images; distractors and query images are not in the tables.
    assert_eq!(rows, 36);
    assert!(ids_by_split[0].is_disjoint(&ids_by_split[1]), "val identities must not be in train");
    assert_eq!(ids_by_split[1].len(), 1, "20% of 6 training identities");
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(split.join("split.json")).unwrap()).unwrap();
    assert_eq!(info["details"]["unlabelled_test_images"], 4);
    assert_eq!(info["source"], "synthetic");
    // A task subset keeps its order, its columns and only its own marked columns.
    let sub = dir.path().join("split-subset");
    run_stage("split", json!({"format": "market", "tasks": ["upcolor", "gender"]}), &[("root", &synth)], &sub, 1).unwrap();
    let t = TaskSet::load(&sub).unwrap();
    assert_eq!(t.tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["upcolor", "gender"]);
    let (h, _) = read_csv(&sub.join("train.csv"));
    assert_eq!(h, ["image", "identity", "upcolor", "gender", "upcolor__marked"]);
    assert!(read_marked(&sub, "train", "gender").unwrap().is_none());
    let err = format!("{:#}", run_stage("split", json!({"format": "market", "tasks": ["Smiling"]}), &[("root", &synth)], &dir.path().join("bad"), 1).unwrap_err());
    assert!(err.contains("unknown task `Smiling`"), "{err}");
}

#[test]
fn same_seed_same_bytes_whatever_the_threads_different_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let a = tree_digest(&faces(dir.path(), 9, 0.02, 1));
    let b = tree_digest(&faces(dir.path(), 9, 0.02, 3));
    assert_eq!(a, b);
    let c = tree_digest(&faces(dir.path(), 10, 0.02, 1));
    assert_ne!(a["release/img_align_celeba/000001.jpg"], c["release/img_align_celeba/000001.jpg"]);
    assert_ne!(a["release/list_attr_celeba.txt"], c["release/list_attr_celeba.txt"]);
    let p = tree_digest(&pedestrians(dir.path(), 9, 1));
    let q = tree_digest(&pedestrians(dir.path(), 9, 3));
    assert_eq!(p, q);
    let r = tree_digest(&pedestrians(dir.path(), 10, 1));
    assert_ne!(p["release/market_attribute.mat"], r["release/market_attribute.mat"]);
}

#[test]
fn prepare_decodes_every_split_in_table_order() {
    let dir = tempfile::tempdir().unwrap();
    let synth = pedestrians(dir.path(), 2, 2);
    let split = dir.path().join("split");
    run_stage("split", json!({"format": "market"}), &[("root", &synth)], &split, 2).unwrap();
    let prep = dir.path().join("prep");
    run_stage("prepare", json!({"size": [32, 16]}), &[("split", &split), ("root", &synth)], &prep, 2).unwrap();
    for f in ["tasks.json", "train.parquet", "test.csv", "prepared.json", "train.u8", "val.u8", "test.u8"] {
        assert!(prep.join(f).is_file(), "{f} missing");
    }
    let tasks = TaskSet::load(&prep).unwrap();
    let table = LabelTable::read(&tasks, &prep, "test").unwrap();
    let ps = PreparedSplit::open(&prep, "test").unwrap();
    assert_eq!((ps.len, ps.info.height, ps.info.width), (table.len(), 32, 16));
    // Row 3 is the table's row 3: decode it independently and compare.
    let img = image::open(synth.join("release").join(&table.images[3])).unwrap().to_rgb8();
    let small = image::imageops::resize(&img, 16, 32, image::imageops::FilterType::Triangle);
    let diff: f64 = ps.image(3).iter().zip(small.as_raw()).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum::<f64>() / (32.0 * 16.0 * 3.0);
    assert!(diff < 12.0, "mean abs difference {diff}");
    let other: f64 = ps.image(0).iter().zip(small.as_raw()).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum::<f64>() / (32.0 * 16.0 * 3.0);
    assert!(other > diff, "row 0 should differ more from image 3 than row 3 does");
    // Deterministic.
    let prep2 = dir.path().join("prep2");
    run_stage("prepare", json!({"size": [32, 16]}), &[("split", &split), ("root", &synth)], &prep2, 1).unwrap();
    assert_eq!(tree_digest(&prep), tree_digest(&prep2));
}

#[test]
fn missing_and_corrupt_images_error_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let synth = faces(dir.path(), 1, 0.0, 2);
    std::fs::remove_file(synth.join("release/img_align_celeba/000002.jpg")).unwrap();
    std::fs::write(synth.join("release/img_align_celeba/000003.jpg"), b"\xFF\xD8 not really a jpeg").unwrap();
    let err = format!("{:#}", run_stage("split", json!({"format": "celeba"}), &[("root", &synth)], &dir.path().join("s1"), 2).unwrap_err());
    assert!(err.contains("000002.jpg: listed but missing") && err.contains("000003.jpg") && err.contains("on_bad_image: skip"), "{err}");
    let split = dir.path().join("s2");
    run_stage("split", json!({"format": "celeba", "on_bad_image": "skip"}), &[("root", &synth)], &split, 2).unwrap();
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(split.join("split.json")).unwrap()).unwrap();
    assert_eq!(info["skipped_images"], 2);
    assert!(!info.to_string().contains(dir.path().to_str().unwrap()), "no absolute paths in split.json");
    let total: u64 = ["train", "val", "test"].iter().map(|s| info["counts"][s].as_u64().unwrap()).sum();
    assert_eq!(total, 58);
    // Unknown identity in a Market training folder: an error naming the file.
    let peds = pedestrians(dir.path(), 5, 2);
    std::fs::copy(peds.join("release/query").read_dir().unwrap().next().unwrap().unwrap().path(), peds.join("release/bounding_box_train/9998_c1s1_000100_01.jpg")).unwrap();
    let err = format!("{:#}", run_stage("split", json!({"format": "market"}), &[("root", &peds)], &dir.path().join("s3"), 2).unwrap_err());
    assert!(err.contains("9998_c1s1_000100_01.jpg: identity 9998 has no labels"), "{err}");
    // Bad parameters are refused before running.
    assert!(run_stage("split", json!({"format": "imagenet"}), &[("root", &peds)], &dir.path().join("s4"), 1).is_err());
    assert!(run_stage("synth", json!({"style": "faces", "identities": 3}), &[], &dir.path().join("s5"), 1).unwrap_err().to_string().contains("does not apply"));
}
