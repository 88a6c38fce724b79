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

use anyhow::{Context as _, Result};
use tch::Tensor;

use super::net::Net;

/// Copies the trunk weights of `path` into `net`; returns how many tensors were loaded.
pub fn load_trunk(net: &mut Net, path: &Path) -> Result<usize> {
    // A directory is another train stage's output (e.g. a pretext-trained trunk).
    let file = if path.is_dir() { path.join("model.safetensors") } else { path.to_path_buf() };
    let path = file.as_path();
    let named = Tensor::read_safetensors(path)
        .with_context(|| format!("{}: not a readable safetensors file (see the recipe in src/model/pretrained.rs)", path.display()))?;
    let origin = format!("{} (torchvision {} weights expected)", path.display(), net.config.trunk.name());
    let trunk: Vec<(String, Tensor)> = named.into_iter().filter(|(n, _)| !n.starts_with("head.") && !n.starts_with("fc.")).collect();
    net.store.load_from(&trunk, &origin, |name| name.starts_with("head."))
}
