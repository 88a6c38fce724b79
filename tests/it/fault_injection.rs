//! Fault injection (issue #12): random SIGKILLs of awmt's whole process group in the middle of
//! runs, and byte flips in cached objects with and without their mtime set back. After every
//! fault no process of the run survives, nothing corrupt is published or used, and the next run
//! ends with exactly the bytes of an undisturbed run. The malformed-pipeline corpus is
//! `orchestrator_errors::malformed_corpus_is_refused_with_locations`.
//!
//! Rounds: `AWMT_FAULT_KILLS` (default 30) and `AWMT_FAULT_FLIPS` (default 20); the draws come
//! from `AWMT_FAULT_SEED` (default 12), so a failure names the round that reproduces it.
//! `benches/fault_injection.sh` runs many more rounds.

use crate::common;

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::{eventually, processes_in, stderr, Project, StopProcessesIn};

/// Piped, slow and large-output stages; every output depends on `AWMT_ROUND`, so each round's
/// run recomputes the whole chain.
const PIPELINE: &str = r#"
stages:
  big:
    kind: command
    cmd: yes "round $AWMT_PARAM_ROUND" | head -c 5000000 > big.txt
    params: {round: "${env:AWMT_ROUND:-0}"}
    outs: [big.txt]
  piped:
    kind: command
    cmd: (for i in $(seq 1 12); do echo line $i; sleep 0.1; done; wc -c < big.txt) | cat > piped.txt
    deps: [big.txt]
    outs: [piped.txt]
  slow:
    kind: command
    cmd: sleep 0.2 && cksum big.txt piped.txt > slow.txt
    deps: [big.txt, piped.txt]
    outs: [slow.txt]
  tree:
    kind: command
    cmd: mkdir -p tree/sub && head -c 100000 big.txt > tree/a && tail -c 5000 big.txt > tree/sub/b
    deps: [big.txt]
    outs: [tree]
  small:
    kind: command
    cmd: head -c 200 piped.txt > small.txt
    deps: [piped.txt]
    outs: [small.txt]
"#;

const OUTPUTS: [&str; 6] = ["big.txt", "piped.txt", "slow.txt", "tree/a", "tree/sub/b", "small.txt"];

fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// xorshift64*: the same draws for the same seed.
struct Draws(u64);

impl Draws {
    fn new() -> Draws {
        Draws(rounds("AWMT_FAULT_SEED", 12) as u64 | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The outputs of an undisturbed run for `round`.
fn reference(round: usize) -> Vec<Vec<u8>> {
    let r = Project::new();
    r.write("p.yaml", PIPELINE);
    let out = r.command(&["run", "p.yaml", "-q"]).env("AWMT_ROUND", round.to_string()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    OUTPUTS.iter().map(|f| std::fs::read(r.path(f)).unwrap()).collect()
}

fn assert_outputs(p: &Project, want: &[Vec<u8>], when: &str) {
    for (f, w) in OUTPUTS.iter().zip(want) {
        let got = std::fs::read(p.path(f)).unwrap_or_else(|e| panic!("{when}: {f}: {e}"));
        assert!(got == *w, "{when}: {f} differs from an undisturbed run's");
    }
}

/// `awmt verify --no-quarantine`, in this process (an `awmt` start per round would dominate).
fn verify_clean(p: &Project, when: &str) {
    let cache = awmt::cache::Cache::open(&p.path("cache")).unwrap();
    let (_, bad) = cache.verify(false).unwrap();
    let bad: Vec<String> = bad.iter().map(|c| format!("{} (stage `{}`): {}", c.key, c.stage, c.files.join(", "))).collect();
    assert!(bad.is_empty(), "{when}: published entries are corrupt:\n{}", bad.join("\n"));
}

/// The real `awmt verify`, once at the end.
fn verify_clean_cli(p: &Project, when: &str) {
    let out = p.awmt(&["verify"]);
    assert!(out.status.success(), "{when}: `awmt verify` found corruption:\n{}{}", common::stdout(&out), stderr(&out));
}

#[test]
fn random_sigkill_of_the_whole_process_group() {
    let n = rounds("AWMT_FAULT_KILLS", 30);
    let p = Project::new();
    let _stop = StopProcessesIn(p.dir.path().to_path_buf());
    p.write("p.yaml", PIPELINE);
    let mut draws = Draws::new();
    let mut killed_mid_run = 0;
    for round in 1..=n {
        let when = format!("kill round {round}");
        let mut child = p.command(&["run", "p.yaml", "-q"]).env("AWMT_ROUND", (round % 4).to_string()).process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        let delay = Duration::from_millis(30 + draws.below(1500));
        let start = Instant::now();
        while start.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        // SAFETY: SIGKILL to the process group of the awmt this test started.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        child.wait().unwrap();
        // The supervisor reacts within milliseconds; orphans of an unsupervised tree (the piped
        // stage's loop) would live on for up to a second more.
        assert!(
            eventually(0.8, || processes_in(p.dir.path()).is_empty()),
            "{when}: processes of the killed run survive it: {:?}",
            processes_in(p.dir.path())
        );
        verify_clean(&p, &when);
    }
    // After all that, one undisturbed run gives exactly the reference bytes.
    let out = p.command(&["run", "p.yaml", "-q"]).env("AWMT_ROUND", "7").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_outputs(&p, &reference(7), "after the kills");
    verify_clean_cli(&p, "after the kills");
    assert!(killed_mid_run * 2 >= n, "only {killed_mid_run} of {n} kills landed during a run");
    eprintln!("{n} kills, {killed_mid_run} during a run: no survivor, no corrupt entry");
}

#[test]
fn byte_flips_in_cached_objects_with_and_without_mtime_restored() {
    use std::io::{Read, Seek, SeekFrom, Write};
    let n = rounds("AWMT_FAULT_FLIPS", 20);
    let want = reference(0);
    let p = Project::new();
    p.write("p.yaml", PIPELINE);
    let out = p.command(&["run", "p.yaml", "-q"]).env("AWMT_ROUND", "0").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut draws = Draws::new();
    for round in 1..=n {
        // Alternate a large entry (`big`, over the stat fast path) and small ones.
        let file = if round % 2 == 1 { "big.txt" } else { ["piped.txt", "slow.txt", "small.txt", "tree/sub/b"][draws.below(4) as usize] };
        let restore_mtime = (round / 2) % 2 == 0;
        let when = format!("flip round {round} ({file}, mtime {})", if restore_mtime { "restored" } else { "changed" });
        let object = p.cache_entries().into_iter().map(|e| e.join("out").join(file)).find(|o| o.exists()).unwrap();
        let meta = std::fs::metadata(&object).unwrap();
        let offset = draws.below(meta.len());
        {
            let mut f = std::fs::File::options().read(true).write(true).open(&object).unwrap();
            let mut b = [0u8; 1];
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.read_exact(&mut b).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[b[0] ^ (1 << draws.below(8))]).unwrap();
            if restore_mtime {
                f.set_modified(meta.modified().unwrap()).unwrap();
            }
        }
        // Half the time the workspace copy is gone too, so a rotten entry would be restored.
        if draws.below(2) == 0 {
            std::fs::remove_file(p.path(file)).unwrap();
        }
        // Every fourth round `awmt verify` finds it first and quarantines it.
        if round % 4 == 0 {
            let out = p.awmt(&["verify"]);
            assert_eq!(out.status.code(), Some(1), "{when}: verify missed it:\n{}", common::stdout(&out));
        }
        let (res, out) = p.run_json("p.yaml", &[]);
        assert!(out.status.success(), "{when}: {}", stderr(&out));
        let owner = if file.starts_with("tree") { "tree" } else { file.trim_end_matches(".txt") };
        assert_eq!(res[owner], "ran", "{when}: the damaged entry was used");
        assert_outputs(&p, &want, &when);
        verify_clean(&p, &when);
    }
    verify_clean_cli(&p, "after the flips");
    eprintln!("{n} byte flips: every one detected and recomputed");
}
