//! `--set PATH=VALUE` on `run`, `status`, `dag` and `--dry-run`: overridden values are part of the
//! stages' parameters and keys; bad flags are errors that name the flag, not a file position.

use crate::common;

use common::{stderr, stdout, with_status, Project};

const PIPELINE: &str = r#"vars:
  n: 1
stages:
  a:
    kind: command
    cmd: echo "n=$AWMT_PARAM_N" > a.txt
    params: {n: "${n}"}
    outs: [a.txt]
  b:
    kind: command
    cmd: cat a.txt > b.txt
    deps: [a.txt]
    outs: [b.txt]
  c:
    kind: command
    cmd: echo "m=$AWMT_PARAM_M" > c.txt
    params: {m: 1}
    outs: [c.txt]
"#;

fn project() -> Project {
    let p = Project::new();
    p.write("p.yaml", PIPELINE);
    let (res, out) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&res, "ran").len(), 3, "{}", stderr(&out));
    p
}

#[test]
fn a_changed_value_reruns_that_stage_and_its_descendants_only() {
    let p = project();
    let (res, out) = p.run_json("p.yaml", &["--set", "vars.n=2"]);
    assert_eq!(with_status(&res, "ran"), ["a", "b"], "{}", stderr(&out));
    assert_eq!(with_status(&res, "cached"), ["c"]);
    assert_eq!(p.read("b.txt").trim(), "n=2");
    // The override is part of the key: the same flag again is all cached, and dropping it
    // brings back the first entries.
    let (res, _) = p.run_json("p.yaml", &["--set", "vars.n=2"]);
    assert_eq!(with_status(&res, "cached").len(), 3);
    let (res, _) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&res, "cached").len(), 3);
    assert_eq!(p.read("b.txt").trim(), "n=1");
    // A stage's own key.
    let (res, _) = p.run_json("p.yaml", &["--set", "stages.c.params.m=5"]);
    assert_eq!(with_status(&res, "ran"), ["c"]);
    assert_eq!(p.read("c.txt").trim(), "m=5");
}

#[test]
fn status_dag_and_dry_run_take_the_same_flags() {
    let p = project();
    let (res, out) = p.run_json("p.yaml", &["--dry-run", "--set", "vars.n=9"]);
    assert_eq!(with_status(&res, "would_run"), ["a", "b"], "{}", stderr(&out));
    assert_eq!(with_status(&res, "cached"), ["c"]);
    let out = p.awmt(&["status", "p.yaml", "--set", "vars.n=9"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("stale") && l.contains(" a ")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("fresh") && l.contains(" c")), "{text}");
    let out = p.awmt(&["status", "p.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = p.awmt(&["dag", "p.yaml", "--set", "+stages.d={kind: command, cmd: cat c.txt > d.txt, deps: [c.txt], outs: [d.txt]}"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains('d'), "{}", stdout(&out));
}

#[test]
fn plus_adds_a_key_and_is_part_of_the_key() {
    let p = project();
    let (res, out) = p.run_json("p.yaml", &["--set", "+stages.c.params.extra=yes"]);
    assert_eq!(with_status(&res, "ran"), ["c"], "{}", stderr(&out));
    let out = p.awmt(&["run", "p.yaml", "--set", "+vars.n=3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`vars.n` already exists; drop the `+` to change it"), "{}", stderr(&out));
}

#[test]
fn unknown_paths_and_bad_values_name_the_flag_not_the_file() {
    let p = project();
    let cases: [(&str, &str); 5] = [
        ("stages.aa.params.n=2", "the pipeline has no `stages.aa`; the closest existing path is `stages.a`"),
        ("stages.c.parms.m=2", "the closest existing path is `stages.c.params`"),
        ("vars.n=[1, 2", "the value `[1, 2` is not valid YAML"),
        ("vars.n", "expected PATH=VALUE"),
        ("stages.a.outs=5", "--set stages.a.outs=5"),
    ];
    for (flag, expected) in cases {
        let out = p.awmt(&["run", "p.yaml", "--set", flag]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains(expected), "{flag}: {err}");
        assert!(err.contains(&format!("--set {flag}")), "{flag}: the message names the flag: {err}");
        assert!(!err.contains("p.yaml:"), "{flag}: no file position for a flag: {err}");
    }
    // Nothing ran.
    let (res, _) = p.run_json("p.yaml", &[]);
    assert_eq!(with_status(&res, "cached").len(), 3);
}
