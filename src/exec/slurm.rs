//! The Slurm executor: ready stages become `sbatch --parsable` jobs running
//! `awmt exec-stage --pipeline F --stage S --cache DIR`, which publish into the shared cache.
//! A run's `--set` overrides go to every job as the same flags (the job loads the pipeline as the
//! run did), with the key the run computed, which the job checks before running anything.
//! Stages of one `foreach` group that are ready together go as one job array. All live jobs are
//! polled with one `squeue` call per interval; exit codes come from files the job wrapper writes
//! (no accounting database needed); Ctrl-C `scancel`s every job of the run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use super::local::LocalExecutor;
use super::{Executor, Job, JobDone};
use crate::cache::Cache;

/// Where the job scripts, task lists and exit codes of one run live (in the shared cache).
struct Submission {
    /// Slurm job id (`123`, the array's id for arrays).
    job_id: String,
    /// (job index in the scheduler, exit-code file) per array task, in task order.
    tasks: Vec<(usize, PathBuf)>,
    submitted: Instant,
    /// When the job was first seen ended without all exit files.
    ended_since: Option<Instant>,
}

pub struct SlurmExecutor {
    cache: Cache,
    pipeline_file: PathBuf,
    /// The run's `--set` overrides as given (`stages.a.with.n=3`), passed on to every job.
    overrides: Vec<String>,
    awmt: PathBuf,
    run_dir: PathBuf,
    /// Jobs buffered by `launch` until the next `wait`, so that ready foreach members batch.
    buffered: Vec<Job>,
    live: Vec<Submission>,
    /// Scheduler index -> (job key, stage name, started).
    jobs: HashMap<usize, (String, String, Instant)>,
    finished: Vec<JobDone>,
    /// Stages with `executor: local` run here.
    local: LocalExecutor,
    last_poll: Instant,
    poll_every: Duration,
    counter: usize,
    /// Count per state from the last poll, for the progress line.
    last_states: BTreeMap<String, usize>,
    /// Whether stages without `executor:` go to Slurm (`--executor slurm`) or run locally.
    default_slurm: bool,
}

impl SlurmExecutor {
    /// `cache` must be on a filesystem the compute nodes share; `pipeline_file` absolute;
    /// `overrides` the `--set` values the pipeline was loaded with.
    pub fn new(cache: &Cache, pipeline_file: &Path, overrides: &[String], default_slurm: bool) -> Result<SlurmExecutor> {
        for tool in ["sbatch", "squeue", "scancel"] {
            if !on_path(tool) {
                bail!("`{tool}` is not on the PATH: the Slurm executor needs the Slurm client tools (sbatch, squeue, scancel)");
            }
        }
        let awmt = std::env::current_exe().context("cannot locate the awmt executable")?;
        let run_dir = cache.root.join("slurm").join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let pipeline_file = std::fs::canonicalize(pipeline_file).unwrap_or_else(|_| pipeline_file.to_path_buf());
        Ok(SlurmExecutor {
            cache: cache.clone(),
            pipeline_file,
            overrides: overrides.to_vec(),
            awmt,
            run_dir,
            buffered: Vec::new(),
            live: Vec::new(),
            jobs: HashMap::new(),
            finished: Vec::new(),
            local: LocalExecutor::default(),
            last_poll: Instant::now(),
            poll_every: Duration::from_millis(
                std::env::var("AWMT_SLURM_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(250),
            ),
            counter: 0,
            last_states: BTreeMap::new(),
            default_slurm,
        })
    }

    /// Submits the buffered jobs: one array per foreach group with several ready members.
    fn submit_buffered(&mut self) -> Result<()> {
        let mut groups: BTreeMap<String, Vec<Job>> = BTreeMap::new();
        for job in self.buffered.drain(..) {
            groups.entry(job.group.clone()).or_default().push(job);
        }
        for (_, jobs) in groups {
            if let Err(e) = self.submit(&jobs) {
                for job in jobs {
                    self.finished.push(JobDone { index: job.index, result: Err(anyhow::anyhow!("sbatch failed: {e:#}")), seconds: 0.0, published: None, usage: None });
                }
            }
        }
        Ok(())
    }

    fn submit(&mut self, jobs: &[Job]) -> Result<()> {
        self.counter += 1;
        let dir = self.run_dir.join(format!("sub{}", self.counter));
        std::fs::create_dir_all(&dir)?;
        // One line per array task: the stage name, and in keys.txt the key the run computed.
        let stages: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        std::fs::write(dir.join("stages.txt"), stages.join("\n") + "\n")?;
        let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
        std::fs::write(dir.join("keys.txt"), keys.join("\n") + "\n")?;
        let sets: String = self.overrides.iter().map(|o| format!(" --set={}", sh_quote(o))).collect();
        let script = format!(
            "#!/bin/sh\n\
             # Written by awmt: runs one stage of {pipeline} against the shared cache.\n\
             task=${{SLURM_ARRAY_TASK_ID:-0}}\n\
             stage=$(sed -n \"$((task + 1))p\" {dir}/stages.txt)\n\
             key=$(sed -n \"$((task + 1))p\" {dir}/keys.txt)\n\
             AWMT_USAGE_FILE={dir}/usage.$task {awmt} exec-stage --pipeline {pipeline}{sets} --stage \"$stage\" --cache {cache} --expect-key \"$key\"\n\
             rc=$?\n\
             echo $rc > {dir}/exit.$task.tmp && mv {dir}/exit.$task.tmp {dir}/exit.$task\n\
             exit $rc\n",
            pipeline = sh_quote(&self.pipeline_file),
            dir = sh_quote(&dir),
            awmt = sh_quote(&self.awmt),
            cache = sh_quote(&self.cache.root),
        );
        let script_path = dir.join("job.sh");
        std::fs::write(&script_path, script)?;
        let first = &jobs[0];
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable").arg(format!("--job-name=awmt:{}", first.group));
        if jobs.len() > 1 {
            cmd.arg(format!("--array=0-{}", jobs.len() - 1));
            // Each task's log is its stage's log in the cache.
            let logs: Vec<PathBuf> = jobs.iter().map(|j| self.cache.log_path(&j.key)).collect();
            for (t, log) in logs.iter().enumerate() {
                let _ = std::fs::write(log, b"");
                let _ = std::os::unix::fs::symlink(log, dir.join(format!("log.{t}")));
            }
            cmd.arg(format!("--output={}/log.%a", dir.display()));
        } else {
            let log = self.cache.log_path(&first.key);
            cmd.arg(format!("--output={}", log.display()));
        }
        let r = first.resources;
        cmd.arg(format!("--cpus-per-task={}", r.cpus.clamp(1, 4096)));
        if r.mem > 0 {
            cmd.arg(format!("--mem={}M", r.mem.div_ceil(1 << 20)));
        }
        if r.gpus > 0 {
            cmd.arg(format!("--gres=gpu:{}", r.gpus));
        }
        for (k, flag) in [("partition", "--partition"), ("account", "--account"), ("time", "--time"), ("qos", "--qos")] {
            if let Some(v) = first.slurm.get(k) {
                cmd.arg(format!("{flag}={v}"));
            }
        }
        if let Some(extra) = first.slurm.get("extra") {
            cmd.args(extra.split_whitespace());
        }
        cmd.arg(&script_path);
        let out = cmd.output().context("running sbatch")?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() {
            bail!("sbatch printed no job id");
        }
        let tasks = jobs.iter().enumerate().map(|(t, j)| (j.index, dir.join(format!("exit.{t}")))).collect();
        for j in jobs {
            self.jobs.insert(j.index, (j.key.clone(), j.name.clone(), Instant::now()));
        }
        std::fs::write(dir.join("job_id"), &id)?;
        self.live.push(Submission { job_id: id, tasks, submitted: Instant::now(), ended_since: None });
        Ok(())
    }

    /// One `squeue` for every live job; collects tasks whose exit-code file exists.
    fn poll(&mut self) {
        if self.live.is_empty() {
            return;
        }
        let ids: Vec<&str> = self.live.iter().map(|s| s.job_id.as_str()).collect();
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        let mut queued: HashMap<String, String> = HashMap::new();
        let mut squeue_ok = false;
        if let Ok(out) = Command::new("squeue").args(["-h", "-t", "all", "-o", "%i %T", "-j", &ids.join(",")]).output() {
            // A job id that has left Slurm's memory makes squeue fail; the others are still listed.
            squeue_ok = out.status.success() || String::from_utf8_lossy(&out.stderr).contains("Invalid job id");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut it = line.split_whitespace();
                if let (Some(id), Some(state)) = (it.next(), it.next()) {
                    *states.entry(state.to_lowercase()).or_default() += 1;
                    queued.insert(id.to_string(), state.to_string());
                }
            }
        }
        self.last_states = states;
        let mut still = Vec::new();
        for mut sub in self.live.drain(..) {
            let mut pending = Vec::new();
            let job_id = sub.job_id.clone();
            // The state squeue last showed for one task of this submission (array task, else the job).
            let task_state = |exit_file: &std::path::Path| -> String {
                let task = exit_file.extension().and_then(|t| t.to_str()).map(|t| format!("{job_id}_{t}")).unwrap_or_default();
                queued.get(&task).or_else(|| queued.get(&job_id)).cloned().unwrap_or_default()
            };
            for (index, exit_file) in sub.tasks.drain(..) {
                match std::fs::read_to_string(&exit_file) {
                    Ok(code) => {
                        let code: i32 = code.trim().parse().unwrap_or(1);
                        let state = task_state(&exit_file);
                        // A stage killed by a signal (143, 137) may have been killed by the cluster
                        // (time limit: SIGTERM to every process of the job, the wrapper may still
                        // write the code). Wait for the task's final state before deciding.
                        if code >= 128 && squeue_ok && is_live(&state) {
                            pending.push((index, exit_file));
                            continue;
                        }
                        let (key, name, started) = self.jobs.remove(&index).unwrap_or_else(|| (String::new(), String::new(), Instant::now()));
                        if code != 0 && ended_by_the_cluster(&state) {
                            self.finished.push(ended_by_slurm(index, &sub.job_id, name, state, started));
                            continue;
                        }
                        let seconds = started.elapsed().as_secs_f64();
                        // CPU time and peak memory as the job's own `awmt exec-stage` measured them.
                        let usage = exit_file
                            .file_name()
                            .and_then(|n| n.to_str())
                            .and_then(|n| n.strip_prefix("exit."))
                            .map(|t| exit_file.with_file_name(format!("usage.{t}")))
                            .and_then(|f| crate::rusage::read_usage_file(&f));
                        let done = if code == 0 {
                            match self.cache.entry(&key) {
                                Some(e) => JobDone { index, result: Ok(()), seconds, published: Some(e), usage },
                                None => JobDone {
                                    index,
                                    result: Err(anyhow::anyhow!(
                                        "the job of `{name}` succeeded but published no entry under key {key}; are the inputs and the cache on a filesystem the nodes share?"
                                    )),
                                    seconds,
                                    published: None,
                                    usage,
                                },
                            }
                        } else {
                            JobDone { index, result: Err(anyhow::anyhow!("Slurm job of `{name}` exited with status {code}")), seconds, published: None, usage }
                        };
                        self.finished.push(done);
                    }
                    Err(_) => pending.push((index, exit_file)),
                }
            }
            if pending.is_empty() {
                continue;
            }
            // A job that is no longer queued or running, yet left no exit file, died outside the
            // wrapper (cancelled, out of time or memory, node failure). Allow a few seconds for
            // the file to appear on a shared filesystem.
            let prefix = format!("{}_", sub.job_id);
            let mine: Vec<&String> = queued.iter().filter(|(id, _)| **id == sub.job_id || id.starts_with(&prefix)).map(|(_, s)| s).collect();
            let ended = mine.iter().all(|s| !is_live(s));
            if squeue_ok && ended && sub.submitted.elapsed() > Duration::from_secs(2) {
                let since = *sub.ended_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(5) {
                    for (index, exit_file) in pending {
                        let (_, name, started) = self.jobs.remove(&index).unwrap_or_else(|| (String::new(), String::new(), Instant::now()));
                        // The task's last state says whether the cluster ended it (then it is resubmitted).
                        let state = task_state(&exit_file);
                        self.finished.push(ended_by_slurm(index, &sub.job_id, name, state, started));
                    }
                    continue;
                }
            }
            sub.tasks = pending;
            still.push(sub);
        }
        self.live = still;
    }
}

/// Whether a squeue state is one a job passes through before it ends.
fn is_live(state: &str) -> bool {
    matches!(state, "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "REQUEUED" | "RESIZING" | "SIGNALING" | "STAGE_OUT")
}

/// Whether a final squeue state says the cluster ended the job (time, memory, node, preemption),
/// whatever exit code the stage's own wrapper managed to write on its way down.
fn ended_by_the_cluster(state: &str) -> bool {
    matches!(state, "TIMEOUT" | "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL" | "OUT_OF_MEMORY" | "DEADLINE")
}

/// The outcome of a task the cluster ended (its final state says so, or it vanished without an
/// exit file): an `EndedBySlurm` error, which the retry policy resubmits.
fn ended_by_slurm(index: usize, job: &str, stage: String, state: String, started: Instant) -> JobDone {
    JobDone {
        index,
        result: Err(anyhow::Error::new(super::retry::EndedBySlurm { job: job.to_string(), stage, state })),
        seconds: started.elapsed().as_secs_f64(),
        published: None,
        usage: None,
    }
}

impl Executor for SlurmExecutor {
    fn publishes(&self, stage_executor: Option<&str>) -> bool {
        match stage_executor {
            Some("local") => false,
            Some(_) => true,
            None => self.default_slurm,
        }
    }

    fn launch(&mut self, job: Job) -> Result<()> {
        if job.work.is_some() {
            return self.local.launch(job);
        }
        self.buffered.push(job);
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> Option<JobDone> {
        if !self.buffered.is_empty() {
            let _ = self.submit_buffered();
        }
        if let Some(d) = self.finished.pop() {
            return Some(d);
        }
        if let Some(d) = self.local.wait(Duration::from_millis(1)) {
            return Some(d);
        }
        if self.last_poll.elapsed() >= self.poll_every {
            self.last_poll = Instant::now();
            self.poll();
            if let Some(d) = self.finished.pop() {
                return Some(d);
            }
        }
        self.local.wait(timeout.min(self.poll_every))
    }

    fn cancel(&mut self) {
        let ids: Vec<String> = self.live.iter().map(|s| s.job_id.clone()).collect();
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).status();
        }
        for sub in self.live.drain(..) {
            for (index, _) in sub.tasks {
                self.jobs.remove(&index);
                self.finished.push(JobDone { index, result: Err(anyhow::anyhow!("cancelled")), seconds: 0.0, published: None, usage: None });
            }
        }
        for job in self.buffered.drain(..) {
            self.finished.push(JobDone { index: job.index, result: Err(anyhow::anyhow!("cancelled")), seconds: 0.0, published: None, usage: None });
        }
        self.local.cancel();
    }

    fn state_line(&mut self) -> Option<String> {
        if self.last_states.is_empty() {
            return None;
        }
        Some(self.last_states.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", "))
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// One shell word: `s` in single quotes (a quote inside becomes `'\''`).
fn sh_quote<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> String {
    format!("'{}'", s.as_ref().to_string_lossy().replace('\'', "'\\''"))
}
