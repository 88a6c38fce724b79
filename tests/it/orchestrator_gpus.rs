//! GPU placement on a machine without GPUs: `--gpus N` stands for N devices, and command stages
//! record the `CUDA_VISIBLE_DEVICES` they were started with and when they ran.

use crate::common;

use common::{stderr, Project};

/// One record per stage: (stage number, visible devices, start ns, end ns).
type Span = (usize, String, u128, u128);

/// A pipeline of `n` command stages with `resources.gpus: share`. With `partner`, each stage,
/// once started, waits (up to 20 s) until another has started too, so stages that may run
/// together do; the test never depends on how long anything takes.
fn pipeline(n: usize, gpus: &str, partner: bool) -> String {
    let items: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let wait = if partner {
        r#"touch started.$AWMT_PARAM_N; i=0; while [ "$(ls started.* | wc -l)" -lt 2 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; sleep 0.3"#
    } else {
        "sleep 0.2"
    };
    format!(
        "stages:\n  s:\n    kind: command\n    foreach: {{n: [{}]}}\n    cmd: 'echo \"$AWMT_PARAM_N [$${{CUDA_VISIBLE_DEVICES-unset}}] $(date +%s%N)\" > t$AWMT_PARAM_N.txt; {wait}; date +%s%N >> t$AWMT_PARAM_N.txt'\n    params: {{n: \"${{n}}\"}}\n    outs: [\"t${{n}}.txt\"]\n    resources: {{cpus: 1, gpus: {gpus}}}\n",
        items.join(", ")
    )
}

fn spans(p: &Project, n: usize) -> Vec<Span> {
    (1..=n)
        .map(|i| {
            let text = p.read(&format!("t{i}.txt"));
            let mut words = text.split_whitespace();
            let stage = words.next().unwrap().parse().unwrap();
            let visible = words.next().unwrap().trim_start_matches('[').trim_end_matches(']').to_string();
            let start = words.next().unwrap().parse().unwrap();
            let end = words.next().unwrap().parse().unwrap();
            (stage, visible, start, end)
        })
        .collect()
}

/// At the start of every stage, the shares in use on each GPU add up to at most one GPU.
fn assert_within_shares(spans: &[Span], share: f64) {
    for (_, _, t, _) in spans {
        let mut per_gpu: std::collections::BTreeMap<&str, f64> = Default::default();
        for (_, visible, s, e) in spans {
            if s <= t && t < e {
                for g in visible.split(',') {
                    *per_gpu.entry(g).or_default() += share;
                }
            }
        }
        assert!(per_gpu.values().all(|&u| u <= 1.0 + 1e-9), "over-committed at {t}: {per_gpu:?} in {spans:?}");
    }
}

fn overlapping_pairs(spans: &[Span]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for a in spans {
        for b in spans {
            if a.0 < b.0 && a.2 < b.3 && b.2 < a.3 {
                out.push((a.0, b.0));
            }
        }
    }
    out
}

fn parallel() -> bool {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if n < 2 {
        eprintln!("skipping the concurrency half of this test: one CPU, so one stage at a time");
    }
    n >= 2
}

#[test]
fn two_gpus_whole_requests_get_one_gpu_each() {
    let p = Project::new();
    p.write("p.yaml", &pipeline(4, "1", true));
    let out = p.awmt(&["run", "p.yaml", "--gpus", "2", "-j", "4", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spans = spans(&p, 4);
    assert!(spans.iter().all(|s| s.1 == "0" || s.1 == "1"), "{spans:?}");
    assert_within_shares(&spans, 1.0);
    if parallel() {
        let pairs = overlapping_pairs(&spans);
        assert!(!pairs.is_empty(), "two GPUs, two CPUs: some stages should have run together: {spans:?}");
        for (a, b) in pairs {
            assert_ne!(spans[a - 1].1, spans[b - 1].1, "stages {a} and {b} ran at once on one GPU: {spans:?}");
        }
    }
    // The summary says where each stage ran.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in v["stages"].as_array().unwrap() {
        let n: usize = s["name"].as_str().unwrap().trim_start_matches("s[").trim_end_matches(']').parse().unwrap();
        assert_eq!(s["gpus"].as_str(), Some(spans[n - 1].1.as_str()), "{s}");
    }
}

#[test]
fn one_gpu_whole_requests_never_overlap() {
    let p = Project::new();
    p.write("p.yaml", &pipeline(3, "1", false));
    let out = p.awmt(&["run", "p.yaml", "--gpus", "1", "-j", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spans = spans(&p, 3);
    assert!(spans.iter().all(|s| s.1 == "0"), "{spans:?}");
    assert!(overlapping_pairs(&spans).is_empty(), "{spans:?}");
    assert!(stderr(&out).contains("on GPU 0"), "{}", stderr(&out));
}

#[test]
fn shares_pack_onto_one_gpu() {
    let p = Project::new();
    p.write("p.yaml", &pipeline(4, "0.5", true));
    // Two GPUs: halves still go to the fullest GPU that has room, so GPU 1 stays free for a
    // stage that needs a whole one.
    let out = p.awmt(&["run", "p.yaml", "--gpus", "2", "-j", "4", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spans = spans(&p, 4);
    assert!(spans.iter().all(|s| s.1 == "0"), "{spans:?}");
    assert_within_shares(&spans, 0.5);
    if parallel() {
        assert!(!overlapping_pairs(&spans).is_empty(), "two halves of GPU 0 should have run at once: {spans:?}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["stages"].as_array().unwrap().iter().all(|s| s["gpus"] == "0 (1/2)"), "{v}");
}

#[test]
fn quarter_shares_written_as_fractions_pack_too() {
    let p = Project::new();
    p.write("p.yaml", &pipeline(2, "\"1/4\"", true));
    let out = p.awmt(&["run", "p.yaml", "--gpus", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spans = spans(&p, 2);
    assert!(spans.iter().all(|s| s.1 == "0"), "{spans:?}");
    assert_within_shares(&spans, 0.25);
}

#[test]
fn stages_without_a_request_see_no_gpu_while_gpus_are_placed() {
    let p = Project::new();
    p.write("p.yaml", &pipeline(1, "0", false));
    let out = p.awmt(&["run", "p.yaml", "--gpus", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Set, and empty: CUDA sees no device.
    assert_eq!(spans(&p, 1)[0].1, "", "{:?}", spans(&p, 1));
}

#[test]
fn a_request_larger_than_the_machine_is_refused_before_anything_runs() {
    let p = Project::new();
    let mut text = pipeline(1, "2", false);
    text.push_str("  first:\n    kind: command\n    cmd: echo hi > first.txt\n    outs: [first.txt]\n");
    p.write("p.yaml", &text);
    for args in [&["run", "p.yaml", "--gpus", "1"][..], &["run", "p.yaml", "--gpus", "1", "--dry-run"]] {
        let out = p.awmt(args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("`s[1]` asks for 2 GPUs") && err.contains("this run has 1 GPU (--gpus 1)"), "{err}");
        assert!(!p.path("first.txt").exists(), "nothing may run: {err}");
    }
    // `--gpus 0` refuses any GPU stage, a share included.
    p.write("p.yaml", &pipeline(1, "0.25", false));
    let out = p.awmt(&["run", "p.yaml", "--gpus", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`s[1]` asks for 1/4 GPU"), "{}", stderr(&out));
}

#[test]
fn a_share_that_is_not_one_over_n_is_a_file_error() {
    let p = Project::new();
    p.write("p.yaml", &pipeline(1, "0.3", false));
    let out = p.awmt(&["run", "p.yaml", "--gpus", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("p.yaml:") && err.contains("`resources.gpus` must be a whole number ≥ 0, or a share 1/n"), "{err}");
}
