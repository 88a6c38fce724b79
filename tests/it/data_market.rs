//! Market-1501 / Duke loader against the real attribute files and an independent scipy reading.

use crate::data_support;

use std::collections::BTreeMap;

use awmt::data::market::{IdentityLabels, PedAnnotations, PedFormat, TaskDef};
use awmt::data::matfile::parse_mat;

/// The eval-label JSON code of one identity for task `def` (the JSON's own encoding: raw 1/2
/// values, age 1..4, colour codes from its `definition`, 0 = none/ambiguous).
fn my_code(def: &TaskDef, l: &IdentityLabels, k: usize, colour_code: &dyn Fn(&str, &str) -> i64) -> i64 {
    match def {
        TaskDef::Binary { .. } => match l.labels[k] {
            Some(-1) => 1,
            Some(1) => 2,
            None => 0,
            Some(v) => panic!("binary label {v}"),
        },
        TaskDef::Ordinal { .. } => l.labels[k].map(|c| c as i64 + 1).unwrap_or(0),
        TaskDef::Colour { name, classes, .. } => match l.labels[k] {
            Some(c) => colour_code(*name, classes[c as usize]),
            None => 0,
        },
    }
}

fn check_against_json(format: PedFormat, mat: &str, json: &str, n_train: usize, n_test: usize) {
    let Some(real) = data_support::real_dir() else { return };
    let ann = PedAnnotations::load(&real.join(mat), format).unwrap();
    assert_eq!((ann.train.len(), ann.test.len()), (n_train, n_test));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(real.join(json)).unwrap()).unwrap();
    let def = &j["definition"];
    // Colour class name → the JSON's colour code.
    let colour_code = |task: &str, class: &str| -> i64 {
        let prefix = if task == "upcolor" { "up" } else { "down" };
        let field = format!("{prefix}{class}");
        if let Some(list) = def[task].as_array() {
            return list.iter().position(|v| v.as_str() == Some(field.as_str())).map(|p| p as i64 + 1).expect("colour in definition");
        }
        def[format!("{task}_codes")][field.as_str()].as_i64().expect("colour code")
    };
    for (split, ids) in [("train", &ann.train), ("test", &ann.test)] {
        let per = j["splits"][split]["per_identity"].as_object().unwrap();
        assert_eq!(per.len(), ids.len());
        for (k, d) in format.task_defs().iter().enumerate() {
            let mut mine: BTreeMap<i64, usize> = BTreeMap::new();
            let mut theirs: BTreeMap<i64, usize> = BTreeMap::new();
            for l in ids.iter() {
                *mine.entry(my_code(d, l, k, &colour_code)).or_default() += 1;
            }
            for v in per.values() {
                *theirs.entry(v[d.name()].as_i64().unwrap()).or_default() += 1;
            }
            assert_eq!(mine, theirs, "{} {split} {}", format.name(), d.name());
            // Marked colour sets, identity by identity.
            if let TaskDef::Colour { name, classes, .. } = d {
                for l in ids.iter() {
                    let want: Vec<i64> = per[&l.id][format!("{name}_yes_codes")].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                    let mut got: Vec<i64> = l.marked[k].as_ref().unwrap().iter().map(|&c| colour_code(*name, classes[c])).collect();
                    let mut want = want;
                    got.sort();
                    want.sort();
                    assert_eq!(got, want, "{} {split} {} identity {}", format.name(), name, l.id);
                }
            }
        }
    }
}

#[test]
fn market_value_counts_match_the_independent_reading() {
    check_against_json(PedFormat::Market, "market_attribute.mat", "market_eval_labels.json", 751, 750);
}

#[test]
fn duke_value_counts_match_the_independent_reading() {
    check_against_json(PedFormat::Duke, "duke_attribute.mat", "duke_eval_labels.json", 702, 1110);
}

#[test]
fn duke_anomalies_are_masked_not_fatal() {
    let Some(real) = data_support::real_dir() else { return };
    let ann = PedAnnotations::load(&real.join("duke_attribute.mat"), PedFormat::Duke).unwrap();
    let top = PedFormat::Duke.task_defs().iter().position(|d| d.name() == "top").unwrap();
    let masked: Vec<&str> = ann.train.iter().filter(|l| l.labels[top].is_none()).map(|l| l.id.as_str()).collect();
    assert_eq!(masked, ["0370", "0679"]);
    let down = PedFormat::Duke.task_defs().iter().position(|d| d.name() == "downcolor").unwrap();
    let several = ann.test.iter().filter(|l| l.marked[down].as_ref().unwrap().len() > 1).count();
    // A hand count in the dataset notes said 24; the independent scipy reading (duke_eval_labels.json) has 23.
    assert_eq!(several, 23, "Duke test identities with 2–3 lower colours");
    assert!(ann.test.iter().filter(|l| l.marked[down].as_ref().unwrap().len() > 1).all(|l| l.labels[down].is_none()));
}

#[test]
fn broken_mat_files_give_clear_errors() {
    let Some(real) = data_support::real_dir() else { return };
    let good = std::fs::read(real.join("market_attribute.mat")).unwrap();
    // Truncations and corruptions anywhere: an error (or, for harmless bytes, a value), never a panic.
    for cut in (0..good.len()).step_by(97) {
        let _ = parse_mat(&good[..cut], "market_attribute.mat");
    }
    for at in (128..good.len()).step_by(53) {
        let mut bad = good.clone();
        bad[at] = bad[at].wrapping_add(77);
        let _ = parse_mat(&bad, "market_attribute.mat");
    }
    let err = parse_mat(&good[..good.len() / 2], "market_attribute.mat").unwrap_err().to_string();
    assert!(err.contains("market_attribute.mat"), "{err}");
    // The wrong file for the format names what it found.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mat");
    std::fs::write(&p, &good).unwrap();
    let err = format!("{:#}", PedAnnotations::load(&p, PedFormat::Duke).unwrap_err());
    assert!(err.contains("no variable `duke_attribute`") && err.contains("market_attribute"), "{err}");
    // v7.3 (HDF5) files are refused with the fix.
    let mut h5 = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .".to_vec();
    h5.resize(512, b' ');
    h5.extend_from_slice(b"\x89HDF\r\n\x1a\n");
    h5.resize(2048, 0);
    std::fs::write(&p, &h5).unwrap();
    let err = format!("{:#}", PedAnnotations::load(&p, PedFormat::Market).unwrap_err());
    assert!(err.contains("v7.3") && err.contains("-v7"), "{err}");
}
