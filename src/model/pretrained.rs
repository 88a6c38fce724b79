//! Loads ImageNet-pretrained trunk weights from a safetensors file that uses torchvision's
//! parameter names. awmt never downloads anything; a user with internet makes the file once:
//!
//! ```python
//! # pip install torch torchvision safetensors
//! import torchvision
//! from safetensors.torch import save_file
//! m = torchvision.models.resnet50(weights="IMAGENET1K_V1")   # or resnet18(weights="IMAGENET1K_V1")
//! save_file({k: v.contiguous() for k, v in m.state_dict().items()}, "resnet50.safetensors")
//! ```
//!
//! and names it as the train stage's `pretrained` input. Every trunk tensor (convolutions, BN
//! weight/bias/running statistics) must be in the file with the same shape; the file's `fc.*` and
//! `*.num_batches_tracked` entries are ignored, and the heads keep their fresh initialisation.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use tch::Tensor;

use super::net::{Net, Trunk};

/// Copies the trunk weights of `path` into `net`; returns how many tensors were loaded.
pub fn load_trunk(net: &mut Net, path: &Path) -> Result<usize> {
    if net.config.trunk == Trunk::SmallCnn {
        bail!("{}: pretrained weights exist only for resnet18 and resnet50 trunks, not small_cnn", path.display());
    }
    let named = Tensor::read_safetensors(path)
        .with_context(|| format!("{}: not a readable safetensors file (see the recipe in src/model/pretrained.rs)", path.display()))?;
    let origin = format!("{} (torchvision {} weights expected)", path.display(), net.config.trunk.name());
    net.store.load_from(&named, &origin, |name| name.starts_with("head."))
}
