//! From a dataset input (a `synth` stage output or a plain release folder) to the train / val /
//! test label tables of the `split` stage: format dispatch, image checks, task subsets.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use rayon::prelude::*;

use super::celeba::Celeba;
use super::images::check_decodable;
use super::market::{build_splits, locate_mat, PedAnnotations, PedFormat};
use super::tasks::{LabelTable, Task, TaskSet};

pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// Where a dataset input keeps its release, and whether it is synthetic.
#[derive(Debug, Clone)]
pub struct DatasetInput {
    /// The release root (images and annotation files).
    pub release: PathBuf,
    /// The release root relative to the input (`release` for a synth stage, `` otherwise).
    pub root_rel: String,
    /// `synthetic` or `real`.
    pub source: String,
}

/// A `synth` stage output (has `synth.json` and `release/`) or a plain dataset folder.
pub fn resolve_input(root: &Path) -> Result<DatasetInput> {
    if !root.is_dir() {
        bail!("dataset input {} is not a directory", root.display());
    }
    let marker = root.join("synth.json");
    if marker.is_file() && root.join("release").is_dir() {
        let text = std::fs::read_to_string(&marker).with_context(|| format!("reading {}", marker.display()))?;
        let info: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", marker.display()))?;
        let source = info.get("source").and_then(|s| s.as_str()).unwrap_or("synthetic").to_string();
        return Ok(DatasetInput { release: root.join("release"), root_rel: "release".into(), source });
    }
    Ok(DatasetInput { release: root.to_path_buf(), root_rel: String::new(), source: "real".into() })
}

/// What to do with an image that is listed but missing or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBadImage {
    Error,
    Skip,
}

/// The tables of one split stage.
pub struct SplitTables {
    pub tasks: TaskSet,
    pub tables: [LabelTable; 3],
    /// Extra text columns per split (`<task>__marked` of Market/Duke colour tasks).
    pub extra: [Vec<(String, Vec<Option<String>>)>; 3],
    /// Images left out because they were missing or unreadable: (path, reason).
    pub skipped: Vec<(String, String)>,
    /// Format-specific counts for `split.json`.
    pub details: serde_json::Value,
}

/// Options of the `split` stage.
pub struct SplitOptions<'a> {
    pub format: &'a str,
    pub val_fraction: f64,
    pub seed: u64,
    pub on_bad_image: OnBadImage,
    pub tasks: Option<&'a [String]>,
    /// Replace the attribute tasks by one `identity_class` task (the pretext target of the split stage).
    pub identity_target: bool,
    /// Check every listed image (`check_decodable`; true in the stage, annotation-only checks skip it).
    pub check_images: bool,
}

/// Builds the tables of `input` in `opts.format`.
pub fn build(input: &DatasetInput, opts: &SplitOptions) -> Result<SplitTables> {
    let (tasks, mut tables, mut extra, details) = match opts.format {
        "celeba" => {
            let c = Celeba::load(&input.release)?;
            let tables = c.tables(|_| true);
            let details = serde_json::json!({
                "images_listed": c.images.len(),
                "identities": c.files.identity.is_some(),
                "layout": if c.files.attributes.parent() == Some(input.release.as_path()) { "flat" } else { "Anno/Eval" },
            });
            (c.task_set(&input.source, &input.root_rel), tables, Default::default(), details)
        }
        name => {
            let Some(format) = PedFormat::parse(name) else { bail!("unknown dataset format `{name}` (expected celeba, market or duke)") };
            let mat = locate_mat(&input.release, format)?;
            let ann = PedAnnotations::load(&mat, format)?;
            let s = build_splits(&input.release, format, &ann, opts.val_fraction, opts.seed, &input.source, &input.root_rel)?;
            let details = serde_json::json!({
                "annotated_identities": {"train": ann.train.len(), "test": ann.test.len()},
                "train_identities": s.train_identities,
                "val_identities": s.val_identities,
                "unlabelled_test_images": s.unlabelled,
            });
            (s.tasks, s.tables, s.marked, details)
        }
    };
    let mut skipped = Vec::new();
    if opts.check_images {
        for (s, table) in tables.iter_mut().enumerate() {
            let bad: Vec<(usize, String)> = table
                .images
                .par_iter()
                .enumerate()
                .map_init(
                    || Vec::with_capacity(64 << 10),
                    |buf, (row, image)| check_image(&input.release.join(image), buf).err().map(|why| (row, why)),
                )
                .flatten()
                .collect();
            if bad.is_empty() {
                continue;
            }
            if opts.on_bad_image == OnBadImage::Error {
                let shown: Vec<String> =
                    bad.iter().take(10).map(|(r, m)| format!("{}: {m}", input.release.join(&table.images[*r]).display())).collect();
                bail!(
                    "{} of the {} images of split `{}` are missing or unreadable:\n  {}{}\nrepair them, or set `on_bad_image: skip` to leave them out (they are counted in split.json)",
                    bad.len(),
                    table.len(),
                    SPLITS[s],
                    shown.join("\n  "),
                    if bad.len() > 10 { format!("\n  … and {} more", bad.len() - 10) } else { String::new() }
                );
            }
            let drop: HashSet<usize> = bad.iter().map(|(r, _)| *r).collect();
            for (r, m) in &bad {
                skipped.push((table.images[*r].clone(), m.clone()));
            }
            drop_rows(&mut table.images, &drop);
            drop_rows(&mut table.identities, &drop);
            for col in &mut table.labels {
                drop_rows(col, &drop);
            }
            for (_, col) in &mut extra[s] {
                drop_rows(col, &drop);
            }
        }
    }
    // A task subset keeps its columns (and marked columns) in the order asked for.
    let tasks = match opts.tasks {
        Some(names) if !names.is_empty() => {
            let sub = tasks.subset(names)?;
            let idx: Vec<usize> = sub.tasks.iter().filter_map(|t| tasks.index_of(&t.name)).collect();
            for (s, table) in tables.iter_mut().enumerate() {
                let cols = std::mem::take(&mut table.labels);
                table.labels = idx.iter().map(|&i| cols[i].clone()).collect();
                extra[s].retain(|(name, _)| names.iter().any(|n| n == name));
            }
            sub
        }
        _ => tasks,
    };
    if opts.identity_target {
        let tasks = identity_task(tasks, &mut tables);
        return Ok(SplitTables { tasks, tables, extra: Default::default(), skipped, details });
    }
    Ok(SplitTables { tasks, tables, extra, skipped, details })
}

/// Replaces every label column by one `identity_class` column: the class is the rank of the image's
/// identity among the `train` split's identities; images of other identities are masked.
fn identity_task(tasks: TaskSet, tables: &mut [LabelTable; 3]) -> TaskSet {
    let ids: std::collections::BTreeSet<i64> = tables[0].identities.iter().copied().collect();
    let class_of: std::collections::HashMap<i64, i32> = ids.iter().enumerate().map(|(c, &id)| (id, c as i32)).collect();
    for table in tables.iter_mut() {
        let column = table.identities.iter().map(|id| class_of.get(id).copied()).collect();
        table.labels = vec![column];
    }
    let classes: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let names: Vec<&str> = classes.iter().map(String::as_str).collect();
    TaskSet { tasks: vec![Task::multiclass("identity_class", &names)], ..tasks }
}

/// Reads one listed image into `buf` (reused across images: one allocation per thread) and checks
/// it with [`check_decodable`]; the reason it is unusable otherwise.
fn check_image(path: &Path, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.clear();
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("listed but missing".into()),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    file.read_to_end(buf).map_err(|e| format!("cannot read: {e}"))?;
    check_decodable(buf).map_err(|e| e.root_cause().to_string())
}

/// Removes the rows whose indices are in `drop`, keeping the order of the rest.
fn drop_rows<T>(v: &mut Vec<T>, drop: &HashSet<usize>) {
    let mut k = 0;
    v.retain(|_| {
        k += 1;
        !drop.contains(&(k - 1))
    });
}
