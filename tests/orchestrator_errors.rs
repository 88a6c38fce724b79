//! Every bad pipeline file is refused before anything runs, with `file:line:column`, the quoted
//! line, a caret and exit code 2.

mod common;

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
