//! Helpers shared by the data tests: running one stage kind by hand, finding the real annotation
//! files, and hashing a directory tree.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use awmt::stages::{InputItem, StageContext};

/// `../shared/data/real` (or `AWMT_REAL_ANNOTATIONS`); None, with a message, when absent.
pub fn real_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("AWMT_REAL_ANNOTATIONS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: real annotation files not found at {} (set AWMT_REAL_ANNOTATIONS)", dir.display());
        None
    }
}

/// Runs stage kind `kind` with `with` and `inputs` into `out` (created), on `threads` threads.
pub fn run_stage(kind: &str, with: serde_json::Value, inputs: &[(&str, &Path)], out: &Path, threads: usize) -> anyhow::Result<()> {
    let inputs = inputs.iter().map(|(name, path)| (*name, vec![InputItem { path: path.to_path_buf(), stage: None }])).collect();
    let mut ctx = StageContext::standalone(kind, &format!("test-{kind}"), &with, inputs, out)?;
    ctx.threads = threads;
    ctx.run_standalone()
}

/// Relative path → blake3 of every file under `dir`.
pub fn tree_digest(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().to_string();
            out.insert(rel, blake3::hash(&std::fs::read(e.path()).unwrap()).to_hex().to_string());
        }
    }
    out
}

/// Reads a CSV written by the stages into (header, rows).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines.map(|l| l.split(',').map(str::to_string).collect()).collect();
    (header, rows)
}
