//! Killed runs, corrupt objects, concurrent runs and Ctrl-C never leave a bad cache entry.

use crate::common;

use std::time::{Duration, Instant};

use common::{eventually, processes_in, stderr, stdout, with_status, Project, StopProcessesIn};

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

// Issue #12: wrong bytes are never published as valid, nothing of a killed run survives it, and
// awmt never deletes what it did not create.

/// A stage whose output is over the 4 MiB stat fast-path threshold, and one reading it.
const BIG: &str = r#"
stages:
  big:
    kind: command
    cmd: head -c 6000000 /dev/zero | tr '\0' 'a' > big.txt
    outs: [big.txt]
  count:
    kind: command
    cmd: tr -d 'a' < big.txt | wc -c > count.txt
    deps: [big.txt]
    outs: [count.txt]
"#;

/// The cached object of `file` (an output of some stage).
fn cached_object(p: &Project, file: &str) -> std::path::PathBuf {
    p.cache_entries().into_iter().map(|e| e.join("out").join(file)).find(|o| o.exists()).unwrap_or_else(|| panic!("no cached {file}"))
}

/// Flips one byte of `path` in place (same size, same inode) and sets its mtime back.
fn rot(path: &std::path::Path, offset: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut f = std::fs::File::options().read(true).write(true).open(path).unwrap();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
    f.set_modified(mtime).unwrap();
}

#[test]
fn bit_rot_under_an_unchanged_mtime_is_never_restored_or_used() {
    let p = Project::new();
    p.write("p.yaml", BIG);
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let object = cached_object(&p, "big.txt");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&object).unwrap());
    rot(&object, 3_000_000);
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&object).unwrap()), ino, "same inode, size and mtime");
    // The workspace copy is gone, so a cached `big` would be restored from the rotten object.
    std::fs::remove_file(p.path("big.txt")).unwrap();
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["big"], "ran", "the rotten entry is recomputed, not restored: {}", stderr(&out));
    assert_eq!(p.read("count.txt").trim(), "0", "downstream never saw the flipped byte");
    assert_eq!(res["count"], "cached", "the recomputed output is identical, so downstream stays cached");
    assert!(p.awmt(&["verify"]).status.success());
}

#[test]
fn verify_quarantines_what_it_finds_so_its_message_is_true() {
    let p = Project::new();
    p.write("p.yaml", BIG);
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    rot(&cached_object(&p, "big.txt"), 10);
    let out = p.awmt(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("corrupt") && stdout(&out).contains("moved to"), "{}", stdout(&out));
    assert!(stderr(&out).contains("`awmt run` recomputes them"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(p.path("cache/quarantine")).unwrap().count(), 1);
    // What verify said: the next run recomputes it, and then the cache is clean.
    assert!(p.awmt(&["verify"]).status.success(), "the corrupt entry is out of use");
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["big"], "ran");
    assert!(p.awmt(&["verify"]).status.success());
}

#[test]
fn an_edited_manifest_digest_or_key_is_corruption() {
    let p = Project::new();
    p.write("p.yaml", SLOW.replace("sleep 2 && ", "").as_str());
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    let manifest_of = |stage: &str| {
        p.cache_entries()
            .into_iter()
            .map(|e| e.join("manifest.json"))
            .find(|m| std::fs::read_to_string(m).unwrap().contains(&format!("\"stage\": \"{stage}\"")))
            .unwrap()
    };
    // `first`'s digest (what downstream keys see) replaced by another valid-looking one.
    let m = manifest_of("first");
    let text = std::fs::read_to_string(&m).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let digest = v["digest"].as_str().unwrap().to_string();
    let fake = format!("{}{}", if digest.starts_with('0') { "1" } else { "0" }, &digest[1..]);
    std::fs::write(&m, text.replace(&digest, &fake)).unwrap();
    // `last`'s parameters edited: its key no longer matches them.
    let m2 = manifest_of("last");
    let text2 = std::fs::read_to_string(&m2).unwrap();
    std::fs::write(&m2, text2.replace("cat slow.txt dir/inner.txt", "cat slow.txt  dir/inner.txt")).unwrap();
    let out = p.awmt(&["verify", "--no-quarantine"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("(stage `first`): manifest.json: its output digest does not match its file list"), "{text}");
    assert!(text.contains("(stage `last`): manifest.json: its key is not the hash of its recorded parts"), "{text}");
    // A run never uses them: `first` reruns to the same bytes, so `slow` keeps its key.
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["first"], "ran");
    assert_eq!(res["slow"], "cached");
    assert_eq!(res["last"], "ran");
    assert!(p.awmt(&["verify"]).status.success());
}

/// A piped, slow stage: `cat` keeps appending after its shell is gone.
const PIPED: &str = r#"
stages:
  piped:
    kind: command
    cmd: (for i in $(seq 1 60); do echo line $i; sleep 0.05; done) | cat > piped.txt
    outs: [piped.txt]
"#;

#[test]
fn a_killed_runs_command_tree_dies_with_it() {
    let p = Project::new();
    let _stop = StopProcessesIn(p.dir.path().to_path_buf());
    p.write("p.yaml", PIPED);
    let mut child = p.command(&["run", "p.yaml", "-q"]).spawn().unwrap();
    wait_for("the piped stage to write", || std::fs::metadata(p.path("piped.txt")).is_ok_and(|m| m.len() > 20));
    child.kill().unwrap(); // SIGKILL to awmt alone
    child.wait().unwrap();
    assert!(
        eventually(2.0, || processes_in(p.dir.path()).is_empty()),
        "processes of the killed run still run: {:?}",
        processes_in(p.dir.path())
    );
    let size = std::fs::metadata(p.path("piped.txt")).unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::metadata(p.path("piped.txt")).unwrap().len(), size, "nothing writes to the output any more");
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["piped"], "ran");
    let want: String = (1..=60).map(|i| format!("line {i}\n")).collect();
    assert_eq!(p.read("piped.txt"), want, "the published output is one clean run's");
}

#[test]
fn a_command_cannot_leave_a_writer_behind_its_published_output() {
    let p = Project::new();
    let _stop = StopProcessesIn(p.dir.path().to_path_buf());
    p.write(
        "p.yaml",
        "stages:\n  bg:\n    kind: command\n    cmd: echo early > out.txt; (sleep 0.5; echo late >> out.txt) &\n    outs: [out.txt]\n",
    );
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["bg"], "ran");
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(p.read("out.txt"), "early\n", "the background writer was stopped before the output was captured");
    assert!(processes_in(p.dir.path()).is_empty());
    assert!(p.awmt(&["verify"]).status.success());
    let log = std::fs::read_dir(p.path("cache/logs")).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect::<String>();
    assert!(log.contains("process(es) that the command left running"), "the log says so: {log}");
}

#[test]
fn awmt_never_deletes_what_it_did_not_create() {
    let p = Project::new();
    p.write("data/precious.txt", "years of work\n");
    p.write("p.yaml", "stages:\n  gen:\n    kind: command\n    cmd: mkdir -p data && echo generated > data/out.txt\n    outs: [data]\n");
    let (res, out) = p.run_json("p.yaml", &[]);
    assert_eq!(res["gen"], "failed");
    let err = stderr(&out);
    assert!(err.contains("output `data` already exists") && err.contains("was not written by awmt"), "{err}");
    assert_eq!(p.read("data/precious.txt"), "years of work\n");
    // Once the user moves it away, the stage runs; from then on `data` is awmt's to replace.
    std::fs::rename(p.path("data"), p.path("kept")).unwrap();
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["gen"], "ran");
    p.write("p.yaml", "stages:\n  gen:\n    kind: command\n    cmd: mkdir -p data && echo again > data/out.txt\n    outs: [data]\n");
    let (res, out) = p.run_json("p.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(res["gen"], "ran");
    assert_eq!(p.read("data/out.txt"), "again\n");
}

#[test]
fn a_symlink_planted_inside_an_output_folder_is_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.txt"), "outside").unwrap();
    let p = Project::new();
    p.write("p.yaml", "stages:\n  gen:\n    kind: command\n    cmd: mkdir -p d/sub && echo mine > d/sub/x.txt\n    outs: [d]\n");
    assert!(p.awmt(&["run", "p.yaml", "-q"]).status.success());
    // Replace the output's subfolder by a link out of the project, then let awmt restore it.
    std::fs::remove_dir_all(p.path("d/sub")).unwrap();
    std::os::unix::fs::symlink(outside.path(), p.path("d/sub")).unwrap();
    let (res, out) = p.run_json("p.yaml", &[]);
    assert_eq!(res["gen"], "failed", "{}", stderr(&out));
    assert!(stderr(&out).contains("`d/sub` is a symbolic link to"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(outside.path().join("x.txt")).unwrap(), "outside");
}
