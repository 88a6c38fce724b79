//! Experiments across runs: the run index (kept through SIGKILL, readable during a run, pruned by
//! `gc`), resource traces, retries, `awmt runs`, `awmt exp show` and `awmt diff`, on small
//! `command` pipelines.

use crate::common;

use common::{stderr, stdout, Project};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("no JSON ({e}):\n{}\n{}", stdout(out), stderr(out)))
}

/// Runs newest first, as `awmt runs --json` lists them.
fn runs(p: &Project) -> Vec<serde_json::Value> {
    let out = p.awmt(&["runs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out).as_array().unwrap().clone()
}

fn stage<'a>(run: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    run["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap_or_else(|| panic!("no stage {name} in {run}"))
}

const SWEEP: &str = r#"
name: sweep
stages:
  score:
    kind: command
    foreach: {k: [1, 2, 3], seed: [1, 2]}
    cmd: 'mkdir -p m_${k}_${seed} && echo "{\"acc\": $(( AWMT_PARAM_K * 10 + AWMT_PARAM_SEED )), \"loss\": 0.5}" > m_${k}_${seed}/metrics.json'
    params: {k: "${k}", seed: "${seed}", fixed: 7}
    outs: ["m_${k}_${seed}"]
"#;

#[test]
fn exp_show_folds_seeds_and_shows_only_the_varying_parameter() {
    let p = Project::new();
    p.write("p.yaml", SWEEP);
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res.len(), 6);
    let out = p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&out);
    assert_eq!(shown["params"], serde_json::json!(["command.k"]), "only k varies once seeds are folded");
    let rows = shown["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, k) in rows.iter().zip([1.0, 2.0, 3.0]) {
        assert_eq!(row["params"]["command.k"], format!("{k}"));
        let acc = &row["metrics"]["acc"];
        assert_eq!(acc["n"], 2);
        assert_eq!(acc["mean"].as_f64().unwrap(), k * 10.0 + 1.5);
        assert!((acc["std"].as_f64().unwrap() - 0.5f64.sqrt()).abs() < 1e-9);
    }
    let text = stdout(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains("command.k") && !lines[0].contains("seed") && !lines[0].contains("fixed"), "{text}");
    assert!(lines[1].contains("11.5000 ± 0.7071"), "{text}");
    // Unfolded: six rows and the seed column; sorted by a metric, best first; CSV.
    let out = json(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--no-fold", "--sort", "acc", "--json"]));
    assert_eq!(out["params"], serde_json::json!(["command.k", "command.seed"]));
    assert_eq!(out["rows"].as_array().unwrap().len(), 6);
    assert_eq!(out["rows"][0]["metrics"]["acc"]["mean"], 32.0);
    let csv = stdout(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--csv", "--only", "acc"]));
    assert_eq!(csv.lines().next(), Some("stage,n,acc"), "{csv}");
    // A parameter changed and rerun adds variants beside the old ones.
    p.write("p.yaml", &SWEEP.replace("[1, 2, 3]", "[4]"));
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let out = json(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--json"]));
    assert_eq!(out["rows"].as_array().unwrap().len(), 4);
    let bad = p.awmt(&["exp", "show", "p.yaml", "--stage", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("no stage `nope`"), "{}", stderr(&bad));
}

/// Two data variants (`prep[a]`, `prep[b]`), each scored with k ∈ {1, 2, 3} × 2 seeds.
const FAMILIES: &str = r#"
name: families
stages:
  prep:
    kind: command
    foreach: {d: [a, b]}
    cmd: echo ${d} > data_${d}.txt
    outs: ["data_${d}.txt"]
  score:
    kind: command
    foreach: {d: [a, b], k: [1, 2, 3], seed: [1, 2]}
    cmd: 'mkdir -p m_${d}_${k}_${seed} && echo "{\"acc\": $(( AWMT_PARAM_K * 10 + AWMT_PARAM_SEED + AWMT_PARAM_OFFSET ))}" > m_${d}_${k}_${seed}/metrics.json'
    deps: ["data_${d}.txt"]
    params: {k: "${k}", seed: "${seed}", offset: 0, a_long_parameter_name_that_never_changes: 1}
    outs: ["m_${d}_${k}_${seed}"]
"#;

#[test]
fn exp_show_gives_each_data_variant_its_own_table_of_what_varies_inside_it() {
    let p = Project::new();
    p.write("p.yaml", FAMILIES);
    let out = p.awmt(&["run", "p.yaml", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--json"]));
    let families = shown["families"].as_array().unwrap();
    assert_eq!(families.len(), 2, "{shown}");
    // A command stage reads the other's output as a file: the family is named by it.
    for (f, data) in families.iter().zip(["data_a.txt", "data_b.txt"]) {
        assert_eq!(f["title"], format!("score on {data}"));
        assert_eq!(f["params"], serde_json::json!(["command.k"]), "seeds fold, nothing else varies: {f}");
    }
    let rows = shown["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["stage"].as_str().unwrap()).collect();
    assert_eq!(names, ["score[a,1,*]", "score[a,2,*]", "score[a,3,*]", "score[b,1,*]", "score[b,2,*]", "score[b,3,*]"]);
    for (row, k) in rows.iter().zip([1.0, 2.0, 3.0, 1.0, 2.0, 3.0]) {
        assert_eq!(row["metrics"]["acc"]["n"], 2);
        assert_eq!(row["metrics"]["acc"]["mean"].as_f64().unwrap(), k * 10.0 + 1.5);
    }
    let text = stdout(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score"]));
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * (1 + 1 + 3) + 1, "title, header and 3 rows per family, a blank line between: {text}");
    assert_eq!(lines[0], "score on data_a.txt");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["stage", "n", "acc", "command.k"], "{text}");
    // A `--set` variant of the scoring: in its family's table beside the old rows, its
    // parameter first.
    let out = p.awmt(&["run", "p.yaml", "-q", "--set", "stages.score.params.offset=100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--json"]));
    assert_eq!(shown["families"][0]["params"], serde_json::json!(["command.offset", "command.k"]), "{shown}");
    assert_eq!(shown["families"][0]["distinguishing"], 1);
    assert_eq!(shown["rows"].as_array().unwrap().len(), 12);
    let best = json(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--sort", "acc", "--json"]));
    assert_eq!(best["rows"][0]["stage"], "score[a,3,*]");
    assert_eq!(best["rows"][0]["params"]["command.offset"], "100");
    let text = stdout(&p.awmt(&["exp", "show", "p.yaml", "--stage", "score", "--no-fold"]));
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(text.contains("score[a,1,2]"), "{text}");
}

const TWO: &str = r#"
name: two
vars:
  lr: 0.1
stages:
  prep:
    kind: command
    cmd: echo data > data.txt
    outs: [data.txt]
  train:
    kind: command
    cmd: 'echo "{\"acc\": $AWMT_PARAM_LR, \"n\": 10}" > metrics.json'
    deps: [data.txt]
    params: {lr: "${lr}", seed: 1}
    outs: [metrics.json]
"#;

#[test]
fn diff_names_exactly_the_changed_parameter_and_metric() {
    let p = Project::new();
    p.write("p.yaml", TWO);
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    p.write("p.yaml", &TWO.replace("lr: 0.1", "lr: 0.25"));
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let all = runs(&p);
    assert_eq!(all.len(), 2);
    let (new, old) = (all[0]["run"].as_str().unwrap(), all[1]["run"].as_str().unwrap());
    let out = p.awmt(&["diff", old, new, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = json(&out);
    let diffs = d.as_array().unwrap();
    assert_eq!(diffs.len(), 1, "only `train` differs: {d}");
    assert_eq!(diffs[0]["stage"], "train");
    assert_eq!(diffs[0]["params"], serde_json::json!([{"name": "command.lr", "old": "0.1", "new": "0.25"}]));
    let metrics = diffs[0]["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 1, "{d}");
    assert_eq!(metrics[0]["name"], "acc");
    assert!((metrics[0]["delta"].as_f64().unwrap() - 0.15).abs() < 1e-12);
    let text = stdout(&p.awmt(&["diff", old, new]));
    assert!(text.contains("command.lr") && text.contains("0.1 → 0.25") && text.contains("(+0.1500)"), "{text}");
    // Two entries by key: the same single parameter.
    let key = |run: &serde_json::Value| stage(run, "train")["key"].as_str().unwrap()[..16].to_string();
    let d = json(&p.awmt(&["diff", &key(&all[1]), &key(&all[0]), "--json"]));
    let names: Vec<&str> = d[0]["params"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["command.lr"]);
    let mixed = p.awmt(&["diff", old, &key(&all[0])]);
    assert_eq!(mixed.status.code(), Some(2), "{}", stderr(&mixed));
}

#[test]
fn diff_of_two_set_variants_names_exactly_the_changed_parameter_and_metrics() {
    let p = Project::new();
    p.write("p.yaml", TWO);
    for lr in ["0.5", "0.75"] {
        let out = p.awmt(&["run", "p.yaml", "-q", "--set", &format!("stages.train.params.lr={lr}")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let all = runs(&p);
    assert_eq!(all[0]["overrides"], serde_json::json!(["stages.train.params.lr=0.75"]));
    let (new, old) = (all[0]["run"].as_str().unwrap(), all[1]["run"].as_str().unwrap());
    let d = json(&p.awmt(&["diff", old, new, "--json"]));
    let diffs = d.as_array().unwrap();
    assert_eq!(diffs.len(), 1, "only `train` differs, `prep` was cached: {d}");
    assert_eq!(diffs[0]["stage"], "train");
    assert_eq!(diffs[0]["params"], serde_json::json!([{"name": "command.lr", "old": "0.5", "new": "0.75"}]));
    assert_eq!(diffs[0]["inputs"], serde_json::json!([]));
    let metrics = diffs[0]["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 1, "`n` is a count and unchanged: {d}");
    assert_eq!((metrics[0]["name"].as_str(), metrics[0]["old"].as_f64(), metrics[0]["new"].as_f64()), (Some("acc"), Some(0.5), Some(0.75)));
    assert!((metrics[0]["delta"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    let text = stdout(&p.awmt(&["diff", old, new]));
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("command.lr") && text.contains("0.5 → 0.75") && text.contains("(+0.2500)"), "{text}");
}

#[test]
fn retries_rerun_a_failed_attempt_keep_its_log_and_stop_at_n() {
    let p = Project::new();
    p.write(
        "p.yaml",
        r#"
stages:
  flaky:
    kind: command
    # Fails on its first attempt only (the marker outlives the attempt).
    cmd: 'echo attempt >> flaky_tries.txt; if [ ! -f marker ]; then touch marker; echo first-failure; exit 1; fi; echo ok > out.txt'
    outs: [out.txt]
    retries: 2
    resources: {mem: 1M, mem_per_attempt: 2x}
  broken:
    kind: command
    cmd: 'echo attempt >> broken_tries.txt; exit 1'
    outs: [never.txt]
    retries: 2
"#,
    );
    let out = p.awmt(&["run", "p.yaml", "--keep-going", "-j", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(p.read("flaky_tries.txt").lines().count(), 2, "one failure, one success");
    assert_eq!(p.read("broken_tries.txt").lines().count(), 3, "the first attempt and 2 retries, no more");
    let err = stderr(&out);
    assert!(err.contains("stage `flaky` failed on attempt 1 of 3") && err.contains("retrying"), "{err}");
    let run = &runs(&p)[0];
    assert_eq!(stage(run, "flaky")["status"], "ran");
    assert_eq!(stage(run, "broken")["status"], "failed");
    assert_eq!(run["status"], "failed");
    assert_eq!(stage(run, "flaky")["attempts"], 2);
    assert_eq!(stage(run, "broken")["attempts"], 3);
    // The failed attempt's log is kept beside the one that worked.
    let key = stage(run, "flaky")["key"].as_str().unwrap().to_string();
    let kept = std::fs::read_to_string(p.path(&format!("cache/logs/{key}.attempt1.log"))).unwrap();
    assert!(kept.contains("first-failure"), "{kept}");
    // Succeeding on a retry caches like any other success.
    let (res, _) = p.run_json("p.yaml", &["--keep-going", "-j", "1"]);
    assert_eq!(res["flaky"], "cached");
    assert_eq!(p.read("flaky_tries.txt").lines().count(), 2);
    // --retries applies to stages without `retries:`.
    p.write("q.yaml", "stages:\n  once:\n    kind: command\n    cmd: 'echo a >> q_tries.txt; exit 1'\n    outs: [q.txt]\n");
    let (res, _) = p.run_json("q.yaml", &["--retries", "1"]);
    assert_eq!(res["once"], "failed");
    assert_eq!(p.read("q_tries.txt").lines().count(), 2);
    // A bad setting is an input error at its line.
    p.write("r.yaml", "stages:\n  s:\n    kind: command\n    cmd: 'true'\n    retries: many\n");
    let out = p.awmt(&["run", "r.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("r.yaml:5") && stderr(&out).contains("`retries` must be a whole number"), "{}", stderr(&out));
    p.write("r.yaml", "stages:\n  s:\n    kind: command\n    cmd: 'true'\n    resources: {mem_per_attempt: 0.5x}\n");
    let out = p.awmt(&["run", "r.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("mem_per_attempt"), "{}", stderr(&out));
}

#[test]
fn traces_report_cpu_and_a_peak_memory_above_what_a_stage_allocated() {
    let p = Project::new();
    // 200 MiB, every page touched, held while the shell waits: by `head`/`tr`-free means, a
    // shell variable grown from /dev/zero.
    p.write(
        "p.yaml",
        r#"
stages:
  big:
    kind: command
    cmd: 'x=$(head -c 209715200 /dev/zero | tr "\0" a); printf %s "$x" | wc -c > big.txt'
    outs: [big.txt]
  small:
    kind: command
    cmd: echo hi > small.txt
    outs: [small.txt]
"#,
    );
    let out = p.awmt(&["run", "p.yaml", "-j", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p.read("big.txt").trim(), "209715200");
    let err = stderr(&out);
    assert!(err.contains("slowest: big") && err.contains("largest peak memory: big"), "{err}");
    let run = &runs(&p)[0];
    let big = stage(run, "big");
    assert!(big["max_rss"].as_u64().unwrap() > 200 * 1024 * 1024, "{big}");
    assert!(big["cpu_seconds"].as_f64().unwrap() > 0.0, "{big}");
    assert!(big["end"].as_f64().unwrap() >= big["start"].as_f64().unwrap());
    assert_eq!(big["bytes_written"], 10);
    assert_eq!(big["attempts"], 1);
    assert!(stage(run, "small")["max_rss"].as_u64().unwrap() < 100 * 1024 * 1024);
    assert_eq!(run["status"], "ok");
    assert_eq!(run["pipeline"], "p");
    assert_eq!(run["overrides"], serde_json::json!([]));
    assert_eq!(run["file_blake3"].as_str().unwrap().len(), 64);
    // A second run finds both cached: no measurements, status `cached`.
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let run = &runs(&p)[0];
    assert_eq!(stage(run, "big")["status"], "cached");
    assert!(stage(run, "big")["max_rss"].is_null());
    let text = stdout(&p.awmt(&["runs"]));
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
}

#[test]
fn the_index_survives_sigkill_and_is_readable_during_a_run() {
    let p = Project::new();
    p.write(
        "p.yaml",
        r#"
stages:
  quick:
    kind: command
    cmd: echo done > quick.txt
    outs: [quick.txt]
  slow:
    kind: command
    cmd: sleep 60 > slow.txt
    deps: [quick.txt]
    outs: [slow.txt]
"#,
    );
    let mut child = p.command(&["run", "p.yaml", "-q"]).spawn().unwrap();
    // A concurrent reader sees the run going, with the stage it finished.
    let mut during = Vec::new();
    let seen = common::eventually(30.0, || {
        during = runs(&p);
        during.first().is_some_and(|r| r["stages"].as_array().is_some_and(|s| s.iter().any(|s| s["stage"] == "quick")))
    });
    assert!(seen, "{during:?}");
    assert_eq!(during[0]["status"], "running");
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let after = runs(&p);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["status"], "killed");
    assert_eq!(stage(&after[0], "quick")["status"], "ran");
    // The next run appends after it; every line of the index parses.
    p.write("p.yaml", &std::fs::read_to_string(p.path("p.yaml")).unwrap().replace("sleep 60", "true"));
    let out = p.awmt(&["run", "p.yaml", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = runs(&p);
    assert_eq!(after.len(), 2);
    assert_eq!(after[0]["status"], "ok");
    assert_eq!(stage(&after[0], "quick")["status"], "cached");
    let index = p.read("cache/runs/index.jsonl");
    for line in index.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    // gc drops runs none of whose entries is left.
    p.write("p.yaml", "stages:\n  other:\n    kind: command\n    cmd: echo x > other.txt\n    outs: [other.txt]\n");
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let out = p.awmt(&["gc", "p.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("dropped 2 run(s) from the run index"), "{}", stderr(&out));
    let left = runs(&p);
    assert_eq!(left.len(), 1);
    assert_eq!(stage(&left[0], "other")["status"], "ran");
}

#[test]
fn the_report_draws_the_pipeline_timeline_and_resources_in_headless_chromium() {
    use awmt::report::dag;
    use awmt::report::html::{render, ReportPage};
    let p = Project::new();
    p.write("p.yaml", SWEEP);
    assert!(p.awmt(&["run", "p.yaml", "-q", "-j", "2"]).status.success());
    let run = &runs(&p)[0];
    // The run record the orchestrator hands a report stage carries the graph and this run's traces.
    let traces: Vec<awmt::trace_record::StageTrace> = serde_json::from_value(run["stages"].clone()).unwrap();
    let mut graph: Vec<dag::GraphStage> =
        traces.iter().map(|t| serde_json::from_value(serde_json::json!({"name": t.stage, "group": "score", "kind": "command", "status": t.status})).unwrap()).collect();
    graph.push(serde_json::from_value(serde_json::json!({"name": "page", "group": "page", "kind": "report", "upstream": ["score[1,1]", "score[2,2]"]})).unwrap());
    let page = ReportPage {
        title: "runs <test>".into(),
        pipeline: "sweep".into(),
        stage: "page".into(),
        synthetic: true,
        sources: vec![],
        headline: vec![],
        tables: vec![],
        figures: vec![],
        contact_sheets: vec![],
        provenance: vec![("pipeline".into(), "sweep".into())],
        runs: vec![],
        run_record: vec![("host".into(), "h".into())],
        pipeline_svg: Some(dag::graph_svg(&graph)),
        timeline_svg: dag::timeline_svg(&traces),
        resources_html: Some(dag::resources_html(&traces)),
    };
    let html = render(&page).unwrap();
    assert!(html.contains("score ×6"), "the foreach group is folded");
    p.write("report.html", &html);
    let out = p.path("chromium");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chromium/check_report.sh");
    let status = std::process::Command::new("bash").arg(&script).arg(p.path("report.html")).arg(&out).status().unwrap();
    if status.code() == Some(77) {
        eprintln!("SKIPPED the_report_draws_the_pipeline_timeline_and_resources_in_headless_chromium: Chromium is not available");
        return;
    }
    assert!(status.success(), "check_report.sh failed: {status}");
    let dom = std::fs::read_to_string(out.join("dom.html")).unwrap();
    assert!(dom.contains("data-checked=\"yes\"") && dom.contains("data-errors=\"0\""), "{}", &dom[..dom.len().min(2000)]);
    for id in ["pipeline-dag", "run-timeline", "resources-table"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id} missing from the DOM");
    }
    assert_eq!(dom.matches("class=\"stage\"").count(), 2, "score (folded) and page");
    assert_eq!(dom.matches("class=\"bar\"").count(), 6, "one bar per stage that ran");
    let shot = std::fs::metadata(out.join("screenshot.png")).unwrap();
    assert!(shot.len() > 1000);
}

#[test]
fn status_and_dag_say_why_a_stage_would_rerun() {
    let p = Project::new();
    p.write("in.txt", "a\n");
    p.write("p.yaml", &TWO.replace("cmd: echo data > data.txt", "cmd: cat in.txt > data.txt\n    deps: [in.txt]"));
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let text = std::fs::read_to_string(p.path("p.yaml")).unwrap();
    p.write("p.yaml", &text.replace("lr: 0.1", "lr: 0.25"));
    let out = stdout(&p.awmt(&["status", "p.yaml"]));
    assert!(out.contains("fresh     prep"), "{out}");
    assert!(out.contains("parameter `params.lr` changed: 0.1 → 0.25"), "{out}");
    p.write("in.txt", "b\n");
    let dag = p.awmt(&["dag", "p.yaml", "--status"]);
    assert!(dag.status.success(), "{}", stderr(&dag));
    let lines: Vec<String> = stdout(&dag).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("prep (command)  [stale: content of `in.txt` changed]"), "{lines:?}");
    assert!(lines[1].contains("upstream stage `prep` must run first") && lines[1].contains("0.1 → 0.25"), "{lines:?}");
    // Put everything back: fresh again; then remove the entries with gc: the reason says so.
    p.write("in.txt", "a\n");
    p.write("p.yaml", &text);
    assert_eq!(p.awmt(&["status", "p.yaml"]).status.code(), Some(0));
    p.write("other.yaml", "stages:\n  o:\n    kind: command\n    cmd: echo > o.txt\n    outs: [o.txt]\n");
    assert!(p.awmt(&["gc", "other.yaml"]).status.success());
    let out = stdout(&p.awmt(&["status", "p.yaml"]));
    assert!(out.contains("nothing it depends on changed, but its cache entry is gone"), "{out}");
}
