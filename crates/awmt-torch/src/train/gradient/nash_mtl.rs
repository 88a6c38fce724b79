//! Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022): the update
//! d = Σ_j α_j g_j with α the Nash bargaining solution, K α = 1/α (elementwise, α > 0), i.e.
//! every task gets g_j·d = 1/α_j. That equation is the stationarity condition of the strictly
//! convex f(α) = ½αᵀKα − Σ_j log α_j, solved here exactly by damped Newton steps (the paper
//! approximates it by a few convex-concave iterations, cross-checked against torchjd's port of
//! the authors' code in benches/libmtl_check.py). For conditioning the Newton steps run on
//! K̂ = K/‖K‖_F, as the authors' code normalises it; their constraints multiply the normaliser
//! back in, so the α they return solves the raw K α = 1/α, and so does this one: α = α̂/√‖K‖_F.
//! When f is unbounded below (a zero gradient, or 0 in the interior of the gradients' hull:
//! opposite gradients) there is no solution, and, as the authors' code does when its solver
//! fails, the previous α is kept (ones at the start) with a warning. α is recomputed every
//! `update_every` iterations; the shared update's norm ‖d‖ is then clipped to `max_norm` (0: no
//! clipping; in `representation` mode the clip is on the representation's gradient).

use anyhow::Result;

use super::linalg::solve;
use super::{GradMode, GradientMethod, Gram, StepInfo};
use crate::train::weighting::{Weighting, WeightingState};

/// α beyond this means f has no minimiser.
const UNBOUNDED: f64 = 1e12;
/// Warnings recorded at most (a degenerate run would otherwise log one per iteration).
const MAX_WARNINGS: usize = 10;

pub struct NashMtl {
    m: usize,
    mode: GradMode,
    max_norm: f64,
    update_every: u64,
    /// The last solved α (before clipping).
    alpha: Vec<f64>,
    warned: usize,
    warnings: Vec<String>,
}

impl NashMtl {
    pub fn new(m: usize, mode: GradMode, max_norm: f64, update_every: u64) -> NashMtl {
        NashMtl { m, mode, max_norm, update_every: update_every.max(1), alpha: vec![1.0; m], warned: 0, warnings: Vec::new() }
    }
}

/// The Nash bargaining α (K α = 1/α), or None when there is none.
pub fn nash_alpha(gram: &Gram) -> Option<Vec<f64>> {
    let m = gram.m;
    let fro = gram.k.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(fro > 0.0 && fro.is_finite()) {
        return None;
    }
    let k = Gram::new(m, gram.k.iter().map(|x| x / fro).collect());
    // K̂ α̂ = 1/α̂ ⇔ K (α̂/√‖K‖) = 1/(α̂/√‖K‖).
    let root = fro.sqrt();
    let unnormalised = |a: Vec<f64>| a.into_iter().map(|x| x / root).collect::<Vec<f64>>();
    let f = |a: &[f64]| 0.5 * k.quad(a) - a.iter().map(|x| x.ln()).sum::<f64>();
    let mut alpha = vec![1.0; m];
    let mut fa = f(&alpha);
    for _ in 0..500 {
        let ka = k.times(&alpha);
        let grad: Vec<f64> = ka.iter().zip(&alpha).map(|(g, a)| g - 1.0 / a).collect();
        let mut hess = k.k.clone();
        for i in 0..m {
            hess[i * m + i] += 1.0 / (alpha[i] * alpha[i]);
        }
        let step = solve(&hess, &grad.iter().map(|g| -g).collect::<Vec<f64>>(), 0.0)?;
        let decrement: f64 = -grad.iter().zip(&step).map(|(g, s)| g * s).sum::<f64>();
        if decrement < 1e-20 {
            return Some(unnormalised(alpha));
        }
        // Stay inside α > 0, then backtrack until f decreases enough (Armijo).
        let mut t = 1.0f64;
        for (a, s) in alpha.iter().zip(&step) {
            if *s < 0.0 {
                t = t.min(-0.99 * a / s);
            }
        }
        loop {
            let next: Vec<f64> = alpha.iter().zip(&step).map(|(a, s)| a + t * s).collect();
            let fn_ = f(&next);
            if fn_ <= fa - 0.25 * t * decrement {
                alpha = next;
                fa = fn_;
                break;
            }
            t *= 0.5;
            if t < 1e-20 {
                return Some(unnormalised(alpha));
            }
        }
        if alpha.iter().any(|a| !(a.is_finite() && *a < UNBOUNDED)) {
            return None;
        }
    }
    None
}

impl GradientMethod for NashMtl {
    fn mode(&self) -> GradMode {
        self.mode
    }
    fn name(&self) -> &'static str {
        "nash_mtl"
    }
    fn combine(&mut self, info: &StepInfo, gram: &Gram) -> Vec<f64> {
        if (info.t.saturating_sub(1)) % self.update_every == 0 {
            match nash_alpha(gram) {
                Some(a) => self.alpha = a,
                None => {
                    if self.warned < MAX_WARNINGS {
                        self.warnings.push(format!(
                            "iteration {}: nash_mtl kept the previous α: the bargaining problem has no solution (a zero or opposite gradient)",
                            info.t
                        ));
                    }
                    self.warned += 1;
                }
            }
        }
        let norm = gram.quad(&self.alpha).max(0.0).sqrt();
        let clip = if self.max_norm > 0.0 && norm > self.max_norm { self.max_norm / norm } else { 1.0 };
        self.alpha.iter().map(|a| a * clip).collect()
    }
}

impl Weighting for NashMtl {
    fn weights(&mut self, _t: u64, _train: &[f64], _val: &[f64]) -> Vec<f64> {
        vec![1.0; self.m]
    }
    fn state(&self) -> WeightingState {
        let mut s = WeightingState::default();
        s.floats.insert("alpha".into(), self.alpha.clone());
        s.words.insert("warned".into(), vec![self.warned as u64]);
        s
    }
    fn load_state(&mut self, state: &WeightingState) -> Result<()> {
        self.alpha = state.floats("alpha", self.m)?;
        self.warned = state.words("warned", 1)?[0] as usize;
        Ok(())
    }
    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
    fn as_gradient(&mut self) -> Option<&mut dyn GradientMethod> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::linalg::close;
    use super::*;

    fn info(t: u64) -> StepInfo<'static> {
        StepInfo { t, losses: &[1.0, 1.0], lr: 0.1 }
    }

    #[test]
    fn orthogonal_and_dominant_by_hand() {
        // K = I: α_j² = 1 → α = (1, 1) (torchjd's port of the authors' code: the same); with
        // max_norm 1, ‖d‖ = √2 → α = (1/√2, 1/√2).
        let k = Gram::of(&[vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(close(&nash_alpha(&k).unwrap(), &[1.0, 1.0], 1e-9));
        assert!(close(&NashMtl::new(2, GradMode::Parameters, 0.0, 1).combine(&info(1), &k), &[1.0, 1.0], 1e-9));
        let r = 0.5f64.sqrt();
        assert!(close(&NashMtl::new(2, GradMode::Parameters, 1.0, 1).combine(&info(1), &k), &[r, r], 1e-9));
        // g1 = (2,0), g2 = (0,1): α = (½, 1): α_j g_j have equal norm.
        let k = Gram::of(&[vec![2.0, 0.0], vec![0.0, 1.0]]);
        assert!(close(&nash_alpha(&k).unwrap(), &[0.5, 1.0], 1e-9));
        // Small gradients: g1 = (0.1, 0), g2 = (0, 0.2): α = (10, 5), whatever ‖K‖ (a solution on
        // the normalised K̂ alone would give (10, 5)·√‖K‖ = (2.03, 1.02)). ‖d‖ = √2 → with
        // max_norm 0 unclipped.
        let k = Gram::of(&[vec![0.1, 0.0], vec![0.0, 0.2]]);
        assert!(close(&nash_alpha(&k).unwrap(), &[10.0, 5.0], 1e-7));
    }

    #[test]
    fn parallel_conflicting_and_degenerate() {
        // Identical gradients: K = [[1,1],[1,1]] → α1 + α2 = 1/α_j → α = (1/√2, 1/√2).
        let r = 0.5f64.sqrt();
        assert!(close(&nash_alpha(&Gram::of(&[vec![1.0, 0.0], vec![1.0, 0.0]])).unwrap(), &[r, r], 1e-9));
        // Conflicting but not opposite: a solution exists and satisfies K α = 1/α.
        for g in [vec![vec![1.0, 0.0], vec![-1.0, 1.0]], vec![vec![1.0, 0.0, 0.0], vec![-0.5, 1.0, 0.0], vec![0.3, 0.2, 1.0]]] {
            let k = Gram::of(&g);
            let a = nash_alpha(&k).unwrap();
            let ka = k.times(&a);
            assert!(ka.iter().zip(&a).all(|(x, y)| (x - 1.0 / y).abs() < 1e-9), "{a:?}");
        }
        // The three-task case above against torchjd 0.18's port of the authors' convex-concave
        // solver (benches/libmtl_check.py prints it): α = (1.18348, 1.14255, 0.77586).
        let a = nash_alpha(&Gram::of(&[vec![1.0, 0.0, 0.0], vec![-0.5, 1.0, 0.0], vec![0.3, 0.2, 1.0]])).unwrap();
        assert!(close(&a, &[1.18348095, 1.14254762, 0.77585959], 1e-5), "{a:?}");
        // Opposite, one zero, all zero: no solution → previous α (ones), finite, with a warning.
        for g in [[vec![1.0, 1.0], vec![-1.0, -1.0]], [vec![1.0, 2.0], vec![0.0, 0.0]], [vec![0.0, 0.0], vec![0.0, 0.0]]] {
            let k = Gram::of(&g);
            assert!(nash_alpha(&k).is_none(), "{g:?}");
            let mut n = NashMtl::new(2, GradMode::Parameters, 0.0, 1);
            assert_eq!(n.combine(&info(3), &k), vec![1.0, 1.0]);
            assert_eq!(n.take_warnings().len(), 1);
        }
    }

    #[test]
    fn update_every_reuses_alpha() {
        let mut n = NashMtl::new(2, GradMode::Parameters, 0.0, 2);
        let a = n.combine(&info(1), &Gram::of(&[vec![1.0, 0.0], vec![0.0, 1.0]]));
        let b = n.combine(&info(2), &Gram::of(&[vec![2.0, 0.0], vec![0.0, 1.0]]));
        assert_eq!(a, b);
        let c = n.combine(&info(3), &Gram::of(&[vec![2.0, 0.0], vec![0.0, 1.0]]));
        assert_ne!(a, c);
    }
}
