//! The cache decides what reruns: parameters, input bytes (not mtimes), upstream outputs.

use crate::common;

use common::{stderr, stdout, touch, with_status, Project};

const PIPELINE: &str = r#"
name: chain
vars:
  n: 1
stages:
  a:
    kind: command
    cmd: cat input.txt > a.txt && echo "n=$AWMT_PARAM_N" >> a.txt
    deps: [input.txt]
    outs: [a.txt]
    params: {n: "${n}"}
  b:
    kind: command
    cmd: tr a-z A-Z < a.txt > b.txt
    deps: [a.txt]
    outs: [b.txt]
  c:
    kind: command
    cmd: wc -c < other.txt > c.txt
    deps: [other.txt]
    outs: [c.txt]
"#;

fn project() -> Project {
    let p = Project::new();
    p.write("p.yaml", PIPELINE);
    p.write("input.txt", "hello\n");
    p.write("other.txt", "other\n");
    p
}

#[test]
fn reruns_exactly_what_changed() {
    let p = project();
    let (first, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(with_status(&first, "ran"), ["a", "b", "c"]);
    assert_eq!(p.read("b.txt"), "HELLO\nN=1\n");

    // Unchanged: nothing runs.
    let (second, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success());
    assert_eq!(with_status(&second, "cached"), ["a", "b", "c"], "{}", stderr(&out));

    // A parameter: that stage and its descendants.
    p.write("p.yaml", &PIPELINE.replace("n: 1", "n: 2"));
    let (third, _) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&third, "ran"), ["a", "b"]);
    assert_eq!(with_status(&third, "cached"), ["c"]);
    assert_eq!(p.read("b.txt"), "HELLO\nN=2\n");

    // Touch without changing bytes: nothing.
    touch(&p.path("input.txt"));
    let (fourth, _) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&fourth, "cached"), ["a", "b", "c"]);

    // Change the bytes: it and its descendants.
    p.write("input.txt", "bye\n");
    let (fifth, _) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&fifth, "ran"), ["a", "b"]);
    assert_eq!(p.read("b.txt"), "BYE\nN=2\n");
}

#[test]
fn status_says_why() {
    let p = project();
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let out = p.awmt(&["status", "p.yaml"]);
    assert!(out.status.success(), "all fresh: {}", stdout(&out));

    p.write("p.yaml", &PIPELINE.replace("n: 1", "n: 3"));
    p.write("other.txt", "changed\n");
    let out = p.awmt(&["status", "p.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stages = v["stages"].as_array().unwrap();
    let find = |n: &str| stages.iter().find(|s| s["name"] == n).unwrap().clone();
    assert_eq!(find("a")["state"], "stale");
    assert!(find("a")["why"][0].as_str().unwrap().contains("parameter `params.n` changed: 1 → 3"), "{}", find("a"));
    assert_eq!(find("b")["state"], "stale");
    assert!(find("b")["why"][0].as_str().unwrap().contains("upstream stage `a`"));
    assert!(find("c")["why"][0].as_str().unwrap().contains("content of `other.txt` changed"), "{}", find("c"));

    let text = stdout(&p.awmt(&["status", "p.yaml"]));
    assert!(text.contains("stale") && text.contains("params.n"), "{text}");
}

#[test]
fn restores_deleted_or_edited_outputs_from_the_cache() {
    let p = project();
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    std::fs::remove_file(p.path("b.txt")).unwrap();
    p.write("c.txt", "tampered\n");
    let (again, _) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&again, "cached"), ["a", "b", "c"]);
    assert_eq!(p.read("b.txt"), "HELLO\nN=1\n");
    assert_eq!(p.read("c.txt").trim(), "6");
}

#[test]
fn force_and_stage_selection() {
    let p = project();
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let (forced, _) = p.run_json("p.yaml", &["--force", "b"]);
    assert_eq!(with_status(&forced, "ran"), ["b"]);

    let q = project();
    let (only_b, out) = q.run_json("p.yaml", &["--stage", "b"]);
    assert!(out.status.success());
    assert_eq!(only_b.keys().cloned().collect::<Vec<_>>(), ["a", "b"], "c is not needed by b");

    let out = q.awmt(&["run", "p.yaml", "--stage", "bb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did you mean `b`"), "{}", stderr(&out));
}

#[test]
fn dry_run_runs_nothing() {
    let p = project();
    let (plan, out) = p.run_json("p.yaml", &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(with_status(&plan, "would_run"), ["a", "b", "c"]);
    assert!(!p.path("a.txt").exists());
    assert!(p.cache_entries().is_empty());
}

#[test]
fn failure_stops_dependents_and_keep_going_finishes_the_rest() {
    let p = Project::new();
    p.write(
        "p.yaml",
        r#"
stages:
  bad:
    kind: command
    cmd: echo "something broke" >&2; exit 3
    outs: [bad.txt]
  after_bad:
    kind: command
    cmd: cp bad.txt after.txt
    deps: [bad.txt]
    outs: [after.txt]
  independent:
    kind: command
    cmd: echo ok > ok.txt
    outs: [ok.txt]
"#,
    );
    let (res, out) = p.run_json("p.yaml", &["--keep-going", "-j", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(res["bad"], "failed");
    assert_eq!(res["after_bad"], "skipped");
    assert_eq!(res["independent"], "ran");
    let err = stderr(&out);
    assert!(err.contains("something broke"), "log tail is printed: {err}");
    assert!(err.contains("status 3"), "{err}");
}

#[test]
fn missing_declared_output_fails_the_stage() {
    let p = Project::new();
    p.write("p.yaml", "stages:\n  s:\n    kind: command\n    cmd: echo hi > other.txt\n    outs: [promised.txt]\n");
    let (res, out) = p.run_json("p.yaml", &[]);
    assert_eq!(res["s"], "failed");
    assert!(stderr(&out).contains("did not produce its declared output `promised.txt`"), "{}", stderr(&out));
    assert!(p.cache_entries().is_empty());
}

#[test]
fn gc_removes_unreachable_entries() {
    let p = project();
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    p.write("p.yaml", &PIPELINE.replace("n: 1", "n: 5"));
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    assert_eq!(p.cache_entries().len(), 5, "a, b twice and c once");
    let dry = p.awmt(&["gc", "p.yaml", "--dry-run"]);
    assert!(dry.status.success());
    assert_eq!(stdout(&dry).lines().filter(|l| l.starts_with("would remove")).count(), 2, "{}", stdout(&dry));
    assert_eq!(p.cache_entries().len(), 5);
    assert!(p.awmt(&["gc", "p.yaml"]).status.success());
    assert_eq!(p.cache_entries().len(), 3);
    let (after, _) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&after, "cached"), ["a", "b", "c"]);
}

#[test]
fn directory_inputs_are_hashed_by_content() {
    let p = Project::new();
    p.write("data/x/1.txt", "one");
    p.write("data/2.txt", "two");
    p.write("p.yaml", "stages:\n  count:\n    kind: command\n    cmd: find data -type f | sort > list.txt\n    deps: [data]\n    outs: [list.txt]\n");
    assert_eq!(p.run_json("p.yaml", &[]).0["count"], "ran");
    touch(&p.path("data/2.txt"));
    assert_eq!(p.run_json("p.yaml", &[]).0["count"], "cached");
    p.write("data/x/3.txt", "three");
    assert_eq!(p.run_json("p.yaml", &[]).0["count"], "ran");
    assert_eq!(p.read("list.txt").lines().count(), 3);
}
