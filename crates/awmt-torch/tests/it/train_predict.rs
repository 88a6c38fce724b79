//! `predict` rebuilds a trained network from model.json + model.safetensors and scores a split;
//! the `train` stage kind validates its parameters and runs through the StageKind interface;
//! pretrained torchvision-named weights load by name.

use crate::train_support;

use std::collections::BTreeMap;

use awmt_torch::model::{pretrained, InitOptions, LinearInit, Net, NetConfig, Trunk};
use awmt::stages::{InputItem, StageContext};
use awmt_torch::train::predict::predict;

#[test]
fn stage_run_then_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [60, 30, 13], 4);
    let kind = awmt::stages::find("train").expect("train kind registered");
    let with = serde_json::json!({"model": "small_cnn", "iterations": 20, "lr": 0.02, "milestones": [], "device": "cpu",
        "weighting": {"method": "validation_loss_trend", "k": 5}, "checkpoint_every": 7, "from_scratch": true});
    let params = kind.check_params(&with).unwrap();
    assert_eq!(params["iterations"], 20);
    assert_eq!(params["batch_train"], 10);
    assert_eq!(kind.check_params(&params).unwrap(), params, "canonical parameters are a fixed point");
    let bad = kind.check_params(&serde_json::json!({"weighting": {"method": "validation_loss_trend", "k": 0}})).unwrap_err();
    assert_eq!(bad.path, vec!["weighting"]);

    let out = tmp.path().join("out");
    let inputs = vec![("data", vec![InputItem { path: data.clone(), stage: Some("prep".into()) }])];
    awmt_torch::stages::run(&StageContext::standalone("train", "awmt", &params, inputs, &out).unwrap()).unwrap();

    let rows = predict(&out, &data, "test", 0.0, 1).unwrap();
    assert_eq!(rows.len(), 13 * 4);
    let table = awmt::data::tasks::LabelTable::read(&awmt::data::tasks::TaskSet::load(&data).unwrap(), &data, "test").unwrap();
    for (i, chunk) in rows.chunks(4).enumerate() {
        let names: Vec<&str> = chunk.iter().map(|r| r.task.as_str()).collect();
        assert_eq!(names, ["Bright_Top", "Reddish", "Left_Heavy", "Spot"]);
        for r in chunk {
            assert_eq!(r.image, table.images[i]);
        }
        for r in &chunk[..3] {
            assert_eq!(r.prediction, if r.score > 0.0 { 1 } else { -1 });
        }
        assert!((0..4).contains(&chunk[3].prediction));
    }
    // Masked labels come back as None (row 3 of each split masks `Reddish`).
    assert_eq!(rows[3 * 4 + 1].label, None);
    assert_eq!(rows[0].label, table.labels[0][0].map(i64::from));
    // τ moves the binary decisions.
    let high = predict(&out, &data, "test", 1e9, 1).unwrap();
    assert!(high.iter().filter(|r| r.task != "Spot").all(|r| r.prediction == -1));
    // Wrong split / wrong size errors name the problem.
    let e = predict(&out, &data, "nope", 0.0, 1).unwrap_err();
    assert!(format!("{e:#}").contains("nope"));
}

#[test]
fn torchvision_named_weights_load_into_the_trunk() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = NetConfig { trunk: Trunk::Resnet18, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 3 };
    let source = Net::new(&cfg, tch::Device::Cpu, 1);
    // A torchvision state dict: trunk names, its own `fc`, and `num_batches_tracked` counters.
    let mut named: Vec<(String, tch::Tensor)> =
        source.store.named().into_iter().filter(|(n, _)| !n.starts_with("head.")).collect();
    assert!(named.iter().any(|(n, _)| n == "layer2.0.downsample.0.weight"));
    assert!(named.iter().any(|(n, _)| n == "layer4.1.bn2.running_var"));
    named.push(("fc.weight".into(), tch::Tensor::zeros([1000, 512], (tch::Kind::Float, tch::Device::Cpu))));
    named.push(("bn1.num_batches_tracked".into(), tch::Tensor::from_slice(&[7i64])));
    let file = tmp.path().join("resnet18.safetensors");
    tch::Tensor::write_safetensors(&named, &file).unwrap();

    let mut target = Net::new(&cfg, tch::Device::Cpu, 2);
    let n = pretrained::load_trunk(&mut target, &file).unwrap();
    assert_eq!(n, named.len() - 2);
    let src: BTreeMap<String, tch::Tensor> = source.store.named().into_iter().collect();
    for (name, t) in target.store.named() {
        if !name.starts_with("head.") {
            assert!(t.equal(&src[&name]), "{name} not loaded");
        }
    }
    // A ResNet-50 trunk cannot take ResNet-18 weights; the error names the file.
    let mut wrong = Net::new(&NetConfig { trunk: Trunk::Resnet50, ..cfg.clone() }, tch::Device::Cpu, 0);
    let e = pretrained::load_trunk(&mut wrong, &file).unwrap_err();
    assert!(format!("{e:#}").contains("resnet18.safetensors"), "{e:#}");
    let garbage = tmp.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a file").unwrap();
    assert!(pretrained::load_trunk(&mut target, &garbage).is_err());
}

#[test]
fn resnet_trunks_give_one_output_per_binary_task_and_c_per_multiclass() {
    for trunk in [Trunk::SmallCnn, Trunk::Resnet18, Trunk::Resnet50] {
        let net = Net::new(&NetConfig { trunk, frozen_bn: true, dropout: 0.5, hidden: 8, outputs: 7 }, tch::Device::Cpu, 0);
        let x = tch::Tensor::randn([2, 3, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
        let y = tch::no_grad(|| net.forward(&x, None));
        assert_eq!(y.size(), vec![2, 7]);
        // Dropout masks are a function of the seed; eval mode has none.
        let (d1, d1b, d2) = tch::no_grad(|| (net.forward(&x, Some(1)), net.forward(&x, Some(1)), net.forward(&x, Some(2))));
        assert!(d1.equal(&d1b) && !d1.equal(&d2) && !d1.equal(&y));
        // Frozen BN (Net::new's default options): no BN tensor is trained.
        assert!(net.store.trained().iter().all(|(n, _)| !n.contains("bn") && !n.contains("downsample.1")));
        // Frozen statistics with trained γ and β (the release's Scale layers, `bn_affine: trained`).
        let cfg = NetConfig { trunk, frozen_bn: true, dropout: 0.5, hidden: 8, outputs: 7 };
        let scale = Net::with_init(&cfg, InitOptions { train_bn_affine: true, ..InitOptions::default() }, tch::Device::Cpu, 0);
        let trained = scale.store.trained();
        assert!(trained.iter().all(|(n, _)| !n.contains("running_")));
        assert!(trained.iter().any(|(n, _)| n == "bn1.weight") && trained.iter().any(|(n, _)| n == "bn1.bias"));
    }
    let p50 = Net::new(&NetConfig { trunk: Trunk::Resnet50, frozen_bn: false, dropout: 0.0, hidden: 0, outputs: 40 }, tch::Device::Cpu, 0);
    let count: i64 = p50.store.trained().iter().map(|(_, t)| t.numel() as i64).sum();
    // torchvision ResNet-50 has 25,557,032 parameters with a 1000-way fc (2048·1000 + 1000).
    assert_eq!(count, 25_557_032 - 2_049_000 + 2048 * 40 + 40);
}

#[test]
fn xavier_head_init_is_caffes_fan_in_rule_with_zero_bias() {
    let cfg = NetConfig { trunk: Trunk::SmallCnn, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 40 };
    let net = Net::with_init(&cfg, InitOptions { head_init: LinearInit::Xavier, ..InitOptions::default() }, tch::Device::Cpu, 3);
    let named: BTreeMap<String, tch::Tensor> = net.store.named().into_iter().collect();
    // Caffe's XavierFiller (variance_norm FAN_IN): U(±√(3/fan_in)), fan_in = 128 features.
    let bound = (3.0f64 / 128.0).sqrt();
    let w = Vec::<f32>::try_from(named["head.fc.weight"].reshape([-1])).unwrap();
    assert!(w.iter().all(|v| (v.abs() as f64) <= bound));
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    assert!(max > 0.9 * bound, "{max} should come close to the bound {bound}");
    assert!(named["head.fc.bias"].equal(&tch::Tensor::zeros([40], (tch::Kind::Float, tch::Device::Cpu))));
    // PyTorch's rule: U(±1/√fan_in) for weights and biases.
    let torch = Net::new(&cfg, tch::Device::Cpu, 3);
    let b = Vec::<f32>::try_from(torch.store.named().into_iter().find(|(n, _)| n == "head.fc.bias").unwrap().1).unwrap();
    assert!(b.iter().all(|v| (v.abs() as f64) <= 1.0 / 128f64.sqrt()) && b.iter().any(|v| *v != 0.0));
}

#[test]
fn bf16_mixed_precision_and_channels_last_run_on_cpu() {
    let mut net = Net::new(&NetConfig { trunk: Trunk::SmallCnn, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: 2 }, tch::Device::Cpu, 0);
    let x = tch::Tensor::randn([2, 3, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
    let fp32 = tch::no_grad(|| net.forward(&x, None));
    net.set_channels_last();
    let cl = tch::no_grad(|| net.forward(&x, None));
    assert!(fp32.allclose(&cl, 1e-4, 1e-5, false));
    net.set_compute_kind(tch::Kind::BFloat16);
    let y = net.forward(&x, Some(3));
    assert_eq!(y.kind(), tch::Kind::Float);
    y.sum(tch::Kind::Float).backward();
    let (_, w) = &net.store.trained()[0];
    assert_eq!(w.grad().kind(), tch::Kind::Float);
}

#[test]
fn a_task_subset_trains_a_separate_model() {
    use awmt_torch::train::{train, RunOptions, RunPaths};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::write_prepared(&data, 16, [30, 15, 6], 9);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let opts = RunOptions { threads: 1, gpus: 0, stop_after: None };
    let cfg = train_support::small_config(serde_json::json!({"iterations": 3, "tasks": "Spot", "multiclass_loss": "ce"}));
    train(&cfg, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &tmp.path().join("s") }, &opts).unwrap();
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(info["net"]["outputs"], 4);
    let rows = predict(&out, &data, "test", 0.0, 1).unwrap();
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.task == "Spot"));
    let log = train_support::read_log(&out);
    assert_eq!(log.len(), 3);

    let bad = train_support::small_config(serde_json::json!({"iterations": 3, "tasks": ["Smiling"]}));
    let err = train(&bad, &RunPaths { data: &data, pretrained: None, out: &out, scratch: &tmp.path().join("s2") }, &opts).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("Smiling") && msg.contains("Bright_Top"), "{msg}");
}

#[test]
fn the_release_trains_the_classifier_bias_at_twice_the_rate_without_decay() {
    use awmt_torch::train::algorithm::param_groups;
    use awmt_torch::train::sgd::Sgd;
    let cfg = train_support::small_config(serde_json::json!({"preset": "paper_celeba", "weight_decay": 0.01}));
    let init = InitOptions { train_bn_affine: true, ..InitOptions::default() };
    let net = Net::with_init(&NetConfig { trunk: Trunk::SmallCnn, frozen_bn: true, dropout: 0.0, hidden: 6, outputs: 3 }, init, tch::Device::Cpu, 0);
    let groups = param_groups(&cfg, &net, Vec::new());
    let by_name: BTreeMap<&str, (f64, f64)> = groups.iter().map(|(n, _, d, m)| (n.as_str(), (*d, *m))).collect();
    for bias in ["model/head.fc.bias", "model/head.hidden.bias"] {
        assert_eq!(by_name[bias], (0.0, 2.0), "{bias}");
    }
    for other in ["model/head.fc.weight", "model/conv1.weight", "model/bn1.weight", "model/bn1.bias"] {
        assert_eq!(by_name[other], (0.01, 1.0), "{other}");
    }
    assert!(!by_name.contains_key("model/bn1.running_mean"));
    // `preset: none`: one rate and decay for every tensor.
    let plain = train_support::small_config(serde_json::json!({"weight_decay": 0.01}));
    assert!(param_groups(&plain, &net, Vec::new()).iter().all(|(_, _, d, m)| (*d, *m) == (0.01, 1.0)));

    // SGD applies the multiplier: the same gradient moves a ×2 tensor twice as far.
    let a = tch::Tensor::from_slice(&[1.0f32, 2.0]).set_requires_grad(true);
    let b = tch::Tensor::from_slice(&[1.0f32, 2.0]).set_requires_grad(true);
    let mut sgd = Sgd::with_lr_mults(vec![("a".into(), a.shallow_clone(), 0.0, 1.0), ("b".into(), b.shallow_clone(), 0.0, 2.0)], 0.9);
    (a.sum(tch::Kind::Float) + b.sum(tch::Kind::Float)).backward();
    sgd.step(0.25);
    assert_eq!(Vec::<f32>::try_from(a.detach()).unwrap(), vec![0.75, 1.75]);
    assert_eq!(Vec::<f32>::try_from(b.detach()).unwrap(), vec![0.5, 1.5]);
}
