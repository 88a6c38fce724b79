//! Pretrained trunks: a train stage fine-tunes from another train stage's output directory (every
//! trunk tensor lands bit-exactly, heads are fresh whatever their shape in the source); a
//! torchvision checkpoint as torch.save writes it loads every tensor in place, and damaged ones
//! are named errors. (A frozen-BN stage without weights refused at load time: awmt's
//! `train_from_scratch`, through the binaries.)

use crate::train_support;

use std::collections::BTreeMap;
use std::path::Path;

use awmt_torch::model::{pretrained, Net, NetConfig, Trunk};
use awmt::stages::{InputItem, StageContext};

fn read(file: &Path) -> BTreeMap<String, tch::Tensor> {
    tch::Tensor::read_safetensors(file).unwrap().into_iter().collect()
}

/// Runs a `train` stage through the StageKind interface.
fn run_train_stage(tmp: &Path, name: &str, with: serde_json::Value, data: &Path, pretrained: Option<&Path>) -> std::path::PathBuf {
    let out = tmp.join(name);
    let mut inputs = vec![("data", vec![InputItem { path: data.to_path_buf(), stage: Some("prep".into()) }])];
    if let Some(p) = pretrained {
        inputs.push(("pretrained", vec![InputItem { path: p.to_path_buf(), stage: Some("pretext".into()) }]));
    }
    awmt_torch::stages::run(&StageContext::standalone("train", name, &with, inputs, &out).unwrap()).unwrap();
    out
}

#[test]
fn a_train_stage_fine_tunes_from_another_train_stages_output() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [40, 20, 5], 3);
    // The "pretext" run: live BN (so its running statistics move away from 0/1), a hidden head
    // layer and all 4 tasks (7 outputs).
    let pretext = run_train_stage(
        tmp.path(),
        "pretext",
        serde_json::json!({"model": "small_cnn", "iterations": 6, "lr": 0.05, "milestones": [], "device": "cpu",
            "freeze_bn": false, "hidden": 8, "checkpoint_every": 0}),
        &data,
        None,
    );
    // Fine-tune: one task (a 4-output head of another shape), frozen BN. lr = 1e-30 moves no
    // float32 weight of this size by even one ulp, so the trunk written at the end is exactly
    // the trunk that was loaded.
    let tuned = run_train_stage(
        tmp.path(),
        "tuned",
        serde_json::json!({"model": "small_cnn", "iterations": 2, "lr": 1e-30, "milestones": [], "device": "cpu",
            "freeze_bn": true, "tasks": ["Spot"], "checkpoint_every": 0}),
        &data,
        Some(&pretext),
    );
    let src = read(&pretext.join("model.safetensors"));
    let dst = read(&tuned.join("model.safetensors"));
    let mut trunk = 0;
    for (name, t) in &dst {
        if name.starts_with("head.") {
            continue;
        }
        assert!(t.equal(&src[name]), "{name} was not loaded bit-exactly");
        trunk += 1;
    }
    assert_eq!(trunk, 20, "4 convolutions, 4 BNs of 4 tensors each");
    // The running statistics came from the pretext run (they are not the fresh 0/1).
    assert!(!src["bn1.running_mean"].equal(&tch::Tensor::zeros([16], (tch::Kind::Float, tch::Device::Cpu))));
    // The heads are the fine-tune's own: a 4-way output, no hidden layer.
    assert_eq!(dst["head.fc.weight"].size(), vec![4, 128]);
    assert_eq!(src["head.fc.weight"].size(), vec![7, 8]);
    assert!(!dst.contains_key("head.hidden.weight"));
}

#[test]
fn every_trunk_loads_from_a_train_output_directory() {
    let tmp = tempfile::tempdir().unwrap();
    for trunk in [Trunk::SmallCnn, Trunk::Resnet18] {
        let dir = tmp.path().join(trunk.name());
        std::fs::create_dir_all(&dir).unwrap();
        let source = Net::new(&NetConfig { trunk, frozen_bn: false, dropout: 0.0, hidden: 5, outputs: 9 }, tch::Device::Cpu, 11);
        source.save(&dir.join("model.safetensors")).unwrap();
        let mut target = Net::new(&NetConfig { trunk, frozen_bn: true, dropout: 0.5, hidden: 0, outputs: 2 }, tch::Device::Cpu, 12);
        let fresh_head: Vec<(String, tch::Tensor)> =
            target.store.named().into_iter().filter(|(n, _)| n.starts_with("head.")).map(|(n, t)| (n, t.copy())).collect();
        let n = pretrained::load_trunk(&mut target, &dir).unwrap();
        assert_eq!(n, target.trunk_names().len());
        let src: BTreeMap<String, tch::Tensor> = source.store.named().into_iter().collect();
        for (name, t) in target.store.named() {
            if !name.starts_with("head.") {
                assert!(t.equal(&src[&name]), "{}: {name} not loaded", trunk.name());
            }
        }
        for (name, before) in fresh_head {
            let now: BTreeMap<String, tch::Tensor> = target.store.named().into_iter().collect();
            assert!(now[&name].equal(&before), "{name}: the head must keep its fresh initialisation");
        }
    }
    // A directory that is not a train stage's output says so.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut net = Net::new(&NetConfig { trunk: Trunk::SmallCnn, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 2 }, tch::Device::Cpu, 0);
    let e = format!("{:#}", pretrained::load_trunk(&mut net, &empty).unwrap_err());
    assert!(e.contains("empty") && e.contains("model.safetensors"), "{e}");
    // A small-CNN trunk cannot take ResNet-18 weights: the error names the file and the fix.
    let e = format!("{:#}", pretrained::load_trunk(&mut net, &tmp.path().join("resnet18")).unwrap_err());
    assert!(e.contains("resnet18/model.safetensors") && e.contains("holds resnet18 weights") && e.contains("model: resnet18"), "{e}");
}

#[test]
fn legacy_and_unknown_weight_files_are_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut net = Net::new(&NetConfig { trunk: Trunk::Resnet18, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 2 }, tch::Device::Cpu, 0);
    // The pre-1.6 torch.save format: a bare pickle that starts with torch's magic number.
    let legacy = tmp.path().join("resnet18-5c106cde.pth");
    let mut bytes = vec![0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    bytes.extend_from_slice(b".rest of the file");
    std::fs::write(&legacy, &bytes).unwrap();
    let e = format!("{:#}", pretrained::load_trunk(&mut net, &legacy).unwrap_err());
    assert!(e.contains("resnet18-5c106cde.pth") && e.contains("legacy torch.save format"), "{e}");
    // The oldest format, a tar archive.
    let tar = tmp.path().join("old.pth");
    let mut bytes = vec![0u8; 1024];
    bytes[257..262].copy_from_slice(b"ustar");
    std::fs::write(&tar, &bytes).unwrap();
    assert!(format!("{:#}", pretrained::load_trunk(&mut net, &tar).unwrap_err()).contains("legacy"));
    // Anything else: neither format.
    let junk = tmp.path().join("weights.bin");
    std::fs::write(&junk, b"not weights at all").unwrap();
    let e = format!("{:#}", pretrained::load_trunk(&mut net, &junk).unwrap_err());
    assert!(e.contains("weights.bin") && e.contains("neither a torch.save checkpoint nor"), "{e}");
}

/// A Python for the checkpoint writer: `$AWMT_TEST_PYTHON`, else `python3`; None when neither runs.
fn python() -> Option<String> {
    let candidates = [std::env::var("AWMT_TEST_PYTHON").ok(), Some("python3".to_string())];
    candidates.into_iter().flatten().find(|p| std::process::Command::new(p).arg("-c").arg("pass").output().is_ok_and(|o| o.status.success()))
}

/// Runs tests/fixtures/torchvision_checkpoint.py; returns the line that says which writer it used.
fn write_checkpoint(py: &str, out: &Path, arch: &str, extra: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/torchvision_checkpoint.py");
    let o = std::process::Command::new(py).arg(&script).arg(out).arg(arch).args(extra).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string()
}

/// The values the writer gives the tensor `name` (see the script's doc string).
fn expected(name: &str, numel: usize) -> Vec<f32> {
    let k = name.bytes().fold(0u64, |h, b| (h * 131 + b as u64) % 1_000_003);
    (0..numel as u64).map(|e| (((k * 31 + e * 17) % 1009) as f32 - 504.0) / 1024.0).collect()
}

#[test]
fn torchvision_checkpoints_load_every_tensor_in_place() {
    let Some(py) = python() else {
        eprintln!("SKIPPED: no python3 to write a torch.save checkpoint (set AWMT_TEST_PYTHON)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for (arch, trunk) in [("resnet18", Trunk::Resnet18), ("resnet50", Trunk::Resnet50)] {
        let file = tmp.path().join(format!("{arch}-tv.pth"));
        let writer = write_checkpoint(&py, &file, arch, &[]);
        eprintln!("{arch}: {writer}");
        let mut net = Net::new(&NetConfig { trunk, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 3 }, tch::Device::Cpu, 4);
        let head_before = net.store.named().into_iter().find(|(n, _)| n == "head.fc.weight").unwrap().1.copy();
        let n = pretrained::load_trunk(&mut net, &file).unwrap();
        assert_eq!(n, net.trunk_names().len());
        for (name, t) in net.store.named() {
            if name.starts_with("head.") {
                continue;
            }
            let got = Vec::<f32>::try_from(t.reshape([-1])).unwrap();
            assert!(got == expected(&name, got.len()), "{arch}: `{name}` does not hold its values from the file");
        }
        let head_after = net.store.named().into_iter().find(|(n, _)| n == "head.fc.weight").unwrap().1;
        assert!(head_after.equal(&head_before), "the file's fc must not touch the heads");
    }
    // ResNet-18 weights for a ResNet-50 trunk: the error says what the file holds.
    let mut r50 = Net::new(&NetConfig { trunk: Trunk::Resnet50, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 3 }, tch::Device::Cpu, 4);
    let e = format!("{:#}", pretrained::load_trunk(&mut r50, &tmp.path().join("resnet18-tv.pth")).unwrap_err());
    assert!(e.contains("resnet18-tv.pth") && e.contains("holds resnet18 weights, not resnet50"), "{e}");

    let r18 = || Net::new(&NetConfig { trunk: Trunk::Resnet18, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 3 }, tch::Device::Cpu, 4);
    // Truncated files (a download cut short): the error names the file and says so.
    let whole = std::fs::read(tmp.path().join("resnet18-tv.pth")).unwrap();
    for keep in [whole.len() / 2, whole.len() - 10] {
        let cut = tmp.path().join("resnet18-cut.pth");
        std::fs::write(&cut, &whole[..keep]).unwrap();
        let e = format!("{:#}", pretrained::load_trunk(&mut r18(), &cut).unwrap_err());
        assert!(e.contains("resnet18-cut.pth") && e.contains("truncated"), "{e}");
    }
    // A tensor missing, a tensor of the wrong shape: each is named.
    let missing = tmp.path().join("resnet18-missing.pth");
    write_checkpoint(&py, &missing, "resnet18", &["--drop", "layer3.1.bn2.running_var"]);
    let e = format!("{:#}", pretrained::load_trunk(&mut r18(), &missing).unwrap_err());
    assert!(e.contains("resnet18-missing.pth") && e.contains("missing") && e.contains("layer3.1.bn2.running_var"), "{e}");
    let wrong = tmp.path().join("resnet18-wrong.pth");
    write_checkpoint(&py, &wrong, "resnet18", &["--wrong-shape", "layer2.0.conv1.weight"]);
    let e = format!("{:#}", pretrained::load_trunk(&mut r18(), &wrong).unwrap_err());
    assert!(e.contains("resnet18-wrong.pth") && e.contains("layer2.0.conv1.weight") && e.contains("[64, 128, 3, 3]") && e.contains("[128, 64, 3, 3]"), "{e}");
}
