//! The parameter store and the few layers the networks are built from (convolution, batch norm
//! with an optional frozen mode, linear), named like torchvision so that its weights load by name.

use anyhow::{bail, Context as _, Result};
use tch::{Device, Kind, Tensor};

use awmt::rng::Rng;

/// How a stored tensor takes part in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Trained by SGD, with weight decay.
    Trained,
    /// Stored but never trained (BN running statistics; frozen BN affine parameters).
    Fixed,
}

/// How a batch norm layer behaves in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BnMode {
    /// Always normalise with the stored statistics (Caffe's `use_global_stats: true`).
    pub frozen_stats: bool,
    /// Whether γ and β are trained when the statistics are frozen (live BN always trains them).
    pub train_affine: bool,
}

/// How a fully connected layer is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearInit {
    /// `torch.nn.Linear`'s default: weights and biases uniform in ±1/√fan_in.
    Pytorch,
    /// Caffe's `xavier` filler with its default `variance_norm: FAN_IN`: weights uniform in
    /// ±√(3/fan_in); bias 0 (the release's `bias_filler: constant 0`).
    Xavier,
}

/// One named tensor of a network.
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
    pub role: Role,
}

/// All tensors of a network in creation order (which is the optimiser's and the file's order).
pub struct ParamStore {
    pub device: Device,
    pub params: Vec<Param>,
    /// Initial values are drawn from awmt's own generator, never from torch's global one, so
    /// that a network's init depends on its seed alone (even with several runs in one process).
    rng: Rng,
}

impl ParamStore {
    pub fn new(device: Device, seed: u64) -> ParamStore {
        ParamStore { device, params: Vec::new(), rng: Rng::new(seed) }
    }

    fn normal(&mut self, shape: &[i64], std: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (self.rng.normal() * std) as f32).collect();
        Tensor::from_slice(&v).view(shape)
    }

    fn uniform(&mut self, shape: &[i64], bound: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| ((self.rng.uniform() * 2.0 - 1.0) * bound) as f32).collect();
        Tensor::from_slice(&v).view(shape)
    }

    fn add(&mut self, name: String, tensor: Tensor, role: Role) -> Tensor {
        let tensor = tensor.to_device(self.device).set_requires_grad(role == Role::Trained);
        self.params.push(Param { name, tensor: tensor.shallow_clone(), role });
        tensor
    }

    /// Trained parameters, in creation order.
    pub fn trained(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .filter(|p| p.role == Role::Trained)
            .map(|p| (p.name.clone(), p.tensor.shallow_clone()))
            .collect()
    }

    /// Every tensor with its name (for saving).
    pub fn named(&self) -> Vec<(String, Tensor)> {
        self.params.iter().map(|p| (p.name.clone(), p.tensor.shallow_clone())).collect()
    }

    /// Copies values from `named` into the store. Every stored tensor must be present (with the
    /// same shape) unless `allow_missing` says which names may be absent.
    pub fn load_from(&mut self, named: &[(String, Tensor)], origin: &str, allow_missing: impl Fn(&str) -> bool) -> Result<usize> {
        let map: std::collections::HashMap<&str, &Tensor> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut missing = Vec::new();
        let mut loaded = 0;
        for p in &mut self.params {
            match map.get(p.name.as_str()) {
                Some(src) => {
                    if src.size() != p.tensor.size() {
                        bail!(
                            "{origin}: tensor `{}` has shape {:?}, the network expects {:?}",
                            p.name,
                            src.size(),
                            p.tensor.size()
                        );
                    }
                    let value = src.to_kind(p.tensor.kind()).to_device(p.tensor.device());
                    tch::no_grad(|| p.tensor.f_copy_(&value)).with_context(|| format!("{origin}: copying `{}`", p.name))?;
                    loaded += 1;
                }
                None if allow_missing(&p.name) => {}
                None => missing.push(p.name.clone()),
            }
        }
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
            bail!("{origin}: {} tensors of the network are missing, e.g. {}", missing.len(), shown.join(", "));
        }
        Ok(loaded)
    }

    /// A 2-D convolution without bias (torchvision init: Kaiming normal, fan-out, ReLU gain).
    pub fn conv(&mut self, name: &str, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> Conv {
        let std = (2.0 / (c_out * k * k) as f64).sqrt();
        let w = self.normal(&[c_out, c_in, k, k], std);
        Conv { weight: self.add(format!("{name}.weight"), w, Role::Trained), stride, padding }
    }

    /// Batch norm: weight 1, bias 0, running mean 0, running var 1. Frozen statistics: the
    /// stored ones are always used; γ and β are trained unless `mode.train_affine` is false.
    pub fn batch_norm(&mut self, name: &str, c: i64, mode: BnMode) -> BatchNorm {
        let frozen = mode.frozen_stats;
        let affine = if frozen && !mode.train_affine { Role::Fixed } else { Role::Trained };
        let o = || Tensor::ones([c], (Kind::Float, Device::Cpu));
        let z = || Tensor::zeros([c], (Kind::Float, Device::Cpu));
        BatchNorm {
            weight: self.add(format!("{name}.weight"), o(), affine),
            bias: self.add(format!("{name}.bias"), z(), affine),
            running_mean: self.add(format!("{name}.running_mean"), z(), Role::Fixed),
            running_var: self.add(format!("{name}.running_var"), o(), Role::Fixed),
            frozen,
        }
    }

    /// A fully connected layer initialised by `init`.
    pub fn linear(&mut self, name: &str, c_in: i64, c_out: i64, init: LinearInit) -> Linear {
        let (w, b) = match init {
            LinearInit::Pytorch => {
                let bound = 1.0 / (c_in as f64).sqrt();
                (self.uniform(&[c_out, c_in], bound), self.uniform(&[c_out], bound))
            }
            LinearInit::Xavier => {
                let bound = (3.0 / c_in as f64).sqrt();
                (self.uniform(&[c_out, c_in], bound), Tensor::zeros([c_out], (Kind::Float, Device::Cpu)))
            }
        };
        Linear {
            weight: self.add(format!("{name}.weight"), w, Role::Trained),
            bias: self.add(format!("{name}.bias"), b, Role::Trained),
        }
    }
}

/// Execution options of a forward pass.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Training mode: live BN uses batch statistics (and updates its running ones).
    pub train: bool,
    /// Kind the convolutions run in (Float, or BFloat16 for mixed precision: weights stay Float
    /// and are cast on the fly, so gradients reach Float master weights).
    pub compute: Kind,
}

pub struct Conv {
    pub weight: Tensor,
    stride: i64,
    padding: i64,
}

impl Conv {
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let w = if mode.compute == Kind::Float { self.weight.shallow_clone() } else { self.weight.to_kind(mode.compute) };
        x.conv2d(&w, None::<Tensor>, [self.stride, self.stride], [self.padding, self.padding], [1, 1], 1)
    }
}

pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    frozen: bool,
}

impl BatchNorm {
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let training = mode.train && !self.frozen;
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            training,
            0.1,
            1e-5,
            true,
        )
    }
}

pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}
