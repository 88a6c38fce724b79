//! The run index, `runs/index.jsonl` in the cache: one JSON line per event of every `awmt run`
//! (the run starting, each stage finishing with its resource trace, the run ending).
//!
//! Append-only: a line is written with a single `write(2)` on an `O_APPEND` descriptor, so a
//! reader (`awmt runs`, `awmt exp show`) sees whole lines while a run is going, and a killed run
//! leaves every stage it finished plus, at worst, one torn last line, which readers skip (and
//! the next writer ends with a newline first). A run without an `end` line whose process is gone
//! was killed. Only `awmt gc` rewrites the file (atomically, under the cache lock), dropping runs
//! none of whose entries the cache still holds.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::Cache;
pub use crate::trace_record::StageTrace;

/// How a run began.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStart {
    /// `YYYYMMDD-HHMMSS-<4 hex>` (UTC): sorts by time, unique enough to name in `awmt diff`.
    pub run: String,
    /// Unix seconds.
    pub started: f64,
    /// The pipeline's `name:` and its file (absolute) with the file's blake3.
    pub pipeline: String,
    pub file: String,
    pub file_blake3: String,
    /// The commit of the repository holding the pipeline file, and whether tracked files differ
    /// from it; absent outside a git repository.
    #[serde(default)]
    pub git_commit: Option<String>,
    #[serde(default)]
    pub git_dirty: Option<bool>,
    /// `--set` overrides given to the run.
    #[serde(default)]
    pub overrides: Vec<String>,
    /// `local` or `slurm`.
    pub executor: String,
    pub pid: u32,
}

/// How a run ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunEnd {
    pub run: String,
    pub ended: f64,
    /// `ok`, `failed` or `interrupted`.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Start(RunStart),
    Stage(StageTrace),
    End(RunEnd),
}

/// A run as read back: its start, the stages it finished, its end if it got there.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    #[serde(flatten)]
    pub start: RunStart,
    pub stages: Vec<StageTrace>,
    pub end: Option<RunEnd>,
    /// `ok`, `failed`, `interrupted`, `running` or `killed` (no end, process gone).
    pub status: String,
}

impl Run {
    pub fn count(&self, status: &str) -> usize {
        self.stages.iter().filter(|s| s.status == status).count()
    }
    /// Wall seconds from start to end (or to the last finished stage).
    pub fn seconds(&self) -> f64 {
        let last = self.end.as_ref().map(|e| e.ended).or_else(|| self.stages.iter().map(|s| s.end).reduce(f64::max));
        last.map(|t| (t - self.start.started).max(0.0)).unwrap_or(0.0)
    }
}

impl Cache {
    pub fn run_index_path(&self) -> PathBuf {
        self.root.join("runs").join("index.jsonl")
    }
}

/// An open run index for appending.
pub struct RunLog {
    file: std::fs::File,
}

impl RunLog {
    /// Opens (creating) the index of `cache` for appending.
    pub fn open(cache: &Cache) -> Result<RunLog> {
        let path = cache.run_index_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .with_context(|| format!("opening the run index {}", path.display()))?;
        // A run killed mid-line left a torn line: end it, so the next line stays whole.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(RunLog { file })
    }

    /// Appends one event as one line, in one write.
    pub fn append(&mut self, event: &Event) -> Result<()> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let n = self.file.write(&line).context("appending to the run index")?;
        anyhow::ensure!(n == line.len(), "the run index took only {n} of {} bytes (disk full?)", line.len());
        Ok(())
    }
}

/// Every event of the index, skipping lines that do not parse (a torn line of a killed run).
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading the run index {}", path.display())),
    };
    Ok(text.lines().filter(|l| !l.trim().is_empty()).filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// Runs of the index, oldest first.
pub fn read_runs(cache: &Cache) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    for ev in read_events(&cache.run_index_path())? {
        match ev {
            Event::Start(s) => runs.push(Run { start: s, stages: Vec::new(), end: None, status: String::new() }),
            Event::Stage(t) => {
                if let Some(r) = runs.iter_mut().rev().find(|r| r.start.run == t.run) {
                    // A retried stage's final trace replaces none: each is one finish.
                    r.stages.push(t);
                }
            }
            Event::End(e) => {
                if let Some(r) = runs.iter_mut().rev().find(|r| r.start.run == e.run) {
                    r.end = Some(e);
                }
            }
        }
    }
    for r in &mut runs {
        r.status = match &r.end {
            Some(e) => e.status.clone(),
            None if process_alive(r.start.pid) => "running".to_string(),
            None => "killed".to_string(),
        };
    }
    runs.sort_by(|a, b| a.start.started.total_cmp(&b.start.started));
    Ok(runs)
}

fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && pid != std::process::id() && unsafe { libc::kill(pid as i32, 0) } == 0
}

/// Drops runs none of whose stage keys is in `kept` (the entries left after `gc`); returns how
/// many were dropped. Call with the cache lock held.
pub fn prune(cache: &Cache, kept: &HashSet<String>, dry_run: bool) -> Result<usize> {
    let path = cache.run_index_path();
    let events = read_events(&path)?;
    let mut live_runs: HashSet<String> = HashSet::new();
    let mut all_runs: HashSet<String> = HashSet::new();
    for ev in &events {
        match ev {
            Event::Start(s) => {
                all_runs.insert(s.run.clone());
            }
            Event::Stage(t) if t.key.as_ref().is_some_and(|k| kept.contains(k)) => {
                live_runs.insert(t.run.clone());
            }
            _ => {}
        }
    }
    let dropped = all_runs.difference(&live_runs).count();
    if dry_run || dropped == 0 {
        return Ok(dropped);
    }
    let mut out = Vec::new();
    for ev in &events {
        let run = match ev {
            Event::Start(s) => &s.run,
            Event::Stage(t) => &t.run,
            Event::End(e) => &e.run,
        };
        if live_runs.contains(run) {
            out.extend(serde_json::to_vec(ev)?);
            out.push(b'\n');
        }
    }
    crate::util::write_atomic(&path, &out)?;
    Ok(dropped)
}

/// Unix seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of unix seconds `t`.
pub fn utc_text(t: f64) -> String {
    let secs = t.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A new run id for a run starting at `t`.
pub fn new_run_id(t: f64) -> String {
    let stamp: String = utc_text(t).chars().filter(|c| c.is_ascii_digit() || *c == ' ').map(|c| if c == ' ' { '-' } else { c }).collect();
    let salt = blake3::hash(format!("{t}-{}", std::process::id()).as_bytes());
    format!("{stamp}-{}", &salt.to_hex()[..4])
}

/// The commit and dirty flag of the git repository holding `dir`, if any.
pub fn git_state(dir: &Path) -> (Option<String>, Option<bool>) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
            (Some(commit), dirty)
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(run: &str, t: f64) -> Event {
        Event::Start(RunStart { run: run.into(), started: t, pipeline: "p".into(), executor: "local".into(), ..Default::default() })
    }
    fn stage(run: &str, name: &str, key: &str) -> Event {
        Event::Stage(StageTrace { run: run.into(), stage: name.into(), key: Some(key.into()), status: "ran".into(), ..Default::default() })
    }

    #[test]
    fn torn_lines_are_skipped_and_the_next_append_stays_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let mut log = RunLog::open(&cache).unwrap();
        log.append(&start("r1", 1.0)).unwrap();
        log.append(&stage("r1", "a", "k1")).unwrap();
        drop(log);
        // A run killed in the middle of a line.
        let mut f = std::fs::OpenOptions::new().append(true).open(cache.run_index_path()).unwrap();
        f.write_all(br#"{"event":"stage","run":"r1","sta"#).unwrap();
        let mut log = RunLog::open(&cache).unwrap();
        log.append(&start("r2", 2.0)).unwrap();
        log.append(&Event::End(RunEnd { run: "r2".into(), ended: 3.0, status: "ok".into() })).unwrap();
        let runs = read_runs(&cache).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].stages.len(), 1);
        assert_eq!(runs[0].status, "killed");
        assert_eq!(runs[1].status, "ok");
        assert_eq!(runs[1].seconds(), 1.0);
    }

    #[test]
    fn prune_keeps_runs_with_a_surviving_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let mut log = RunLog::open(&cache).unwrap();
        for (r, k) in [("r1", "k1"), ("r2", "k2")] {
            log.append(&start(r, 1.0)).unwrap();
            log.append(&stage(r, "a", k)).unwrap();
        }
        let kept: HashSet<String> = ["k2".to_string()].into();
        assert_eq!(prune(&cache, &kept, true).unwrap(), 1);
        assert_eq!(read_runs(&cache).unwrap().len(), 2, "a dry run changes nothing");
        assert_eq!(prune(&cache, &kept, false).unwrap(), 1);
        let runs = read_runs(&cache).unwrap();
        assert_eq!(runs.iter().map(|r| r.start.run.as_str()).collect::<Vec<_>>(), ["r2"]);
    }

    #[test]
    fn utc_dates_and_run_ids() {
        assert_eq!(utc_text(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc_text(1_709_210_096.0), "2024-02-29 12:34:56");
        let id = new_run_id(1_709_210_096.0);
        assert!(id.starts_with("20240229-123456-"), "{id}");
    }
}
