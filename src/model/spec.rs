//! What a network is, as `model.json` records it and a train stage's `model:` names it: the trunk
//! architecture and the shape description. Torch-free (the front end validates pipelines with it);
//! [`super::net`] builds the network from it.

use serde::{Deserialize, Serialize};

/// The trunk architecture (`model:` of a train stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trunk {
    SmallCnn,
    /// `small_cnn` behind a stride-4 stem: for 224×224 inputs on a CPU.
    StridedCnn,
    Resnet18,
    Resnet50,
}

impl Trunk {
    pub fn name(self) -> &'static str {
        match self {
            Trunk::SmallCnn => "small_cnn",
            Trunk::StridedCnn => "strided_cnn",
            Trunk::Resnet18 => "resnet18",
            Trunk::Resnet50 => "resnet50",
        }
    }
}

/// Everything needed to rebuild the network's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    pub trunk: Trunk,
    /// BN always normalises with its stored statistics (γ and β may still be trained: see
    /// `InitOptions` in `awmt_torch::model::net`).
    pub frozen_bn: bool,
    pub dropout: f64,
    /// Width of a hidden FC layer in the head; 0 = a single FC.
    pub hidden: i64,
    /// Total outputs over all tasks.
    pub outputs: i64,
}
