//! One writer per cache: an advisory `flock` on `<cache>/lock`, released when the process exits
//! (even when killed), with the holder's pid written inside for the waiting message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use anyhow::{bail, Context as _, Result};

/// Held while alive.
pub struct CacheLock {
    file: File,
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Takes the lock. When another process holds it: with `wait`, calls `on_wait(holder)` once and
/// blocks; without, fails with a message naming the holder.
pub fn acquire(path: &Path, wait: bool, on_wait: impl FnOnce(&str)) -> Result<CacheLock> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open the cache lock {}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim().to_string();
        let who = if holder.is_empty() { "another awmt process".to_string() } else { format!("awmt (pid {holder})") };
        if !wait {
            bail!("the cache {} is in use by {who}; wait for it to finish, or run without --no-wait to queue", path.parent().unwrap_or(path).display());
        }
        on_wait(&who);
        // SAFETY: as above; blocks until the holder releases or dies.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            bail!("waiting for the cache lock failed: {}", std::io::Error::last_os_error());
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    file.flush()?;
    Ok(CacheLock { file })
}
