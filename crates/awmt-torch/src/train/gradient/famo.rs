//! FAMO (Liu et al., "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023): loss-based and
//! O(1) in the number of tasks (one backward pass). Task logits ξ give z = softmax(ξ); the
//! objective is Σ_j z_j log(L_j + ε) / c with c = Σ_j z_j/(L_j + ε) held constant, so the
//! effective λ_j = z_j / (c (L_j + ε)) (Σλ = 1). After the step ξ follows the observed log-loss
//! decrease δ_j = log(L_j(θ_t) + ε) − log(L_j(θ_{t+1}) + ε): ∂/∂ξ = J_softmax(ξ)ᵀ δ, stepped by
//! Adam (β = 0.9, 0.999, eps 1e-8) with learning rate `w_lr` (0.025) and L2 weight decay `gamma`
//! (0.001), the authors' defaults. ε = 1e-8 and the losses' lower bounds are 0 (the authors'
//! `min_losses`).
//!
//! Which L(θ_{t+1}) (`update:`): `same_batch` (default, the paper's Algorithm 1) re-evaluates
//! iteration t's training batch after the SGD step, one forward pass without gradient per
//! iteration (same dropout masks), so δ measures only what the step did. `next_batch` compares
//! with iteration t+1's batch losses instead and saves that pass, but then δ also carries the
//! difference between the two batches, which with small batches can be as large as the step's own
//! effect, so ξ follows sampling noise more. Both are deterministic and resumable.
use anyhow::Result;

use super::FamoUpdate;
use crate::train::weighting::{Weighting, WeightingState};

const EPS: f64 = 1e-8;
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

pub struct Famo {
    m: usize,
    update_with: FamoUpdate,
    w_lr: f64,
    gamma: f64,
    logits: Vec<f64>,
    adam_m: Vec<f64>,
    adam_v: Vec<f64>,
    steps: u64,
    previous: Option<Vec<f64>>,
}

impl Famo {
    pub fn new(m: usize, w_lr: f64, gamma: f64, update_with: FamoUpdate) -> Famo {
        Famo { m, update_with, w_lr, gamma, logits: vec![0.0; m], adam_m: vec![0.0; m], adam_v: vec![0.0; m], steps: 0, previous: None }
    }

    fn softmax(&self) -> Vec<f64> {
        let max = self.logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = self.logits.iter().map(|x| (x - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }

    fn update(&mut self, previous: &[f64], current: &[f64]) {
        let z = self.softmax();
        let delta: Vec<f64> = previous.iter().zip(current).map(|(p, c)| (p.max(0.0) + EPS).ln() - (c.max(0.0) + EPS).ln()).collect();
        if delta.iter().any(|d| !d.is_finite()) {
            return;
        }
        let zd: f64 = z.iter().zip(&delta).map(|(a, b)| a * b).sum();
        self.steps += 1;
        let (b1, b2) = (1.0 - BETA1.powi(self.steps as i32), 1.0 - BETA2.powi(self.steps as i32));
        for k in 0..self.m {
            let g = z[k] * (delta[k] - zd) + self.gamma * self.logits[k];
            self.adam_m[k] = BETA1 * self.adam_m[k] + (1.0 - BETA1) * g;
            self.adam_v[k] = BETA2 * self.adam_v[k] + (1.0 - BETA2) * g * g;
            self.logits[k] -= self.w_lr * (self.adam_m[k] / b1) / ((self.adam_v[k] / b2).sqrt() + ADAM_EPS);
        }
    }
}

impl Weighting for Famo {
    fn weights(&mut self, _t: u64, train: &[f64], _val: &[f64]) -> Vec<f64> {
        // `same_batch`: the update happened in `after_step`, so nothing is pending here.
        if let Some(prev) = self.previous.take() {
            self.update(&prev, train);
        }
        self.previous = Some(train.to_vec());
        let z = self.softmax();
        let d: Vec<f64> = train.iter().map(|l| l.max(0.0) + EPS).collect();
        let c: f64 = z.iter().zip(&d).map(|(a, b)| a / b).sum();
        z.iter().zip(&d).map(|(a, b)| a / (c * b)).collect()
    }

    fn needs_losses_after_step(&self) -> bool {
        self.update_with == FamoUpdate::SameBatch
    }

    fn after_step(&mut self, losses: &[f64]) {
        if let Some(prev) = self.previous.take() {
            self.update(&prev, losses);
        }
    }

    fn state(&self) -> WeightingState {
        let mut s = WeightingState::default();
        s.floats.insert("logits".into(), self.logits.clone());
        s.floats.insert("adam_m".into(), self.adam_m.clone());
        s.floats.insert("adam_v".into(), self.adam_v.clone());
        s.words.insert("steps".into(), vec![self.steps]);
        if let Some(p) = &self.previous {
            s.floats.insert("previous".into(), p.clone());
        }
        s
    }

    fn load_state(&mut self, state: &WeightingState) -> Result<()> {
        self.logits = state.floats("logits", self.m)?;
        self.adam_m = state.floats("adam_m", self.m)?;
        self.adam_v = state.floats("adam_v", self.m)?;
        self.steps = state.words("steps", 1)?[0];
        self.previous = if state.floats.contains_key("previous") { Some(state.floats("previous", self.m)?) } else { None };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_two_iterations_by_hand() {
        // t = 1: z = (½, ½), L = (1, 2): c = ½ + ¼ = ¾ → λ = (⅔, ⅓).
        let mut f = Famo::new(2, 0.025, 0.001, FamoUpdate::NextBatch);
        let l1 = f.weights(1, &[1.0, 2.0], &[]);
        assert!((l1[0] - 2.0 / 3.0).abs() < 1e-7 && (l1[1] - 1.0 / 3.0).abs() < 1e-7, "{l1:?}");
        // t = 2, L = (0.5, 2): δ = (ln 2, 0), zᵀδ = ln2/2, ∂/∂ξ = (ln2/4, −ln2/4); Adam's first step
        // moves each logit by w_lr·sign: ξ = (−0.025, 0.025) (to ~1e-7).
        let l2 = f.weights(2, &[0.5, 2.0], &[]);
        let z1 = 1.0 / (1.0 + 0.05f64.exp());
        let (a, b) = (z1 / 0.5, (1.0 - z1) / 2.0);
        assert!((l2[0] - a / (a + b)).abs() < 1e-6 && (l2[1] - b / (a + b)).abs() < 1e-6, "{l2:?}");
        assert!((l2.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // The task whose loss fell gets less of the budget than at the same losses before.
        let mut fresh = Famo::new(2, 0.025, 0.001, FamoUpdate::NextBatch);
        let same = fresh.weights(1, &[0.5, 2.0], &[]);
        assert!(l2[0] < same[0]);
    }

    #[test]
    fn same_batch_update_uses_the_losses_after_the_step() {
        // The paper's variant: iteration 1 at L = (1, 2), after the step the same batch gives
        // (0.5, 2): the same δ as the hand-computed `next_batch` case above, so iteration 2's
        // weights at losses (0.5, 2) are the same numbers, whatever iteration 2's batch was before.
        let mut f = Famo::new(2, 0.025, 0.001, FamoUpdate::SameBatch);
        assert!(f.needs_losses_after_step());
        f.weights(1, &[1.0, 2.0], &[]);
        f.after_step(&[0.5, 2.0]);
        assert!(!f.state().floats.contains_key("previous"), "nothing pending at a checkpoint");
        let l2 = f.weights(2, &[0.5, 2.0], &[]);
        let mut g = Famo::new(2, 0.025, 0.001, FamoUpdate::NextBatch);
        assert!(!g.needs_losses_after_step());
        g.weights(1, &[1.0, 2.0], &[]);
        assert_eq!(l2, g.weights(2, &[0.5, 2.0], &[]));
        // A state round trip with an update pending continues identically.
        let mut h = Famo::new(2, 0.025, 0.001, FamoUpdate::SameBatch);
        h.load_state(&f.state()).unwrap();
        f.after_step(&[0.4, 1.0]);
        h.after_step(&[0.4, 1.0]);
        assert_eq!(f.weights(3, &[0.3, 0.9], &[]), h.weights(3, &[0.3, 0.9], &[]));
    }

    #[test]
    fn zero_losses_are_finite_and_state_round_trips() {
        let mut f = Famo::new(3, 0.025, 0.001, FamoUpdate::NextBatch);
        for (t, l) in [[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 0.5, 0.0]].iter().enumerate() {
            let w = f.weights(t as u64 + 1, l, &[]);
            assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
        }
        let mut g = Famo::new(3, 0.025, 0.001, FamoUpdate::NextBatch);
        g.load_state(&f.state()).unwrap();
        assert_eq!(g.weights(4, &[0.3, 0.2, 0.1], &[]), f.weights(4, &[0.3, 0.2, 0.1], &[]));
    }
}
