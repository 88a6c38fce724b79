//! `kind: command` — a shell command with declared dependencies and outputs, like a DVC stage.
//!
//! Keys: `cmd` (run with `sh -c` in the stage's work directory: the pipeline file's directory, or
//! `wdir` relative to it), `deps` (files or directories it reads; a path another stage lists in
//! `outs` makes this stage depend on that one), `outs` (files or directories it writes, relative to
//! the work directory; they are captured into the cache and restored when the stage is cached),
//! `params` (a map exported as `AWMT_PARAM_<NAME>` and part of the cache key), `wdir`.
//! Declared outputs are removed before the command runs, so a stale file is never captured (the
//! executor first checks that awmt created them: it never deletes a user's file); an output the
//! command did not produce fails the stage. Outputs are reached only through paths that stay
//! inside the work directory (a symbolic link leading out of it is refused).
//!
//! The command runs under `awmt __supervise` (see `supervise`): its whole process tree dies with
//! the run, and whatever it leaves running in the background is stopped when it exits, before its
//! outputs are captured.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{canonical_params, InputSlot, OwnKey, OwnSyntax, ParamError, StageContext, StageKind};
use crate::supervise;
use crate::util::children;

pub struct Command;

/// The stage keys of `kind: command`; `deps` is its one input slot.
static SYNTAX: OwnSyntax = OwnSyntax {
    keys: &[("cmd", OwnKey::Text), ("outs", OwnKey::Outputs), ("deps", OwnKey::Inputs), ("params", OwnKey::Map)],
    required: ("cmd", "add `cmd: <shell command>`"),
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    cmd: String,
    #[serde(default)]
    outs: Vec<String>,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    wdir: String,
}

/// `AWMT_PARAM_<NAME>`: upper case, anything but letters and digits as `_`.
pub fn param_env_name(name: &str) -> String {
    let body: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("AWMT_PARAM_{body}")
}

fn param_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl StageKind for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[InputSlot { name: "deps", required: false, many: true }]
    }
    fn own_syntax(&self) -> Option<&'static OwnSyntax> {
        Some(&SYNTAX)
    }
    fn with_from_own_keys(&self, keys: &serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        let key = |k: &str, default: serde_json::Value| keys.get(k).cloned().unwrap_or(default);
        serde_json::json!({
            "cmd": key("cmd", "".into()),
            "outs": key("outs", serde_json::json!([])),
            "params": key("params", serde_json::json!({})),
            "wdir": key("wdir", ".".into()),
        })
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let p = canonical_params::<Params>(with)?;
        if p["cmd"].as_str().is_some_and(|c| c.trim().is_empty()) {
            return Err(ParamError::new(&["cmd"], "`cmd` is empty"));
        }
        Ok(p)
    }
    fn isolated(&self) -> bool {
        false
    }
    fn user_outputs(&self) -> &'static [&'static str] {
        &[]
    }
    fn workspace_outputs(&self, params: &serde_json::Value) -> Vec<(String, String)> {
        params["outs"]
            .as_array()
            .map(|outs| outs.iter().filter_map(|o| o.as_str()).map(|o| (o.to_string(), o.to_string())).collect())
            .unwrap_or_default()
    }
    fn run(&self, ctx: &StageContext) -> Result<()> {
        let p: Params = ctx.params()?;
        let mut outs = Vec::with_capacity(p.outs.len());
        for out in &p.outs {
            outs.push(crate::util::confined(&ctx.work_dir, out).with_context(|| format!("output `{out}`"))?);
        }
        for abs in &outs {
            remove_path(abs)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ctx.log)
            .with_context(|| format!("opening the stage log {}", ctx.log.display()))?;
        // The supervisor's lock lives in the attempt directory (the parent of `out_dir`), where
        // the next run looks for processes of a killed one.
        let supervisor = supervise::supervisor_exe().zip(ctx.out_dir.parent().map(|d| d.join(supervise::LOCK_FILE)));
        let mut command = match &supervisor {
            Some((exe, lock)) => {
                let mut c = std::process::Command::new(exe);
                c.arg(supervise::ARG).arg(lock).arg("--").arg("sh");
                c
            }
            None => std::process::Command::new("sh"),
        };
        command
            .arg("-c")
            .arg(&p.cmd)
            .current_dir(&ctx.work_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        for (k, v) in &p.params {
            command.env(param_env_name(k), param_text(v));
        }
        if let Some(v) = &ctx.visible_gpus {
            command.env("CUDA_VISIBLE_DEVICES", v);
        }
        // SAFETY: prctl and getppid in the child before exec. The supervisor is told when this
        // thread (and so the run) dies, e.g. on SIGKILL, and stops the whole tree; without one,
        // the shell is killed. Should the run have died before prctl took effect, give up.
        let death_signal = if supervisor.is_some() { supervise::PARENT_DEATH_SIGNAL } else { libc::SIGKILL };
        let parent = std::process::id() as i32;
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, death_signal);
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let mut child = command.spawn().with_context(|| format!("starting `sh -c {}` in {}", p.cmd, ctx.work_dir.display()))?;
        let pgid = child.id() as i32;
        children::register(pgid);
        // Reaped with wait4: the executor reports the tree's CPU time and peak memory.
        let status = crate::rusage::wait(&mut child);
        children::unregister(pgid);
        let status = status.context("waiting for the command")?;
        if !status.success() {
            match status.code() {
                Some(code) => bail!("command exited with status {code}: {}", p.cmd),
                None => bail!("command was killed by a signal: {}", p.cmd),
            }
        }
        for (out, src) in p.outs.iter().zip(&outs) {
            if !src.exists() {
                bail!("the command did not produce its declared output `{out}` (in {})", ctx.work_dir.display());
            }
            copy_tree(src, &ctx.out_dir.join(out))?;
        }
        Ok(())
    }
}

/// Removes a file or directory if it exists.
pub fn remove_path(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display())),
        Ok(_) => std::fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
        Err(_) => Ok(()),
    }
}

/// Copies a file or a directory tree (regular files only).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let meta = std::fs::metadata(src).with_context(|| format!("reading {}", src.display()))?;
    if meta.is_dir() {
        for e in walkdir::WalkDir::new(src) {
            let e = e?;
            let rel = e.path().strip_prefix(src).unwrap_or(e.path());
            let target = dst.join(rel);
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&target)?;
            } else if e.file_type().is_file() {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(e.path(), &target).with_context(|| format!("copying {}", e.path().display()))?;
            }
        }
    } else {
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(src, dst).with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    }
    Ok(())
}
