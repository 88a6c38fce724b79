//! The `train` stage's parameters: presets, defaults, validation and the resolved configuration
//! that goes into the cache key (every default filled in, so two spellings give one key).

use serde::{Deserialize, Deserializer, Serialize};

use super::losses::{BinaryLoss, MulticlassLoss};
use super::weighting::WeightingSpec;
use crate::model::Trunk;
use crate::params::ParamError;

/// Named bundles of settings from the paper and the authors' release (docs/ALGORITHM.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// No preset: `paper_celeba`'s network and schedule with PyTorch's conventions for the head
    /// (default init, one learning rate and weight decay for every trained tensor).
    None,
    /// ResNet-50, frozen BN statistics with trained γ/β, dropout 0.5, 130k iterations, lr 1e-4
    /// ×0.1 at 70k/100k/120k, and the release's classifier rules (Xavier weights, zero bias,
    /// bias lr ×2 without weight decay).
    PaperCeleba,
    /// As `paper_celeba` but 20k iterations, ×0.1 at 10k/15k (Market-1501 and Duke).
    PaperMarket,
    /// The authors' release: `paper_celeba` with no dropout and a single FC head.
    Release,
}

/// What happens to BN's scale and shift (γ, β) when its statistics are frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BnAffine {
    /// Trained, as the release's Scale layers are (lr ×1, weight decay ×1).
    Trained,
    /// Kept at their loaded values.
    Frozen,
}

/// How the head's fully connected layers are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadInit {
    /// `torch.nn.Linear`'s default: weights and biases uniform in ±1/√fan_in.
    Pytorch,
    /// Caffe's `xavier` filler (variance_norm FAN_IN): weights uniform in ±√(3/fan_in), bias 0.
    Xavier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA when the stage was granted a GPU (`resources.gpus`) and CUDA is available, else CPU.
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Fp32,
    /// Convolutions in bfloat16 with float32 master weights, heads and losses (mixed precision).
    Bf16,
}

/// The resolved parameters of a train stage (see the doc comment of `stages::train`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub preset: Preset,
    pub model: Trunk,
    pub freeze_bn: bool,
    pub bn_affine: BnAffine,
    /// Declares that a frozen-BN network without a `pretrained` input is intended.
    pub from_scratch: bool,
    pub head_init: HeadInit,
    /// Learning-rate and weight-decay multipliers of the head's biases.
    pub head_bias_lr_mult: f64,
    pub head_bias_decay_mult: f64,
    pub dropout: f64,
    pub hidden: i64,
    pub loss: BinaryLoss,
    pub multiclass_loss: MulticlassLoss,
    pub weighting: WeightingSpec,
    /// Task names to train on (in this order); None = every task of the data.
    pub tasks: Option<Vec<String>>,
    pub iterations: u64,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub milestones: Vec<u64>,
    pub gamma: f64,
    pub batch_train: usize,
    pub batch_val: usize,
    /// Iterations between validation forward passes (1 = every iteration, Algorithm 1). Left out
    /// of the key at 1, so keys from before this parameter stay valid.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub val_every: u64,
    pub seed: u64,
    /// Iterations between checkpoints; 0 = never.
    pub checkpoint_every: u64,
    pub train_split: String,
    pub val_split: String,
    pub device: DeviceChoice,
    pub precision: Precision,
    pub channels_last: bool,
}

/// What a user may write under `with:` (everything optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    preset: Option<Preset>,
    model: Option<Trunk>,
    freeze_bn: Option<bool>,
    bn_affine: Option<BnAffine>,
    from_scratch: Option<bool>,
    head_init: Option<HeadInit>,
    head_bias_lr_mult: Option<f64>,
    head_bias_decay_mult: Option<f64>,
    dropout: Option<f64>,
    hidden: Option<i64>,
    loss: Option<BinaryLoss>,
    multiclass_loss: Option<MulticlassLoss>,
    #[serde(default, deserialize_with = "weighting_name_or_map")]
    weighting: Option<WeightingSpec>,
    #[serde(default, deserialize_with = "task_name_or_list")]
    tasks: Option<Vec<String>>,
    iterations: Option<u64>,
    lr: Option<f64>,
    momentum: Option<f64>,
    weight_decay: Option<f64>,
    milestones: Option<Vec<u64>>,
    gamma: Option<f64>,
    batch_train: Option<usize>,
    batch_val: Option<usize>,
    val_every: Option<u64>,
    seed: Option<u64>,
    checkpoint_every: Option<u64>,
    train_split: Option<String>,
    val_split: Option<String>,
    device: Option<DeviceChoice>,
    precision: Option<Precision>,
    channels_last: Option<bool>,
}

fn one() -> u64 {
    1
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

fn weighting_name_or_map<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WeightingSpec>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    WeightingSpec::from_value(v).map(Some).map_err(serde::de::Error::custom)
}

fn task_name_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(vec![s])),
        other => serde_json::from_value::<Vec<String>>(other)
            .map(Some)
            .map_err(|_| serde::de::Error::custom("tasks must be a task name or a list of task names")),
    }
}

impl TrainConfig {
    /// The defaults of a preset.
    pub fn preset(preset: Preset) -> TrainConfig {
        let mut c = TrainConfig {
            preset,
            model: Trunk::Resnet50,
            freeze_bn: true,
            bn_affine: BnAffine::Trained,
            from_scratch: false,
            head_init: HeadInit::Pytorch,
            head_bias_lr_mult: 1.0,
            head_bias_decay_mult: 1.0,
            dropout: 0.5,
            hidden: 0,
            loss: BinaryLoss::Square,
            multiclass_loss: MulticlassLoss::Square,
            weighting: WeightingSpec::Equal,
            tasks: None,
            iterations: 130_000,
            lr: 1e-4,
            momentum: 0.9,
            weight_decay: 5e-4,
            milestones: vec![70_000, 100_000, 120_000],
            gamma: 0.1,
            batch_train: 10,
            batch_val: 10,
            val_every: 1,
            seed: 0,
            checkpoint_every: 1000,
            train_split: "train".into(),
            val_split: "val".into(),
            device: DeviceChoice::Auto,
            precision: Precision::Fp32,
            channels_last: false,
        };
        if preset != Preset::None {
            // The release's classifier (train_val.prototxt, `pred_attribute`): Xavier weights,
            // zero bias, bias at twice the learning rate and without weight decay.
            c.head_init = HeadInit::Xavier;
            c.head_bias_lr_mult = 2.0;
            c.head_bias_decay_mult = 0.0;
        }
        match preset {
            Preset::None | Preset::PaperCeleba => {}
            Preset::PaperMarket => {
                c.iterations = 20_000;
                c.milestones = vec![10_000, 15_000];
            }
            Preset::Release => {
                c.dropout = 0.0;
                c.hidden = 0;
            }
        }
        c
    }

    /// Parses `with:` (preset first, then explicit values) and validates it.
    pub fn from_with(with: &serde_json::Value) -> Result<TrainConfig, ParamError> {
        let raw: RawParams = crate::params::parse_params(with)?;
        let mut c = TrainConfig::preset(raw.preset.unwrap_or(Preset::None));
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = raw.$f { c.$f = v; } )* };
        }
        take!(model, freeze_bn, bn_affine, from_scratch, head_init, head_bias_lr_mult, head_bias_decay_mult);
        take!(dropout, hidden, loss, multiclass_loss, weighting, iterations, lr, momentum, weight_decay);
        take!(milestones, gamma, batch_train, batch_val, val_every, seed, checkpoint_every, train_split, val_split, device, precision, channels_last);
        c.tasks = raw.tasks;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ParamError> {
        let err = |key: &str, msg: &str| Err(ParamError::new(&[key], msg));
        if self.iterations == 0 {
            return err("iterations", "must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return err("lr", "must be a positive number");
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return err("momentum", "must be in [0, 1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return err("weight_decay", "must be a non-negative number");
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return err("gamma", "must be a positive number");
        }
        if self.milestones.iter().any(|&m| m == 0) || self.milestones.windows(2).any(|w| w[0] >= w[1]) {
            return err("milestones", "must be increasing iteration numbers ≥ 1, e.g. [70000, 100000, 120000]");
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return err("dropout", "must be in [0, 1)");
        }
        if !(self.head_bias_lr_mult.is_finite() && self.head_bias_lr_mult >= 0.0) {
            return err("head_bias_lr_mult", "must be a non-negative number (the release uses 2)");
        }
        if !(self.head_bias_decay_mult.is_finite() && self.head_bias_decay_mult >= 0.0) {
            return err("head_bias_decay_mult", "must be a non-negative number (the release uses 0)");
        }
        if self.hidden < 0 {
            return err("hidden", "must be 0 (a single FC layer) or a positive width");
        }
        if self.batch_train == 0 {
            return err("batch_train", "must be at least 1");
        }
        if self.batch_val == 0 {
            return err("batch_val", "must be at least 1");
        }
        if self.val_every == 0 {
            return err("val_every", "must be at least 1 (1 = a validation batch every iteration)");
        }
        if self.val_every > 1 && self.weighting.reads_validation_loss() {
            return err(
                "val_every",
                "must be 1 with this weighting method: it reads the validation loss of every iteration (Algorithm 1); leave `val_every` out",
            );
        }
        if let Some(tasks) = &self.tasks {
            if tasks.is_empty() {
                return err("tasks", "must name at least one task (leave it out to train on all)");
            }
            let mut seen = std::collections::BTreeSet::new();
            for t in tasks {
                if !seen.insert(t) {
                    return err("tasks", &format!("task `{t}` is named twice"));
                }
            }
        }
        if let Err(msg) = self.weighting.validate() {
            return Err(ParamError::new(&["weighting"], msg));
        }
        Ok(())
    }

    /// Checks the parameters against whether a `pretrained` input is given: frozen BN statistics
    /// that never saw data are the identity (mean 0, variance 1), so a frozen-BN network needs
    /// pretrained weights unless `from_scratch: true` says the user means it. Err: (what is
    /// wrong, what to do).
    pub fn check_pretrained(&self, has_pretrained: bool) -> Result<(), (String, String)> {
        if has_pretrained && self.from_scratch {
            return Err((
                "`from_scratch: true` contradicts the `pretrained` input".into(),
                "remove `from_scratch` to fine-tune from the weights, or the `pretrained` input to train from scratch".into(),
            ));
        }
        if self.freeze_bn && !has_pretrained && !self.from_scratch {
            return Err((
                format!(
                    "`model: {}` with frozen BN (`freeze_bn: true`, the default) needs pretrained weights: BN statistics that never saw data are the identity, so the network would train with no normalisation",
                    self.model.name()
                ),
                "give the weights as `inputs: {pretrained: <torchvision .pth, .safetensors, or a train stage>}` (README, \"Real data\"); \
                 or set `freeze_bn: false` to train BN from scratch; or set `from_scratch: true` to train frozen-BN from scratch on purpose"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The learning rate of iteration `t` (1-based): lr·γ^(number of milestones m with t > m),
    /// i.e. Caffe's multistep policy with 0-based iteration t−1 ≥ m.
    pub fn lr_at(&self, t: u64) -> f64 {
        let passed = self.milestones.iter().filter(|&&m| t > m).count();
        self.lr * self.gamma.powi(passed as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn val_every_is_refused_where_the_method_reads_v_and_left_out_of_the_key_at_1() {
        let plain = TrainConfig::from_with(&json!({"model": "small_cnn", "from_scratch": true})).unwrap();
        assert!(serde_json::to_value(&plain).unwrap().get("val_every").is_none(), "val_every: 1 must not change old keys");
        let sparse = TrainConfig::from_with(&json!({"val_every": 10})).unwrap();
        assert_eq!(serde_json::to_value(&sparse).unwrap()["val_every"], 10);
        for w in [json!("validation_loss_trend"), json!({"method": "dwa", "losses": "val"})] {
            let e = TrainConfig::from_with(&json!({"val_every": 10, "weighting": w})).unwrap_err();
            assert_eq!(e.path, vec!["val_every".to_string()], "{e:?}");
        }
        assert!(TrainConfig::from_with(&json!({"val_every": 10, "weighting": "dwa"})).is_ok());
        assert!(TrainConfig::from_with(&json!({"val_every": 0})).is_err());
    }

    #[test]
    fn presets_and_overrides() {
        let c = TrainConfig::from_with(&json!({"preset": "paper_market", "lr": 0.01})).unwrap();
        assert_eq!(c.iterations, 20_000);
        assert_eq!(c.milestones, vec![10_000, 15_000]);
        assert_eq!(c.lr, 0.01);
        let r = TrainConfig::from_with(&json!({"preset": "release"})).unwrap();
        assert_eq!((r.dropout, r.hidden, r.iterations), (0.0, 0, 130_000));
        let d = TrainConfig::from_with(&serde_json::Value::Null).unwrap();
        assert_eq!(d, TrainConfig::preset(Preset::None));
        // The release's classifier rules come with every paper preset, not with `none`.
        for p in [Preset::PaperCeleba, Preset::PaperMarket, Preset::Release] {
            let c = TrainConfig::preset(p);
            assert_eq!((c.head_init, c.head_bias_lr_mult, c.head_bias_decay_mult), (HeadInit::Xavier, 2.0, 0.0));
            assert_eq!((c.freeze_bn, c.bn_affine), (true, BnAffine::Trained));
        }
        assert_eq!((d.head_init, d.head_bias_lr_mult, d.head_bias_decay_mult), (HeadInit::Pytorch, 1.0, 1.0));
        let o = TrainConfig::from_with(&json!({"preset": "paper_celeba", "head_init": "pytorch", "bn_affine": "frozen"})).unwrap();
        assert_eq!((o.head_init, o.bn_affine, o.head_bias_lr_mult), (HeadInit::Pytorch, BnAffine::Frozen, 2.0));
    }

    #[test]
    fn canonical_form_round_trips() {
        let c = TrainConfig::from_with(&json!({"model": "small_cnn", "weighting": "validation_loss_trend", "tasks": "Smiling"})).unwrap();
        assert_eq!(c.tasks, Some(vec!["Smiling".to_string()]));
        let canon = serde_json::to_value(&c).unwrap();
        assert_eq!(canon["weighting"], json!({"method": "validation_loss_trend", "k": 200, "tau": 0.0, "class_scale": "mean"}));
        assert_eq!(TrainConfig::from_with(&canon).unwrap(), c);
    }

    #[test]
    fn errors_name_the_parameter() {
        let e = TrainConfig::from_with(&json!({"iterationz": 3})).unwrap_err();
        assert!(e.message.contains("iterationz"), "{}", e.message);
        let e = TrainConfig::from_with(&json!({"milestones": [5, 3]})).unwrap_err();
        assert_eq!(e.path, vec!["milestones"]);
        let e = TrainConfig::from_with(&json!({"weighting": {"method": "dwa", "epoch": 0}})).unwrap_err();
        assert_eq!(e.path, vec!["weighting"]);
        let e = TrainConfig::from_with(&json!({"model": "vgg"})).unwrap_err();
        assert_eq!(e.path, vec!["model"]);
        let e = TrainConfig::from_with(&json!({"head_bias_lr_mult": -1})).unwrap_err();
        assert_eq!(e.path, vec!["head_bias_lr_mult"]);
        let e = TrainConfig::from_with(&json!({"weighting": {"method": "validation_loss_trend", "class_scale": "max"}})).unwrap_err();
        assert_eq!(e.path, vec!["weighting"]);
    }

    #[test]
    fn frozen_bn_needs_pretrained_weights_or_from_scratch() {
        let frozen = TrainConfig::from_with(&json!({"model": "small_cnn"})).unwrap();
        let (msg, help) = frozen.check_pretrained(false).unwrap_err();
        assert!(msg.contains("small_cnn") && msg.contains("freeze_bn") && help.contains("from_scratch: true"), "{msg} / {help}");
        assert!(frozen.check_pretrained(true).is_ok());
        let live = TrainConfig::from_with(&json!({"freeze_bn": false})).unwrap();
        assert!(live.check_pretrained(false).is_ok());
        let scratch = TrainConfig::from_with(&json!({"from_scratch": true})).unwrap();
        assert!(scratch.check_pretrained(false).is_ok());
        assert!(scratch.check_pretrained(true).unwrap_err().0.contains("contradicts"));
    }

    #[test]
    fn multistep_schedule() {
        let c = TrainConfig::preset(Preset::PaperCeleba);
        assert_eq!(c.lr_at(1), 1e-4);
        assert_eq!(c.lr_at(70_000), 1e-4);
        assert!((c.lr_at(70_001) - 1e-5).abs() < 1e-18);
        assert!((c.lr_at(130_000) - 1e-7).abs() < 1e-20);
    }
}
