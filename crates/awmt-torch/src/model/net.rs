//! A whole network (trunk + heads) built from a serialisable description, so that `model.json`
//! plus `model.safetensors` rebuild exactly what was trained (the description: [`super::spec`]).

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use tch::{Device, Kind, Tensor};

use super::heads::Head;
use super::layers::{BnMode, LinearInit, Mode, ParamStore};
use super::resnet::ResNet;
use super::small_cnn::SmallCnn;
use super::spec::{NetConfig, Trunk};

/// Training-time choices that leave the network's shape alone (so `model.json` does not record
/// them): whether frozen-statistics BN trains γ/β, and how the head's FC layers start.
#[derive(Debug, Clone, Copy)]
pub struct InitOptions {
    pub train_bn_affine: bool,
    pub head_init: LinearInit,
}

impl Default for InitOptions {
    /// What [`Net::new`] builds: frozen-statistics BN keeps γ/β fixed too, PyTorch's FC init. (The
    /// train stage always passes its own options: `bn_affine`, `head_init`.)
    fn default() -> Self {
        InitOptions { train_bn_affine: false, head_init: LinearInit::Pytorch }
    }
}

enum TrunkNet {
    Small(SmallCnn),
    Res(ResNet),
}

pub struct Net {
    pub store: ParamStore,
    pub config: NetConfig,
    trunk: TrunkNet,
    head: Head,
    compute: Kind,
    channels_last: bool,
}

/// Reinterprets a 4-D NCHW tensor with channels-last strides (same values, NHWC memory order).
pub fn to_channels_last(t: &Tensor) -> Tensor {
    if t.dim() == 4 {
        t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    } else {
        t.shallow_clone()
    }
}

impl Net {
    /// Builds a freshly initialised network with the default [`InitOptions`]; the initial values
    /// depend on `seed` alone.
    pub fn new(config: &NetConfig, device: Device, seed: u64) -> Net {
        Self::with_init(config, InitOptions::default(), device, seed)
    }

    /// Builds a freshly initialised network; the initial values depend on `seed` and `init`.
    pub fn with_init(config: &NetConfig, init: InitOptions, device: Device, seed: u64) -> Net {
        let mut store = ParamStore::new(device, seed);
        let bn = BnMode { frozen_stats: config.frozen_bn, train_affine: init.train_bn_affine };
        let (trunk, features) = match config.trunk {
            Trunk::SmallCnn | Trunk::StridedCnn => {
                let t = if config.trunk == Trunk::SmallCnn { SmallCnn::new(&mut store, bn) } else { SmallCnn::strided(&mut store, bn) };
                let f = t.features;
                (TrunkNet::Small(t), f)
            }
            Trunk::Resnet18 | Trunk::Resnet50 => {
                let t = if config.trunk == Trunk::Resnet18 {
                    ResNet::resnet18(&mut store, bn)
                } else {
                    ResNet::resnet50(&mut store, bn)
                };
                let f = t.features;
                (TrunkNet::Res(t), f)
            }
        };
        let head = Head::new(&mut store, features, config.hidden, config.outputs, config.dropout, init.head_init);
        Net { store, config: config.clone(), trunk, head, compute: Kind::Float, channels_last: false }
    }

    /// Runs the convolutions in `kind` (BFloat16 for mixed precision) with Float master weights.
    pub fn set_compute_kind(&mut self, kind: Kind) {
        self.compute = kind;
    }

    /// Stores 4-D weights channels-last (faster convolutions on CUDA) and feeds inputs that way.
    pub fn set_channels_last(&mut self) {
        tch::no_grad(|| {
            for p in &mut self.store.params {
                if p.tensor.dim() == 4 {
                    let cl = to_channels_last(&p.tensor);
                    p.tensor.set_data(&cl);
                }
            }
        });
        self.channels_last = true;
    }

    /// Outputs [N, outputs] (Float) for normalised images [N, 3, H, W]. `train`: None = eval mode;
    /// Some(seed) = training mode, dropout masks drawn from `seed`.
    pub fn forward(&self, images: &Tensor, train: Option<u64>) -> Tensor {
        self.head_forward(&self.features(images, train.is_some()), train)
    }

    /// The trunk's output [N, features] (Float): the shared representation.
    pub fn features(&self, images: &Tensor, train: bool) -> Tensor {
        let mode = Mode { train, compute: self.compute };
        let mut x = images.to_device(self.store.device);
        if self.channels_last {
            x = to_channels_last(&x);
        }
        if self.compute != Kind::Float {
            x = x.to_kind(self.compute);
        }
        let features = match &self.trunk {
            TrunkNet::Small(t) => t.forward(&x, mode),
            TrunkNet::Res(t) => t.forward(&x, mode),
        };
        features.to_kind(Kind::Float)
    }

    /// The head on trunk features; `dropout_seed` as in [`Net::forward`].
    pub fn head_forward(&self, features: &Tensor, dropout_seed: Option<u64>) -> Tensor {
        self.head.forward(features, dropout_seed)
    }

    /// Names of the trunk's tensors (everything but the head).
    pub fn trunk_names(&self) -> Vec<String> {
        self.store.params.iter().filter(|p| !p.name.starts_with("head.")).map(|p| p.name.clone()).collect()
    }

    /// Every tensor, contiguous, ready to be written.
    pub fn named_contiguous(&self) -> Vec<(String, Tensor)> {
        self.store.named().into_iter().map(|(n, t)| (n, t.contiguous().to_device(Device::Cpu))).collect()
    }

    /// Writes all tensors as safetensors (deterministic: sorted by name).
    pub fn save(&self, path: &Path) -> Result<()> {
        Tensor::write_safetensors(&self.named_contiguous(), path).with_context(|| format!("writing {}", path.display()))
    }

    /// Loads every tensor from a safetensors file written by [`Net::save`].
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let named = Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?;
        let origin = path.display().to_string();
        self.store.load_from(&named, &origin, |_| false)?;
        Ok(())
    }

    /// Copies tensors that exist in `named` and the network (checkpoint restore); all must exist.
    pub fn load_named(&mut self, named: &[(String, Tensor)], origin: &str) -> Result<()> {
        self.store.load_from(named, origin, |_| false)?;
        Ok(())
    }

    pub fn check_outputs(&self, expected: i64) -> Result<()> {
        if self.config.outputs != expected {
            bail!("the network has {} outputs but the tasks need {expected}", self.config.outputs);
        }
        Ok(())
    }
}
