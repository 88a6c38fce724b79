//! Puts a finished stage's outputs where people look: workspace outputs back at their paths (a
//! command's `outs`), user-facing files under `reports/<pipeline>/<stage>/`. The cache entry stays
//! the source of truth; these are copies, replaced only when their bytes differ.
//!
//! Workspace paths are written only through [`crate::util::confined`] paths (no symbolic link
//! out of the work directory), and only where awmt owns the path (`Cache::owns`): a path that
//! exists, differs from the entry and was never written by awmt is the user's, and is left alone.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cache::digest::{hex, StatIndex};
use crate::cache::entry::ManifestFile;
use crate::cache::{Cache, Entry};
use crate::pipeline::Pipeline;
use crate::util::confined;

/// Before stage `i` runs: checks that each of its workspace outputs is awmt's to delete (it does
/// not exist yet, or awmt created it) and records it as awmt's, so that a killed run's partial
/// output is still recognised.
pub fn claim_outputs(pipeline: &Pipeline, i: usize, cache: &Cache) -> Result<()> {
    let stage = &pipeline.stages[i];
    for (_, ws_rel) in stage.kind.workspace_outputs(&stage.params) {
        let target = confined(&stage.work_dir, &ws_rel).with_context(|| format!("output `{ws_rel}`"))?;
        if std::fs::symlink_metadata(&target).is_ok() && !cache.owns(&target) {
            anyhow::bail!(
                "output `{ws_rel}` already exists ({}) and was not written by awmt, which deletes a stage's outputs before running it \
                 and never deletes what it did not create: move it away or delete it yourself, then run again",
                target.display()
            );
        }
        cache.claim(&target)?;
    }
    Ok(())
}

/// Restores workspace outputs and copies user-facing outputs of stage `i`.
pub fn all(pipeline: &Pipeline, i: usize, entry: &Entry, reports: Option<&Path>, index: &StatIndex, cache: &Cache) -> Result<()> {
    let stage = &pipeline.stages[i];
    for (entry_rel, ws_rel) in stage.kind.workspace_outputs(&stage.params) {
        sync_subtree(entry, &entry_rel, &stage.work_dir, &ws_rel, index, cache).with_context(|| format!("restoring `{ws_rel}`"))?;
    }
    if let Some(reports) = reports {
        let globs = stage.kind.user_outputs();
        if !globs.is_empty() {
            let patterns: Vec<glob::Pattern> = globs.iter().filter_map(|g| glob::Pattern::new(g).ok()).collect();
            for f in &entry.manifest.files {
                if patterns.iter().any(|p| p.matches(&f.path)) {
                    let dest = confined(reports, &format!("{}/{}/{}", pipeline.name, stage.name, f.path))?;
                    copy_if_different(&entry.out_dir().join(&f.path), &dest, f, index)?;
                }
            }
        }
    }
    Ok(())
}

/// Whether the workspace path `target` already holds exactly the entry's `rel` (file or tree).
fn holds_entry(entry: &Entry, rel: &str, target: &Path, index: &StatIndex) -> bool {
    let prefix = format!("{rel}/");
    let mut wanted = std::collections::HashSet::new();
    for f in &entry.manifest.files {
        let dest = if f.path == rel {
            target.to_path_buf()
        } else if let Some(sub) = f.path.strip_prefix(&prefix) {
            target.join(sub)
        } else {
            continue;
        };
        let same = std::fs::symlink_metadata(&dest)
            .ok()
            .filter(|m| m.is_file() && m.len() == f.size)
            .and_then(|m| index.file_hash(&dest, &m).ok())
            .is_some_and(|h| hex(&h) == f.blake3);
        if !same {
            return false;
        }
        wanted.insert(dest);
    }
    walkdir::WalkDir::new(target).into_iter().filter_map(|e| e.ok()).all(|e| e.file_type().is_dir() || wanted.contains(e.path()))
}

/// Makes `work_dir/ws_rel` equal to the entry's `out/<rel>` (a file or a directory), removing
/// extra files inside a directory output.
fn sync_subtree(entry: &Entry, rel: &str, work_dir: &Path, ws_rel: &str, index: &StatIndex, cache: &Cache) -> Result<()> {
    let target = confined(work_dir, ws_rel)?;
    if std::fs::symlink_metadata(&target).is_ok() && !cache.owns(&target) {
        if !holds_entry(entry, rel, &target, index) {
            anyhow::bail!(
                "{} exists, differs from the cached output and was not written by awmt; awmt does not replace what it did not \
                 create: move it away or delete it, then run again",
                target.display()
            );
        }
    }
    cache.claim(&target)?;
    let prefix = format!("{rel}/");
    let mut wanted = std::collections::HashSet::new();
    let mut is_dir = false;
    for f in &entry.manifest.files {
        let dest = if f.path == rel {
            target.clone()
        } else if let Some(sub) = f.path.strip_prefix(&prefix) {
            is_dir = true;
            confined(work_dir, &format!("{ws_rel}/{sub}"))?
        } else {
            continue;
        };
        copy_if_different(&entry.out_dir().join(&f.path), &dest, f, index)?;
        wanted.insert(dest);
    }
    if is_dir {
        for e in walkdir::WalkDir::new(&target).into_iter().filter_map(|e| e.ok()) {
            if e.file_type().is_file() && !wanted.contains(e.path()) {
                std::fs::remove_file(e.path()).ok();
            }
        }
    }
    Ok(())
}

fn copy_if_different(src: &Path, dest: &Path, f: &ManifestFile, index: &StatIndex) -> Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(dest) {
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
    // The copy is read back anyway; hashing it catches an object that rotted under an unchanged
    // stat (which the fast path cannot see) before it reaches the workspace.
    if crate::cache::digest::hash_file(&tmp).map(|h| hex(&h)).ok().as_deref() != Some(f.blake3.as_str()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(CorruptObject(src.display().to_string()).into());
    }
    std::fs::rename(&tmp, dest).with_context(|| format!("replacing {}", dest.display()))?;
    Ok(())
}

/// A cached object whose bytes do not match its manifest, found while restoring it: the entry
/// must be recomputed, not restored.
#[derive(Debug)]
pub struct CorruptObject(pub String);

impl std::fmt::Display for CorruptObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cached object {} does not match its manifest", self.0)
    }
}

impl std::error::Error for CorruptObject {}

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
