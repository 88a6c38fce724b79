//! The task-weighting methods' implementations (the spec, `WeightingSpec`, is `awmt::train::weighting`,
//! re-exported here): λ per iteration for the paper's validation-loss trend (Algorithm 2), equal
//! weights, DWA, uncertainty weighting, RLW and GLS, and the objective each back-propagates. The
//! gradient-based methods live in `train::gradient`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

pub use awmt::train::weighting::*;
use awmt::rng::{derive_seed, Rng};
use super::gradient::GradientMethod;

/// Builds a method's weighting state from its spec (an extension of `WeightingSpec`, which lives in
/// the torch-free crate).
pub trait BuildWeighting {
    /// A fresh weighting state for `tasks` tasks, all binary. `seed` feeds RLW's own random stream.
    fn build(&self, tasks: usize, seed: u64, device: Device) -> Box<dyn Weighting>;

    /// A fresh weighting state; `summed_outputs[j]` is how many outputs task j's validation loss
    /// sums over (C for a C-way task under the square loss, else 1).
    fn build_for(&self, summed_outputs: &[usize], seed: u64, device: Device) -> Box<dyn Weighting>;
}

impl BuildWeighting for WeightingSpec {
    fn build(&self, tasks: usize, seed: u64, device: Device) -> Box<dyn Weighting> {
        self.build_for(&vec![1; tasks], seed, device)
    }

    fn build_for(&self, summed_outputs: &[usize], seed: u64, device: Device) -> Box<dyn Weighting> {
        let tasks = summed_outputs.len();
        if let Some(method) = super::gradient::build(self, tasks, seed) {
            return method;
        }
        match *self {
            WeightingSpec::Equal => Box::new(Equal { m: tasks }),
            WeightingSpec::ValidationLossTrend { k, class_scale, .. } => {
                let scale = summed_outputs
                    .iter()
                    .map(|&c| if class_scale == ClassScale::Mean { 1.0 / c.max(1) as f64 } else { 1.0 })
                    .collect();
                Box::new(ValidationLossTrend::new(tasks, k).with_scale(scale))
            }
            WeightingSpec::Dwa { epoch, temperature, losses } => Box::new(Dwa::new(tasks, epoch, temperature, losses)),
            WeightingSpec::Uncertainty { init } => Box::new(Uncertainty::new(tasks, init, device)),
            WeightingSpec::Rlw => Box::new(Rlw { m: tasks, rng: Rng::new(derive_seed(seed, RLW_STREAM)) }),
            WeightingSpec::Gls => Box::new(Gls { m: tasks }),
            // Built by `gradient::build` above.
            _ => Box::new(Equal { m: tasks }),
        }
    }
}

/// Stream tag of RLW's random draws (distinct from the sampler's).
const RLW_STREAM: u64 = 0x524c_57;

/// A weighting method's checkpointable state: named f64 vectors and named u64 vectors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeightingState {
    pub floats: BTreeMap<String, Vec<f64>>,
    pub words: BTreeMap<String, Vec<u64>>,
}

impl WeightingState {
    pub fn floats(&self, name: &str, len: usize) -> Result<Vec<f64>> {
        match self.floats.get(name) {
            Some(v) if v.len() == len => Ok(v.clone()),
            Some(v) => bail!("weighting state `{name}` has {} values, expected {len}", v.len()),
            None => bail!("weighting state `{name}` is missing"),
        }
    }
    pub fn words(&self, name: &str, len: usize) -> Result<Vec<u64>> {
        match self.words.get(name) {
            Some(v) if v.len() == len => Ok(v.clone()),
            Some(v) => bail!("weighting state `{name}` has {} values, expected {len}", v.len()),
            None => bail!("weighting state `{name}` is missing"),
        }
    }
}

/// One task-weighting method.
pub trait Weighting: Send {
    /// λ for iteration `t` (1-based), given this iteration's per-task training losses and
    /// validation losses v_t. Called exactly once per iteration, in order.
    fn weights(&mut self, t: u64, train: &[f64], val: &[f64]) -> Vec<f64>;

    /// The objective to back-propagate from the per-task training losses (shape [M]).
    fn objective(&self, losses: &Tensor, lambda: &[f64]) -> Tensor {
        let l = Tensor::from_slice(lambda).to_kind(losses.kind()).to_device(losses.device());
        (losses * l).sum(losses.kind())
    }

    /// Learned parameters (trained by the same SGD as the network, without weight decay).
    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Everything else needed to continue bit-identically after a checkpoint.
    fn state(&self) -> WeightingState;
    fn load_state(&mut self, state: &WeightingState) -> Result<()>;

    /// Warnings raised since the last call (degenerate updates).
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the method reads this iteration's training losses again after the SGD step, on the
    /// same batch (FAMO's paper variant): the loop then runs one more forward pass without
    /// gradient and hands them to [`Weighting::after_step`].
    fn needs_losses_after_step(&self) -> bool {
        false
    }

    /// This iteration's per-task training losses re-evaluated after the SGD step.
    fn after_step(&mut self, _losses: &[f64]) {}

    /// A gradient-based method (`train::gradient`): λ from [`Weighting::weights`] is then ignored
    /// and the update comes from the per-task gradients instead.
    fn as_gradient(&mut self) -> Option<&mut dyn GradientMethod> {
        None
    }
}

/// The basic model: λ ≡ 1.
pub struct Equal {
    m: usize,
}

impl Weighting for Equal {
    fn weights(&mut self, _t: u64, _train: &[f64], _val: &[f64]) -> Vec<f64> {
        vec![1.0; self.m]
    }
    fn state(&self) -> WeightingState {
        WeightingState::default()
    }
    fn load_state(&mut self, _state: &WeightingState) -> Result<()> {
        Ok(())
    }
}

/// The paper's rule (Algorithm 1 steps 4–5 and Algorithm 2, final Dec 2017 release).
pub struct ValidationLossTrend {
    k: u64,
    /// Factor on each task's v_t before the rule sees it (`class_scale`).
    scale: Vec<f64>,
    lambda: Vec<f64>,
    /// Σ v_t over the current block of k iterations (blocks end at multiples of k).
    block_sum: Vec<f64>,
    pre_mean: Option<Vec<f64>>,
    warnings: Vec<String>,
}

/// The outcome of one Algorithm 2 update.
#[derive(Debug, Clone, PartialEq)]
pub enum TrendUpdate {
    /// The new λ (mean 1).
    Weights(Vec<f64>),
    /// Degenerate input: keep the previous λ, for the reason given.
    Keep(String),
}

/// Algorithm 2's arithmetic, exactly as the release computes it, with the guards the release lacks.
pub fn update_weights(cur_mean: &[f64], pre_mean: &[f64]) -> TrendUpdate {
    let m = cur_mean.len() as f64;
    if let Some(j) = cur_mean.iter().position(|c| !(c.is_finite() && *c > 0.0)) {
        return TrendUpdate::Keep(format!("mean validation loss of task {j} is {} (must be > 0)", cur_mean[j]));
    }
    if pre_mean.iter().any(|p| !p.is_finite()) {
        return TrendUpdate::Keep("previous mean validation loss is not finite".into());
    }
    let trend: Vec<f64> = cur_mean.iter().zip(pre_mean).map(|(c, p)| (c - p).abs() / c).collect();
    let trend_mean = trend.iter().sum::<f64>() / m;
    if !(trend_mean.is_finite() && trend_mean > 0.0) {
        return TrendUpdate::Keep("the validation loss trend is zero for every task".into());
    }
    let loss_mean = cur_mean.iter().sum::<f64>() / m;
    let w: Vec<f64> = trend
        .iter()
        .zip(cur_mean)
        .map(|(tr, c)| (tr / trend_mean) * (c / loss_mean))
        .collect();
    let w_mean = w.iter().sum::<f64>() / m;
    if !(w_mean.is_finite() && w_mean > 0.0) {
        return TrendUpdate::Keep(format!("the weights' mean is {w_mean}"));
    }
    let lambda: Vec<f64> = w.iter().map(|x| x / w_mean).collect();
    if lambda.iter().any(|x| !x.is_finite()) {
        return TrendUpdate::Keep("the new weights are not finite".into());
    }
    TrendUpdate::Weights(lambda)
}

impl ValidationLossTrend {
    pub fn new(m: usize, k: u64) -> Self {
        ValidationLossTrend { k, scale: vec![1.0; m], lambda: vec![1.0; m], block_sum: vec![0.0; m], pre_mean: None, warnings: Vec::new() }
    }

    /// Multiplies task j's validation loss by `scale[j]` before Algorithm 2 sees it.
    pub fn with_scale(mut self, scale: Vec<f64>) -> Self {
        self.scale = scale;
        self
    }
}

impl Weighting for ValidationLossTrend {
    fn weights(&mut self, t: u64, _train: &[f64], val: &[f64]) -> Vec<f64> {
        for ((s, v), f) in self.block_sum.iter_mut().zip(val).zip(&self.scale) {
            *s += v * f;
        }
        if t % self.k == 0 {
            let cur_mean: Vec<f64> = self.block_sum.iter().map(|s| s / self.k as f64).collect();
            self.block_sum.iter_mut().for_each(|s| *s = 0.0);
            if t == self.k {
                self.pre_mean = Some(cur_mean);
            } else if t >= 2 * self.k {
                let pre = self.pre_mean.clone().unwrap_or_else(|| cur_mean.clone());
                match update_weights(&cur_mean, &pre) {
                    TrendUpdate::Weights(l) => self.lambda = l,
                    TrendUpdate::Keep(why) => {
                        self.warnings.push(format!("iteration {t}: validation_loss_trend kept the previous λ: {why}"))
                    }
                }
                // Algorithm 2's last line (the Dec 2017 release), also after a degenerate update.
                self.pre_mean = Some(cur_mean);
            }
        }
        self.lambda.clone()
    }

    fn state(&self) -> WeightingState {
        let mut s = WeightingState::default();
        s.floats.insert("lambda".into(), self.lambda.clone());
        s.floats.insert("block_sum".into(), self.block_sum.clone());
        if let Some(p) = &self.pre_mean {
            s.floats.insert("pre_mean".into(), p.clone());
        }
        s
    }

    fn load_state(&mut self, state: &WeightingState) -> Result<()> {
        let m = self.lambda.len();
        self.lambda = state.floats("lambda", m)?;
        self.block_sum = state.floats("block_sum", m)?;
        self.pre_mean = if state.floats.contains_key("pre_mean") { Some(state.floats("pre_mean", m)?) } else { None };
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// M·softmax(x), computed stably.
fn scaled_softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| x.len() as f64 * v / sum).collect()
}

/// Dynamic weight averaging over iteration windows.
pub struct Dwa {
    epoch: u64,
    temperature: f64,
    source: LossSource,
    lambda: Vec<f64>,
    window_sum: Vec<f64>,
    /// Mean losses of the last two completed windows: [older, newer].
    older: Option<Vec<f64>>,
    newer: Option<Vec<f64>>,
    warnings: Vec<String>,
}

impl Dwa {
    pub fn new(m: usize, epoch: u64, temperature: f64, source: LossSource) -> Self {
        Dwa {
            epoch,
            temperature,
            source,
            lambda: vec![1.0; m],
            window_sum: vec![0.0; m],
            older: None,
            newer: None,
            warnings: Vec::new(),
        }
    }
}

impl Weighting for Dwa {
    fn weights(&mut self, t: u64, train: &[f64], val: &[f64]) -> Vec<f64> {
        if t > 1 && (t - 1) % self.epoch == 0 {
            // A window just ended: shift the completed means.
            let mean: Vec<f64> = self.window_sum.iter().map(|s| s / self.epoch as f64).collect();
            self.window_sum.iter_mut().for_each(|s| *s = 0.0);
            self.older = self.newer.take();
            self.newer = Some(mean);
            if let (Some(old), Some(new)) = (&self.older, &self.newer) {
                let r: Vec<f64> = new.iter().zip(old).map(|(n, o)| n / o).collect();
                if r.iter().all(|x| x.is_finite()) {
                    let scaled: Vec<f64> = r.iter().map(|x| x / self.temperature).collect();
                    self.lambda = scaled_softmax(&scaled);
                } else {
                    self.warnings.push(format!(
                        "iteration {t}: dwa kept the previous λ: a window's mean loss is zero or not finite"
                    ));
                }
            }
        }
        let losses = match self.source {
            LossSource::Train => train,
            LossSource::Val => val,
        };
        for (s, l) in self.window_sum.iter_mut().zip(losses) {
            *s += l;
        }
        self.lambda.clone()
    }

    fn state(&self) -> WeightingState {
        let mut s = WeightingState::default();
        s.floats.insert("lambda".into(), self.lambda.clone());
        s.floats.insert("window_sum".into(), self.window_sum.clone());
        if let Some(o) = &self.older {
            s.floats.insert("older".into(), o.clone());
        }
        if let Some(n) = &self.newer {
            s.floats.insert("newer".into(), n.clone());
        }
        s
    }

    fn load_state(&mut self, state: &WeightingState) -> Result<()> {
        let m = self.lambda.len();
        self.lambda = state.floats("lambda", m)?;
        self.window_sum = state.floats("window_sum", m)?;
        self.older = if state.floats.contains_key("older") { Some(state.floats("older", m)?) } else { None };
        self.newer = if state.floats.contains_key("newer") { Some(state.floats("newer", m)?) } else { None };
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// Uncertainty weighting: J = Σ_j L_j/(2·e^{s_j}) + s_j/2; logged λ_j = ∂J/∂L_j = e^{−s_j}/2.
pub struct Uncertainty {
    log_var: Tensor,
}

impl Uncertainty {
    pub fn new(m: usize, init: f64, device: Device) -> Self {
        let log_var = Tensor::full([m as i64], init, (Kind::Float, device)).set_requires_grad(true);
        Uncertainty { log_var }
    }
}

impl Weighting for Uncertainty {
    fn weights(&mut self, _t: u64, _train: &[f64], _val: &[f64]) -> Vec<f64> {
        let s: Vec<f64> = Vec::<f64>::try_from(self.log_var.detach().to_kind(Kind::Double).to_device(Device::Cpu))
            .unwrap_or_default();
        s.iter().map(|s| 0.5 * (-s).exp()).collect()
    }

    fn objective(&self, losses: &Tensor, _lambda: &[f64]) -> Tensor {
        let s = &self.log_var;
        (losses * (-s).exp() * 0.5 + s * 0.5).sum(losses.kind())
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("uncertainty.log_var".into(), self.log_var.shallow_clone())]
    }

    fn state(&self) -> WeightingState {
        WeightingState::default()
    }
    fn load_state(&mut self, _state: &WeightingState) -> Result<()> {
        Ok(())
    }
}

/// Random loss weighting with its own seeded stream.
pub struct Rlw {
    m: usize,
    rng: Rng,
}

impl Weighting for Rlw {
    fn weights(&mut self, _t: u64, _train: &[f64], _val: &[f64]) -> Vec<f64> {
        let z: Vec<f64> = (0..self.m).map(|_| self.rng.normal()).collect();
        scaled_softmax(&z)
    }
    fn state(&self) -> WeightingState {
        let mut s = WeightingState::default();
        s.words.insert("rng".into(), self.rng.state().to_vec());
        s
    }
    fn load_state(&mut self, state: &WeightingState) -> Result<()> {
        let w = state.words("rng", 4)?;
        self.rng = Rng::from_state([w[0], w[1], w[2], w[3]]);
        Ok(())
    }
}

/// Geometric loss strategy: J = M·exp(mean_j log max(L_j, floor)); λ_j = ∂J/∂L_j = G/L_j.
pub struct Gls {
    m: usize,
}

impl Weighting for Gls {
    fn weights(&mut self, _t: u64, train: &[f64], _val: &[f64]) -> Vec<f64> {
        let clamped: Vec<f64> = train.iter().map(|l| l.max(GLS_FLOOR)).collect();
        let g = (clamped.iter().map(|l| l.ln()).sum::<f64>() / self.m as f64).exp();
        clamped.iter().map(|l| g / l).collect()
    }

    fn objective(&self, losses: &Tensor, _lambda: &[f64]) -> Tensor {
        losses.clamp_min(GLS_FLOOR).log().mean(losses.kind()).exp() * self.m as f64
    }

    fn state(&self) -> WeightingState {
        WeightingState::default()
    }
    fn load_state(&mut self, _state: &WeightingState) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::gradient::{FamoUpdate, GradMode, MgdaNormalization};

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn spec_accepts_a_bare_name_and_fills_defaults() {
        let s = WeightingSpec::from_value(serde_json::json!("validation_loss_trend")).unwrap();
        assert_eq!(s, WeightingSpec::ValidationLossTrend { k: 200, tau: 0.0, class_scale: ClassScale::Mean });
        let canon = serde_json::to_value(&s).unwrap();
        assert_eq!(canon, serde_json::json!({"method": "validation_loss_trend", "k": 200, "tau": 0.0, "class_scale": "mean"}));
        assert_eq!(WeightingSpec::from_value(canon).unwrap(), s);
        let err = WeightingSpec::from_value(serde_json::json!({"method": "validation_loss_trend", "kk": 3})).unwrap_err();
        assert!(err.contains("kk"), "{err}");
        assert!(WeightingSpec::from_value(serde_json::json!("magic")).is_err());
    }

    #[test]
    fn gradient_methods_parse_with_the_papers_defaults_and_validate() {
        let parse = |v: serde_json::Value| WeightingSpec::from_value(v);
        for name in ["mgda", "pcgrad", "cagrad", "gradnorm", "imtl", "nash_mtl", "aligned_mtl", "famo"] {
            let s = parse(serde_json::json!(name)).unwrap();
            assert_eq!(s.method(), name);
            assert!(s.validate().is_ok(), "{name}");
            // The canonical form round-trips.
            assert_eq!(parse(serde_json::to_value(&s).unwrap()).unwrap(), s);
        }
        assert_eq!(
            parse(serde_json::json!("cagrad")).unwrap(),
            WeightingSpec::Cagrad { mode: GradMode::Parameters, c: 0.5, rescale: 1 }
        );
        assert_eq!(parse(serde_json::json!("famo")).unwrap(), WeightingSpec::Famo { w_lr: 0.025, gamma: 0.001, update: FamoUpdate::SameBatch });
        assert_eq!(
            parse(serde_json::json!({"method": "famo", "update": "next_batch"})).unwrap(),
            WeightingSpec::Famo { w_lr: 0.025, gamma: 0.001, update: FamoUpdate::NextBatch }
        );
        assert_eq!(
            parse(serde_json::json!({"method": "mgda", "mode": "representation", "normalization": "loss_plus"})).unwrap(),
            WeightingSpec::Mgda { mode: GradMode::Representation, normalization: MgdaNormalization::LossPlus }
        );
        assert!(parse(serde_json::json!({"method": "pcgrad", "mode": "weights"})).unwrap_err().contains("weights"));
        assert!(parse(serde_json::json!({"method": "famo", "mode": "parameters"})).is_err());
        let bad = |v: serde_json::Value| parse(v).unwrap().validate().unwrap_err();
        assert!(bad(serde_json::json!({"method": "cagrad", "c": -1.0})).contains("c must"));
        assert!(bad(serde_json::json!({"method": "cagrad", "rescale": 3})).contains("rescale"));
        assert!(bad(serde_json::json!({"method": "nash_mtl", "update_every": 0})).contains("update_every"));
        assert!(bad(serde_json::json!({"method": "famo", "w_lr": 0.0})).contains("w_lr"));
    }

    #[test]
    fn equal_is_all_ones() {
        let mut w = WeightingSpec::Equal.build(3, 0, Device::Cpu);
        assert_eq!(w.weights(1, &[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), vec![1.0; 3]);
    }

    #[test]
    fn algorithm2_hand_computed() {
        // cur = [2, 1], pre = [4, 1.5]: trend = [1, 0.5], mean 0.75 → norm_trend = [4/3, 2/3];
        // norm_loss = [2/1.5, 1/1.5] = [4/3, 2/3]; w = [16/9, 4/9], mean 10/9 → λ = [1.6, 0.4].
        match update_weights(&[2.0, 1.0], &[4.0, 1.5]) {
            TrendUpdate::Weights(l) => assert!(close(&l, &[1.6, 0.4]), "{l:?}"),
            other => panic!("{other:?}"),
        }
        // Closed form λ_j = M|Δ_j|/Σ|Δ|: Δ = [−2, −0.5] → [1.6, 0.4].
    }

    #[test]
    fn algorithm2_edge_cases_keep_previous_lambda() {
        assert!(matches!(update_weights(&[1.0, 2.0], &[1.0, 2.0]), TrendUpdate::Keep(_)));
        assert!(matches!(update_weights(&[0.0, 2.0], &[1.0, 2.0]), TrendUpdate::Keep(_)));
        assert!(matches!(update_weights(&[f64::NAN, 2.0], &[1.0, 2.0]), TrendUpdate::Keep(_)));
    }

    #[test]
    fn trend_schedule_follows_algorithm1() {
        // k = 2, M = 2. v: t1 [4,2] t2 [4,2] → pre_mean [4,2] at t=2.
        // t3 [3,2] t4 [1,2] → cur [2,2]; Δ = [−2, 0] → trend [1, 0] → λ = [2, 0] used at t=4.
        // t5,t6 [2,2] → cur [2,2] = pre → zero trend → keep [2, 0] with a warning.
        let mut w = ValidationLossTrend::new(2, 2);
        let v = [[4.0, 2.0], [4.0, 2.0], [3.0, 2.0], [1.0, 2.0], [2.0, 2.0], [2.0, 2.0]];
        let mut got = Vec::new();
        for (i, vt) in v.iter().enumerate() {
            got.push(w.weights(i as u64 + 1, &[0.0, 0.0], vt));
        }
        assert_eq!(got[0], vec![1.0, 1.0]);
        assert_eq!(got[1], vec![1.0, 1.0]);
        assert_eq!(got[2], vec![1.0, 1.0]);
        assert!(close(&got[3], &[2.0, 0.0]), "{:?}", got[3]);
        assert!(close(&got[4], &[2.0, 0.0]));
        assert!(close(&got[5], &[2.0, 0.0]));
        let warnings = w.take_warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("iteration 6"), "{warnings:?}");
    }

    #[test]
    fn class_scale_divides_a_multiclass_tasks_validation_loss_by_its_classes() {
        // Task 0 binary, task 1 a 4-way task whose summed loss falls 4× as far as task 0's:
        // v at t = 1 [2, 8], t = 2 [1, 4] (k = 1). Δ = [−1, −4].
        // sum:  λ = 2·|Δ|/Σ|Δ| = [0.4, 1.6].
        // mean: task 1 seen as [2, 1] → Δ = [−1, −1] → λ = [1, 1].
        let run = |scale: &str| {
            let spec = WeightingSpec::from_value(serde_json::json!({"method": "validation_loss_trend", "k": 1, "class_scale": scale})).unwrap();
            let mut w = spec.build_for(&[1, 4], 0, Device::Cpu);
            w.weights(1, &[], &[2.0, 8.0]);
            w.weights(2, &[], &[1.0, 4.0])
        };
        assert!(close(&run("sum"), &[0.4, 1.6]), "{:?}", run("sum"));
        assert!(close(&run("mean"), &[1.0, 1.0]), "{:?}", run("mean"));
        // With only binary tasks the two agree.
        let spec = |s: &str| WeightingSpec::from_value(serde_json::json!({"method": "validation_loss_trend", "k": 1, "class_scale": s})).unwrap();
        let (mut a, mut b) = (spec("sum").build(2, 0, Device::Cpu), spec("mean").build(2, 0, Device::Cpu));
        for (t, v) in [[2.0, 8.0], [1.0, 4.0], [0.5, 3.0]].iter().enumerate() {
            assert_eq!(a.weights(t as u64 + 1, &[], v), b.weights(t as u64 + 1, &[], v));
        }
    }

    #[test]
    fn trend_zero_loss_keeps_lambda_and_state_round_trips() {
        let mut w = ValidationLossTrend::new(2, 1);
        w.weights(1, &[], &[1.0, 1.0]); // pre_mean
        let l2 = w.weights(2, &[], &[0.5, 2.0]); // Δ = [−0.5, 1] → λ = [2/3, 4/3]
        assert!(close(&l2, &[2.0 / 3.0, 4.0 / 3.0]), "{l2:?}");
        let l3 = w.weights(3, &[], &[0.0, 1.0]); // zero loss → keep
        assert_eq!(l3, l2);
        assert!(l3.iter().all(|x| x.is_finite()));
        assert_eq!(w.take_warnings().len(), 1);
        let mut copy = ValidationLossTrend::new(2, 1);
        copy.load_state(&w.state()).unwrap();
        assert_eq!(copy.weights(4, &[], &[0.5, 0.5]), w.weights(4, &[], &[0.5, 0.5]));
    }

    #[test]
    fn dwa_windows() {
        // epoch = 2, T = 2, train losses. Windows: [1,2] mean [2,4]; [3,4] mean [1,4].
        // At t = 5: r = [1/2, 1] → λ = 2·softmax([0.25, 0.5]).
        let mut w = Dwa::new(2, 2, 2.0, LossSource::Train);
        let l = [[2.0, 4.0], [2.0, 4.0], [1.0, 4.0], [1.0, 4.0], [9.0, 9.0]];
        let mut got = Vec::new();
        for (i, lt) in l.iter().enumerate() {
            got.push(w.weights(i as u64 + 1, lt, &[0.0, 0.0]));
        }
        for g in &got[..4] {
            assert_eq!(g, &vec![1.0, 1.0]);
        }
        let e1 = 0.25f64.exp();
        let e2 = 0.5f64.exp();
        assert!(close(&got[4], &[2.0 * e1 / (e1 + e2), 2.0 * e2 / (e1 + e2)]), "{:?}", got[4]);
        // Validation variant reads v_t instead.
        let mut v = Dwa::new(1, 1, 1.0, LossSource::Val);
        v.weights(1, &[5.0], &[1.0]);
        v.weights(2, &[5.0], &[0.0]);
        let kept = v.weights(3, &[5.0], &[1.0]); // r = 0/1 = 0 → M·softmax([0]) = 1
        assert_eq!(kept, vec![1.0]);
        let after_zero = v.weights(4, &[5.0], &[1.0]); // r = 1/0 = inf → keep, warn
        assert_eq!(after_zero, vec![1.0]);
        assert_eq!(v.take_warnings().len(), 1);
    }

    #[test]
    fn uncertainty_weights_and_objective() {
        let w = Uncertainty::new(2, -0.5, Device::Cpu);
        let mut w = w;
        let l = w.weights(1, &[1.0, 2.0], &[0.0, 0.0]);
        let e = 0.5 * 0.5f64.exp();
        assert!(close(&l, &[e, e]) || (l[0] - e).abs() < 1e-6);
        let losses = Tensor::from_slice(&[1.0f32, 2.0]);
        let j = f64::try_from(w.objective(&losses, &l)).unwrap();
        let want = (1.0 + 2.0) * e + 2.0 * (-0.25);
        assert!((j - want).abs() < 1e-5, "{j} vs {want}");
        assert_eq!(w.parameters().len(), 1);
    }

    #[test]
    fn rlw_sums_to_m_and_is_seeded() {
        let mut a = WeightingSpec::Rlw.build(4, 9, Device::Cpu);
        let mut b = WeightingSpec::Rlw.build(4, 9, Device::Cpu);
        let la = a.weights(1, &[0.0; 4], &[0.0; 4]);
        assert_eq!(la, b.weights(1, &[0.0; 4], &[0.0; 4]));
        assert!((la.iter().sum::<f64>() - 4.0).abs() < 1e-12);
        assert!(la.iter().all(|x| *x > 0.0));
        let mut c = WeightingSpec::Rlw.build(4, 9, Device::Cpu);
        c.load_state(&a.state()).unwrap();
        assert_eq!(c.weights(2, &[0.0; 4], &[0.0; 4]), a.weights(2, &[0.0; 4], &[0.0; 4]));
    }

    #[test]
    fn gls_weights_and_objective() {
        let mut w = Gls { m: 2 };
        // G = sqrt(1·4) = 2 → λ = [2, 0.5]; J = 2·2 = 4.
        let l = w.weights(1, &[1.0, 4.0], &[0.0, 0.0]);
        assert!(close(&l, &[2.0, 0.5]));
        let j = f64::try_from(w.objective(&Tensor::from_slice(&[1.0f32, 4.0]), &l)).unwrap();
        assert!((j - 4.0).abs() < 1e-5);
        let zero = w.weights(2, &[0.0, 4.0], &[0.0, 0.0]);
        assert!(zero.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn weighted_sum_objective() {
        let w = Equal { m: 2 };
        let j = f64::try_from(w.objective(&Tensor::from_slice(&[1.0f32, 4.0]), &[2.0, 0.5])).unwrap();
        assert!((j - 4.0).abs() < 1e-6);
    }
}
