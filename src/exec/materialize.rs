//! Puts a finished stage's outputs where people look: workspace outputs back at their paths (a
//! command's `outs`), user-facing files under `reports/<pipeline>/<stage>/`. The cache entry stays
//! the source of truth; these are copies, replaced only when their bytes differ.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cache::digest::{hex, StatIndex};
use crate::cache::entry::ManifestFile;
use crate::cache::Entry;
use crate::pipeline::Pipeline;

/// Restores workspace outputs and copies user-facing outputs of stage `i`.
pub fn all(pipeline: &Pipeline, i: usize, entry: &Entry, reports: Option<&Path>, index: &StatIndex) -> Result<()> {
    let stage = &pipeline.stages[i];
    for (entry_rel, ws_rel) in stage.kind.workspace_outputs(&stage.params) {
        let target = stage.work_dir.join(&ws_rel);
        sync_subtree(entry, &entry_rel, &target, index).with_context(|| format!("restoring `{ws_rel}`"))?;
    }
    if let Some(reports) = reports {
        let globs = stage.kind.user_outputs();
        if !globs.is_empty() {
            let patterns: Vec<glob::Pattern> = globs.iter().filter_map(|g| glob::Pattern::new(g).ok()).collect();
            let dir = reports.join(&pipeline.name).join(&stage.name);
            for f in &entry.manifest.files {
                if patterns.iter().any(|p| p.matches(&f.path)) {
                    copy_if_different(&entry.out_dir().join(&f.path), &dir.join(&f.path), f, index)?;
                }
            }
        }
    }
    Ok(())
}

/// Makes `target` equal to the entry's `out/<rel>` (a file or a directory), removing extra files
/// inside a directory output.
fn sync_subtree(entry: &Entry, rel: &str, target: &Path, index: &StatIndex) -> Result<()> {
    let prefix = format!("{rel}/");
    let mut wanted = std::collections::HashSet::new();
    let mut is_dir = false;
    for f in &entry.manifest.files {
        let dest = if f.path == rel {
            target.to_path_buf()
        } else if let Some(sub) = f.path.strip_prefix(&prefix) {
            is_dir = true;
            target.join(sub)
        } else {
            continue;
        };
        copy_if_different(&entry.out_dir().join(&f.path), &dest, f, index)?;
        wanted.insert(dest);
    }
    if is_dir {
        for e in walkdir::WalkDir::new(target).into_iter().filter_map(|e| e.ok()) {
            if e.file_type().is_file() && !wanted.contains(e.path()) {
                std::fs::remove_file(e.path()).ok();
            }
        }
    }
    Ok(())
}

fn copy_if_different(src: &Path, dest: &Path, f: &ManifestFile, index: &StatIndex) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(dest) {
        if meta.is_file() && meta.len() == f.size {
            if let Ok(h) = index.file_hash(dest, &meta) {
                if hex(&h) == f.blake3 {
                    return Ok(());
                }
            }
        }
        if meta.is_dir() {
            std::fs::remove_dir_all(dest).with_context(|| format!("replacing directory {}", dest.display()))?;
        }
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".{}.awmt-tmp", dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
    std::fs::copy(src, &tmp).with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("replacing {}", dest.display()))?;
    Ok(())
}

/// Provenance of a run so far: the pipeline, every finished stage's key and duration, versions and
/// host. Given to kinds with a `run_record` input; never part of a key.
pub fn run_record(pipeline: &Pipeline, entries: &[Option<Entry>]) -> serde_json::Value {
    let stages: Vec<serde_json::Value> = pipeline
        .dag
        .order
        .iter()
        .filter_map(|&i| {
            entries[i].as_ref().map(|e| {
                let s = &pipeline.stages[i];
                json!({"name": s.name, "kind": s.kind.name(), "key": e.manifest.key, "seconds": e.manifest.seconds, "params": s.params})
            })
        })
        .collect();
    json!({
        "pipeline": pipeline.name,
        "pipeline_file": pipeline.file.to_string_lossy(),
        "awmt_version": env!("CARGO_PKG_VERSION"),
        "torch_version": crate::TORCH_VERSION,
        "host": hostname(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "created_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "stages": stages,
    })
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}
