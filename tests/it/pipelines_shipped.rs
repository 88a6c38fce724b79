//! The pipelines shipped in `pipelines/` load: the quickstart as is, the real-data ones against a
//! fake dataset layout; without the data or the ImageNet weights they stop with exit code 2 and
//! say what to download.

use crate::common;

use std::path::Path;

use common::{stderr, stdout, Project};

fn pipelines_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines")
}

#[test]
fn quickstart_loads_and_has_the_expected_stages() {
    let p = Project::new();
    let file = pipelines_dir().join("quickstart.yaml");
    let out = p.awmt(&["dag", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dag = stdout(&out);
    for stage in [
        "faces (synth)",
        "people_split (split)",
        "faces_pretext (train)",
        "people_pretext (train)",
        "faces_awmt[3] (train) <- faces_data, faces_pretext",
        "faces_separate[2,Smiling] (train)",
        "people_eval[AWMT,1] (evaluate) <- people_data, people_awmt[1]",
        "faces_eval[Separate,2] (evaluate) <- faces_data, faces_separate[2,Eyeglasses]",
        "table1 (compare)",
        "table2 (compare)",
        "report (report)",
    ] {
        assert!(dag.contains(stage), "{stage} missing from:\n{dag}");
    }
}

#[test]
fn real_data_pipelines_need_their_data() {
    for (file, folders) in [
        ("celeba_full.yaml", &["celeba"][..]),
        ("celeba_fast.yaml", &["celeba"][..]),
        ("market_full.yaml", &["Market-1501"][..]),
        ("duke_full.yaml", &["DukeMTMC-reID"][..]),
        ("table2.yaml", &["Market-1501", "DukeMTMC-reID"][..]),
    ] {
        let p = Project::new();
        let path = pipelines_dir().join(file);
        let path = path.to_str().unwrap();
        let missing = p.command(&["dag", path]).env("AWMT_DATA", p.path("nothing-here")).output().unwrap();
        assert_eq!(missing.status.code(), Some(2), "{file}: {}", stderr(&missing));
        assert!(stderr(&missing).contains("does not exist") && stderr(&missing).contains("help: download"), "{file}: {}", stderr(&missing));

        for f in folders {
            std::fs::create_dir_all(p.path(&format!("datasets/{f}"))).unwrap();
        }
        // The datasets without ImageNet weights: exit 2, with how to get them.
        let no_weights = p.command(&["dag", path]).env("AWMT_DATA", p.path("datasets")).output().unwrap();
        let err = stderr(&no_weights);
        assert_eq!(no_weights.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains("resnet50-0676ba61.pth` does not exist"), "{file}: {err}");
        assert!(err.contains("https://download.pytorch.org/models/resnet50-0676ba61.pth"), "{file}: {err}");
        assert!(err.contains(&format!("curl -L -o {}", p.path("datasets/resnet50-0676ba61.pth").display())), "{file}: {err}");
        std::fs::write(p.path("datasets/resnet50-0676ba61.pth"), b"weights").unwrap();
        // Without AWMT_DATA the relative default is resolved against the pipeline file, and both
        // the message and the command in the help say where that is.
        let relative = p.command(&["dag", path]).env_remove("AWMT_DATA").output().unwrap();
        let err = stderr(&relative);
        let expected = pipelines_dir().join("data/resnet50-0676ba61.pth");
        assert!(err.contains(&format!("relative to the pipeline file: `{}`", expected.display())), "{file}: {err}");
        assert!(err.contains(&format!("curl -L -o {} https", expected.display())), "{file}: {err}");
        let ok = p.command(&["dag", path]).env("AWMT_DATA", p.path("datasets")).output().unwrap();
        assert!(ok.status.success(), "{file} with a dataset layout: {}", stderr(&ok));
        assert!(stdout(&ok).contains("(compare)"), "{file}");
    }
}
