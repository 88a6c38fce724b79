//! `kind: command` — a DVC-like shell command stage (being written).

use super::{InputSlot, ParamError, StageContext, StageKind};

pub struct Command;

impl StageKind for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[]
    }
    fn check_params(&self, with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        Ok(with.clone())
    }
    fn isolated(&self) -> bool {
        false
    }
    fn run(&self, _ctx: &StageContext) -> anyhow::Result<()> {
        anyhow::bail!("not yet")
    }
}
