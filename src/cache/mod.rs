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
//! quarantine/<key>-…/     entries `awmt verify` found corrupt, kept for inspection, never read
//! owned/<hash>            workspace paths awmt created (the only ones it deletes or replaces)
//! records/<pipeline>.json what each stage of a pipeline last resolved to (for `awmt status`)
//! runs/index.jsonl       every run and its stages' resource traces, append-only (see `run_index`)
//! ```
//! A stage writes into its attempt's `out/`; publishing writes `manifest.json` (size and blake3 of
//! every file), fsyncs, and renames the attempt directory to `stages/<key>` in one step, so a
//! reader sees a complete entry or none.

pub mod digest;
pub mod entry;
pub mod key;
pub mod lock;
pub mod maintenance;
pub mod owned;
pub mod records;
pub mod run_index;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub use entry::{Attempt, Entry, Manifest};
pub use key::{KeyInput, KeyParts};

/// Waits until no process holds `lock`, killing the holders (processes of a dead run's stage).
fn stop_holders(lock: &Path) -> Result<()> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(lock).with_context(|| format!("opening {}", lock.display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut told = false;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        // This process holds the file open too (to take the lock): never count, or kill, itself.
        let mut holders = crate::supervise::holders_of(lock);
        holders.retain(|&pid| pid != std::process::id() as i32);
        if !told && !holders.is_empty() {
            eprintln!("stopping {} process(es) left running by a killed run: pid {:?}", holders.len(), holders);
            told = true;
        }
        for pid in &holders {
            // SAFETY: kill(2); these processes hold the lock of a dead run's stage.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "processes of a killed run still hold {} (pid {:?}); stop them, then run again",
                lock.display(),
                holders
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A cache root.
#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) the cache at `root`.
    pub fn open(root: &Path) -> Result<Cache> {
        for sub in ["stages", "tmp", "scratch", "logs", "index", "records", "owned"] {
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
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Removes attempt directories left by runs that died. Call with the lock held: then no
    /// other writer can be mid-attempt. A killed run's command processes may still be alive
    /// (they hold the attempt's `running.lock`, see `supervise`): they are stopped first, so that
    /// nothing of an old run can touch the workspace once this run starts.
    pub fn remove_leftover_attempts(&self) -> Result<usize> {
        let mut n = 0;
        for e in std::fs::read_dir(self.tmp_dir())? {
            let e = e?;
            let lock = e.path().join(crate::supervise::LOCK_FILE);
            if lock.exists() {
                stop_holders(&lock)?;
            }
            std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path())).ok();
            n += 1;
        }
        Ok(n)
    }
}
