//! `kind: synth` — not implemented yet.

use super::{InputSlot, ParamError, StageContext, StageKind};

pub struct Synth;

impl StageKind for Synth {
    fn name(&self) -> &'static str {
        "synth"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[]
    }
    fn check_params(&self, _with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        Err(ParamError::new(&[], "kind `synth` is not implemented yet"))
    }
    fn run(&self, _ctx: &StageContext) -> anyhow::Result<()> {
        anyhow::bail!("kind `synth` is not implemented yet")
    }
}
