//! Training-step throughput of awmt's training components (the same per-iteration work as the
//! `train` stage: a no-grad forward of the validation half, a forward + backward of the training
//! half with the per-task square loss, an SGD step with momentum and weight decay).
//!
//! Usage: `train_step <resnet18|resnet50|small_cnn> <size> <steps> <threads> [--device=cuda]
//! [--precision=bf16] [--channels-last] [--weighting=NAME] [--mode=parameters|representation]`
//! (`--weighting`: any `weighting:` method with its defaults, e.g. `pcgrad`; `--mode`: a gradient
//! method's mode); prints one JSON line
//! `{"impl":"awmt","model",..,"images_per_second"}`. Run through `benches/train_bench.sh` (CPU)
//! or `benches/gpu_bench.sh` (CUDA), which run the PyTorch reference with the same shapes beside it.

use std::time::Instant;

use awmt::data::tasks::{LabelTable, Task, TaskSet};
use awmt_torch::model::{Net, NetConfig, Trunk};
use awmt_torch::train::losses::{BatchLabels, BinaryLoss, LossConfig, MulticlassLoss, TaskLayout};
use awmt_torch::train::sgd::Sgd;
use awmt_torch::train::gradient;
use awmt_torch::train::weighting::{BuildWeighting, WeightingSpec};
use tch::{Device, Kind, Tensor};

const TASKS: usize = 40;
const BATCH: usize = 10;
const WARMUP: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if args.len() < 4 {
        eprintln!("usage: train_step <resnet18|resnet50|small_cnn> <size> <steps> <threads>");
        std::process::exit(2);
    }
    let trunk = match args[0].as_str() {
        "resnet18" => Trunk::Resnet18,
        "resnet50" => Trunk::Resnet50,
        "small_cnn" => Trunk::SmallCnn,
        other => {
            eprintln!("unknown model {other}");
            std::process::exit(2);
        }
    };
    let size: i64 = args[1].parse().expect("size");
    let steps: usize = args[2].parse().expect("steps");
    let threads: i32 = args[3].parse().expect("threads");
    let flags: Vec<String> = std::env::args().skip(1).filter(|a| a.starts_with("--") && a != "--bench").collect();
    let (mut cuda, mut bf16, mut channels_last) = (false, false, false);
    let (mut method, mut mode) = ("equal".to_string(), None::<String>);
    for f in &flags {
        if let Some(m) = f.strip_prefix("--weighting=") {
            method = m.to_string();
            continue;
        }
        if let Some(m) = f.strip_prefix("--mode=") {
            mode = Some(m.to_string());
            continue;
        }
        match f.as_str() {
            "--device=cuda" => cuda = true,
            "--device=cpu" => cuda = false,
            "--precision=bf16" => bf16 = true,
            "--precision=fp32" => bf16 = false,
            "--channels-last" => channels_last = true,
            other => {
                eprintln!("unknown flag {other} (--device=cpu|cuda, --precision=fp32|bf16, --channels-last)");
                std::process::exit(2);
            }
        }
    }
    tch::set_num_threads(threads);
    let device = if cuda {
        if !awmt_torch::torch_env::load_cuda_backend() || !tch::Cuda::is_available() {
            eprintln!("--device=cuda: CUDA is not available to libtorch here");
            std::process::exit(2);
        }
        Device::Cuda(0)
    } else {
        Device::Cpu
    };

    let tasks = TaskSet {
        format: "celeba".into(),
        source: "synthetic".into(),
        root: String::new(),
        tasks: (0..TASKS).map(|j| Task::binary(&format!("t{j}"))).collect(),
    };
    let layout = TaskLayout::new(&tasks);
    let table = LabelTable {
        images: (0..2 * BATCH).map(|i| i.to_string()).collect(),
        identities: (0..2 * BATCH as i64).collect(),
        labels: (0..TASKS).map(|j| (0..2 * BATCH).map(|i| Some(if (i + j) % 3 == 0 { 1 } else { -1 })).collect()).collect(),
    };
    let train_rows: Vec<usize> = (0..BATCH).collect();
    let val_rows: Vec<usize> = (BATCH..2 * BATCH).collect();
    let loss = LossConfig { binary: BinaryLoss::Square, multiclass: MulticlassLoss::Square };

    // The release configuration: frozen BN, single FC, no dropout.
    let mut net = Net::new(&NetConfig { trunk, frozen_bn: true, dropout: 0.0, hidden: 0, outputs: TASKS as i64 }, device, 0);
    if bf16 {
        net.set_compute_kind(Kind::BFloat16);
    }
    if channels_last {
        net.set_channels_last();
    }
    let mut spec = serde_json::json!({ "method": method });
    if let Some(m) = &mode {
        spec["mode"] = serde_json::json!(m);
    }
    let spec = WeightingSpec::from_value(spec).unwrap_or_else(|e| {
        eprintln!("--weighting/--mode: {e}");
        std::process::exit(2);
    });
    let mut weighting = spec.build(TASKS, 0, device);
    let params = net.store.trained().into_iter().map(|(n, t)| (n, t, 5e-4)).collect();
    let mut sgd = Sgd::new(params, 0.9);
    let x_train = Tensor::randn([BATCH as i64, 3, size, size], (Kind::Float, device));
    let x_val = Tensor::randn([BATCH as i64, 3, size, size], (Kind::Float, device));

    let mut step = |t: u64| {
        let val_labels = BatchLabels::gather(&layout, &table, &val_rows, device);
        let v = tch::no_grad(|| loss.task_loss_sums(&layout, &net.forward(&x_val, None), &val_labels));
        let v: Vec<f64> = Vec::<f64>::try_from(v.to_kind(Kind::Double)).unwrap();
        let train_labels = BatchLabels::gather(&layout, &table, &train_rows, device);
        let grad_mode = weighting.as_gradient().map(|g| g.mode());
        let fwd = gradient::backward::forward(&net, &x_train, t, grad_mode);
        let losses = loss.task_loss_sums(&layout, &fwd.outputs, &train_labels) * (1.0 / BATCH as f64);
        let l: Vec<f64> = Vec::<f64>::try_from(losses.to_kind(Kind::Double)).unwrap();
        let lambda = weighting.weights(t, &l, &v);
        if let Some(g) = weighting.as_gradient() {
            gradient::backward::backward(g, &net, &fwd, &losses, &l, t, 1e-4).expect("a finite direction");
        } else {
            weighting.objective(&losses, &lambda).backward();
        }
        sgd.step(1e-4);
        if weighting.needs_losses_after_step() {
            let after = tch::no_grad(|| loss.task_loss_sums(&layout, &net.forward(&x_train, Some(t)), &train_labels)) * (1.0 / BATCH as f64);
            weighting.after_step(&Vec::<f64>::try_from(after.to_kind(Kind::Double)).unwrap());
        }
    };
    for t in 0..WARMUP {
        step(t as u64 + 1);
    }
    if cuda {
        tch::Cuda::synchronize(0);
    }
    let start = Instant::now();
    for t in 0..steps {
        step((WARMUP + t) as u64 + 1);
    }
    if cuda {
        tch::Cuda::synchronize(0);
    }
    let secs = start.elapsed().as_secs_f64();
    let ips = (steps * 2 * BATCH) as f64 / secs;
    println!(
        "{{\"impl\":\"awmt\",\"weighting\":\"{}\",\"mode\":\"{}\",\"model\":\"{}\",\"size\":{size},\"threads\":{threads},\"steps\":{steps},\"device\":\"{}\",\"precision\":\"{}\",\"channels_last\":{channels_last},\"seconds\":{secs:.3},\"images_per_second\":{ips:.3}}}",
        spec.method(),
        mode.as_deref().unwrap_or(""),
        trunk.name(),
        if cuda { "cuda" } else { "cpu" },
        if bf16 { "bf16" } else { "fp32" }
    );
}
