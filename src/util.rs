//! Small shared helpers with no knowledge of pipelines or stages.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};

/// A YAML scalar as plain text (`600`, `true`, `abc`).
pub fn yaml_scalar_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Null => "null".to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, with
/// an fsync, so readers see the old content or the new, never a torn file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Writes `value` as pretty JSON with a final newline (the form of every JSON file awmt writes).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).with_context(|| format!("serialising {}", path.display()))?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// `root.join(rel)` (`rel`: a normalised relative path), after checking that no symbolic link on the
/// way leaves `root`: every existing component that is a link must resolve inside `root` (a
/// dangling one is refused, since writing through it would create its target). awmt deletes and
/// restores outputs at such paths; a link would let it delete or write outside the project.
pub fn confined(root: &Path, rel: &str) -> Result<std::path::PathBuf> {
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut current = real_root.clone();
    let mut shown = std::path::PathBuf::new();
    for comp in Path::new(rel).components() {
        let name = match comp {
            std::path::Component::CurDir => continue,
            std::path::Component::Normal(name) => name,
            _ => anyhow::bail!("`{rel}` is not a plain relative path"),
        };
        shown.push(name);
        let next = current.join(name);
        match std::fs::symlink_metadata(&next) {
            Err(_) => return Ok(root.join(rel)), // nothing further exists yet
            Ok(meta) if meta.file_type().is_symlink() => {
                let Ok(real) = std::fs::canonicalize(&next) else {
                    anyhow::bail!("`{}` is a dangling symbolic link", shown.display());
                };
                if !real.starts_with(&real_root) {
                    anyhow::bail!("`{}` is a symbolic link to {}, outside {}", shown.display(), real.display(), real_root.display());
                }
                current = real;
            }
            Ok(_) => current = next,
        }
    }
    Ok(root.join(rel))
}

/// Seconds as `1.2s`, `3m04s`, `1h02m`.
pub fn human_duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!("{}h{:02}m", (secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64)
    }
}

/// Bytes as `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_refuses_links_out_of_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out_link")).unwrap();
        std::os::unix::fs::symlink(root.path().join("real"), root.path().join("in_link")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/awmt", root.path().join("dangling")).unwrap();
        assert!(confined(root.path(), "real/x.txt").is_ok());
        assert!(confined(root.path(), ".").is_ok());
        assert!(confined(root.path(), "../x").is_err());
        assert!(confined(root.path(), "new/dir/x.txt").is_ok());
        assert!(confined(root.path(), "in_link/x.txt").is_ok());
        let e = confined(root.path(), "out_link/x.txt").unwrap_err().to_string();
        assert!(e.contains("`out_link` is a symbolic link to"), "{e}");
        assert!(confined(root.path(), "out_link").is_err(), "the link itself as an output");
        assert!(confined(root.path(), "dangling").unwrap_err().to_string().contains("dangling"));
    }
}

/// Process groups of the child processes that stages started, so that an interrupted run can
/// terminate them all (a stage's command and everything it spawned).
pub mod children {
    use std::sync::Mutex;

    static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

    pub fn register(pgid: i32) {
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(pgid);
    }

    pub fn unregister(pgid: i32) {
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != pgid);
    }

    /// Sends `signal` to every registered process group.
    pub fn signal_all(signal: i32) -> usize {
        let groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for &g in &groups {
            // SAFETY: kill(2) on a process group we started; a stale id only yields ESRCH.
            unsafe { libc::kill(-g, signal) };
        }
        groups.len()
    }

    pub fn count() -> usize {
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
