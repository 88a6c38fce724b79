//! Loads pretrained trunk weights into a network by torchvision's parameter names. The train
//! stage's `pretrained` input may be:
//! - another train stage's output directory (its `model.safetensors`: e.g. a trunk trained on a
//!   pretext task);
//! - torchvision's own checkpoint as downloaded (`resnet50-0676ba61.pth`, `resnet18-f37072fd.pth`:
//!   the zip format `torch.save` writes, read by `torch_file` without Python);
//! - a safetensors file with torchvision's names, e.g. made with:
//!
//! ```python
//! # pip install torch torchvision safetensors
//! import torchvision
//! from safetensors.torch import save_file
//! m = torchvision.models.resnet50(weights="IMAGENET1K_V1")   # or resnet18(weights="IMAGENET1K_V1")
//! save_file({k: v.contiguous() for k, v in m.state_dict().items()}, "resnet50.safetensors")
//! ```
//!
//! Every trunk tensor (convolutions, BN weight/bias/running statistics) must be in the source
//! with the same shape. The source's heads (`head.*`, awmt's) and classifier (`fc.*`,
//! torchvision's) are ignored whatever their shape, as are `*.num_batches_tracked` counters; the
//! heads keep their fresh initialisation. Any other tensor the network lacks is an error (a
//! ResNet-34 file would otherwise fill a ResNet-18 silently).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use tch::{Kind, Tensor};

use super::net::Net;
use super::torch_file::{self, DType, RawTensor};

/// The weights file inside a train stage's output directory.
const MODEL_FILE: &str = "model.safetensors";

/// Whether a source tensor is never loaded into a trunk.
fn ignored(name: &str) -> bool {
    name.starts_with("head.") || name.starts_with("fc.") || name.ends_with(".num_batches_tracked")
}

/// The file to read for a `pretrained` input: the input itself, or a train stage's
/// `model.safetensors` when it is a directory.
pub fn weights_file(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let file = path.join(MODEL_FILE);
        if !file.is_file() {
            bail!(
                "{}: a `pretrained` directory must be a train stage's output (with {MODEL_FILE}); this one has none",
                path.display()
            );
        }
        return Ok(file);
    }
    Ok(path.to_path_buf())
}

/// Reads every tensor of a weights file: a `torch.save` checkpoint (zip; see `torch_file`) or a
/// safetensors file.
pub fn read_weights(file: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(file)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 512), &mut head))
        .with_context(|| format!("reading {}", file.display()))?;
    if torch_file::is_zip(&head) {
        return torch_file::read(file)?.into_iter().map(|t| Ok((t.name.clone(), to_tensor(&t)?))).collect();
    }
    if torch_file::is_legacy_pickle(&head) || torch_file::is_tar(&head) {
        bail!(
            "{}: a checkpoint in a legacy torch.save format (PyTorch < 1.6, e.g. torchvision's old resnet50-19c8e357.pth), \
             which awmt does not read; download the current file (resnet50-0676ba61.pth), or re-save it with a recent \
             PyTorch (torch.save(torch.load(f), \"new.pth\")) or as safetensors (see src/model/pretrained.rs)",
            file.display()
        );
    }
    Tensor::read_safetensors(file).with_context(|| {
        format!(
            "{}: neither a torch.save checkpoint nor a readable safetensors file (truncated or damaged? see src/model/pretrained.rs)",
            file.display()
        )
    })
}

/// A tch tensor holding a checkpoint tensor's values.
fn to_tensor(t: &RawTensor) -> Result<Tensor> {
    let kind = match t.dtype {
        DType::F32 => Kind::Float,
        DType::F64 => Kind::Double,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::I16 => Kind::Int16,
        DType::I8 => Kind::Int8,
        DType::U8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
    };
    Tensor::f_from_data_size(&t.data, &t.shape, kind).with_context(|| format!("tensor `{}`", t.name))
}

/// Copies the trunk weights of `path` (a file or a train stage's output directory) into `net`;
/// returns how many tensors were loaded.
pub fn load_trunk(net: &mut Net, path: &Path) -> Result<usize> {
    let file = weights_file(path)?;
    let named: Vec<(String, Tensor)> = read_weights(&file)?.into_iter().filter(|(n, _)| !ignored(n)).collect();
    let origin = format!("{} (trunk `{}` expected)", file.display(), net.config.trunk.name());
    let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    let expected = net.config.trunk.name();
    if let Some(found) = architecture(&names) {
        if found != expected {
            let fix = if ["small_cnn", "strided_cnn", "resnet18", "resnet50"].contains(&found.as_str()) {
                format!("set `model: {found}` on the stage, or give {expected} weights")
            } else {
                format!("give {expected} weights (awmt's trunks: small_cnn, strided_cnn, resnet18, resnet50)")
            };
            bail!("{origin}: the file holds {found} weights, not {expected}; {fix}");
        }
    }
    let trunk = net.trunk_names();
    let extra: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).filter(|n| !trunk.iter().any(|t| t == n)).collect();
    if !extra.is_empty() {
        let shown: Vec<&str> = extra.iter().take(5).copied().collect();
        bail!(
            "{origin}: {} tensors are not part of the network, e.g. {}; is the file made for another architecture?",
            extra.len(),
            shown.join(", ")
        );
    }
    if let Some((name, t)) = named.iter().find(|(_, t)| !t.is_floating_point()) {
        bail!("{origin}: tensor `{name}` holds {:?} values; trunk weights are floating-point", t.kind());
    }
    net.store.load_from(&named, &origin, |name| name.starts_with("head."))
}

/// The architecture a set of tensor names belongs to, when it is recognisable: a torchvision
/// ResNet by its block counts, or awmt's small CNN.
fn architecture(names: &[&str]) -> Option<String> {
    let has = |n: &str| names.contains(&n);
    if has("layer1.0.conv1.weight") {
        let blocks: Vec<usize> =
            (1..=4).map(|l| (0..).take_while(|i| has(&format!("layer{l}.{i}.conv1.weight"))).count()).collect();
        let bottleneck = has("layer1.0.conv3.weight");
        // An unknown pattern (e.g. a block missing from a damaged file) is left to the
        // per-tensor checks, which name what is missing.
        let name = match (bottleneck, blocks.as_slice()) {
            (false, [2, 2, 2, 2]) => "resnet18",
            (false, [3, 4, 6, 3]) => "resnet34",
            (true, [3, 4, 6, 3]) => "resnet50",
            (true, [3, 4, 23, 3]) => "resnet101",
            (true, [3, 8, 36, 3]) => "resnet152",
            _ => return None,
        };
        return Some(name.into());
    }
    let small = has("conv4.weight") && has("bn4.running_var") && !has("conv5.weight");
    match (small, has("stem.weight")) {
        (true, true) => Some("strided_cnn".into()),
        (true, false) => Some("small_cnn".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::architecture;

    #[test]
    fn tells_the_two_small_trunks_apart() {
        let small = ["conv1.weight", "conv4.weight", "bn4.running_var"];
        assert_eq!(architecture(&small).as_deref(), Some("small_cnn"));
        let strided = ["stem.weight", "stem_bn.running_var", "conv1.weight", "conv4.weight", "bn4.running_var"];
        assert_eq!(architecture(&strided).as_deref(), Some("strided_cnn"));
    }
}
