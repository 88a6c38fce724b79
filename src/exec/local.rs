//! The local executor: each stage on its own thread; isolated kinds in an `awmt exec-stage`
//! subprocess (own process group, killed with the parent), the others in-process.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use super::{Executor, Job, JobDone};
use crate::stages::{StageContext, StageKind};
use crate::util::children;

pub struct LocalExecutor {
    tx: Sender<JobDone>,
    rx: Receiver<JobDone>,
}

impl Default for LocalExecutor {
    fn default() -> Self {
        let (tx, rx) = channel();
        LocalExecutor { tx, rx }
    }
}

impl Executor for LocalExecutor {
    fn launch(&mut self, job: Job) -> Result<()> {
        let tx = self.tx.clone();
        let exe = if job.kind.isolated() { super::worker::worker_exe()? } else { PathBuf::new() };
        std::thread::Builder::new()
            .name(format!("stage-{}", job.index))
            .spawn(move || {
                let start = Instant::now();
                let index = job.index;
                crate::rusage::reset();
                let result = match &job.work {
                    Some((ctx, file)) if job.kind.isolated() => run_subprocess(&exe, ctx, file),
                    Some((ctx, _)) => run_in_process(job.kind, ctx),
                    None => Err(anyhow::anyhow!("the local executor needs a prepared stage context")),
                };
                let usage = Some(crate::rusage::taken());
                let _ = tx.send(JobDone { index, result, seconds: start.elapsed().as_secs_f64(), published: None, usage });
            })
            .context("cannot start a stage thread")?;
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> Option<JobDone> {
        match self.rx.recv_timeout(timeout) {
            Ok(d) => Some(d),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    fn cancel(&mut self) {
        terminate_children();
    }
}

/// SIGTERM to every child process group, then SIGKILL to those still there after a grace period.
pub fn terminate_children() {
    if children::signal_all(libc::SIGTERM) == 0 {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while children::count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    children::signal_all(libc::SIGKILL);
}

fn run_in_process(kind: &'static dyn StageKind, ctx: &StageContext) -> Result<()> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.run(ctx))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            bail!("stage panicked: {msg}")
        }
    }
}

pub fn run_subprocess(exe: &std::path::Path, ctx: &StageContext, context_file: &std::path::Path) -> Result<()> {
    std::fs::write(context_file, serde_json::to_vec_pretty(ctx)?).with_context(|| format!("writing {}", context_file.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ctx.log)
        .with_context(|| format!("opening the stage log {}", ctx.log.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("exec-stage")
        .arg("--context")
        .arg(context_file)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("AWMT_STAGE", &ctx.stage)
        .process_group(0);
    if let Some(v) = &ctx.visible_gpus {
        cmd.env("CUDA_VISIBLE_DEVICES", v);
    }
    // SAFETY: prctl in the child before exec; it only asks the kernel to kill the child when the
    // thread that started it (and so this run) dies, e.g. on SIGKILL.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting `awmt exec-stage`")?;
    let pgid = child.id() as i32;
    children::register(pgid);
    let status = crate::rusage::wait(&mut child);
    children::unregister(pgid);
    let status = status.context("waiting for the stage process")?;
    if status.success() {
        Ok(())
    } else {
        match status.code() {
            Some(code) => bail!("stage process exited with status {code}"),
            None => bail!("stage process was killed by a signal"),
        }
    }
}
