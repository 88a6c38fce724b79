//! Algorithm 1 (docs/ALGORITHM.md): per iteration, sample training and validation images with
//! replacement, record the validation loss v_t without gradient, let the weighting method set λ,
//! back-propagate the weighted training loss only, take an SGD step; checkpoint and resume; write
//! the model, the per-iteration log and the summary.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use tch::{Device, Kind, Tensor};

use super::checkpoint::{self, Meta};
use super::gradient;
use super::config::{BnAffine, DeviceChoice, HeadInit, Precision, TrainConfig};
use super::log::TrainLog;
use super::losses::{BatchLabels, LossConfig, MulticlassLoss, TaskLayout};
use super::model_file::ModelInfo;
use super::progress::Progress;
use awmt::rng::{derive_seed, Rng};
use super::sgd::Sgd;
use super::weighting::{BuildWeighting, WeightingSpec, WeightingState};
use awmt::data::prepared::PreparedSplit;
use crate::data::ImageBatch;
use awmt::data::tasks::{LabelTable, TaskSet, TaskType};
use crate::model::{pretrained, InitOptions, LinearInit, Net, NetConfig};

/// Stream tags of the run's random streams.
const SAMPLER_STREAM: u64 = 0x5341_4d50;
const DROPOUT_STREAM: u64 = 0x4452_4f50;
const INIT_STREAM: u64 = 0x494e_4954;

/// Where a run reads and writes.
pub struct RunPaths<'a> {
    /// A `prepare` stage output.
    pub data: &'a Path,
    /// Optional trunk weights: a torchvision-named file or a train stage's output directory.
    pub pretrained: Option<&'a Path>,
    pub out: &'a Path,
    /// Checkpoints live here; it survives a killed attempt.
    pub scratch: &'a Path,
}

/// How a run executes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub threads: usize,
    pub gpus: usize,
    /// Stop (as if killed) right after this iteration, without writing outputs. For tests.
    pub stop_after: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Stopped { at: u64 },
}

/// The torch device a run uses.
pub fn pick_device(choice: DeviceChoice, gpus: usize) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto if gpus > 0 && tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Auto => Ok(Device::Cpu),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => bail!("device: cuda was asked for but CUDA is not available to libtorch on this machine"),
    }
}

/// One split of the data: images and labels.
struct SplitData {
    images: PreparedSplit,
    labels: LabelTable,
}

fn open_split(data: &Path, tasks: &TaskSet, split: &str) -> Result<SplitData> {
    let images = PreparedSplit::open(data, split)?;
    let labels = LabelTable::read(tasks, data, split)?;
    if labels.len() != images.len {
        bail!(
            "{}: `{split}` has {} label rows but {} prepared images; re-run the prepare stage",
            data.display(),
            labels.len(),
            images.len
        );
    }
    if images.len == 0 {
        bail!("{}: split `{split}` has no images to sample from", data.display());
    }
    Ok(SplitData { images, labels })
}

/// Values of a 1-D tensor as f64.
fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1])).unwrap_or_default()
}

/// The task set a config trains on.
pub fn task_set(cfg: &TrainConfig, data: &Path) -> Result<TaskSet> {
    let all = TaskSet::load(data)?;
    match &cfg.tasks {
        Some(names) => all.subset(names).with_context(|| format!("{}: parameter `tasks`", data.display())),
        None => Ok(all),
    }
}

/// The fingerprint that ties a checkpoint to its parameters.
pub fn fingerprint(cfg: &TrainConfig) -> String {
    let text = serde_json::to_string(cfg).unwrap_or_default();
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

fn state_tensors(state: &WeightingState) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (k, v) in &state.floats {
        out.push((format!("weighting/f/{k}"), Tensor::from_slice(v)));
    }
    for (k, v) in &state.words {
        let as_i64: Vec<i64> = v.iter().map(|w| *w as i64).collect();
        out.push((format!("weighting/w/{k}"), Tensor::from_slice(&as_i64)));
    }
    out
}

fn state_from_tensors(named: &HashMap<String, Tensor>) -> Result<WeightingState> {
    let mut s = WeightingState::default();
    for (name, t) in named {
        if let Some(k) = name.strip_prefix("weighting/f/") {
            s.floats.insert(k.to_string(), Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1]))?);
        } else if let Some(k) = name.strip_prefix("weighting/w/") {
            let v = Vec::<i64>::try_from(t.reshape([-1]))?;
            s.words.insert(k.to_string(), v.into_iter().map(|w| w as u64).collect());
        }
    }
    Ok(s)
}

/// Every trained tensor with its weight decay and learning-rate multiplier: the head's biases take
/// `head_bias_lr_mult` and `head_bias_decay_mult` (the release: 2 and 0), everything else the base
/// rate and `weight_decay`; a weighting method's own parameters have no decay.
pub fn param_groups(cfg: &TrainConfig, net: &Net, weighting: Vec<(String, Tensor)>) -> Vec<(String, Tensor, f64, f64)> {
    let mut groups: Vec<(String, Tensor, f64, f64)> = net
        .store
        .trained()
        .into_iter()
        .map(|(n, t)| {
            let head_bias = n.starts_with("head.") && n.ends_with(".bias");
            let (decay, mult) =
                if head_bias { (cfg.weight_decay * cfg.head_bias_decay_mult, cfg.head_bias_lr_mult) } else { (cfg.weight_decay, 1.0) };
            (format!("model/{n}"), t, decay, mult)
        })
        .collect();
    groups.extend(weighting.into_iter().map(|(n, t)| (format!("weighting/p/{n}"), t, 0.0, 1.0)));
    groups
}

/// Runs (or resumes) a training run to completion and writes its outputs.
pub fn train(cfg: &TrainConfig, paths: &RunPaths, opts: &RunOptions) -> Result<Outcome> {
    tch::set_num_threads(opts.threads.max(1) as i32);
    let device = pick_device(cfg.device, opts.gpus)?;
    let tasks = task_set(cfg, paths.data)?;
    let train_data = open_split(paths.data, &tasks, &cfg.train_split)?;
    let val_data = open_split(paths.data, &tasks, &cfg.val_split)?;
    let info = &train_data.images.info;
    if val_data.images.info.height != info.height || val_data.images.info.width != info.width {
        bail!("{}: the train and validation splits have different image sizes", paths.data.display());
    }
    let layout = TaskLayout::new(&tasks);
    let m = layout.tasks();
    let loss_cfg = LossConfig { binary: cfg.loss, multiclass: cfg.multiclass_loss };
    let val_factors = loss_cfg.validation_factors(&layout);
    let task_names: Vec<String> = tasks.tasks.iter().map(|t| t.name.clone()).collect();

    // Network (seeded init, then optional pretrained trunk).
    let net_cfg = NetConfig {
        trunk: cfg.model,
        frozen_bn: cfg.freeze_bn,
        dropout: cfg.dropout,
        hidden: cfg.hidden,
        outputs: layout.outputs as i64,
    };
    let init = InitOptions {
        train_bn_affine: cfg.bn_affine == BnAffine::Trained,
        head_init: match cfg.head_init {
            HeadInit::Pytorch => LinearInit::Pytorch,
            HeadInit::Xavier => LinearInit::Xavier,
        },
    };
    let mut net = Net::with_init(&net_cfg, init, device, derive_seed(cfg.seed, INIT_STREAM));
    let mut pretrained_tensors = 0;
    if let Some(p) = paths.pretrained {
        pretrained_tensors = pretrained::load_trunk(&mut net, p)?;
        eprintln!("train: loaded {pretrained_tensors} pretrained trunk tensors from {}", p.display());
    }
    if cfg.precision == Precision::Bf16 {
        net.set_compute_kind(Kind::BFloat16);
    }
    if cfg.channels_last {
        net.set_channels_last();
    }

    // How many outputs each task's validation loss sums over (for `class_scale`).
    let summed_outputs: Vec<usize> = layout
        .slots
        .iter()
        .map(|&(_, c, kind)| if kind == TaskType::Multiclass && cfg.multiclass_loss == MulticlassLoss::Square { c } else { 1 })
        .collect();
    let mut weighting = cfg.weighting.build_for(&summed_outputs, cfg.seed, device);
    let mut sgd = Sgd::with_lr_mults(param_groups(cfg, &net, weighting.parameters()), cfg.momentum);
    let mut rng = Rng::new(derive_seed(cfg.seed, SAMPLER_STREAM));
    let mut log = TrainLog::new(m);
    let mut warnings: Vec<String> = Vec::new();
    let fp = fingerprint(cfg);

    // Resume from the newest checkpoint of these parameters.
    let mut start = 1;
    if let Some(ck) = checkpoint::latest(paths.scratch, &fp)? {
        let model: Vec<(String, Tensor)> = ck
            .tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix("model/").map(|n| (n.to_string(), t.shallow_clone())))
            .collect();
        net.load_named(&model, &ck.origin)?;
        for (name, t) in weighting.parameters() {
            let key = format!("weighting/p/{name}");
            let src = ck.tensors.get(&key).with_context(|| format!("{}: `{key}` is missing", ck.origin))?;
            let mut t = t;
            tch::no_grad(|| t.copy_(&src.to_device(device)));
        }
        sgd.load_buffers(&ck.tensors, &ck.origin)?;
        weighting.load_state(&state_from_tensors(&ck.tensors)?).with_context(|| ck.origin.clone())?;
        let words = ck.tensors.get("sampler/rng").with_context(|| format!("{}: sampler state missing", ck.origin))?;
        let w = Vec::<i64>::try_from(words.reshape([-1]))?;
        if w.len() != 4 {
            bail!("{}: sampler state has {} words, expected 4", ck.origin, w.len());
        }
        rng = Rng::from_state([w[0] as u64, w[1] as u64, w[2] as u64, w[3] as u64]);
        log = TrainLog::from_tensors(m, &ck.tensors, &ck.origin)?;
        if log.len() as u64 != ck.meta.iteration {
            bail!("{}: the log holds {} iterations but the checkpoint says {}", ck.origin, log.len(), ck.meta.iteration);
        }
        warnings = ck.meta.warnings.clone();
        start = ck.meta.iteration + 1;
        eprintln!("train: resuming from {} (iteration {})", ck.origin, ck.meta.iteration);
    }

    let images_per_iteration = (cfg.batch_train + cfg.batch_val / cfg.val_every.max(1) as usize) as u64;
    let progress = Progress::new(cfg.iterations, start - 1, images_per_iteration);
    let inv_batch = 1.0 / cfg.batch_train as f64;
    let mut last_val = f64::NAN;
    for t in start..=cfg.iterations {
        // 1. Sample with replacement: training indices first, then validation indices.
        let train_idx = rng.indices_with_replacement(train_data.images.len, cfg.batch_train);
        let val_idx = rng.indices_with_replacement(val_data.images.len, cfg.batch_val);
        // Dropout masks are a function of (seed, t), so a resumed run draws the same masks.
        let dropout_seed = derive_seed(cfg.seed ^ DROPOUT_STREAM, t);

        // 2–3. Validation half: eval mode, no gradient; v_t[j] = Σ_i (ψ_j − L_ij)² (square loss).
        // With `val_every` > 1 (only for methods that do not read v) the batch is still drawn, so
        // the training batches are those of `val_every: 1`, but only every val_every-th iteration
        // (and the first) is evaluated; the others log v as missing (NaN here, null in the files).
        let measured = cfg.val_every <= 1 || t == 1 || t % cfg.val_every == 0;
        let v: Vec<f64> = if measured {
            let val_labels = BatchLabels::gather(&layout, &val_data.labels, &val_idx, device);
            tch::no_grad(|| {
                let out = net.forward(&val_data.images.batch(&val_idx), None);
                values(&loss_cfg.task_loss_sums(&layout, &out, &val_labels))
            })
            .iter()
            .zip(&val_factors)
            .map(|(s, f)| s * f)
            .collect()
        } else {
            vec![f64::NAN; m]
        };

        // Training half: L_j = (1/N_tr) Σ_i ℓ_ij.
        let train_labels = BatchLabels::gather(&layout, &train_data.labels, &train_idx, device);
        let grad_mode = weighting.as_gradient().map(|g| g.mode());
        let train_images = train_data.images.batch(&train_idx);
        let fwd = gradient::backward::forward(&net, &train_images, dropout_seed, grad_mode);
        let losses = loss_cfg.task_loss_sums(&layout, &fwd.outputs, &train_labels) * inv_batch;
        let train_values = values(&losses);
        for (j, name) in task_names.iter().enumerate() {
            if !train_values[j].is_finite() {
                bail!("iteration {t}: the training loss of task `{name}` is {}; training stopped", train_values[j]);
            }
            if measured && !v[j].is_finite() {
                bail!("iteration {t}: the validation loss of task `{name}` is {}; training stopped", v[j]);
            }
        }

        // 4–5. λ for this iteration's gradient.
        let lambda = weighting.weights(t, &train_values, &v);

        // 6–7. Back-propagate the training half only (a gradient method combines the per-task
        // gradients itself, and its effective λ is what is logged); SGD step.
        let lr = cfg.lr_at(t);
        let lambda = if let Some(method) = weighting.as_gradient() {
            gradient::backward::backward(method, &net, &fwd, &losses, &train_values, t, lr)?
        } else {
            let objective = weighting.objective(&losses, &lambda);
            let j_value = f64::try_from(&objective.detach().to_kind(Kind::Double).to_device(Device::Cpu)).unwrap_or(f64::NAN);
            if !j_value.is_finite() {
                bail!("iteration {t}: the weighted objective is {j_value} ({}); training stopped", cfg.weighting.method());
            }
            objective.backward();
            lambda
        };
        for w in weighting.take_warnings() {
            eprintln!("train: warning: {w}");
            warnings.push(w);
        }
        sgd.step(lr);
        if weighting.needs_losses_after_step() {
            // FAMO's paper variant: the same batch (and dropout masks) after the step.
            let after = tch::no_grad(|| loss_cfg.task_loss_sums(&layout, &net.forward(&train_images, Some(dropout_seed)), &train_labels)) * inv_batch;
            weighting.after_step(&values(&after));
        }
        log.push(&train_values, &v, &lambda, lr);

        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
        if measured {
            last_val = mean(&v);
        }
        progress.update(t, mean(&train_values), last_val);

        if cfg.checkpoint_every > 0 && t % cfg.checkpoint_every == 0 && t < cfg.iterations {
            let mut tensors: Vec<(String, Tensor)> =
                net.store.named().into_iter().map(|(n, t)| (format!("model/{n}"), t)).collect();
            tensors.extend(weighting.parameters().into_iter().map(|(n, t)| (format!("weighting/p/{n}"), t.detach())));
            tensors.extend(sgd.buffers());
            tensors.extend(state_tensors(&weighting.state()));
            let words: Vec<i64> = rng.state().iter().map(|w| *w as i64).collect();
            tensors.push(("sampler/rng".into(), Tensor::from_slice(&words)));
            tensors.extend(log.to_tensors());
            let meta = Meta { iteration: t, fingerprint: fp.clone(), warnings: warnings.clone() };
            checkpoint::save(paths.scratch, &meta, &tensors)?;
        }
        if opts.stop_after == Some(t) {
            progress.finish();
            return Ok(Outcome::Stopped { at: t });
        }
    }
    progress.finish();
    let done = cfg.iterations + 1 - start;
    let (wall_seconds, images_per_second) = (progress.seconds(), progress.images_per_second(cfg.iterations));
    let val_cadence = if cfg.val_every > 1 { format!(" every {} iterations", cfg.val_every) } else { " per iteration".into() };
    eprintln!(
        "train: {done} iterations in {:.1} s, {:.1} images/s ({} train per iteration + {} val{val_cadence}) on {:?}",
        progress.seconds(),
        progress.images_per_second(cfg.iterations),
        cfg.batch_train,
        cfg.batch_val,
        device
    );

    // Outputs: deterministic (no hosts or paths) except `timing` in train_summary.json.
    net.save(&paths.out.join(ModelInfo::WEIGHTS))?;
    let tau = match cfg.weighting {
        WeightingSpec::ValidationLossTrend { tau, .. } => tau,
        _ => 0.0,
    };
    ModelInfo {
        net: net_cfg,
        tasks: tasks.clone(),
        height: info.height,
        width: info.width,
        loss: cfg.loss,
        multiclass_loss: cfg.multiclass_loss,
        tau,
    }
    .save(paths.out)?;
    log.write(&task_names, paths.out)?;
    let final_lambda: serde_json::Map<String, serde_json::Value> = task_names
        .iter()
        .enumerate()
        .map(|(j, n)| (n.clone(), serde_json::json!(log.lambda[(log.len() - 1) * m + j])))
        .collect();
    let summary = serde_json::json!({
        "weighting": cfg.weighting,
        "seed": cfg.seed,
        "iterations": cfg.iterations,
        "model": cfg.model,
        "preset": cfg.preset,
        "source": tasks.source,
        "format": tasks.format,
        "tasks": task_names,
        "device": if device == Device::Cpu { "cpu" } else { "cuda" },
        "final_lambda": final_lambda,
        // How many trunk tensors came from the `pretrained` input (0: none given).
        "pretrained_tensors": pretrained_tensors,
        "warnings": warnings,
        "params": cfg,
        // Measured, so the one part of the outputs that differs between runs; a resumed run
        // times only the iterations it ran.
        "timing": {
            "wall_seconds": wall_seconds,
            "images_per_second": images_per_second,
            "iterations_timed": done,
            "images_per_iteration": images_per_iteration,
        },
    });
    let path = paths.out.join("train_summary.json");
    awmt::util::write_json(&path, &summary)?;
    Ok(Outcome::Finished)
}
