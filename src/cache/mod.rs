//! The content-addressed stage cache.
//!
//! Layout under the cache root (`cache/`, `--cache DIR` or `$AWMT_CACHE`):
//! ```text
//! lock                    advisory lock: one writer (awmt run, gc) at a time
//! stages/<key>/           a published entry: manifest.json + out/ (never modified after publish)
//! tmp/<key>-<pid>-<n>/    an attempt in progress; leftovers of dead runs are removed on start
//! scratch/<key>/          state that survives a killed attempt (training checkpoints)
//! logs/<key>.log          the last attempt's log
//! index/stat.bin          stat index of hashed workspace files
//! records/<pipeline>.json what each stage of a pipeline last resolved to (for `awmt status`)
//! ```
//! A stage writes into its attempt's `out/`; publishing writes `manifest.json` (size and blake3 of
//! every file), fsyncs, and renames the attempt directory to `stages/<key>` in one step, so a
//! reader sees a complete entry or none.

pub mod digest;
pub mod entry;
pub mod key;
pub mod lock;
pub mod maintenance;
pub mod records;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub use entry::{Attempt, Entry, Manifest};
pub use key::{KeyInput, KeyParts};

/// A cache root.
#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) the cache at `root`.
    pub fn open(root: &Path) -> Result<Cache> {
        for sub in ["stages", "tmp", "scratch", "logs", "index", "records"] {
            let d = root.join(sub);
            std::fs::create_dir_all(&d).with_context(|| format!("cannot create the cache directory {}", d.display()))?;
        }
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        Ok(Cache { root })
    }

    pub fn stages_dir(&self) -> PathBuf {
        self.root.join("stages")
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn entry_dir(&self, key: &str) -> PathBuf {
        self.stages_dir().join(key)
    }
    pub fn scratch_dir(&self, key: &str) -> PathBuf {
        self.root.join("scratch").join(key)
    }
    pub fn log_path(&self, key: &str) -> PathBuf {
        self.root.join("logs").join(format!("{key}.log"))
    }
    pub fn index_path(&self) -> PathBuf {
        self.root.join("index").join("stat.bin")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Removes attempt directories left by runs that died. Call with the lock held: then no
    /// other writer can be mid-attempt.
    pub fn remove_leftover_attempts(&self) -> Result<usize> {
        let mut n = 0;
        for e in std::fs::read_dir(self.tmp_dir())? {
            let e = e?;
            std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path())).ok();
            n += 1;
        }
        Ok(n)
    }
}
