//! Helpers shared by the integration tests: a scratch project directory and the awmt binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// `awmt <args>` in the project directory.
    pub fn awmt(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running awmt")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_awmt"));
        c.args(args).current_dir(self.dir.path()).env_remove("AWMT_CACHE");
        c
    }

    /// `awmt run <file> --json`: the status of every stage, by name.
    pub fn run_json(&self, file: &str, extra: &[&str]) -> (std::collections::BTreeMap<String, String>, Output) {
        let mut args = vec!["run", file, "--json"];
        args.extend_from_slice(extra);
        let out = self.awmt(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("run --json printed no JSON ({e}):\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
        });
        let map = v["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
            .collect();
        (map, out)
    }

    pub fn cache_entries(&self) -> Vec<PathBuf> {
        let dir = self.path("cache/stages");
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
        v.sort();
        v
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stages with a given status.
pub fn with_status(map: &std::collections::BTreeMap<String, String>, status: &str) -> Vec<String> {
    map.iter().filter(|(_, s)| s.as_str() == status).map(|(n, _)| n.clone()).collect()
}

/// Sets a file's mtime forward without changing its bytes.
pub fn touch(path: &Path) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
}

/// Processes (other than this one) whose working directory is `dir` or inside it: what a command
/// stage started there. Read from `/proc/<pid>/cwd`.
pub fn processes_in(dir: &Path) -> Vec<i32> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        // Zombies keep no working directory; they are gone for all purposes here.
        if std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(&dir)) {
            out.push(pid);
        }
    }
    out
}

/// Kills, by pid, every process still working inside a directory when dropped — so a test stops
/// what it started even when it fails.
pub struct StopProcessesIn(pub PathBuf);

impl Drop for StopProcessesIn {
    fn drop(&mut self) {
        for pid in processes_in(&self.0) {
            // SAFETY: kill(2) on a process running inside this test's own scratch directory.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Waits up to `secs` for `cond`; returns whether it came true.
pub fn eventually(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cond()
}
