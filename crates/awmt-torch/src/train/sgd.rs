//! SGD with momentum and weight decay, written out so that its momentum buffers can be saved in
//! checkpoints (PyTorch's rule, dampening 0: b = μ·b + (g + wd·p); p = p − lr·mult·b; buffers
//! start at zero, which gives b = g + wd·p at the first step as PyTorch's clone does). `mult` is a
//! per-tensor learning-rate multiplier (Caffe's `lr_mult`; docs/ALGORITHM.md).

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

struct Slot {
    name: String,
    param: Tensor,
    /// Multiplier of the learning rate (Caffe's `lr_mult`; 1 for almost every tensor).
    lr_mult: f64,
    /// Weight decay as a 0-dim tensor (None when 0).
    decay: Option<Tensor>,
    buffer: Tensor,
}

/// A 0-dim Float tensor (the scalar operand of `addcmul_`).
fn scalar(value: f64, device: Device) -> Tensor {
    Tensor::from_slice(&[value as f32]).to_device(device).reshape([])
}

pub struct Sgd {
    slots: Vec<Slot>,
    momentum: f64,
}

impl Sgd {
    /// `params`: (name, tensor, weight decay) in a fixed order, all at the base learning rate.
    pub fn new(params: Vec<(String, Tensor, f64)>, momentum: f64) -> Sgd {
        Self::with_lr_mults(params.into_iter().map(|(n, t, d)| (n, t, d, 1.0)).collect(), momentum)
    }

    /// `params`: (name, tensor, weight decay, learning-rate multiplier) in a fixed order.
    pub fn with_lr_mults(params: Vec<(String, Tensor, f64, f64)>, momentum: f64) -> Sgd {
        let slots = params
            .into_iter()
            .map(|(name, param, decay, lr_mult)| {
                let buffer = Tensor::zeros(param.size(), (Kind::Float, param.device()));
                let decay = (decay != 0.0).then(|| scalar(decay, param.device()));
                Slot { name, param, lr_mult, decay, buffer }
            })
            .collect();
        Sgd { slots, momentum }
    }

    /// One update with learning rate `lr`; clears the gradients afterwards.
    pub fn step(&mut self, lr: f64) {
        let momentum = self.momentum;
        let Some(device) = self.slots.first().map(|s| s.param.device()) else { return };
        let neg_lr = scalar(-lr, device);
        tch::no_grad(|| {
            // In-place updates only (b = μ·b + g + wd·p; p = p − lr·b): no temporaries the size of
            // the model, which matters on a CPU where the step is memory-bound.
            for s in &mut self.slots {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                let _ = s.buffer.g_mul_scalar_(momentum);
                let _ = s.buffer.g_add_(&g);
                if let Some(decay) = &s.decay {
                    let _ = s.buffer.addcmul_(&s.param, decay);
                }
                if s.lr_mult == 1.0 {
                    let _ = s.param.addcmul_(&s.buffer, &neg_lr);
                } else {
                    let _ = s.param.addcmul_(&s.buffer, &scalar(-lr * s.lr_mult, device));
                }
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
