//! `--executor slurm` on a real one-node cluster (tests/slurm/up.sh): a pipeline of command stages
//! and a foreach of 8 small training stages gives the same keys and bytes as the local executor,
//! with and without `--set` overrides, job arrays for foreach groups, nothing submitted when
//! cached, failures with their log tail, and no job left behind after Ctrl-C. Skipped, saying why,
//! where Slurm cannot be installed or started (it needs root and Debian's packages). What a job
//! checks before running (its key against the run's), and a time limit that races the job's own
//! exit code, are tested without a cluster.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{stderr, Project};

const PIPELINE: &str = r#"
name: slurmtest
stages:
  prep:
    kind: command
    cmd: seq 1 20 > numbers.txt
    outs: [numbers.txt]
  work:
    kind: command
    foreach: {n: [1, 2, 3, 4, 5, 6, 7, 8]}
    cmd: awk -v n=${n} '{ s += $1 * n } END { print n, s }' numbers.txt > work-${n}.txt
    deps: [numbers.txt]
    outs: ["work-${n}.txt"]
  gather:
    kind: command
    cmd: cat work-*.txt > gathered.txt
    deps: [work-1.txt, work-2.txt, work-3.txt, work-4.txt, work-5.txt, work-6.txt, work-7.txt, work-8.txt]
    outs: [gathered.txt]
  faces:
    kind: synth
    with: {style: faces, images: 160, images_per_identity: 8, width: 32, height: 40, seed: 3}
  faces_split:
    kind: split
    inputs: {root: faces}
    with: {format: celeba, tasks: [Eyeglasses, Wearing_Hat, Male, Smiling, Blond_Hair, No_Beard, Bald, Young]}
  faces_data:
    kind: prepare
    inputs: {split: faces_split, root: faces}
    with: {size: [16, 16]}
  sep:
    kind: train
    foreach: {task: [Eyeglasses, Wearing_Hat, Male, Smiling, Blond_Hair, No_Beard, Bald, Young]}
    inputs: {data: faces_data}
    with: {model: small_cnn, tasks: ["${task}"], iterations: 10, milestones: [5], checkpoint_every: 0, freeze_bn: false}
    resources: {cpus: 1}
"#;

/// Whether the daemon whose pid file this is runs now.
fn daemon_running(pid_file: &str) -> bool {
    std::fs::read_to_string(pid_file).ok().and_then(|t| t.trim().parse::<u32>().ok()).is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// Stops (tests/slurm/down.sh: by the daemons' pid files) the cluster this test started, when the
/// test ends, passed or failed; a cluster that was already running is left as it was.
struct ClusterGuard {
    started_here: bool,
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if self.started_here {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/down.sh");
            let _ = Command::new("bash").arg(&script).status();
        }
    }
}

fn cluster_up() -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/up.sh");
    let out = Command::new("bash").arg(&script).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A cache entry's stage name, key and the bytes of every output file (a training summary
/// without its timing).
fn read_entry(dir: &Path) -> (String, String, Vec<(String, Vec<u8>)>) {
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let files = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let rel = f["path"].as_str().unwrap().to_string();
            let mut bytes = std::fs::read(dir.join("out").join(&rel)).unwrap();
            if rel == "train_summary.json" {
                // Its measured `timing` differs between any two runs (and stays out of keys).
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                v.as_object_mut().unwrap().remove("timing");
                bytes = serde_json::to_vec(&v).unwrap();
            }
            (rel, bytes)
        })
        .collect();
    (m["stage"].as_str().unwrap().to_string(), m["key"].as_str().unwrap().to_string(), files)
}

/// Stage name -> (key, output bytes), for a cache with one entry per stage.
fn published(cache: &Path) -> BTreeMap<String, (String, Vec<(String, Vec<u8>)>)> {
    std::fs::read_dir(cache.join("stages"))
        .unwrap()
        .map(|e| {
            let (name, key, files) = read_entry(&e.unwrap().path());
            (name, (key, files))
        })
        .collect()
}

/// (stage name, key) -> output bytes, for every entry of the cache.
fn published_by_key(cache: &Path) -> BTreeMap<(String, String), Vec<(String, Vec<u8>)>> {
    std::fs::read_dir(cache.join("stages"))
        .unwrap()
        .map(|e| {
            let (name, key, files) = read_entry(&e.unwrap().path());
            ((name, key), files)
        })
        .collect()
}

fn submissions(cache: &Path) -> Vec<std::path::PathBuf> {
    let mut subs = Vec::new();
    if let Ok(runs) = std::fs::read_dir(cache.join("slurm")) {
        for run in runs.flatten() {
            for sub in std::fs::read_dir(run.path()).into_iter().flatten().flatten() {
                subs.push(sub.path());
            }
        }
    }
    subs
}

fn our_jobs() -> Vec<String> {
    let out = Command::new("squeue").args(["-h", "-o", "%i %j %T"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("awmt:")).map(str::to_string).collect()
}

/// One test at a time on the cluster: each stops the cluster it started when it ends.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn slurm_executor_matches_local() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let was_running = daemon_running("/run/slurm/slurmctld.pid") || daemon_running("/run/slurm/slurmd.pid");
    let _guard = ClusterGuard { started_here: !was_running };
    if let Err(why) = cluster_up() {
        eprintln!("SKIPPED slurm_executor_matches_local: a Slurm cluster could not be started here:\n{why}");
        return;
    }

    // Reference: the local executor.
    let local = Project::new();
    local.write("p.yaml", PIPELINE);
    let out = local.awmt(&["run", "p.yaml", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = published(&local.path("cache"));

    // The same pipeline through Slurm, with an absolute cache path.
    let p = Project::new();
    p.write("p.yaml", PIPELINE);
    let cache = p.path("cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let relative = p.awmt(&["run", "p.yaml", "--executor", "slurm", "--cache", "cache"]);
    assert_eq!(relative.status.code(), Some(2));
    assert!(stderr(&relative).contains("absolute path"), "{}", stderr(&relative));

    let (res, out) = p.run_json("p.yaml", &["--executor", "slurm", "--cache", &cache_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(res.values().all(|s| s == "ran"), "{res:?}");
    assert_eq!(published(&cache), reference, "same keys and bytes as the local executor");
    assert_eq!(p.read("gathered.txt"), local.read("gathered.txt"));
    let subs = submissions(&cache);
    let arrays: Vec<usize> = subs
        .iter()
        .map(|s| std::fs::read_to_string(s.join("stages.txt")).unwrap().lines().count())
        .collect();
    assert_eq!(arrays.iter().filter(|&&n| n == 8).count(), 2, "each foreach (commands, trainings) went as one job array of 8: {arrays:?}");
    assert_eq!(subs.len(), 7, "prep, work array, gather, faces, faces_split, faces_data, sep array: {arrays:?}");
    assert!(published(&cache).keys().filter(|k| k.starts_with("sep[")).count() == 8);

    // Cached: nothing is submitted.
    let (res, out) = p.run_json("p.yaml", &["--executor", "slurm", "--cache", &cache_arg]);
    assert!(out.status.success());
    assert!(res.values().all(|s| s == "cached"), "{res:?}");
    assert_eq!(submissions(&cache).len(), 7);

    // `--set`: the jobs load the pipeline with the same overrides as the run. Exactly the
    // overridden stages and their descendants get new keys and run; keys and bytes equal a local
    // run with the same flags. The gather override has a quote and spaces (it passes through the
    // job script's shell quoting).
    let sets = ["--set", "stages.faces_data.with.size=[12, 12]", "--set", "stages.gather.cmd=cat work-*.txt > gathered.txt; echo \"it's\" >> gathered.txt"];
    let local_set = Project::new();
    local_set.write("p.yaml", PIPELINE);
    let (_, out) = local_set.run_json("p.yaml", &sets);
    assert!(out.status.success(), "{}", stderr(&out));
    let reference_set = published(&local_set.path("cache"));
    let mut args = sets.to_vec();
    args.extend(["--executor", "slurm", "--cache", &cache_arg]);
    let (res, out) = p.run_json("p.yaml", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let changed = |name: &str| name == "faces_data" || name == "gather" || name.starts_with("sep[");
    for (name, status) in &res {
        assert_eq!(status, if changed(name) { "ran" } else { "cached" }, "{name}: {res:?}");
    }
    let by_key = published_by_key(&cache);
    for (name, (key, files)) in &reference_set {
        assert_eq!(key != &reference[name].0, changed(name), "{name}: a new key exactly where an override reaches");
        assert_eq!(by_key.get(&(name.clone(), key.clone())), Some(files), "{name}: same key and bytes as the local run with --set");
    }
    assert_eq!(p.read("gathered.txt"), local_set.read("gathered.txt"));
    assert!(p.read("gathered.txt").ends_with("it's\n"));
    assert_eq!(submissions(&cache).len(), 10, "then faces_data, gather and the sep array");

    // A failing job: reported with its log tail; its dependents do not run.
    let f = Project::new();
    f.write(
        "p.yaml",
        "stages:\n  bad:\n    kind: command\n    cmd: echo 'exploding on purpose' >&2; exit 4\n    outs: [x.txt]\n  after:\n    kind: command\n    cmd: cp x.txt y.txt\n    deps: [x.txt]\n    outs: [y.txt]\n",
    );
    let fcache = f.path("cache").to_string_lossy().into_owned();
    let (res, out) = f.run_json("p.yaml", &["--executor", "slurm", "--cache", &fcache]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(res["bad"], "failed");
    assert_eq!(res["after"], "skipped");
    assert!(stderr(&out).contains("exploding on purpose"), "log tail: {}", stderr(&out));

    // Ctrl-C: no job of the run is left in the queue.
    let c = Project::new();
    c.write("p.yaml", "stages:\n  long:\n    kind: command\n    cmd: sleep 120 > z.txt\n    outs: [z.txt]\n");
    let ccache = c.path("cache").to_string_lossy().into_owned();
    let mut child = c.command(&["run", "p.yaml", "-q", "--executor", "slurm", "--cache", &ccache]).spawn().unwrap();
    let start = Instant::now();
    while our_jobs().iter().all(|j| !j.contains("RUNNING")) {
        assert!(start.elapsed() < Duration::from_secs(60), "the job never started: {:?}", our_jobs());
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let start = Instant::now();
    while our_jobs().iter().any(|j| j.contains("RUNNING") || j.contains("PENDING")) {
        assert!(start.elapsed() < Duration::from_secs(30), "jobs left: {:?}", our_jobs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(std::fs::read_dir(c.path("cache/stages")).unwrap().next().is_none(), "nothing published");
}

#[test]
fn a_job_that_reaches_its_time_limit_is_resubmitted_and_traces_come_from_the_job() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let was_running = daemon_running("/run/slurm/slurmctld.pid") || daemon_running("/run/slurm/slurmd.pid");
    let _guard = ClusterGuard { started_here: !was_running };
    if let Err(why) = cluster_up() {
        eprintln!("SKIPPED a_job_that_reaches_its_time_limit_is_resubmitted: a Slurm cluster could not be started here:\n{why}");
        return;
    }
    let p = Project::new();
    p.write(
        "s.yaml",
        r#"
name: limits
stages:
  quick:
    kind: command
    # Holds 50 MB in a shell variable: the job's own trace must show it.
    cmd: 'x=$(head -c 50000000 /dev/zero | tr "\0" a); echo done > quick.txt'
    outs: [quick.txt]
  slowfirst:
    kind: command
    # The first attempt outlives its 1-minute limit; the resubmitted one finishes at once.
    cmd: 'if [ -f marker ]; then echo ok > out.txt; else touch marker; sleep 600; fi'
    outs: [out.txt]
    slurm: {time: "1"}
"#,
    );
    let cache = p.path("cache");
    let out = p.awmt(&["run", "s.yaml", "--executor", "slurm", "--cache", cache.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("stage `slowfirst` failed on attempt 1") && err.contains("time limit") && err.contains("resubmitting"), "{err}");
    assert_eq!(p.read("out.txt").trim(), "ok");
    let runs = p.awmt(&["runs", "last", "--json", "--cache", cache.to_str().unwrap()]);
    let run: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let stage = |name: &str| run["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap().clone();
    assert_eq!(stage("slowfirst")["attempts"], 2, "{run}");
    assert_eq!(stage("slowfirst")["executor"], "slurm");
    assert!(stage("quick")["max_rss"].as_u64().unwrap() > 50_000_000, "{run}");
    assert!(stage("quick")["cpu_seconds"].as_f64().unwrap() > 0.0, "{run}");
    assert!(our_jobs().is_empty(), "jobs left behind: {:?}", our_jobs());
}

/// What a Slurm job runs, without a cluster: `awmt exec-stage --pipeline F --set …` publishes under
/// the key `awmt run` with the same flags computes (the run then finds the stage cached), and a
/// job whose key is not the run's (the file, its inputs or the flags changed after submission)
/// stops before running anything.
#[test]
fn a_job_loads_the_runs_overrides_and_checks_its_key() {
    let p = Project::new();
    p.write("p.yaml", "vars: {word: one}\nstages:\n  a:\n    kind: command\n    cmd: echo ${word} > a.txt\n    outs: [a.txt]\n");
    let cache = p.path("cache").to_string_lossy().into_owned();
    let job = |extra: &[&str]| {
        let mut args = vec!["exec-stage", "--pipeline", "p.yaml", "--stage", "a", "--cache", &cache];
        args.extend_from_slice(extra);
        p.awmt(&args)
    };
    let wrong = job(&["--set", "vars.word=two", "--expect-key", "0000"]);
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains("in the run that submitted it") && stderr(&wrong).contains("0000"), "{}", stderr(&wrong));
    assert!(p.cache_entries().is_empty(), "nothing published");
    let typo = job(&["--set", "vars.wrod=two"]);
    assert!(!typo.status.success());
    assert!(stderr(&typo).contains("--set vars.wrod=two") && stderr(&typo).contains("vars.word"), "{}", stderr(&typo));

    let ok = job(&["--set", "vars.word=two"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let (res, out) = p.run_json("p.yaml", &["--set", "vars.word=two", "--cache", &cache]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["a"], "cached", "the job published under the run's key");
    assert_eq!(p.read("a.txt"), "two\n");
    let (res, _) = p.run_json("p.yaml", &["--cache", &cache]);
    assert_eq!(res["a"], "ran", "without the flag, another key");
}

/// A time limit races the job's own wrapper: Slurm sends SIGTERM to every process of the job,
/// and the wrapper may outlive the stage long enough to write its exit code (143). That code
/// must not be read as the stage's failure while squeue still shows the job running: the final
/// state (TIMEOUT) decides, and the job is resubmitted. Played with stand-in `sbatch`, `squeue`
/// and `scancel` on the PATH, so that the race is the same every time and needs no cluster.
#[test]
fn an_exit_code_written_while_the_cluster_ends_the_job_waits_for_its_final_state() {
    let p = Project::new();
    p.write("p.yaml", "stages:\n  s:\n    kind: command\n    cmd: echo ok > out.txt\n    outs: [out.txt]\n    slurm: {time: \"1\"}\n");
    // First submission: the wrapper "wrote" 143 at once; squeue shows RUNNING, then TIMEOUT a
    // second later. Later submissions run the job script for real and end COMPLETED.
    p.write(
        "bin/sbatch",
        r#"#!/bin/sh
state="$(dirname "$0")/../state"
mkdir -p "$state"
n=$(($(cat "$state/count" 2>/dev/null || echo 0) + 1))
echo $n > "$state/count"
for last; do :; done
dir=$(dirname "$last")
if [ $n = 1 ]; then
  echo 143 > "$dir/exit.0"
  echo RUNNING > "$state/job.$n"
  (sleep 1; echo TIMEOUT > "$state/job.$n") > /dev/null 2>&1 &
else
  sh "$last" > /dev/null 2>&1
  echo COMPLETED > "$state/job.$n"
fi
echo $n
"#,
    );
    p.write(
        "bin/squeue",
        r#"#!/bin/sh
state="$(dirname "$0")/../state"
while [ $# -gt 0 ]; do [ "$1" = -j ] && ids=$2; shift; done
for id in $(echo "$ids" | tr , ' '); do echo "$id $(cat "$state/job.$id")"; done
"#,
    );
    p.write("bin/scancel", "#!/bin/sh\nexit 0\n");
    for tool in ["sbatch", "squeue", "scancel"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p.path(&format!("bin/{tool}")), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", p.path("bin").display(), std::env::var("PATH").unwrap_or_default());
    let cache = p.path("cache").to_string_lossy().into_owned();
    let out = p.command(&["run", "p.yaml", "--executor", "slurm", "--cache", &cache]).env("PATH", path).env("AWMT_SLURM_POLL_MS", "100").output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("time limit") && err.contains("resubmitting"), "{err}");
    assert_eq!(p.read("state/count").trim(), "2", "submitted twice: {err}");
    assert_eq!(p.read("out.txt"), "ok\n");
}
