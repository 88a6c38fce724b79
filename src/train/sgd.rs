//! SGD with momentum and weight decay, written out so that its momentum buffers can be saved in
//! checkpoints (PyTorch's rule, dampening 0: d = g + wd·p; b = μ·b + d; p = p − lr·b; buffers start
//! at zero, which gives b = d at the first step exactly as PyTorch's clone does).

use anyhow::{bail, Result};
use tch::{Kind, Tensor};

struct Slot {
    name: String,
    param: Tensor,
    decay: f64,
    buffer: Tensor,
}

pub struct Sgd {
    slots: Vec<Slot>,
    momentum: f64,
}

impl Sgd {
    /// `params`: (name, tensor, weight decay) in a fixed order.
    pub fn new(params: Vec<(String, Tensor, f64)>, momentum: f64) -> Sgd {
        let slots = params
            .into_iter()
            .map(|(name, param, decay)| {
                let buffer = Tensor::zeros(param.size(), (Kind::Float, param.device()));
                Slot { name, param, decay, buffer }
            })
            .collect();
        Sgd { slots, momentum }
    }

    /// One update with learning rate `lr`; clears the gradients afterwards.
    pub fn step(&mut self, lr: f64) {
        let momentum = self.momentum;
        tch::no_grad(|| {
            for s in &mut self.slots {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                let d = if s.decay != 0.0 { &g + &s.param * s.decay } else { g.shallow_clone() };
                let _ = s.buffer.g_mul_scalar_(momentum);
                let _ = s.buffer.g_add_(&d);
                let _ = s.param.g_sub_(&(&s.buffer * lr));
                s.param.zero_grad();
            }
        });
    }

    /// Momentum buffers as `momentum/<name>` (for checkpoints).
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        self.slots.iter().map(|s| (format!("momentum/{}", s.name), s.buffer.shallow_clone())).collect()
    }

    /// Restores the buffers written by [`Sgd::buffers`].
    pub fn load_buffers(&mut self, named: &std::collections::HashMap<String, Tensor>, origin: &str) -> Result<()> {
        for s in &mut self.slots {
            let key = format!("momentum/{}", s.name);
            let Some(src) = named.get(&key) else { bail!("{origin}: no momentum buffer for `{}`", s.name) };
            if src.size() != s.buffer.size() {
                bail!("{origin}: momentum buffer `{}` has the wrong shape", s.name);
            }
            tch::no_grad(|| s.buffer.copy_(&src.to_device(s.buffer.device())));
        }
        Ok(())
    }
}
