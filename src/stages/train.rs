//! `kind: train` — Algorithm 1 of the paper (docs/ALGORITHM.md) on a `prepare` stage's output.
//!
//! Inputs: `data` (required: a prepare stage), `pretrained` (optional: trunk weights by
//! torchvision's names — torchvision's `torch.save` checkpoint as downloaded, a safetensors file,
//! or another train stage whose `model.safetensors` is used, e.g. a trunk trained on a pretext
//! task; `head.*` and `fc.*` tensors of the source are ignored and the heads start fresh; see
//! `model::pretrained`).
//!
//! Parameters (`with:`; every one optional; a `preset` fills defaults that explicit values override):
//! - `preset`: `none` (default) | `paper_celeba` | `paper_market` | `release`. All use the paper's
//!   CelebA settings below; the three paper presets add the release's classifier rules
//!   (`head_init: xavier`, `head_bias_lr_mult: 2`, `head_bias_decay_mult: 0`); `paper_market` sets
//!   `iterations: 20000`, `milestones: [10000, 15000]`; `release` (the authors' code) sets
//!   `dropout: 0`, `hidden: 0`.
//! - `model`: `resnet50` (default, the paper's trunk) | `resnet18` | `small_cnn` (CPU runs) |
//!   `strided_cnn` (`small_cnn` behind a stride-4 stem: 224×224 inputs on a CPU).
//! - `freeze_bn`: `true` (default, as the release): BN always uses its stored statistics.
//!   `bn_affine`: `trained` (default: γ and β still train, as the release's Scale layers) | `frozen`.
//!   Frozen BN without a `pretrained` input is refused at load time (the statistics would be the
//!   identity) unless `from_scratch: true` (default false) says so on purpose.
//! - `head_init`: `pytorch` (`none`: U(±1/√fan_in) weights and biases) | `xavier` (Caffe's filler,
//!   U(±√(3/fan_in)), bias 0); `head_bias_lr_mult` (1 | 2), `head_bias_decay_mult` (1 | 0): the
//!   head biases' learning-rate and weight-decay multipliers.
//! - `dropout`: 0.5 (default, the paper); `hidden`: 0 (default: one FC from the pooled features to
//!   the outputs; N > 0 inserts FC(N)+ReLU before the dropout and the output FC).
//! - `loss`: `square` (default, ½(ψ−L)² on ±1 labels) | `bce` | `hinge` for binary tasks;
//!   `multiclass_loss`: `square` (default, ±1 one-hot) | `ce` for C-way tasks.
//! - `weighting`: `equal` (default, the basic model) | `{method: validation_loss_trend, k: 200,
//!   tau: 0, class_scale: mean}` (`class_scale: mean|sum`: a C-way task's square-loss validation
//!   loss divided by C, or not, before Algorithm 2 sees it) | `{method: dwa, epoch: 200,
//!   temperature: 2, losses: train|val}` (an "epoch" is a window of `epoch` iterations) |
//!   `{method: uncertainty, init: -0.5}` | `rlw` | `gls` | the gradient-based `mgda`, `pcgrad`,
//!   `cagrad`, `gradnorm`, `imtl`, `nash_mtl`, `aligned_mtl` (each with `mode: parameters|
//!   representation`) and `famo` (parameters and defaults: docs/STAGES.md, `train::gradient`).
//!   A bare name takes the method's defaults.
//! - `tasks`: a task name or a list of names to train on (default: all). One task = one of the
//!   paper's Separate models (use `foreach` over the tasks).
//! - `iterations`: 130000; `lr`: 1e-4; `milestones`: [70000, 100000, 120000]; `gamma`: 0.1 (lr of
//!   iteration t is lr·γ^|{m : t > m}|); `momentum`: 0.9; `weight_decay`: 5e-4.
//! - `batch_train`: 10, `batch_val`: 10 — images drawn with replacement per iteration.
//! - `val_every`: 1 — evaluate the validation batch every n-th iteration only (and the first);
//!   the others log `val_loss` as null. Only for methods that do not read v (refused with
//!   `validation_loss_trend` and `dwa` on `losses: val`); the training batches do not change.
//! - `seed`: 0 — network init, sampling, dropout, RLW draws and PCGrad's orders.
//! - `checkpoint_every`: 1000 iterations (0 = never); checkpoints go to the stage's scratch
//!   directory and a re-run resumes from the newest one, ending bit-identical on CPU.
//! - `train_split`: `train`, `val_split`: `val` — the prepared splits sampled from.
//! - `device`: `auto` (CUDA when the stage has `resources.gpus` and CUDA is available) | `cpu` |
//!   `cuda`; `precision`: `fp32` | `bf16` (mixed: bf16 convolutions, fp32 weights, heads, losses);
//!   `channels_last`: false.
//!
//! Outputs: `model.safetensors`, `model.json`, `train_log.parquet` + `.csv` (iteration, task,
//! train_loss, val_loss, lambda, lr), `train_summary.json` (method, parameters, seed, iterations,
//! final λ, warnings, and `timing`: wall seconds and images/s of this run). Everything except
//! `timing` is deterministic: a resumed run ends byte-identical to an uninterrupted one.

use super::{InputSlot, ParamError, Resources, StageContext, StageKind};
use crate::train::config::DeviceChoice;
use crate::train::TrainConfig;

pub struct Train;

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[
            InputSlot { name: "data", required: true, many: false },
            InputSlot { name: "pretrained", required: false, many: false },
        ]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        let cfg = TrainConfig::from_with(with)?;
        serde_json::to_value(&cfg).map_err(|e| ParamError::new(&[], e.to_string()))
    }
    fn check_inputs(&self, params: &serde_json::Value, given: &[&str]) -> Result<(), (String, String)> {
        match serde_json::from_value::<TrainConfig>(params.clone()) {
            Ok(cfg) => cfg.check_pretrained(given.contains(&"pretrained")),
            Err(_) => Ok(()),
        }
    }
    fn default_resources(&self, params: &serde_json::Value) -> Resources {
        let cuda = serde_json::from_value::<TrainConfig>(params.clone()).map(|c| c.device == DeviceChoice::Cuda).unwrap_or(false);
        Resources { cpus: 2, gpus: usize::from(cuda), ..Resources::default() }
    }
    fn volatile_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[("train_summary.json", "timing")]
    }
    /// Training needs libtorch: it runs in `awmt-worker` (`awmt_torch::stages::train`), never in
    /// the `awmt` front end.
    fn run(&self, _ctx: &StageContext) -> anyhow::Result<()> {
        super::needs_worker("train")
    }
}
