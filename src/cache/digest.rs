//! Content digests of workspace files and directory trees, with a stat index so that an unchanged
//! file (same path, size, mtime, ctime and inode) is never hashed twice.
//!
//! ctime is in the stat because user space cannot set it back: `touch -r`, `cp -p`, `rsync -t` or
//! any `utime` call can restore an edited file's mtime, but every write (and that `utime` call
//! itself) moves its ctime to now. What the stat cannot see is a change below the filesystem
//! (media bit rot): `awmt verify` and `awmt run --paranoid` re-hash everything for that.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use rayon::prelude::*;

/// What the index remembers about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        Stat { size: meta.len(), mtime_ns: mtime_ns(meta), ctime_ns: ctime_ns(meta), ino: meta.ino() }
    }
}

/// Modification time in nanoseconds since the epoch.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// Status-change time in nanoseconds since the epoch: moved to now by every write, rename-in,
/// chmod or `utime`, and never settable by user space.
pub fn ctime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.ctime() * 1_000_000_000 + meta.ctime_nsec()
}

/// Files modified this recently are not trusted by stat alone: a write within the same clock tick
/// as the hashing would otherwise go unnoticed ("racy" entries, as in git).
const RACY_NS: i64 = 2_000_000_000;

/// A persistent map from absolute path to (stat, blake3).
pub struct StatIndex {
    path: Option<PathBuf>,
    entries: Mutex<HashMap<PathBuf, (Stat, [u8; 32])>>,
    dirty: Mutex<bool>,
    /// False under `--paranoid`: every file is hashed, whatever its stat says.
    trust_stat: bool,
}

/// Version 2 added ctime; an index of another version is ignored (rebuilt by hashing).
const MAGIC: &[u8; 8] = b"AWMTIDX2";

impl StatIndex {
    /// An index that is not saved.
    pub fn in_memory() -> StatIndex {
        StatIndex { path: None, entries: Mutex::new(HashMap::new()), dirty: Mutex::new(false), trust_stat: true }
    }

    /// Loads the index at `path`; a missing or unreadable index is an empty one (it is a cache).
    pub fn load(path: &Path) -> StatIndex {
        let entries = std::fs::read(path).ok().and_then(|b| decode(&b)).unwrap_or_default();
        StatIndex { path: Some(path.to_path_buf()), entries: Mutex::new(entries), dirty: Mutex::new(false), trust_stat: true }
    }

    /// Hash every file, ignoring stats (`awmt run --paranoid`); what is hashed is still recorded.
    pub fn distrust_stats(&mut self) {
        self.trust_stat = false;
    }

    /// Writes the index back if anything changed.
    pub fn save(&self) -> Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !*self.dirty.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(());
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(16 + entries.len() * 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (p, (st, h)) in entries.iter() {
            let bytes = p.as_os_str().as_encoded_bytes();
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
            out.extend_from_slice(&st.size.to_le_bytes());
            out.extend_from_slice(&st.mtime_ns.to_le_bytes());
            out.extend_from_slice(&st.ctime_ns.to_le_bytes());
            out.extend_from_slice(&st.ino.to_le_bytes());
            out.extend_from_slice(h);
        }
        crate::util::write_atomic(path, &out)
    }

    /// blake3 of the file at `path` (absolute), from the index when its stat is unchanged.
    pub fn file_hash(&self, path: &Path, meta: &std::fs::Metadata) -> Result<[u8; 32]> {
        let st = Stat::of(meta);
        if self.trust_stat {
            if let Some((old, h)) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(path) {
                if *old == st {
                    return Ok(*h);
                }
            }
        }
        let h = hash_file(path)?;
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        // ctime too: a write whose mtime was set back still has a recent ctime.
        if now_ns - st.mtime_ns.max(st.ctime_ns) > RACY_NS {
            self.entries.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_path_buf(), (st, h));
            *self.dirty.lock().unwrap_or_else(|e| e.into_inner()) = true;
        }
        Ok(h)
    }

    /// The digest of a workspace path: `file:<hash>` or `dir:<tree hash>`.
    pub fn digest(&self, path: &Path) -> Result<String> {
        let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read it", path.display()))?;
        if meta.is_dir() {
            Ok(format!("dir:{}", hex(&self.tree_hash(path)?)))
        } else {
            Ok(format!("file:{}", hex(&self.file_hash(path, &meta)?)))
        }
    }

    /// Hash of a directory tree: every regular file's relative path, size and content hash, in
    /// path order. Stats and hashes run in parallel.
    pub fn tree_hash(&self, root: &Path) -> Result<[u8; 32]> {
        // Walk the top-level subdirectories in parallel (a dataset is typically a few big
        // folders), then restore one global path order.
        let mut top: Vec<PathBuf> = Vec::new();
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(root).with_context(|| format!("walking {}", root.display()))? {
            let entry = entry.with_context(|| format!("walking {}", root.display()))?;
            let path = entry.path();
            if std::fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false) {
                top.push(path);
            } else if std::fs::metadata(&path).map(|m| m.is_file()).unwrap_or(false) {
                files.push(path);
            }
        }
        let nested: Vec<Vec<PathBuf>> = top
            .par_iter()
            .map(|dir| {
                let mut found = Vec::new();
                for entry in walkdir::WalkDir::new(dir).follow_links(true) {
                    let entry = entry.with_context(|| format!("walking {}", dir.display()))?;
                    if entry.file_type().is_file() {
                        found.push(entry.into_path());
                    }
                }
                Ok(found)
            })
            .collect::<Result<_>>()?;
        files.extend(nested.into_iter().flatten());
        // Byte order of the relative paths: the order the tree hash is defined over.
        files.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
        let hashes: Vec<(u64, [u8; 32])> = files
            .par_iter()
            .map(|p| {
                let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot read it", p.display()))?;
                Ok((meta.len(), self.file_hash(p, &meta)?))
            })
            .collect::<Result<_>>()?;
        let mut h = blake3::Hasher::new();
        h.update(b"awmt-tree v1\n");
        for (p, (size, fh)) in files.iter().zip(&hashes) {
            let rel = p.strip_prefix(root).unwrap_or(p);
            h.update(rel.as_os_str().as_encoded_bytes());
            h.update(b"\0");
            h.update(&size.to_le_bytes());
            h.update(fh);
        }
        Ok(*h.finalize().as_bytes())
    }
}

fn decode(b: &[u8]) -> Option<HashMap<PathBuf, (Stat, [u8; 32])>> {
    if b.len() < 16 || &b[..8] != MAGIC {
        return None;
    }
    let n = u64::from_le_bytes(b[8..16].try_into().ok()?) as usize;
    let mut map = HashMap::with_capacity(n);
    let mut i = 16;
    let take = |i: &mut usize, len: usize| -> Option<&[u8]> {
        let s = b.get(*i..*i + len)?;
        *i += len;
        Some(s)
    };
    for _ in 0..n {
        let len = u32::from_le_bytes(take(&mut i, 4)?.try_into().ok()?) as usize;
        // SAFETY-free: bytes were written from OsStr::as_encoded_bytes on this platform (Unix).
        let path = PathBuf::from(std::ffi::OsStr::new(std::str::from_utf8(take(&mut i, len)?).ok()?));
        let size = u64::from_le_bytes(take(&mut i, 8)?.try_into().ok()?);
        let mtime_ns = i64::from_le_bytes(take(&mut i, 8)?.try_into().ok()?);
        let ctime_ns = i64::from_le_bytes(take(&mut i, 8)?.try_into().ok()?);
        let ino = u64::from_le_bytes(take(&mut i, 8)?.try_into().ok()?);
        let h: [u8; 32] = take(&mut i, 32)?.try_into().ok()?;
        map.insert(path, (Stat { size, mtime_ns, ctime_ns, ino }, h));
    }
    Some(map)
}

/// blake3 of a file's bytes.
pub fn hash_file(path: &Path) -> Result<[u8; 32]> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}: cannot open it", path.display()))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("{}: read failed", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(*h.finalize().as_bytes())
}

pub fn hex(h: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*h).to_hex().to_string()
}

/// Parses 64 hex digits.
pub fn unhex(s: &str) -> Result<[u8; 32]> {
    match blake3::Hash::from_hex(s) {
        Ok(h) => Ok(*h.as_bytes()),
        Err(_) => bail!("`{s}` is not a blake3 hash"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_hash_sees_content_not_mtime() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), b"hello").unwrap();
        std::fs::write(dir.path().join("b.txt"), b"world").unwrap();
        let idx = StatIndex::in_memory();
        let h1 = idx.tree_hash(dir.path()).unwrap();
        // Rewrite the same bytes: new mtime, same hash.
        std::fs::write(dir.path().join("b.txt"), b"world").unwrap();
        assert_eq!(idx.tree_hash(dir.path()).unwrap(), h1);
        std::fs::write(dir.path().join("b.txt"), b"World").unwrap();
        assert_ne!(idx.tree_hash(dir.path()).unwrap(), h1);
    }

    #[test]
    fn an_edit_with_its_mtime_set_back_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"abc").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options().write(true).open(&f).unwrap().set_modified(old).unwrap();
        // Let the ctime age past the racy window, so that the index trusts the entry.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let idx = StatIndex::in_memory();
        let d1 = idx.digest(&f).unwrap();
        assert_eq!(idx.entries.lock().unwrap().len(), 1, "trusted by stat from now on");
        // Same size, same inode, mtime restored: only the ctime moved.
        {
            use std::io::{Seek, Write};
            let mut h = std::fs::File::options().write(true).open(&f).unwrap();
            h.seek(std::io::SeekFrom::Start(1)).unwrap();
            h.write_all(b"X").unwrap();
            h.set_modified(old).unwrap();
        }
        assert_ne!(idx.digest(&f).unwrap(), d1);
    }

    #[test]
    fn index_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"abc").unwrap();
        // Make the file old enough to be trusted (its ctime, which cannot be set, by waiting).
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        std::fs::File::options().write(true).open(&f).unwrap().set_modified(old).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let path = dir.path().join("index");
        let idx = StatIndex::load(&path);
        let d1 = idx.digest(&f).unwrap();
        idx.save().unwrap();
        let idx2 = StatIndex::load(&path);
        assert_eq!(idx2.entries.lock().unwrap().len(), 1);
        assert_eq!(idx2.digest(&f).unwrap(), d1);
    }
}
