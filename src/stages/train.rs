//! `kind: train` — not implemented yet.

use super::{InputSlot, ParamError, StageContext, StageKind};

pub struct Train;

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[]
    }
    fn check_params(&self, _with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        Err(ParamError::new(&[], "kind `train` is not implemented yet"))
    }
    fn run(&self, _ctx: &StageContext) -> anyhow::Result<()> {
        anyhow::bail!("kind `train` is not implemented yet")
    }
}
