//! Resource use of a stage's process tree: child processes are reaped with `wait4(2)`, whose
//! rusage covers the child and every descendant it reaped in turn (`awmt __supervise` reaps the
//! whole tree, `awmt exec-stage` its own children), and the figures are summed per thread, so
//! the executor thread that runs a stage reads what that stage's processes used.

use std::cell::Cell;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

/// CPU time and peak resident memory of the processes a thread waited for.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Largest resident set of any one of the processes, in bytes.
    pub max_rss: u64,
}

impl Usage {
    fn merge(self, other: Usage) -> Usage {
        Usage { cpu_seconds: self.cpu_seconds + other.cpu_seconds, max_rss: self.max_rss.max(other.max_rss) }
    }

    fn from_rusage(ru: &libc::rusage) -> Usage {
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        // ru_maxrss is in KiB on Linux.
        Usage { cpu_seconds: secs(ru.ru_utime) + secs(ru.ru_stime), max_rss: (ru.ru_maxrss.max(0) as u64) * 1024 }
    }
}

thread_local! {
    static WAITED: Cell<Usage> = const { Cell::new(Usage { cpu_seconds: 0.0, max_rss: 0 }) };
}

/// Forgets what this thread's earlier waits recorded (call before running a stage).
pub fn reset() {
    WAITED.with(|w| w.set(Usage::default()));
}

/// What this thread's waits recorded since [`reset`].
pub fn taken() -> Usage {
    WAITED.with(|w| w.get())
}

/// Waits for `child` like [`Child::wait`] and adds its resource use (its whole reaped tree) to
/// this thread's record.
pub fn wait(child: &mut Child) -> std::io::Result<ExitStatus> {
    let pid = child.id() as libc::pid_t;
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            let used = Usage::from_rusage(&ru);
            WAITED.with(|w| w.set(w.get().merge(used)));
            return Ok(ExitStatus::from_raw(status));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Resource use of this process's reaped children so far (`RUSAGE_CHILDREN`) plus its own
/// (`RUSAGE_SELF`): what a Slurm job wrapper reports for the stage it ran.
pub fn self_and_children() -> Usage {
    let get = |who| {
        // SAFETY: getrusage fills a zeroed struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut ru) };
        Usage::from_rusage(&ru)
    };
    get(libc::RUSAGE_SELF).merge(get(libc::RUSAGE_CHILDREN))
}

/// Where `awmt exec-stage` writes what it used when a job wrapper asks (Slurm).
pub const USAGE_FILE_ENV: &str = "AWMT_USAGE_FILE";

/// Writes [`self_and_children`] to the file `$AWMT_USAGE_FILE` names, if set (best effort: a
/// missing trace must not fail a stage that worked).
pub fn write_usage_file() {
    if let Some(path) = std::env::var_os(USAGE_FILE_ENV) {
        if let Ok(text) = serde_json::to_vec(&self_and_children()) {
            let _ = crate::util::write_atomic(std::path::Path::new(&path), &text);
        }
    }
}

/// A usage file written by [`write_usage_file`].
pub fn read_usage_file(path: &std::path::Path) -> Option<Usage> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_allocates_reports_its_peak_memory_and_cpu() {
        reset();
        // `sh` itself is small; a 64 MiB string held by the shell raises its RSS above that.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("x=$(head -c 67108864 /dev/zero | tr '\\0' a); i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ${#x} >/dev/null")
            .spawn()
            .unwrap();
        let status = wait(&mut child).unwrap();
        assert!(status.success());
        let u = taken();
        assert!(u.max_rss > 64 << 20, "peak RSS {} should exceed 64 MiB", u.max_rss);
        assert!(u.cpu_seconds > 0.0);
        reset();
        assert_eq!(taken(), Usage::default());
    }
}
