//! Killed runs, corrupt objects, concurrent runs and Ctrl-C never leave a bad cache entry.

mod common;

use std::time::{Duration, Instant};

use common::{stderr, stdout, with_status, Project};

const SLOW: &str = r#"
name: slow
stages:
  first:
    kind: command
    cmd: printf 'first\n' > first.txt
    outs: [first.txt]
  slow:
    kind: command
    cmd: sleep 2 && cat first.txt first.txt > slow.txt && mkdir -p dir && echo inner > dir/inner.txt
    deps: [first.txt]
    outs: [slow.txt, dir]
  last:
    kind: command
    cmd: cat slow.txt dir/inner.txt > last.txt
    deps: [slow.txt, dir]
    outs: [last.txt]
"#;

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while some attempt directory of the cache holds a running stage.
fn attempt_running(p: &Project) -> bool {
    std::fs::read_dir(p.path("cache/tmp")).map(|d| d.count() > 0).unwrap_or(false)
}

#[test]
fn sigkill_mid_stage_then_rerun_equals_uninterrupted() {
    let reference = Project::new();
    reference.write("p.yaml", SLOW);
    assert!(reference.awmt(&["run", "p.yaml", "-q"]).status.success());

    let p = Project::new();
    p.write("p.yaml", SLOW);
    let mut child = p.command(&["run", "p.yaml", "-q"]).spawn().unwrap();
    wait_for("the slow stage to start", || p.path("first.txt").exists() && attempt_running(&p));
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Only `first` can have been published.
    let published: Vec<String> = p
        .cache_entries()
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(e.join("manifest.json")).unwrap()).unwrap()["stage"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(published, ["first"]);

    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["first"], "cached");
    assert_eq!(res["slow"], "ran");
    assert_eq!(res["last"], "ran");
    assert!(!attempt_running(&p), "leftover attempt directories are removed");
    for f in ["slow.txt", "dir/inner.txt", "last.txt"] {
        assert_eq!(std::fs::read(p.path(f)).unwrap(), std::fs::read(reference.path(f)).unwrap(), "{f}");
    }
    assert!(p.awmt(&["verify"]).status.success());
}

#[test]
fn flipped_byte_is_reported_and_recomputed() {
    let p = Project::new();
    p.write("p.yaml", SLOW.replace("sleep 2 && ", "").as_str());
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    assert!(p.awmt(&["verify"]).status.success());
    // Flip one byte of the `slow` stage's cached slow.txt.
    let entry = p
        .cache_entries()
        .into_iter()
        .find(|e| e.join("out/slow.txt").exists())
        .expect("entry of `slow`");
    let obj = entry.join("out/slow.txt");
    let mut bytes = std::fs::read(&obj).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&obj, &bytes).unwrap();

    let out = p.awmt(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("corrupt") && stdout(&out).contains("slow.txt") && stdout(&out).contains("`slow`"), "{}", stdout(&out));

    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["slow"], "ran", "a corrupt entry is never used");
    assert_eq!(p.read("slow.txt"), "first\nfirst\n");
    assert!(p.awmt(&["verify"]).status.success());
}

#[test]
fn second_run_waits_or_refuses() {
    let p = Project::new();
    p.write("p.yaml", SLOW);
    let mut first = p.command(&["run", "p.yaml", "-q"]).spawn().unwrap();
    wait_for("the first run to hold the lock", || attempt_running(&p));

    let refused = p.awmt(&["run", "p.yaml", "--no-wait"]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(stderr(&refused).contains("in use by awmt (pid"), "{}", stderr(&refused));

    let (res, waited) = p.run_json("p.yaml", &[]);
    assert!(waited.status.success(), "{}", stderr(&waited));
    assert!(stderr(&waited).contains("waiting"), "{}", stderr(&waited));
    assert!(first.wait().unwrap().success());
    assert_eq!(with_status(&res, "cached"), ["first", "last", "slow"], "the second run found the first one's work");
}

#[test]
fn sigint_stops_cleanly() {
    let p = Project::new();
    p.write("p.yaml", &SLOW.replace("sleep 2", "sleep 30"));
    let mut child = p.command(&["run", "p.yaml", "-q"]).spawn().unwrap();
    wait_for("the slow stage", || p.path("first.txt").exists() && attempt_running(&p));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert!(start.elapsed() < Duration::from_secs(15), "stopped promptly");
    assert_eq!(status.code(), Some(130));
    assert_eq!(p.cache_entries().len(), 1, "only `first` is published");
    assert!(!p.path("slow.txt").exists());
}

#[test]
fn foreach_extends_and_interpolation() {
    let p = Project::new();
    p.write(
        "p.yaml",
        r#"
name: sweep
vars:
  greeting: ${env:AWMT_TEST_GREETING:-hello}
  letters: [x, y]
stages:
  base:
    kind: command
    cmd: echo "$AWMT_PARAM_WORD $AWMT_PARAM_SIZE" > base.txt
    outs: [base.txt]
    params: {word: "${greeting}", size: 1}
  each:
    extends: base
    foreach: {letter: "${letters}"}
    cmd: echo "${greeting} ${letter} $AWMT_PARAM_SIZE" > each-${letter}.txt
    outs: ["each-${letter}.txt"]
    params: {size: 2}
  sized:
    kind: command
    foreach: {size: {small: 1, large: 100}}
    cmd: head -c ${size} /dev/zero | wc -c > sized-${size}.txt
    outs: ["sized-${size}.txt"]
  gather:
    kind: command
    cmd: cat each-x.txt each-y.txt sized-1.txt sized-100.txt > all.txt
    deps: [each-x.txt, each-y.txt, sized-1.txt, sized-100.txt]
    outs: [all.txt]
"#,
    );
    let dag = stdout(&p.awmt(&["dag", "p.yaml"]));
    for name in ["base", "each[x]", "each[y]", "sized[small]", "sized[large]", "gather"] {
        assert!(dag.contains(name), "{name} in:\n{dag}");
    }
    assert!(dag.contains("gather (command) <- each[x], each[y], sized[small], sized[large]"), "{dag}");
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res.len(), 6);
    assert_eq!(p.read("all.txt"), "hello x 2\nhello y 2\n1\n100\n");
    assert_eq!(p.read("base.txt"), "hello 1\n");

    // The environment default can be overridden; only dependent stages rerun.
    let out = p.command(&["run", "p.yaml", "--json"]).env("AWMT_TEST_GREETING", "hi").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ran: Vec<&str> = v["stages"].as_array().unwrap().iter().filter(|s| s["status"] == "ran").map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(ran, ["base", "each[x]", "each[y]", "gather"]);

    let dot = stdout(&p.awmt(&["dag", "p.yaml", "--format", "dot"]));
    assert!(dot.starts_with("digraph") && dot.contains("->"), "{dot}");
    let mermaid = stdout(&p.awmt(&["dag", "p.yaml", "--format", "mermaid", "--stage", "each"]));
    assert!(mermaid.starts_with("flowchart LR") && mermaid.contains("each#91;x#93;") && !mermaid.contains("gather"), "{mermaid}");
}

#[test]
fn doctor_reports_torch_and_cache() {
    let p = Project::new();
    let out = p.awmt(&["doctor"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("libtorch        2.11.0"), "{text}");
    assert!(text.contains("CUDA") && text.contains("threads") && text.contains("CPUs") && text.contains("cache") && text.contains("sbatch"), "{text}");
    assert!(text.contains("libjpeg-turbo   "), "{text}");
}
