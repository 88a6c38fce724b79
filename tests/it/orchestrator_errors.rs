//! Every bad pipeline file is refused before anything runs, with `file:line:column`, the quoted
//! line, a caret and exit code 2.

use crate::common;

use common::{stderr, Project};

/// Runs `awmt run bad.yaml` and checks the common shape of the error; returns stderr.
fn refused(yaml: &str, line: usize, col: usize) -> String {
    let p = Project::new();
    p.write("bad.yaml", yaml);
    p.write("in.txt", "x");
    let out = p.awmt(&["run", "bad.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "exit code 2 expected:\n{err}");
    assert!(err.contains(&format!("bad.yaml:{line}:{col}")), "expected bad.yaml:{line}:{col} in:\n{err}");
    assert!(err.contains(" | "), "quotes the line:\n{err}");
    assert!(err.contains('^'), "has a caret:\n{err}");
    assert!(!p.path("cache").exists(), "nothing ran, no cache was created");
    assert!(!p.path("out.txt").exists());
    err
}

#[test]
fn unknown_key_suggests() {
    let err = refused("stages:\n  a:\n    kind: command\n    cmd: echo > out.txt\n    outz: [out.txt]\n", 5, 5);
    assert!(err.contains("unknown key `outz`"), "{err}");
    assert!(err.contains("did you mean `outs`"), "{err}");
}

#[test]
fn unknown_top_level_key_suggests() {
    let err = refused("stagse:\n  a: {kind: command, cmd: echo}\n", 1, 1);
    assert!(err.contains("did you mean `stages`"), "{err}");
}

#[test]
fn wrong_type() {
    let err = refused("stages:\n  a:\n    kind: command\n    cmd: echo > out.txt\n    outs: 5\n", 5, 11);
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn missing_input_stage() {
    let err = refused("stages:\n  a:\n    kind: command\n    cmd: echo > out.txt\n    deps: [\"stage:nosuch\"]\n    outs: [out.txt]\n", 5, 12);
    assert!(err.contains("no stage named `nosuch`"), "{err}");
}

#[test]
fn missing_dependency_file() {
    let err = refused("stages:\n  a:\n    kind: command\n    cmd: echo > out.txt\n    deps: [in.txt, nope.txt]\n    outs: [out.txt]\n", 5, 20);
    assert!(err.contains("`nope.txt` does not exist"), "{err}");
}

#[test]
fn cycle_is_named() {
    let yaml = "stages:\n  a:\n    kind: command\n    cmd: cat b.txt > a.txt\n    deps: [b.txt]\n    outs: [a.txt]\n  b:\n    kind: command\n    cmd: cat a.txt > b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n";
    let err = refused(yaml, 2, 3);
    assert!(err.contains("dependency cycle: a → b → a") || err.contains("dependency cycle: b → a → b"), "{err}");
}

#[test]
fn duplicate_stage_name() {
    let yaml = "stages:\n  a:\n    kind: command\n    cmd: echo\n  b:\n    kind: command\n    cmd: echo\n  a:\n    kind: command\n    cmd: echo\n";
    let err = refused(yaml, 8, 3);
    assert!(err.contains("duplicate stage name `a`"), "{err}");
    assert!(err.contains("first defined at line 2"), "{err}");
}

#[test]
fn outs_escaping_the_work_directory() {
    let err = refused("stages:\n  a:\n    kind: command\n    cmd: echo > ../x\n    outs: [../x]\n", 5, 12);
    assert!(err.contains("outside the stage's work directory"), "{err}");
    let err = refused("stages:\n  a:\n    kind: command\n    cmd: echo\n    outs:\n      - ok.txt\n      - /tmp/x\n", 7, 9);
    assert!(err.contains("outside the stage's work directory"), "{err}");
}

#[test]
fn undefined_variable() {
    let err = refused("vars:\n  iters: 5\nstages:\n  a:\n    kind: command\n    cmd: echo ${iter} > out.txt\n    outs: [out.txt]\n", 6, 15);
    assert!(err.contains("undefined variable `iter`"), "{err}");
    assert!(err.contains("did you mean `${iters}`"), "{err}");
}

#[test]
fn unknown_kind_and_missing_kind() {
    let err = refused("stages:\n  a:\n    kind: comand\n", 3, 11);
    assert!(err.contains("unknown stage kind `comand`") && err.contains("did you mean `command`"), "{err}");
    let err = refused("stages:\n  a:\n    cmd: echo\n", 2, 3);
    assert!(err.contains("has no `kind`"), "{err}");
}

#[test]
fn yaml_syntax_error() {
    let err = refused("stages:\n  a: [unclosed\n", 2, 15);
    assert!(err.contains("YAML syntax error"), "{err}");
}

#[test]
fn bad_resources_and_extends() {
    let err = refused("stages:\n  a:\n    kind: command\n    cmd: echo\n    resources: {cpus: lots}\n", 5, 23);
    assert!(err.contains("`resources.cpus` must be"), "{err}");
    let err = refused("stages:\n  a:\n    extends: bb\n    cmd: echo\n  b:\n    kind: command\n    cmd: echo\n", 3, 14);
    assert!(err.contains("unknown stage `bb`") && err.contains("did you mean `b`"), "{err}");
}

#[test]
fn missing_pipeline_file_is_a_clear_error() {
    let p = Project::new();
    let out = p.awmt(&["run", "nope.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.yaml") && stderr(&out).contains("cannot read"), "{}", stderr(&out));
}

#[test]
fn missing_required_dataset_says_what_to_do() {
    let p = Project::new();
    p.write(
        "real.yaml",
        "vars:\n  data: ${env:AWMT_TEST_NO_DATA:-data}\nrequires:\n  - path: ${data}/celeba/list_attr_celeba.txt\n    help: download CelebA and lay it out as data/celeba/\nstages:\n  a: {kind: command, cmd: echo}\n",
    );
    let out = p.awmt(&["run", "real.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("real.yaml:4:11"), "{err}");
    assert!(err.contains("required path `data/celeba/list_attr_celeba.txt` does not exist"), "{err}");
    assert!(err.contains("help: download CelebA"), "{err}");
}

/// Every file of `tests/malformed/` (the malformed-pipeline corpus, counted in README.md): each is
/// refused by the loader — what `awmt run` does first, exiting 2 on it — with its
/// `file:line:column`, the quoted line and a caret, and the message its `# expect:` header names;
/// never a panic or a hang. Loaded in this process (130-odd `awmt` starts would cost minutes);
/// the tests above check the exit code and that nothing runs. Header lines:
/// `# expect: <message fragment>`, `# at: LINE:COL`, `# setup: file|mkdir PATH` or
/// `# setup: symlink PATH TARGET` (`{outside}`: a folder outside the project).
#[test]
fn malformed_corpus_is_refused_with_locations() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect();
    files.sort();
    assert!(files.len() >= 100, "the corpus has {} cases", files.len());
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("file.txt"), "not awmt's").unwrap();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let header = |key: &str| -> Vec<String> {
            text.lines().filter_map(|l| l.strip_prefix(&format!("# {key}: ")).map(str::to_string)).collect()
        };
        let expect = header("expect").pop().unwrap_or_else(|| panic!("{}: no `# expect:`", file.display()));
        let at = header("at").pop().unwrap_or_else(|| panic!("{}: no `# at:`", file.display()));
        let p = Project::new();
        p.write("bad.yaml", &text);
        for setup in header("setup") {
            let words: Vec<String> = setup.split_whitespace().map(|w| w.replace("{outside}", &outside.path().display().to_string())).collect();
            match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                ["file", path] => p.write(path, "x"),
                ["mkdir", path] => std::fs::create_dir_all(p.path(path)).unwrap(),
                ["symlink", path, target] => std::os::unix::fs::symlink(target, p.path(path)).unwrap(),
                other => panic!("{}: unknown setup {other:?}", file.display()),
            }
        }
        let path = p.path("bad.yaml");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(|| {
                awmt::pipeline::Pipeline::load_with_env(&path, &|name| if name.starts_with("AWMT_CORPUS_") { None } else { std::env::var(name).ok() })
                    .err()
                    .map(|e| e.to_string())
            });
            let _ = tx.send(result);
        });
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let problem = match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Err(_) => Some("did not finish within 20 s".to_string()),
            Ok(Err(_)) => Some("the loader panicked".to_string()),
            Ok(Ok(None)) => Some("it loaded without an error".to_string()),
            Ok(Ok(Some(err))) => {
                let problem = if !err.contains(&format!("bad.yaml:{at}")) {
                    Some(format!("no `bad.yaml:{at}`"))
                } else if !err.contains(&expect) {
                    Some(format!("no `{expect}`"))
                } else if !err.contains(" | ") || !err.contains('^') {
                    Some("no quoted line and caret".to_string())
                } else {
                    None
                };
                problem.map(|pr| format!("{pr}\n{err}"))
            }
        };
        if let Some(problem) = problem {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(std::fs::read_dir(outside.path()).unwrap().count() == 1 && outside.path().join("file.txt").exists(), "nothing outside was touched");
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), files.len(), failures.join("\n"));
    eprintln!("{} malformed pipelines: every one refused with its location", files.len());
}

// Issue #12's load-time holes, each as a user would write it.

#[test]
fn overlapping_outputs_of_two_stages_are_refused_with_both_locations() {
    let yaml = "stages:\n  data:\n    kind: command\n    cmd: mkdir -p d && echo a > d/a.txt\n    outs: [d]\n  extra:\n    kind: command\n    cmd: echo x > d/x.txt\n    outs: [d/x.txt]\n";
    let err = refused(yaml, 9, 12);
    assert!(err.contains("output `d/x.txt` of `extra` overlaps output `d` of `data`"), "{err}");
    assert!(err.contains("bad.yaml:5:12"), "names the other location: {err}");
}

#[test]
fn a_stage_reading_its_own_output_is_refused() {
    let yaml = "stages:\n  log:\n    kind: command\n    cmd: date >> log.txt\n    deps: [log.txt]\n    outs: [log.txt]\n";
    let err = refused(yaml, 5, 12);
    assert!(err.contains("stage `log` lists its own output `log.txt` in `deps`"), "{err}");
}

#[test]
fn wdir_outside_the_pipeline_folder_is_refused() {
    let err = refused("stages:\n  a:\n    kind: command\n    wdir: /\n    cmd: mkdir -p some/abs/dir\n    outs: [some/abs/dir]\n", 4, 11);
    assert!(err.contains("`wdir: /` is outside the pipeline's folder"), "{err}");
    let err = refused("stages:\n  a:\n    kind: command\n    wdir: ../..\n    cmd: echo > x.txt\n    outs: [x.txt]\n", 4, 11);
    assert!(err.contains("`wdir: ../..` is outside"), "{err}");
}

#[test]
fn outputs_through_a_symlink_out_of_the_project_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("file.txt"), "precious").unwrap();
    let p = Project::new();
    std::os::unix::fs::symlink(outside.path(), p.path("link")).unwrap();
    p.write("p.yaml", "stages:\n  a:\n    kind: command\n    cmd: echo new > link/file.txt\n    outs: [link/file.txt]\n");
    let out = p.awmt(&["run", "p.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("p.yaml:5:12") && err.contains("`link` is a symbolic link to"), "{err}");
    assert_eq!(std::fs::read_to_string(outside.path().join("file.txt")).unwrap(), "precious", "the file outside is untouched");
}

#[test]
fn names_that_become_report_folders_are_checked() {
    let err = refused("stages:\n  s:\n    kind: command\n    foreach: {v: [\"x/../../../ESCAPE\"]}\n    cmd: echo\n", 4, 19);
    assert!(err.contains("`foreach.v` value `x/../../../ESCAPE` cannot be part of a stage name"), "{err}");
    let err = refused("name: ../../X\nstages:\n  a: {kind: command, cmd: echo}\n", 1, 7);
    assert!(err.contains("pipeline name `../../X` cannot name a folder"), "{err}");
    let err = refused("name: /tmp/X\nstages:\n  a: {kind: command, cmd: echo}\n", 1, 7);
    assert!(err.contains("cannot name a folder"), "{err}");
}

#[test]
fn foreach_bombs_are_counted_before_expanding() {
    let ten = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";
    let axes: Vec<String> = (0..9).map(|i| format!("v{i}: {ten}")).collect();
    let yaml = format!("stages:\n  s:\n    kind: command\n    foreach: {{{}}}\n    cmd: echo\n", axes.join(", "));
    let err = refused(&yaml, 4, 14);
    assert!(err.contains("`foreach` expands to 1000000000 stages, more than the limit of 10000"), "{err}");
}

#[test]
fn an_alias_as_a_stage_key_is_that_stage() {
    let p = Project::new();
    p.write(
        "p.yaml",
        "vars:\n  which: &name second\nstages:\n  first:\n    kind: command\n    cmd: echo 1 > first.txt\n    outs: [first.txt]\n  *name :\n    kind: command\n    cmd: echo 2 > second.txt\n    outs: [second.txt]\n",
    );
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res.keys().cloned().collect::<Vec<_>>(), ["first", "second"], "the aliased stage is not dropped");
    assert_eq!(p.read("second.txt"), "2\n");
}

#[test]
fn nested_environment_defaults_are_resolved() {
    let p = Project::new();
    p.write("p.yaml", "vars:\n  where: ${env:AWMT_TEST_A:-${env:AWMT_TEST_B}}\nstages:\n  a:\n    kind: command\n    cmd: echo ${where} > a.txt\n    outs: [a.txt]\n");
    let out = p.command(&["run", "p.yaml"]).env_remove("AWMT_TEST_A").env("AWMT_TEST_B", "from-b").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p.read("a.txt"), "from-b\n");
    let out = p.command(&["run", "p.yaml"]).env_remove("AWMT_TEST_A").env_remove("AWMT_TEST_B").output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("p.yaml:2:10") && err.contains("`AWMT_TEST_B` is not set"), "{err}");
}

/// `awmt status FILE | head -1`: the reader closes the pipe after one line; awmt ends quietly
/// with status 0 (it used to panic: "failed printing to stdout: Broken pipe", exit 101).
#[test]
fn closed_stdout_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let p = Project::new();
    let mut yaml = String::from("stages:\n");
    for i in 0..3000 {
        // Long names: the listing (~300 KB) is far larger than a pipe's buffer.
        yaml.push_str(&format!("  s{i}_a_stage_name_long_enough_to_fill_the_pipe_quickly_{i:0>40}:\n    kind: command\n    cmd: echo {i} > o{i}.txt\n    outs: [o{i}.txt]\n"));
    }
    p.write("many.yaml", &yaml);
    let mut child = p
        .command(&["status", "many.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap(); // dropped: pipe closed
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(first.contains("s0"), "{first}");
    // 0, not status's 1 ("stages are stale"): the early reader ended it, quietly.
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}
