//! `awmt __supervise LOCK -- PROGRAM ARGS…`: the parent of a command stage's process tree, so that
//! the whole tree (pipes, background jobs, grandchildren) dies with awmt and never outlives the
//! stage.
//!
//! A command's processes run in their own process group, and `PR_SET_PDEATHSIG` on `sh` alone
//! left `... | cat` running after awmt was killed, still writing into the workspace while the
//! next run started. The supervisor:
//! - is told by the kernel when awmt dies (`PR_SET_PDEATHSIG` = SIGHUP) and then SIGKILLs the
//!   whole tree at once; on SIGTERM/SIGINT (a cancelled run) it sends SIGTERM, waits up to
//!   [`GRACE`], then SIGKILLs;
//! - is a child subreaper, so descendants that leave the process group (`setsid`, double fork)
//!   are re-parented to it and still found (through `/proc`) and stopped;
//! - when the command itself exits, stops whatever it left running (a background writer) before
//!   reporting, so nothing can touch the outputs once awmt captures them;
//! - holds an exclusive `flock` on LOCK through a descriptor every process of the tree inherits:
//!   the lock stays held while any of them lives, and the next run (`Cache::remove_leftover_attempts`)
//!   waits for it, killing the holders it finds, before anything runs.
//!
//! Exits with the command's exit code, or by the command's signal.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The lock file a supervisor creates in a stage's attempt directory (the parent of its `out_dir`).
pub const LOCK_FILE: &str = "running.lock";

/// Hidden first argument of the `awmt` binary that runs [`main`].
pub const ARG: &str = "__supervise";

/// How long a cancelled command gets between SIGTERM and SIGKILL (awmt itself escalates at 5 s).
pub const GRACE: Duration = Duration::from_secs(3);

/// The signal the kernel sends the supervisor when awmt dies.
pub const PARENT_DEATH_SIGNAL: i32 = libc::SIGHUP;

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: i32) {
    // Only an atomic store: async-signal-safe.
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    if sig == PARENT_DEATH_SIGNAL {
        RECEIVED.store(sig, Ordering::SeqCst);
    }
}

/// Runs the supervisor; `args` are what follows [`ARG`]. Returns the exit code (or re-raises the
/// command's signal).
pub fn main(args: &[OsString]) -> i32 {
    let (lock, command) = match args {
        [lock, dashdash, program, rest @ ..] if dashdash == "--" => (lock.clone(), (program.clone(), rest.to_vec())),
        _ => {
            eprintln!("usage: awmt {ARG} LOCK -- PROGRAM [ARGS…] (started by awmt for command stages)");
            return 2;
        }
    };
    // SAFETY: installing a handler that only stores to an atomic; prctl with constant arguments.
    unsafe {
        for sig in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
            libc::signal(sig, on_signal as extern "C" fn(i32) as libc::sighandler_t);
        }
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let _lock_fd = hold_inherited_lock(&lock);
    let mut cmd = std::process::Command::new(&command.0);
    cmd.args(&command.1).process_group(0);
    // SAFETY: prctl in the child before exec: should the supervisor itself be killed, the shell
    // goes too (what the shell started is found through the lock by the next run).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            for sig in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("awmt: cannot start {}: {e}", command.0.to_string_lossy());
            return 127;
        }
    };
    let pgid = child.id() as i32;
    let mut main_status: Option<i32> = None;
    let mut term_sent: Option<Instant> = None;
    let mut killed = false;
    let mut leftovers = 0usize;
    loop {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => {}
            PARENT_DEATH_SIGNAL => {
                // awmt is gone: nobody will publish this attempt; stop everything now.
                if !killed {
                    kill_tree(pgid, libc::SIGKILL);
                    killed = true;
                }
            }
            _ => match term_sent {
                None => {
                    kill_tree(pgid, libc::SIGTERM);
                    term_sent = Some(Instant::now());
                }
                Some(t) if t.elapsed() > GRACE && !killed => {
                    kill_tree(pgid, libc::SIGKILL);
                    killed = true;
                }
                _ => {}
            },
        }
        let mut status = 0;
        // SAFETY: waitpid on any child of ours, non-blocking.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid == pgid {
            main_status = Some(status);
            // The command is done: whatever it left running must not outlive the stage.
            if !killed {
                leftovers = kill_tree(pgid, libc::SIGKILL);
                killed = true;
            }
            continue;
        }
        if pid > 0 {
            continue;
        }
        if pid < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // ECHILD: no process of the tree is left.
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if leftovers > 0 {
        eprintln!("awmt: stopped {leftovers} process(es) that the command left running");
    }
    let received = RECEIVED.load(Ordering::SeqCst);
    match main_status {
        Some(st) if libc::WIFEXITED(st) && received == 0 => libc::WEXITSTATUS(st),
        Some(st) if libc::WIFSIGNALED(st) => reraise(libc::WTERMSIG(st)),
        _ if received != 0 => reraise(received),
        Some(st) => libc::WEXITSTATUS(st),
        None => 1,
    }
}

/// Exits by signal `sig` (so the caller sees "killed by a signal"), or with 128 + `sig`.
fn reraise(sig: i32) -> i32 {
    // SAFETY: restoring the default action and signalling ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
    }
    128 + sig
}

/// Opens LOCK (creating it) without close-on-exec and takes an exclusive `flock`: every process
/// the command starts inherits the descriptor, so the lock is held while any of them lives.
fn hold_inherited_lock(path: &OsString) -> Option<i32> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_bytes()).ok()?;
    // SAFETY: open/flock on a path we own; the descriptor is deliberately leaked to children.
    unsafe {
        let fd = libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600);
        if fd < 0 {
            eprintln!("awmt: cannot create the stage lock {}: {}", path.to_string_lossy(), std::io::Error::last_os_error());
            return None;
        }
        libc::flock(fd, libc::LOCK_EX);
        Some(fd)
    }
}

/// Sends `sig` to the command's process group and to every other descendant of this process
/// (those that left the group); returns how many processes it signalled.
fn kill_tree(pgid: i32, sig: i32) -> usize {
    // Listed first: once signalled they turn into zombies, which the listing leaves out.
    let below = descendants(std::process::id() as i32);
    // SAFETY: kill(2) on our own children's group (ESRCH when it is gone) and on processes below
    // us (the subreaper keeps them ours).
    unsafe { libc::kill(-pgid, sig) };
    for &pid in &below {
        unsafe { libc::kill(pid, sig) };
    }
    below.len()
}

/// Every live process below `root`, from `/proc/<pid>/stat` parent links.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses: split after the last `)`.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            let mut fields = after.split_whitespace();
            let state = fields.next().unwrap_or("");
            let Some(ppid) = fields.next().and_then(|s| s.parse::<i32>().ok()) else { continue };
            if state != "Z" {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// The executable that acts as a supervisor (run as `EXE __supervise …`): `awmt-supervise` beside
/// the running executable (a few lines, no libtorch: it starts in a millisecond whatever the
/// build), else the running `awmt` itself. None in processes that are neither (a library test),
/// which then run commands without one.
pub fn supervisor_exe() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let small = dir.join("awmt-supervise");
    if small.is_file() {
        return Some(small);
    }
    if exe.file_name().is_some_and(|n| n == "awmt") {
        return Some(exe);
    }
    let sibling = dir.join("awmt");
    sibling.is_file().then_some(sibling)
}

/// Processes that hold `path` open (found through `/proc/<pid>/fd`).
pub fn holders_of(path: &std::path::Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        if fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path)) {
            out.push(pid);
        }
    }
    out
}
