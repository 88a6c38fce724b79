//! Cache entries: attempts that write into a private directory, manifests, the atomic publish, and
//! the checks that keep a corrupt entry from ever being used.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::digest::{ctime_ns, hash_file, hex, mtime_ns};
use super::{Cache, KeyParts};

/// One output file in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative to the entry's `out/`, with `/` separators.
    pub path: String,
    pub size: u64,
    pub blake3: String,
    /// Stat at publish time: lets a cache hit skip re-hashing large files that nobody touched.
    pub mtime_ns: i64,
    pub ino: u64,
    /// ctime at publish time: any later write moves it, even one whose mtime is set back. Entries
    /// written before it was recorded are always re-hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime_ns: Option<i64>,
    /// For a JSON file with volatile fields (measurements): the hash of the file without them,
    /// which is what the output digest uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_blake3: Option<String>,
    /// The top-level fields left out of `key_blake3` (so `verify` can recompute it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_fields: Vec<String>,
}

/// `manifest.json` of an entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub key: String,
    /// The stage that produced it (informational: the name is not part of the key).
    pub stage: String,
    pub parts: KeyParts,
    /// blake3 over the sorted (path, size, blake3) list: what downstream keys see.
    pub digest: String,
    pub files: Vec<ManifestFile>,
    /// Wall time of the run that produced the entry.
    pub seconds: f64,
}

/// A published entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Entry {
    pub fn out_dir(&self) -> PathBuf {
        self.dir.join("out")
    }

    /// Every file whose bytes no longer match the manifest (or that is missing). `full` re-hashes
    /// everything; otherwise a file whose size, mtime, ctime and inode are as published is
    /// trusted, and small entries are re-hashed anyway. A volatile-field hash (`key_blake3`) is
    /// always recomputed (those are small JSON files).
    pub fn damaged_files(&self, full: bool) -> Vec<String> {
        let total: u64 = self.manifest.files.iter().map(|f| f.size).sum();
        let full = full || total <= FAST_PATH_BYTES;
        let out = self.out_dir();
        let mut bad = Vec::new();
        for f in &self.manifest.files {
            let p = out.join(&f.path);
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                bad.push(f.path.clone());
                continue;
            };
            if !meta.file_type().is_file() || meta.len() != f.size {
                bad.push(f.path.clone());
                continue;
            }
            let same_stat = mtime_ns(&meta) == f.mtime_ns && f.ctime_ns == Some(ctime_ns(&meta)) && meta.ino() == f.ino;
            if full || !same_stat {
                match hash_file(&p) {
                    Ok(h) if hex(&h) == f.blake3 => {}
                    _ => {
                        bad.push(f.path.clone());
                        continue;
                    }
                }
            }
            if let Some(k) = &f.key_blake3 {
                // Entries written before `key_fields` was recorded cannot be rechecked here.
                if !f.key_fields.is_empty() {
                    let fields: Vec<&str> = f.key_fields.iter().map(String::as_str).collect();
                    if hash_without_fields(&p, &fields).as_ref() != Some(k) {
                        bad.push(format!("{} (its volatile-field hash)", f.path));
                    }
                }
            }
        }
        // Files that appeared in out/ after publishing also make the entry unreliable.
        let listed: std::collections::HashSet<&str> = self.manifest.files.iter().map(|f| f.path.as_str()).collect();
        if let Ok(found) = list_files(&out) {
            for (rel, _) in found {
                if !listed.contains(rel.as_str()) {
                    bad.push(rel);
                }
            }
        }
        bad
    }
}

/// Entries up to this size are re-hashed on every use; larger ones trust an unchanged stat.
pub const FAST_PATH_BYTES: u64 = 4 << 20;

static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

/// A stage run in progress: everything is written under `dir`, outputs under `dir/out`.
#[derive(Debug)]
pub struct Attempt {
    pub key: String,
    pub dir: PathBuf,
}

impl Attempt {
    pub fn out_dir(&self) -> PathBuf {
        self.dir.join("out")
    }

    /// Removes the attempt (on failure).
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Regular files under `dir` as (relative path with `/`, absolute path), sorted.
pub fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.with_context(|| format!("walking {}", dir.display()))?;
        let ft = e.file_type();
        if ft.is_symlink() {
            bail!("{}: outputs must be regular files, not symbolic links", e.path().display());
        }
        if ft.is_file() {
            let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
            out.push((rel, e.into_path()));
        }
    }
    Ok(out)
}

/// blake3 over the sorted (path, size, hash) list: an entry's output digest. A file with volatile
/// fields contributes its `key_blake3` (and no size) instead.
pub fn output_digest(files: &[ManifestFile]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"awmt-output v1\n");
    for f in files {
        h.update(f.path.as_bytes());
        h.update(b"\0");
        match &f.key_blake3 {
            Some(k) => {
                h.update(b"volatile ");
                h.update(k.as_bytes());
            }
            None => {
                h.update(&f.size.to_le_bytes());
                h.update(f.blake3.as_bytes());
            }
        }
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// The hash of a JSON object without its `fields`; None if the file is not a JSON object.
fn hash_without_fields(path: &Path, fields: &[&str]) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let mut v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let obj = v.as_object_mut()?;
    for f in fields {
        obj.remove(*f);
    }
    Some(blake3::hash(&serde_json::to_vec(&v).ok()?).to_hex().to_string())
}

/// Why a manifest cannot be trusted, checking every field that feeds anything: the key it is
/// filed under (and that its `parts` hash to it), the output digest downstream keys use (and that
/// it is the digest of its file list), the format, and file paths that stay inside `out/`.
pub fn manifest_problem(key: &str, m: &Manifest) -> Option<String> {
    if m.format != super::key::FORMAT_VERSION {
        return Some(format!("manifest format {} (this awmt writes {})", m.format, super::key::FORMAT_VERSION));
    }
    if m.key != key {
        return Some(format!("manifest key {} differs from the entry's name", m.key));
    }
    if m.parts.key() != key {
        return Some("its key is not the hash of its recorded parts (kind, parameters, inputs)".into());
    }
    let mut previous: Option<&str> = None;
    for f in &m.files {
        let plain = !f.path.is_empty()
            && !f.path.starts_with('/')
            && f.path.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
        if !plain {
            return Some(format!("file path `{}` is not a plain relative path", f.path));
        }
        if previous.is_some_and(|p| p >= f.path.as_str()) {
            return Some(format!("file list is not sorted and unique at `{}`", f.path));
        }
        if super::digest::unhex(&f.blake3).is_err() {
            return Some(format!("`{}` has no valid blake3", f.path));
        }
        previous = Some(&f.path);
    }
    if output_digest(&m.files) != m.digest {
        return Some("its output digest does not match its file list".into());
    }
    None
}

impl Cache {
    /// The published entry for `key`, if there is one whose manifest is readable and consistent.
    pub fn entry(&self, key: &str) -> Option<Entry> {
        self.read_entry(key).ok()
    }

    /// The published entry for `key`, or why it is not usable (`manifest.json: …`).
    pub fn read_entry(&self, key: &str) -> std::result::Result<Entry, String> {
        let dir = self.entry_dir(key);
        let text = std::fs::read_to_string(dir.join("manifest.json")).map_err(|e| format!("manifest.json: {e}"))?;
        let mut manifest: Manifest = serde_json::from_str(&text).map_err(|e| format!("manifest.json: {e}"))?;
        if manifest.parts.key() != key {
            // serde_json parses long floats (an f32 parameter widened to 17 digits) to within an
            // ulp only; the YAML parser reads them exactly. JSON is YAML.
            #[derive(Deserialize)]
            struct PartsOnly {
                parts: KeyParts,
            }
            if let Ok(exact) = serde_yaml::from_str::<PartsOnly>(&text) {
                manifest.parts = exact.parts;
            }
        }
        if let Some(why) = manifest_problem(key, &manifest) {
            return Err(format!("manifest.json: {why}"));
        }
        Ok(Entry { dir, manifest })
    }

    /// Moves a corrupt entry out of use into `quarantine/` (kept for inspection, never read);
    /// returns where it went.
    pub fn quarantine(&self, key: &str) -> Result<PathBuf> {
        let dir = self.entry_dir(key);
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let n = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let to = self.quarantine_dir().join(format!("{key}-{stamp}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(self.quarantine_dir())?;
        std::fs::rename(&dir, &to).with_context(|| format!("moving the corrupt entry {} to {}", dir.display(), to.display()))?;
        Ok(to)
    }

    /// Takes a published entry out of use (it is corrupt): it is renamed away, then deleted.
    pub fn evict(&self, key: &str) -> Result<()> {
        let dir = self.entry_dir(key);
        if !dir.exists() {
            return Ok(());
        }
        let n = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let away = self.tmp_dir().join(format!("evicted-{key}-{}-{n}", std::process::id()));
        std::fs::rename(&dir, &away).with_context(|| format!("moving the corrupt entry {} away", dir.display()))?;
        std::fs::remove_dir_all(&away).ok();
        Ok(())
    }

    /// Starts an attempt for `key` in a fresh private directory.
    pub fn begin(&self, key: &str) -> Result<Attempt> {
        let n = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let dir = self.tmp_dir().join(format!("{key}-{}-{n}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(dir.join("out")).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Attempt { key: key.to_string(), dir })
    }

    /// Hashes the attempt's outputs, writes the manifest, fsyncs and renames the attempt into
    /// place. If another writer published the same key meanwhile, theirs is kept (same inputs,
    /// same bytes) and this attempt is discarded.
    /// `volatile` lists `(file, top-level JSON field)` pairs left out of the output digest
    /// (`StageKind::volatile_fields`).
    pub fn publish(&self, attempt: Attempt, stage: &str, parts: &KeyParts, seconds: f64, volatile: &[(&str, &str)]) -> Result<Entry> {
        let out = attempt.out_dir();
        let listed = list_files(&out)?;
        let mut files = Vec::with_capacity(listed.len());
        let hashed: Vec<Result<(String, std::fs::Metadata, [u8; 32])>> = {
            use rayon::prelude::*;
            listed
                .par_iter()
                .map(|(rel, abs)| {
                    let f = std::fs::File::open(abs).with_context(|| format!("opening {}", abs.display()))?;
                    if durable() {
                        f.sync_all().ok();
                    }
                    let meta = f.metadata()?;
                    Ok((rel.clone(), meta, hash_file(abs)?))
                })
                .collect()
        };
        for r in hashed {
            let (rel, meta, h) = r?;
            let fields: Vec<&str> = volatile.iter().filter(|(f, _)| *f == rel).map(|(_, k)| *k).collect();
            let key_blake3 = if fields.is_empty() { None } else { hash_without_fields(&out.join(&rel), &fields) };
            let key_fields = if key_blake3.is_some() { fields.iter().map(|f| f.to_string()).collect() } else { Vec::new() };
            files.push(ManifestFile {
                path: rel,
                size: meta.len(),
                blake3: hex(&h),
                mtime_ns: mtime_ns(&meta),
                ino: meta.ino(),
                ctime_ns: Some(ctime_ns(&meta)),
                key_blake3,
                key_fields,
            });
        }
        let manifest = Manifest {
            format: super::key::FORMAT_VERSION,
            key: attempt.key.clone(),
            stage: stage.to_string(),
            parts: parts.clone(),
            digest: output_digest(&files),
            files,
            seconds,
        };
        let mpath = attempt.dir.join("manifest.json");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&mpath).with_context(|| format!("writing {}", mpath.display()))?;
            f.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
            if durable() {
                f.sync_all()?;
            }
        }
        if durable() {
            sync_dir(&attempt.dir);
            sync_dir(&out);
        }
        let target = self.entry_dir(&attempt.key);
        match std::fs::rename(&attempt.dir, &target) {
            Ok(()) => {
                if durable() {
                    sync_dir(&self.stages_dir());
                }
                Ok(Entry { dir: target, manifest })
            }
            Err(_) if self.entry(&attempt.key).is_some() => {
                attempt.discard();
                self.entry(&manifest.key).context("entry vanished after a concurrent publish")
            }
            Err(e) => Err(e).with_context(|| format!("publishing {}", target.display())),
        }
    }
}

/// With `AWMT_FSYNC=1`, publishing fsyncs every file and directory before the rename, so entries
/// survive a power cut too. Without it a publish is still atomic for every reader and against a
/// killed run; a file torn by a power cut has the wrong size or hash and is detected and
/// recomputed on the next use (`Entry::damaged_files`). fsync costs ~5 ms per call here.
fn durable() -> bool {
    static DURABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DURABLE.get_or_init(|| std::env::var("AWMT_FSYNC").is_ok_and(|v| v == "1"))
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(cache: &Cache, key: &str, summary: &str) -> Entry {
        let parts = KeyParts { kind: "train".into(), kind_version: 1, params: serde_json::json!({}), inputs: vec![] };
        let attempt = cache.begin(key).unwrap();
        std::fs::write(attempt.out_dir().join("model.bin"), b"weights").unwrap();
        std::fs::write(attempt.out_dir().join("train_summary.json"), summary).unwrap();
        cache.publish(attempt, "t", &parts, 0.0, &[("train_summary.json", "timing")]).unwrap()
    }

    #[test]
    fn volatile_fields_stay_out_of_the_output_digest_but_not_the_file_hash() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let a = publish(&cache, "a", r#"{"seed": 1, "timing": {"wall_seconds": 1.5}}"#);
        let b = publish(&cache, "b", r#"{"seed": 1, "timing": {"wall_seconds": 12.25}}"#);
        let c = publish(&cache, "c", r#"{"seed": 2, "timing": {"wall_seconds": 1.5}}"#);
        assert_eq!(a.manifest.digest, b.manifest.digest, "only the timing differs");
        assert_ne!(a.manifest.digest, c.manifest.digest, "a real field differs");
        let hash = |e: &Entry| e.manifest.files.iter().find(|f| f.path == "train_summary.json").unwrap().blake3.clone();
        assert_ne!(hash(&a), hash(&b), "the manifest still hashes every byte (for verify)");
        // Not JSON: the whole file counts.
        let d = publish(&cache, "d", "not json");
        let e = publish(&cache, "e", "not json!");
        assert_ne!(d.manifest.digest, e.manifest.digest);
    }
}
