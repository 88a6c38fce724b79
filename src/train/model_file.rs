//! `model.json`: everything `predict` needs, besides `model.safetensors`, to rebuild the network.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::losses::{BinaryLoss, MulticlassLoss};
use crate::data::tasks::TaskSet;
use crate::model::NetConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub net: NetConfig,
    /// The tasks the outputs belong to, in output order (with the data's format and source).
    pub tasks: TaskSet,
    /// Input size the network was trained at.
    pub height: usize,
    pub width: usize,
    pub loss: BinaryLoss,
    pub multiclass_loss: MulticlassLoss,
    /// The decision threshold τ of Eq. 4 given with the weighting (informational; `evaluate`
    /// takes its own `tau`).
    pub tau: f64,
}

impl ModelInfo {
    pub const FILE: &'static str = "model.json";
    pub const WEIGHTS: &'static str = "model.safetensors";

    pub fn load(dir: &Path) -> Result<ModelInfo> {
        let path = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a model description written by a train stage", path.display()))
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(Self::FILE);
        crate::util::write_json(&path, self)
    }
}
