//! GradNorm (Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep
//! Multitask Networks", ICML 2018): task weights w = M·softmax(s) (LibMTL's parametrisation,
//! which keeps Σw = M as the paper's renormalisation does) are trained to equalise the weighted
//! gradient norms G_j = w_j‖g_j‖ at rates set by each task's relative inverse training rate:
//! L̃_j = L_j(t)/L_j(0), r_j = L̃_j / mean(L̃), target_j = mean(G)·r_j^α (held constant), and
//! L_grad = Σ_j |G_j − target_j|. The update uses this iteration's w (d = Σ_j w_j g_j); then
//! s ← s − lr·∂L_grad/∂s with the run's learning rate at t (LibMTL steps s with the network's
//! optimizer), ∂L_grad/∂s_k = σ_k‖g_k‖w_k − (w_k/M) Σ_i σ_i‖g_i‖w_i, σ_i = sign(G_i − target_i).
//! L_j(0) is the first iteration's loss (LibMTL: the first epoch's mean). The gradients are those
//! of `mode` (all shared parameters, LibMTL's choice, rather than the paper's last shared layer).

use anyhow::Result;

use super::{GradMode, GradientMethod, Gram, StepInfo};
use crate::train::weighting::{Weighting, WeightingState};

pub struct GradNorm {
    m: usize,
    mode: GradMode,
    alpha: f64,
    /// Logits s of the weights.
    logits: Vec<f64>,
    /// L_j(0), once seen.
    initial: Option<Vec<f64>>,
}

impl GradNorm {
    pub fn new(m: usize, mode: GradMode, alpha: f64) -> GradNorm {
        GradNorm { m, mode, alpha, logits: vec![0.0; m], initial: None }
    }

    /// w = M·softmax(s).
    pub fn task_weights(&self) -> Vec<f64> {
        let max = self.logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = self.logits.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| self.m as f64 * x / sum).collect()
    }
}

impl GradientMethod for GradNorm {
    fn mode(&self) -> GradMode {
        self.mode
    }
    fn name(&self) -> &'static str {
        "gradnorm"
    }
    fn combine(&mut self, info: &StepInfo, gram: &Gram) -> Vec<f64> {
        let m = self.m;
        let w = self.task_weights();
        let norms = gram.norms();
        let initial = self.initial.get_or_insert_with(|| info.losses.to_vec()).clone();
        let ratio: Vec<f64> = info
            .losses
            .iter()
            .zip(&initial)
            .map(|(l, l0)| if l0.is_finite() && *l0 > 0.0 && l.is_finite() { l / l0 } else { 1.0 })
            .collect();
        let mean_ratio = ratio.iter().sum::<f64>() / m as f64;
        let g: Vec<f64> = w.iter().zip(&norms).map(|(a, b)| a * b).collect();
        let g_mean = g.iter().sum::<f64>() / m as f64;
        let sign: Vec<f64> = (0..m)
            .map(|j| {
                let r = if mean_ratio > 0.0 { ratio[j] / mean_ratio } else { 1.0 };
                let target = g_mean * r.powf(self.alpha);
                let diff = g[j] - target;
                if diff > 0.0 { 1.0 } else if diff < 0.0 { -1.0 } else { 0.0 }
            })
            .collect();
        let total: f64 = (0..m).map(|i| sign[i] * g[i]).sum();
        for k in 0..m {
            let grad = sign[k] * g[k] - w[k] / m as f64 * total;
            if grad.is_finite() {
                self.logits[k] -= info.lr * grad;
            }
        }
        w
    }
}

impl Weighting for GradNorm {
    fn weights(&mut self, _t: u64, _train: &[f64], _val: &[f64]) -> Vec<f64> {
        vec![1.0; self.m]
    }
    fn state(&self) -> WeightingState {
        let mut s = WeightingState::default();
        s.floats.insert("logits".into(), self.logits.clone());
        if let Some(l0) = &self.initial {
            s.floats.insert("initial".into(), l0.clone());
        }
        s
    }
    fn load_state(&mut self, state: &WeightingState) -> Result<()> {
        self.logits = state.floats("logits", self.m)?;
        self.initial = if state.floats.contains_key("initial") { Some(state.floats("initial", self.m)?) } else { None };
        Ok(())
    }
    fn as_gradient(&mut self) -> Option<&mut dyn GradientMethod> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dominant_gradient_loses_weight_by_hand() {
        // g1 = (3,0), g2 = (0,1), L = L(0) = (1,1): r = 1, G = (3,1), target = (2,2), σ = (+,−);
        // Σσ_i G_i = 2; ∂/∂s = (3 − ½·2, −1 − ½·2) = (2, −2); lr 0.1 → s = (−0.2, 0.2).
        let mut gn = GradNorm::new(2, GradMode::Parameters, 1.5);
        let k = Gram::of(&[vec![3.0, 0.0], vec![0.0, 1.0]]);
        let w1 = gn.combine(&StepInfo { t: 1, losses: &[1.0, 1.0], lr: 0.1 }, &k);
        assert_eq!(w1, vec![1.0, 1.0]);
        let e = 0.4f64.exp();
        let want = [2.0 / (1.0 + e), 2.0 * e / (1.0 + e)];
        let w2 = gn.combine(&StepInfo { t: 2, losses: &[1.0, 1.0], lr: 0.1 }, &k);
        assert!((w2[0] - want[0]).abs() < 1e-12 && (w2[1] - want[1]).abs() < 1e-12, "{w2:?} vs {want:?}");
        // State round trip continues identically.
        let mut copy = GradNorm::new(2, GradMode::Parameters, 1.5);
        copy.load_state(&gn.state()).unwrap();
        let info = StepInfo { t: 3, losses: &[0.5, 1.0], lr: 0.1 };
        assert_eq!(copy.combine(&info, &k), gn.combine(&info, &k));
    }

    #[test]
    fn balanced_gradients_stay_put_and_degenerate_inputs_are_finite() {
        // Equal norms and rates: G = target, σ = 0, s unchanged.
        let mut gn = GradNorm::new(2, GradMode::Parameters, 1.5);
        let k = Gram::of(&[vec![1.0, 0.0], vec![-1.0, 0.0]]);
        for t in 1..4 {
            assert_eq!(gn.combine(&StepInfo { t, losses: &[1.0, 1.0], lr: 0.1 }, &k), vec![1.0, 1.0]);
        }
        let mut gn = GradNorm::new(2, GradMode::Parameters, 1.5);
        for (g, l) in [([vec![0.0, 0.0], vec![0.0, 0.0]], [0.0, 0.0]), ([vec![1.0, 1.0], vec![0.0, 0.0]], [1.0, 0.0])] {
            for t in 1..3 {
                let w = gn.combine(&StepInfo { t, losses: &l, lr: 0.1 }, &Gram::of(&g));
                assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
            }
        }
    }
}
