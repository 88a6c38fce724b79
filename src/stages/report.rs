//! `kind: report` — not implemented yet.

use super::{InputSlot, ParamError, StageContext, StageKind};

pub struct Report;

impl StageKind for Report {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        1
    }
    fn input_slots(&self) -> &'static [InputSlot] {
        &[]
    }
    fn check_params(&self, _with: &serde_json::Value) -> Result<serde_json::Value, ParamError> {
        Err(ParamError::new(&[], "kind `report` is not implemented yet"))
    }
    fn run(&self, _ctx: &StageContext) -> anyhow::Result<()> {
        anyhow::bail!("kind `report` is not implemented yet")
    }
}
