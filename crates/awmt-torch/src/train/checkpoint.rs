//! Atomic training checkpoints in the stage's scratch directory: a directory
//! `checkpoint-<iteration>/` holding `state.safetensors` (every tensor: model, momentum buffers,
//! weighting state, sampler state, logs so far) and `meta.json`, written under a temporary name,
//! fsynced and renamed in one step, so a killed run leaves either the old or the new checkpoint.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

const PREFIX: &str = "checkpoint-";
const TMP: &str = "checkpoint.tmp";
const STATE: &str = "state.safetensors";
const META: &str = "meta.json";

/// The non-tensor part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Iterations completed.
    pub iteration: u64,
    /// blake3 of the canonical parameters; a checkpoint of other parameters is never resumed.
    pub fingerprint: String,
    pub warnings: Vec<String>,
}

fn fsync_dir(dir: &Path) {
    // Best effort: directory fsync is not supported everywhere.
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

fn checkpoint_dirs(scratch: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    if !scratch.exists() {
        return Ok(found);
    }
    for entry in fs::read_dir(scratch).with_context(|| format!("listing {}", scratch.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(n) = name.strip_prefix(PREFIX).and_then(|s| s.parse::<u64>().ok()) {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Writes a checkpoint atomically and removes the older ones.
pub fn save(scratch: &Path, meta: &Meta, tensors: &[(String, Tensor)]) -> Result<()> {
    fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let tmp = scratch.join(TMP);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let contiguous: Vec<(String, Tensor)> =
        tensors.iter().map(|(n, t)| (n.clone(), t.contiguous().to_device(tch::Device::Cpu))).collect();
    let state = tmp.join(STATE);
    Tensor::write_safetensors(&contiguous, &state).with_context(|| format!("writing {}", state.display()))?;
    let meta_path = tmp.join(META);
    fs::write(&meta_path, serde_json::to_string_pretty(meta)?).with_context(|| format!("writing {}", meta_path.display()))?;
    for f in [&state, &meta_path] {
        fs::File::open(f)?.sync_all().with_context(|| format!("syncing {}", f.display()))?;
    }
    fsync_dir(&tmp);
    let older = checkpoint_dirs(scratch)?;
    let dest = scratch.join(format!("{PREFIX}{:010}", meta.iteration));
    if dest.exists() {
        fs::remove_dir_all(&dest)?;
    }
    fs::rename(&tmp, &dest).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
    fsync_dir(scratch);
    for (n, dir) in older {
        if n != meta.iteration {
            let _ = fs::remove_dir_all(dir);
        }
    }
    Ok(())
}

/// A checkpoint read back.
pub struct Loaded {
    pub meta: Meta,
    pub tensors: HashMap<String, Tensor>,
    pub origin: String,
}

/// The newest checkpoint in `scratch` written with `fingerprint`, if any. A leftover temporary
/// directory (a run killed while writing) is removed.
pub fn latest(scratch: &Path, fingerprint: &str) -> Result<Option<Loaded>> {
    let tmp = scratch.join(TMP);
    if tmp.exists() {
        let _ = fs::remove_dir_all(&tmp);
    }
    let Some((_, dir)) = checkpoint_dirs(scratch)?.pop() else { return Ok(None) };
    let origin = dir.display().to_string();
    let meta_path = dir.join(META);
    let text = fs::read_to_string(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?;
    let meta: Meta = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a checkpoint header; delete {origin} to start over", meta_path.display()))?;
    if meta.fingerprint != fingerprint {
        eprintln!("train: ignoring {origin}: it was written with other parameters");
        return Ok(None);
    }
    let state = dir.join(STATE);
    let tensors = Tensor::read_safetensors(&state)
        .with_context(|| format!("{}: unreadable checkpoint; delete {origin} to start over", state.display()))?
        .into_iter()
        .collect();
    Ok(Some(Loaded { meta, tensors, origin }))
}
