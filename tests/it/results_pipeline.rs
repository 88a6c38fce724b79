//! End-to-end test of the results kinds on fabricated upstream directories: evaluate (with a
//! stand-in predictor) → compare → plot → report, then the report in headless Chromium.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use awmt::data::tasks::{LabelTable, Task, TaskSet};
use awmt::stages::{evaluate, find, InputItem, StageContext};
use awmt::train::prediction::PredictionRow;
use polars::prelude::*;

const CELEBA_TASKS: [&str; 6] = ["5_o_Clock_Shadow", "Bald", "Male", "Smiling", "Wearing_Hat", "Young"];
const IMAGES: usize = 240;

/// A deterministic hash in 0..1000 of (image, task, salt).
fn hash(i: usize, task: &str, salt: u64) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&(i as u64).to_le_bytes());
    h.update(task.as_bytes());
    h.update(&salt.to_le_bytes());
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().unwrap()) % 1000
}

fn item(path: &Path, stage: &str) -> InputItem {
    InputItem { path: path.to_path_buf(), stage: Some(stage.to_string()) }
}

fn context(
    root: &Path,
    stage: &str,
    kind: &str,
    with: serde_json::Value,
    inputs: Vec<(&str, Vec<InputItem>)>,
) -> StageContext {
    StageContext::standalone(kind, stage, &with, inputs, &root.join("out").join(stage)).unwrap_or_else(|e| panic!("{stage}: {e:#}"))
}

fn run(ctx: &StageContext) -> PathBuf {
    ctx.run_standalone().unwrap_or_else(|e| panic!("stage {}: {e:#}", ctx.stage));
    ctx.out_dir.clone()
}

/// A prepared-data directory: tasks.json, train/test tables, `<task>__marked` columns for colours.
fn prepared(root: &Path, name: &str, format: &str, tasks: Vec<Task>) -> PathBuf {
    prepared_from(root, name, format, "synthetic", tasks)
}

fn prepared_from(root: &Path, name: &str, format: &str, source: &str, tasks: Vec<Task>) -> PathBuf {
    let dir = root.join("upstream").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let set = TaskSet { format: format.into(), source: source.into(), root: "release".into(), tasks };
    set.save(&dir).unwrap();
    for (split, n, salt) in [("train", 300usize, 11u64), ("test", IMAGES, 12)] {
        let mut table = LabelTable::default();
        let mut marked: Vec<Option<String>> = Vec::new();
        for i in 0..n {
            table.images.push(format!("{split}/{i:05}.jpg"));
            table.identities.push(i as i64 / 4);
        }
        for t in &set.tasks {
            let values: Vec<Option<i32>> = (0..n)
                .map(|i| match t.classes.len() {
                    0 => {
                        // Imbalanced like real attributes: the share of +1 varies per task.
                        let share = 100 + 150 * (t.name.len() as u64 % 5);
                        Some(if hash(i, &t.name, salt) < share { 1 } else { -1 })
                    }
                    _ => match i % 4 {
                        0 => Some(0),
                        3 => Some(2),
                        _ => None, // multi-marked (1) or unmarked (2): masked for training
                    },
                })
                .collect();
            if !t.classes.is_empty() {
                marked = (0..n)
                    .map(|i| match i % 4 {
                        0 => Some("0".into()),
                        1 => Some("1;2".into()),
                        2 => Some(String::new()),
                        _ => Some("2".into()),
                    })
                    .collect();
            }
            table.labels.push(values);
        }
        table.write(&set, &dir, split).unwrap();
        if set.tasks.iter().any(|t| !t.classes.is_empty()) {
            // Add the marked column the way the split stage does.
            let pq = dir.join(format!("{split}.parquet"));
            let mut df = ParquetReader::new(std::fs::File::open(&pq).unwrap()).finish().unwrap();
            let col = set.tasks.iter().find(|t| !t.classes.is_empty()).unwrap().name.clone();
            df.with_column(Column::new(format!("{col}__marked").as_str().into(), marked.clone())).unwrap();
            ParquetWriter::new(std::fs::File::create(&pq).unwrap()).finish(&mut df).unwrap();
        }
    }
    dir
}

/// A stand-in train stage: `fake.json` says which tasks it predicts, how often it is right, and a
/// salt; `train_log.parquet` and `train_summary.json` follow the documented contract.
fn model(root: &Path, name: &str, tasks: &[&str], accuracy: u64, salt: u64, weighting: &str) -> PathBuf {
    let dir = root.join("upstream").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let fake = serde_json::json!({"tasks": tasks, "accuracy": accuracy, "salt": salt});
    std::fs::write(dir.join("fake.json"), fake.to_string()).unwrap();
    let summary = serde_json::json!({"weighting": {"method": weighting}, "seed": salt, "iterations": 120, "source": "synthetic", "tasks": tasks});
    std::fs::write(dir.join("train_summary.json"), summary.to_string()).unwrap();
    let (mut it, mut task, mut tl, mut vl, mut lam, mut lr) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 1..=120i64 {
        for (k, t) in tasks.iter().enumerate() {
            let noise = hash(i as usize, t, salt) as f64 / 1000.0 * 0.1;
            let decay = if weighting == "equal" { 0.6 } else { 0.45 };
            it.push(i);
            task.push(t.to_string());
            tl.push(1.0 / (1.0 + i as f64 / 40.0) + noise);
            vl.push(decay + 0.5 / (1.0 + i as f64 / 30.0) + noise + 0.02 * k as f64);
            lam.push(if weighting == "equal" { 1.0 } else { 1.0 + 0.5 * ((i as f64 / 20.0) + k as f64).sin() });
            lr.push(0.01);
        }
    }
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("iteration".into(), it),
        Column::new("task".into(), task),
        Column::new("train_loss".into(), tl),
        Column::new("val_loss".into(), vl),
        Column::new("lambda".into(), lam),
        Column::new("lr".into(), lr),
    ])
    .unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("train_log.parquet")).unwrap()).finish(&mut df).unwrap();
    dir
}

/// The stand-in for `awmt_torch::train::predict::predict`: right with the model's accuracy (per mille), wrong
/// otherwise; colour tasks predict the first marked colour when right.
fn fake_predict(
    model_dir: &Path,
    data_dir: &Path,
    split: &str,
    _tau: f64,
    _threads: usize,
) -> anyhow::Result<Vec<PredictionRow>> {
    let fake: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(model_dir.join("fake.json"))?)?;
    let accuracy = fake["accuracy"].as_u64().unwrap();
    let salt = fake["salt"].as_u64().unwrap();
    let names: Vec<String> =
        fake["tasks"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let tasks = TaskSet::load(data_dir)?;
    let table = LabelTable::read(&tasks, data_dir, split)?;
    let mut rows = Vec::new();
    for (i, image) in table.images.iter().enumerate() {
        for name in &names {
            let t = tasks.index_of(name).unwrap();
            let task = &tasks.tasks[t];
            let label = table.labels[t][i].map(i64::from);
            let right = hash(i, name, salt) < accuracy;
            let prediction = match (task.classes.len(), label) {
                (0, Some(l)) => {
                    if right {
                        l
                    } else {
                        -l
                    }
                }
                (0, None) => 1,
                (c, _) => {
                    // The marked set, as the test table was built.
                    let marked: Vec<i64> = match i % 4 {
                        0 => vec![0],
                        1 => vec![1, 2],
                        2 => vec![],
                        _ => vec![2],
                    };
                    match (right, marked.first()) {
                        (true, Some(&m)) => m,
                        _ => (0..c as i64).find(|k| !marked.contains(k)).unwrap_or(0),
                    }
                }
            };
            rows.push(PredictionRow {
                image: image.clone(),
                task: name.clone(),
                score: prediction as f64 * 0.7,
                prediction,
                label,
            });
        }
    }
    Ok(rows)
}

fn evaluate_stage(root: &Path, stage: &str, models: Vec<InputItem>, data: &Path, with: serde_json::Value) -> PathBuf {
    let ctx = context(root, stage, "evaluate", with, vec![("model", models), ("data", vec![item(data, "prepared")])]);
    evaluate::run_with(&ctx, &fake_predict).unwrap_or_else(|e| panic!("{stage}: {e:#}"));
    ctx.out_dir.clone()
}

fn read_csv(path: &Path) -> DataFrame {
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .unwrap()
        .finish()
        .unwrap()
}

fn f64_col(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    df.column(name).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
}

fn str_col(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .unwrap()
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

/// Mean over tasks of the per-task accuracy recomputed from `predictions.csv` (independent of
/// awmt's metric code: `correct` is recomputed from prediction and label / the marked sets).
fn mean_accuracy_from_predictions(run: &Path) -> f64 {
    let df = read_csv(&run.join("predictions.csv"));
    let (images, tasks) = (str_col(&df, "image"), str_col(&df, "task"));
    let pred: Vec<i64> = f64_col(&df, "prediction").into_iter().map(|v| v.unwrap() as i64).collect();
    let label = f64_col(&df, "label");
    let mut per_task: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for r in 0..df.height() {
        let correct = if tasks[r] == "C.up" {
            let i: usize = images[r].trim_start_matches("test/").trim_end_matches(".jpg").parse().unwrap();
            let marked: &[i64] = match i % 4 {
                0 => &[0],
                1 => &[1, 2],
                2 => &[],
                _ => &[2],
            };
            Some(marked.contains(&pred[r]))
        } else {
            label[r].map(|l| l as i64 == pred[r])
        };
        if let Some(c) = correct {
            let e = per_task.entry(tasks[r].clone()).or_default();
            e.0 += c as u32;
            e.1 += 1;
        }
    }
    per_task.values().map(|(c, n)| *c as f64 / *n as f64).sum::<f64>() / per_task.len() as f64
}

struct Built {
    root: tempfile::TempDir,
    evals: BTreeMap<String, PathBuf>,
    table1: PathBuf,
    table2: PathBuf,
    figures: PathBuf,
    report: PathBuf,
}

fn build() -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let faces = prepared(root, "faces", "celeba", CELEBA_TASKS.iter().map(|t| Task::binary(t)).collect());
    let ped_tasks =
        || vec![Task::binary("gender"), Task::binary("hat"), Task::multiclass("C.up", &["black", "white", "red"])];
    let market = prepared(root, "market", "market", ped_tasks());
    let duke = prepared(root, "duke", "duke", ped_tasks());
    let mut evals = BTreeMap::new();

    // CelebA: basic (two seeds), awmt, separate (one model per task).
    let basic1 = model(root, "basic", &CELEBA_TASKS, 850, 1, "equal");
    let basic2 = model(root, "basic_seed2", &CELEBA_TASKS, 830, 2, "equal");
    let awmt = model(root, "awmt", &CELEBA_TASKS, 920, 3, "validation_loss_trend");
    let separate: Vec<InputItem> = CELEBA_TASKS
        .iter()
        .map(|t| item(&model(root, &format!("separate_{t}"), &[t], 780, 4, "equal"), &format!("separate[{t}]")))
        .collect();
    evals.insert(
        "eval[basic]".into(),
        evaluate_stage(root, "eval[basic]", vec![item(&basic1, "basic")], &faces, serde_json::Value::Null),
    );
    evals.insert(
        "eval[basic_seed2]".into(),
        evaluate_stage(
            root,
            "eval[basic_seed2]",
            vec![item(&basic2, "basic_seed2")],
            &faces,
            serde_json::json!({"method": "basic"}),
        ),
    );
    evals.insert(
        "eval[awmt]".into(),
        evaluate_stage(root, "eval[awmt]", vec![item(&awmt, "awmt")], &faces, serde_json::Value::Null),
    );
    evals.insert(
        "eval[separate]".into(),
        evaluate_stage(root, "eval[separate]", separate, &faces, serde_json::Value::Null),
    );

    // Market and Duke: basic and awmt.
    let ped = ["gender", "hat", "C.up"];
    for (name, data) in [("market", &market), ("duke", &duke)] {
        for (method, acc, salt) in [("basic", 800, 5), ("awmt", 880, 6)] {
            let m = model(
                root,
                &format!("{name}_{method}"),
                &ped,
                acc,
                salt,
                if method == "basic" { "equal" } else { "validation_loss_trend" },
            );
            let stage = format!("eval_{name}[{method}]");
            evals.insert(
                stage.clone(),
                evaluate_stage(root, &stage, vec![item(&m, method)], data, serde_json::Value::Null),
            );
        }
    }
    let celeba_runs: Vec<InputItem> = ["eval[basic]", "eval[basic_seed2]", "eval[awmt]", "eval[separate]"]
        .iter()
        .map(|s| item(&evals[*s], s))
        .collect();
    let table1 = run(&context(
        root,
        "table1",
        "compare",
        serde_json::json!({"resamples": 300, "seed": 5}),
        vec![("runs", celeba_runs)],
    ));
    let ped_runs: Vec<InputItem> =
        evals.iter().filter(|(k, _)| k.starts_with("eval_")).map(|(k, v)| item(v, k)).collect();
    let table2 = run(&context(
        root,
        "table2",
        "compare",
        serde_json::json!({"table": "pedestrian", "resamples": 300}),
        vec![("runs", ped_runs)],
    ));
    let figures = run(&context(
        root,
        "figures",
        "plot",
        serde_json::Value::Null,
        vec![
            ("compare", vec![item(&table1, "table1"), item(&table2, "table2")]),
            (
                "train",
                vec![
                    item(&basic1, "basic"),
                    item(&awmt, "awmt"),
                    item(&root.join("upstream/separate_Bald"), "separate[Bald]"),
                ],
            ),
            ("data", vec![item(&faces, "faces_split"), item(&market, "market_split")]),
        ],
    ));
    // A dataset input with a contact sheet, and a run record.
    let synth = root.join("upstream/synth_faces");
    std::fs::create_dir_all(&synth).unwrap();
    std::fs::copy(figures.join("label_balance_celeba.png"), synth.join("contact_sheet.png")).unwrap();
    std::fs::write(synth.join("synth.json"), r#"{"style": "faces", "source": "synthetic", "images": 240, "seed": 7}"#)
        .unwrap();
    let record = root.join("upstream/run_record.json");
    // As the orchestrator writes it: the stage graph and the run's traces so far.
    let record_json = serde_json::json!({
        "host": "ci-<box>",
        "awmt_version": "0.1.0",
        "durations": {"eval[awmt]": 1.25},
        "graph": [
            {"name": "awmt[1]", "group": "awmt", "kind": "train", "upstream": [], "status": "ran"},
            {"name": "awmt[2]", "group": "awmt", "kind": "train", "upstream": [], "status": "cached"},
            {"name": "eval[awmt]", "group": "eval", "kind": "evaluate", "upstream": ["awmt[1]", "awmt[2]"], "status": "ran"},
            {"name": "report", "group": "report", "kind": "report", "upstream": ["eval[awmt]"], "status": ""}
        ],
        "traces": [
            {"run": "r", "stage": "awmt[1]", "kind": "train", "status": "ran", "attempts": 1, "start": 100.0, "end": 104.0, "seconds": 4.0,
             "cpu_seconds": 7.5, "max_rss": 300000000, "bytes_written": 1200, "executor": "local", "gpus": null},
            {"run": "r", "stage": "awmt[2]", "kind": "train", "status": "cached", "attempts": 0, "start": 100.0, "end": 100.0, "seconds": 0.0,
             "executor": "local", "gpus": null},
            {"run": "r", "stage": "eval[awmt]", "kind": "evaluate", "status": "ran", "attempts": 2, "start": 104.5, "end": 105.75, "seconds": 1.25,
             "cpu_seconds": 1.0, "max_rss": 120000000, "bytes_written": 800, "executor": "local", "gpus": [0]}
        ]
    });
    std::fs::write(&record, serde_json::to_vec(&record_json).unwrap()).unwrap();
    let report = run(&context(
        root,
        "report",
        "report",
        serde_json::json!({"title": "awmt results <test> & checks"}),
        vec![
            ("compare", vec![item(&table1, "table1"), item(&table2, "table2")]),
            ("figures", vec![item(&figures, "figures")]),
            ("dataset", vec![item(&synth, "faces")]),
            ("run_record", vec![InputItem { path: record, stage: None }]),
        ],
    ));
    // AWMT_RESULTS_KEEP=<dir> keeps the outputs for looking at them.
    if let Some(keep) = std::env::var_os("AWMT_RESULTS_KEEP") {
        let keep = PathBuf::from(keep);
        for dir in [&table1, &table2, &figures, &report] {
            for (rel, bytes) in snapshot(dir) {
                let to = keep.join(dir.file_name().unwrap()).join(rel);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::write(to, bytes).unwrap();
            }
        }
    }
    Built { root: tmp, evals, table1, table2, figures, report }
}

/// Every file under `dir`, relative path → bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().display().to_string(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// `src="…"` and `href="…"` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(k) = rest.find(attr) {
            rest = &rest[k + attr.len()..];
            let end = rest.find('"').unwrap();
            // Attribute values are entity-escaped (minijinja writes `/` as `&#x2f;`).
            out.push(rest[..end].replace("&#x2f;", "/").replace("&amp;", "&"));
            rest = &rest[end..];
        }
    }
    out
}

fn assert_png_not_blank(path: &Path) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    let (w, h) = img.dimensions();
    assert!(w >= 400 && h >= 200, "{}: {w}×{h}", path.display());
    let non_white = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(non_white * 50 > (w * h) as usize, "{}: only {non_white} non-white pixels", path.display());
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 8, "{}: {} colours", path.display(), colours.len());
}

#[test]
fn evaluate_compare_plot_report_end_to_end() {
    let b = build();

    // evaluate: files, shapes, the colour rule, the method label.
    let awmt = &b.evals["eval[awmt]"];
    let metrics = read_csv(&awmt.join("metrics.csv"));
    assert_eq!(str_col(&metrics, "task"), [&CELEBA_TASKS[..], &["mean"]].concat());
    let preds = read_csv(&awmt.join("predictions.csv"));
    assert_eq!(preds.height(), IMAGES * CELEBA_TASKS.len());
    assert_eq!(
        preds.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["image", "identity", "task", "score", "prediction", "label", "correct"]
    );
    // The identity comes from the split table (4 images per identity in these fixtures).
    let (images, ids) = (str_col(&preds, "image"), f64_col(&preds, "identity"));
    for (image, id) in images.iter().zip(&ids) {
        let i: usize = image.trim_start_matches("test/").trim_end_matches(".jpg").parse().unwrap();
        assert_eq!(*id, Some((i / 4) as f64), "{image}");
    }
    let sep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.evals["eval[separate]"].join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(sep["method"], "separate");
    assert_eq!(sep["model_stages"].as_array().unwrap().len(), 6);
    assert_eq!(sep["source"], "synthetic");
    let seed2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.evals["eval[basic_seed2]"].join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(seed2["method"], "basic");
    let market = &b.evals["eval_market[awmt]"];
    let mm = read_csv(&market.join("metrics.csv"));
    let acc = f64_col(&mm, "accuracy");
    let n = f64_col(&mm, "n");
    // C.up is scored on every image, unmarked ones included (never correct): n = all images.
    assert_eq!(n[2], Some(IMAGES as f64));
    assert!((f64_col(&mm, "accuracy")[3].unwrap() - mean_accuracy_from_predictions(market)).abs() < 1e-9);
    assert!(acc[2].unwrap() < 0.75 + 1e-9, "a quarter of the images are unmarked: {:?}", acc[2]);

    // compare, Table 1: published rows first and marked, measured rows from the runs.
    let t1 = read_csv(&b.table1.join("table1.csv"));
    let methods = str_col(&t1, "method");
    let kinds = str_col(&t1, "kind");
    assert_eq!(t1.height(), 12 + 3 + 1, "{methods:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "published").count(), 12);
    assert_eq!(&methods[12..], ["basic", "awmt", "separate", "Majority class"]);
    assert!(kinds[12..15].iter().all(|k| k == "measured (synthetic data)"));
    assert_eq!(kinds[15], "baseline (synthetic test labels)");
    // The majority row, recomputed from the test labels: the commoner label's share per task.
    let preds = read_csv(&awmt.join("predictions.csv"));
    let (ptask, plabel) = (str_col(&preds, "task"), f64_col(&preds, "label"));
    let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for (t, l) in ptask.iter().zip(&plabel) {
        let e = counts.entry(t.clone()).or_default();
        if *l == Some(1.0) { e.0 += 1 } else { e.1 += 1 }
    }
    let want_majority = 100.0 * counts.values().map(|&(p, n)| p.max(n) as f64 / (p + n) as f64).sum::<f64>() / counts.len() as f64;
    let got_majority = f64_col(&t1, "mean_accuracy_pct")[15].unwrap();
    assert!((got_majority - want_majority).abs() < 1e-3, "{got_majority} vs {want_majority}");
    assert_eq!(methods[11], "AWMT (paper)");
    let means = f64_col(&t1, "mean_accuracy_pct");
    assert_eq!(means[11], Some(91.80));
    let want_awmt = 100.0 * mean_accuracy_from_predictions(awmt);
    assert!((means[13].unwrap() - want_awmt).abs() < 1e-3, "{:?} vs {want_awmt}", means[13]);
    let (b1, b2) = (
        mean_accuracy_from_predictions(&b.evals["eval[basic]"]),
        mean_accuracy_from_predictions(&b.evals["eval[basic_seed2]"]),
    );
    assert!((means[12].unwrap() - 50.0 * (b1 + b2)).abs() < 1e-3);
    let std = f64_col(&t1, "std_pct");
    assert!((std[12].unwrap() - 100.0 * (b1 - b2).abs() / 2f64.sqrt()).abs() < 1e-3, "sample std of two seeds");
    assert_eq!(std[13], None);
    assert_eq!(f64_col(&t1, "seeds")[12], Some(2.0));
    assert!(str_col(&t1, "reference")[0].contains("Kumar"));
    // Δm against the separate models (detected: every model trained on one task), by hand from
    // the per-attribute accuracies of the runs' metrics.
    let dm = f64_col(&t1, "delta_m_pct");
    assert!(dm[..12].iter().all(Option::is_none), "published rows have no Δm");
    assert_eq!(dm[14], Some(0.0), "the baseline itself");
    let task_acc = |run: &str| -> Vec<f64> {
        let m = read_csv(&b.evals[run].join("metrics.csv"));
        f64_col(&m, "accuracy")[..CELEBA_TASKS.len()].iter().map(|v| v.unwrap()).collect()
    };
    let sep = task_acc("eval[separate]");
    let want_dm = |run: &str| {
        100.0 * task_acc(run).iter().zip(&sep).map(|(m, s)| (m - s) / s).sum::<f64>() / sep.len() as f64
    };
    assert!((dm[13].unwrap() - want_dm("eval[awmt]")).abs() < 1e-3, "{:?} vs {}", dm[13], want_dm("eval[awmt]"));
    assert!(dm[13].unwrap() > 0.0, "awmt (92%) beats the separate models (78%)");
    let dm_basic = (want_dm("eval[basic]") + want_dm("eval[basic_seed2]")) / 2.0;
    assert!((dm[12].unwrap() - dm_basic).abs() < 1e-3);
    let dm_std = f64_col(&t1, "delta_m_std");
    let spread = (want_dm("eval[basic]") - want_dm("eval[basic_seed2]")).abs() / 2f64.sqrt();
    assert!((dm_std[12].unwrap() - spread).abs() < 1e-3 && dm_std[13].is_none());

    // Per-attribute: measured columns then published ones, marked as such.
    let pa = read_csv(&b.table1.join("per_attribute_celeba.csv"));
    let cols: Vec<String> = pa.get_column_names().iter().map(|c| c.to_string()).collect();
    assert_eq!(cols[..5], ["attribute", "basic", "awmt", "separate", "Majority class"]);
    assert_eq!(cols.len(), 5 + 6);
    assert!(cols[5..].iter().all(|c| c.ends_with(" (published)")));
    assert_eq!(f64_col(&pa, "Moon (published)")[1], Some(98.77), "Bald, Moon");
    // Wins: synthetic runs are not set against published real-data numbers.
    let wins = read_csv(&b.table1.join("wins_celeba.csv"));
    assert_eq!(str_col(&wins, "method"), ["basic", "awmt", "separate"]);
    assert_eq!(wins.width(), 4);
    // McNemar (image-level view): 3 pairs × 6 attributes.
    let mc = read_csv(&b.table1.join("mcnemar_celeba.csv"));
    assert_eq!(mc.height(), 18);
    assert!(f64_col(&mc, "p_value").iter().all(|p| (0.0..=1.0).contains(&p.unwrap())));
    // Bootstrap: one identity-level interval per pair around the observed difference.
    let bs = read_csv(&b.table1.join("bootstrap_celeba.csv"));
    assert_eq!(bs.height(), 3);
    let (d, lo, hi) = (f64_col(&bs, "mean_diff_pct"), f64_col(&bs, "ci_low_pct"), f64_col(&bs, "ci_high_pct"));
    for r in 0..3 {
        assert!(lo[r].unwrap() <= d[r].unwrap() + 1e-3 && d[r].unwrap() <= hi[r].unwrap() + 1e-3);
    }
    assert_eq!(str_col(&bs, "unit"), ["identities"; 3]);
    assert_eq!(f64_col(&bs, "units"), [Some((IMAGES / 4) as f64); 3]);
    assert_eq!(f64_col(&bs, "images"), [Some(IMAGES as f64); 3]);
    // basic has two seeds, awmt one: one pairing, basic's first seed.
    assert_eq!(f64_col(&bs, "seed_pairings")[0], Some(1.0));
    assert_eq!(str_col(&bs, "runs_a")[0], "eval[basic]");
    // basic (first seed) vs awmt: awmt is right 92% of the time vs 85%: the interval excludes 0.
    assert_eq!(str_col(&bs, "method_b")[0], "awmt");
    assert!(hi[0].unwrap() < 0.0, "{:?}", (lo[0], d[0], hi[0]));
    let b1_minus_awmt = 100.0 * (b1 - mean_accuracy_from_predictions(awmt));
    assert!((d[0].unwrap() - b1_minus_awmt).abs() < 1e-3, "{:?} vs {b1_minus_awmt}", d[0]);
    // Per-attribute tests: 3 pairs × 6 attributes, identity-level, Holm-adjusted.
    let at = read_csv(&b.table1.join("attribute_tests_celeba.csv"));
    assert_eq!(at.height(), 18);
    let (p_raw, p_holm) = (f64_col(&at, "p_value"), f64_col(&at, "p_value_holm"));
    let significant = str_col(&at, "significant");
    for r in 0..18 {
        let (p, h) = (p_raw[r].unwrap(), p_holm[r].unwrap());
        assert!((0.0..=1.0).contains(&p) && p <= h + 1e-12 && h <= 1.0, "row {r}: {p} {h}");
        assert_eq!(significant[r] == "true", h < 0.05, "row {r}");
    }
    assert_eq!(f64_col(&at, "units"), [Some((IMAGES / 4) as f64); 18]);
    // T = Σ_g s_g is the number of images A gets right minus B's: diff × images.
    let (diff, images, stat) = (f64_col(&at, "diff_pct"), f64_col(&at, "images"), f64_col(&at, "statistic"));
    for r in 0..18 {
        assert!((diff[r].unwrap() * images[r].unwrap() / 100.0 - stat[r].unwrap()).abs() < 1e-3, "row {r}");
    }
    // With 60 identities of 4 images, more than 20 differ: random flips.
    assert!(str_col(&at, "test").iter().all(|t| t == "10000 random sign flips"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.table1.join("compare.json")).unwrap()).unwrap();
    assert!(summary["model_selection"].as_str().unwrap().starts_with("last iteration"));
    assert_eq!(summary["statistics"]["formats"][0]["units"], serde_json::json!(["identities"]));
    assert_eq!(summary["statistics"]["formats"][0]["delta_m_baseline"], "separate");
    let captions: Vec<&str> = summary["tables"].as_array().unwrap().iter().map(|t| t["caption"].as_str().unwrap()).collect();
    assert!(captions[0].contains("last iteration") && captions[0].contains("`separate`"), "{}", captions[0]);
    let stems: Vec<&str> = summary["tables"].as_array().unwrap().iter().map(|t| t["stem"].as_str().unwrap()).collect();
    let boot_caption = captions[stems.iter().position(|s| *s == "bootstrap_celeba").unwrap()];
    assert!(boot_caption.contains("Resampled: identities") && boot_caption.contains("seed k of A"), "{boot_caption}");
    for ext in ["md", "html", "parquet"] {
        assert!(b.table1.join(format!("table1.{ext}")).exists());
    }

    // Table 2: both datasets in one row per measured method.
    let t2 = read_csv(&b.table2.join("table2.csv"));
    // Groups come in input order (duke runs first, awmt before basic): one row per method.
    assert_eq!(str_col(&t2, "method")[5..], ["awmt", "basic", "Majority class"]);
    let mk = f64_col(&t2, "market1501_pct");
    let dk = f64_col(&t2, "duke_pct");
    assert!((mk[5].unwrap() - 100.0 * mean_accuracy_from_predictions(market)).abs() < 1e-3);
    assert!(dk[5].is_some() && dk[6].is_some() && mk[4] == Some(88.49));
    assert!(b.table2.join("per_attribute_market.csv").exists() && b.table2.join("mcnemar_duke.csv").exists());
    assert!(b.table2.join("attribute_tests_market.csv").exists() && b.table2.join("bootstrap_duke.csv").exists());
    // No separate models among the pedestrian runs: no Δm, and the caption says why.
    assert!(f64_col(&t2, "delta_m_market_pct").iter().chain(&f64_col(&t2, "delta_m_duke_pct")).all(Option::is_none));
    let summary2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.table2.join("compare.json")).unwrap()).unwrap();
    assert!(summary2["tables"][0]["caption"].as_str().unwrap().contains("No Δm"));

    // plot: every figure decodes and has content; SVGs exist.
    let figs: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(b.figures.join("figures.json")).unwrap()).unwrap();
    let stems: Vec<&str> = figs.iter().map(|f| f["stem"].as_str().unwrap()).collect();
    assert_eq!(
        stems,
        [
            "error_celeba",
            "error_duke", // the pedestrian comparison's formats in run order: duke runs came first
            "error_market",
            "val_loss",
            "lambda_basic",
            "lambda_awmt",
            "label_balance_celeba",
            "label_balance_market"
        ]
    );
    for stem in &stems {
        assert_png_not_blank(&b.figures.join(format!("{stem}.png")));
        let svg = std::fs::read_to_string(b.figures.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
    }

    // report: self-contained, escaped, provenance, banner.
    let html = std::fs::read_to_string(b.report.join("report.html")).unwrap();
    assert!(html.contains("id=\"synthetic-banner\""));
    assert!(html.contains("awmt results &lt;test&gt; &amp; checks"));
    assert!(!html.contains("<test>"));
    assert!(html.contains("ci-&lt;box&gt;"), "run record shown, escaped");
    assert_eq!(
        html.matches("<table class=\"awmt-table\"").count(),
        8 + 14 + 2,
        "8 CelebA tables (with the ranking), 14 pedestrian tables (a ranking per dataset), the runs and their resources"
    );
    assert!(html.contains("id=\"c0-table1\"") && html.contains("id=\"c1-table2\""));
    assert_eq!(html.matches("<img src=\"data:image/png;base64,").count(), stems.len() + 1);
    for r in references(&html) {
        assert!(r.starts_with("data:image/png;base64,") || r.starts_with('#'), "external reference {r}");
    }
    assert!(!html.contains(&b.root.path().display().to_string()), "no absolute paths in the page");
    let md = std::fs::read_to_string(b.report.join("summary.md")).unwrap();
    assert!(md.contains("**Synthetic data:**") && md.contains("| AWMT (paper) | published | 91.80 |"));
    assert!(md.contains("| delta_m_pct | delta_m_std |"), "Δm in the report's Table 1");
    for stem in &stems {
        assert!(b.report.join(format!("figures/{stem}.png")).exists());
    }
    assert!(md.starts_with("# awmt results &lt;test&gt; &amp; checks\n") && !md.contains("<test>"), "the summary escapes it too");
    assert!(!html.contains("<script"), "the page runs no script (its CSP forbids it)");
}

#[test]
fn outputs_are_deterministic_and_relative_links_resolve() {
    let a = build();
    let b = build();
    for (x, y) in [(&a.table1, &b.table1), (&a.table2, &b.table2), (&a.figures, &b.figures), (&a.report, &b.report)] {
        let (sx, sy) = (snapshot(x), snapshot(y));
        assert_eq!(sx.keys().collect::<Vec<_>>(), sy.keys().collect::<Vec<_>>());
        for (k, v) in &sx {
            assert!(v == &sy[k], "{k} differs between two identical runs");
        }
    }
    // A report with figures linked rather than embedded references only files next to it.
    let root = a.root.path();
    let linked = run(&context(
        root,
        "report_linked",
        "report",
        serde_json::json!({"embed": false}),
        vec![("compare", vec![item(&a.table1, "table1")]), ("figures", vec![item(&a.figures, "figures")])],
    ));
    let html = std::fs::read_to_string(linked.join("report.html")).unwrap();
    let refs = references(&html);
    assert!(refs.iter().any(|r| r.ends_with(".svg")));
    for r in refs.iter().filter(|r| !r.starts_with('#')) {
        assert!(!r.contains("..") && !r.starts_with('/'), "{r}");
        assert!(linked.join(r).is_file(), "the page references missing file {r}");
    }
}

#[test]
fn clear_errors_for_wrong_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let faces = prepared(root, "faces", "celeba", CELEBA_TASKS.iter().map(|t| Task::binary(t)).collect());
    let market = prepared(root, "market", "market", vec![Task::binary("gender")]);
    let m = model(root, "basic", &CELEBA_TASKS, 850, 1, "equal");
    let dup = model(root, "other", &["Bald"], 850, 2, "equal");
    // Two models predicting the same task.
    let ctx = context(
        root,
        "eval[dup]",
        "evaluate",
        serde_json::Value::Null,
        vec![("model", vec![item(&m, "basic"), item(&dup, "other")]), ("data", vec![item(&faces, "faces")])],
    );
    let err = evaluate::run_with(&ctx, &fake_predict).unwrap_err();
    assert!(format!("{err:#}").contains("predicted twice"), "{err:#}");
    // A pedestrian run in a CelebA table.
    let pm = model(root, "ped", &["gender"], 800, 3, "equal");
    let run_dir =
        evaluate_stage(root, "eval_market[basic]", vec![item(&pm, "basic")], &market, serde_json::Value::Null);
    let ctx = context(
        root,
        "t1",
        "compare",
        serde_json::Value::Null,
        vec![("runs", vec![item(&run_dir, "eval_market[basic]")])],
    );
    let err = find("compare").unwrap().run(&ctx).unwrap_err();
    assert!(err.to_string().contains("table: pedestrian"), "{err}");
    // Not an evaluate output.
    let ctx = context(root, "t1b", "compare", serde_json::Value::Null, vec![("runs", vec![item(&faces, "faces")])]);
    let err = find("compare").unwrap().run(&ctx).unwrap_err();
    assert!(format!("{err:#}").contains("metrics.json"), "{err:#}");
}

#[test]
fn report_opens_in_headless_chromium() {
    let b = build();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chromium/check_report.sh");
    let out = b.root.path().join("chromium");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(b.report.join("report.html"))
        .arg(&out)
        .status()
        .expect("running bash");
    if status.code() == Some(77) {
        eprintln!("SKIPPED report_opens_in_headless_chromium: Chromium is not available and could not be installed");
        return;
    }
    assert!(status.success(), "check_report.sh failed: {status}");
    let dom = std::fs::read_to_string(out.join("dom.html")).unwrap();
    assert!(dom.contains("data-checked=\"yes\""), "the page's load handler did not run");
    let images = dom.split("data-images=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
    assert_eq!(images, "9", "all figures and the contact sheet are images");
    assert!(dom.contains("data-images-broken=\"0\""), "an image failed to load");
    assert!(
        dom.contains("data-errors=\"0\""),
        "script or console errors: {}",
        dom.split("data-error-text=\"").nth(1).unwrap_or("")
    );
    for id in [
        "c0-table1",
        "c1-table2",
        "c0-per_attribute_celeba",
        "c0-bootstrap_celeba",
        "c0-attribute_tests_celeba",
        "provenance-table",
        "run-record",
        "pipeline-dag",
        "run-timeline",
        "resources-table",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "table {id} missing from the DOM");
    }
    assert_eq!(dom.matches("class=\"stage\"").count(), 3, "awmt (folded), eval and report boxes");
    assert_eq!(dom.matches("class=\"bar\"").count(), 2, "a bar per stage that ran; none for the cached one");
    assert!(dom.contains("local GPU 0"), "the evaluate stage's lane");
    let log = std::fs::read_to_string(out.join("dom.log")).unwrap_or_default();
    assert!(!log.contains("Uncaught") && !log.contains("Refused to"), "console: {log}");
    assert_png_not_blank(&out.join("screenshot.png"));
}

#[test]
fn unknown_identities_resample_images_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let faces = prepared(root, "faces", "celeba", CELEBA_TASKS.iter().map(|t| Task::binary(t)).collect());
    // A release without identity_CelebA.txt: the split table's identities are null.
    let pq = faces.join("test.parquet");
    let mut df = ParquetReader::new(std::fs::File::open(&pq).unwrap()).finish().unwrap();
    df.with_column(Column::new("identity".into(), vec![None::<i64>; df.height()])).unwrap();
    ParquetWriter::new(std::fs::File::create(&pq).unwrap()).finish(&mut df).unwrap();
    let a = model(root, "a", &CELEBA_TASKS, 900, 1, "equal");
    let b = model(root, "b", &CELEBA_TASKS, 850, 2, "equal");
    let runs: Vec<InputItem> = [("eval[a]", &a, "a"), ("eval[b]", &b, "b")]
        .iter()
        .map(|(stage, m, name)| {
            item(&evaluate_stage(root, stage, vec![item(m, name)], &faces, serde_json::Value::Null), stage)
        })
        .collect();
    let preds = read_csv(&runs[0].path.join("predictions.csv"));
    assert!(f64_col(&preds, "identity").iter().all(Option::is_none));
    let table = run(&context(root, "t", "compare", serde_json::json!({"resamples": 200}), vec![("runs", runs)]));
    let bs = read_csv(&table.join("bootstrap_celeba.csv"));
    assert_eq!(str_col(&bs, "unit"), ["images (identity unknown)"]);
    assert_eq!(f64_col(&bs, "units"), [Some(IMAGES as f64)]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(table.join("compare.json")).unwrap()).unwrap();
    let caption = summary["tables"].as_array().unwrap().iter().find(|t| t["stem"] == "attribute_tests_celeba").unwrap()
        ["caption"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(caption.contains("Resampled: images (identity unknown)"), "{caption}");
}

#[test]
fn real_data_runs_are_labelled_real_and_meet_the_published_methods() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let faces = prepared_from(root, "faces", "celeba", "real", CELEBA_TASKS.iter().map(|t| Task::binary(t)).collect());
    let m = model(root, "awmt", &CELEBA_TASKS, 900, 1, "validation_loss_trend");
    let run_dir = evaluate_stage(root, "eval[awmt]", vec![item(&m, "awmt")], &faces, serde_json::Value::Null);
    let with = serde_json::json!({"published": ["Moon", "AWMT (paper)", "MCNN-AUX"], "resamples": 50});
    let table = run(&context(root, "table1", "compare", with, vec![("runs", vec![item(&run_dir, "eval[awmt]")])]));
    let t1 = read_csv(&table.join("table1.csv"));
    assert_eq!(str_col(&t1, "method"), ["Moon", "AWMT (paper)", "awmt", "Majority class"], "the `published` list filters Table 1");
    assert_eq!(str_col(&t1, "kind"), ["published", "published", "measured (real data)", "baseline (real test labels)"]);
    // On real data the published per-attribute numbers take part in the win counts.
    let wins = read_csv(&table.join("wins_celeba.csv"));
    assert_eq!(str_col(&wins, "method"), ["awmt", "Moon (published)", "MCNN-AUX (published)"]);
    let report = run(&context(
        root,
        "report",
        "report",
        serde_json::Value::Null,
        vec![("compare", vec![item(&table, "table1")])],
    ));
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(!html.contains("synthetic-banner") && html.contains("Measured on real data (real)"));
}
