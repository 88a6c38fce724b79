//! Run records: what each stage of a pipeline resolved to the last time it ran or was found cached,
//! so `awmt status` can say *why* a stage is stale and the report can show durations.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{Cache, KeyParts};

/// One stage's last known state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub key: String,
    pub parts: KeyParts,
    /// `ran` or `cached` in the run that wrote the record.
    pub status: String,
    /// Wall time of the run that produced the entry.
    pub seconds: f64,
}

/// All records of one pipeline, by stage name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PipelineRecord {
    pub stages: BTreeMap<String, StageRecord>,
}

impl Cache {
    fn record_path(&self, pipeline: &str) -> PathBuf {
        let safe: String = pipeline.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        self.root.join("records").join(format!("{safe}.json"))
    }

    pub fn load_record(&self, pipeline: &str) -> PipelineRecord {
        std::fs::read_to_string(self.record_path(pipeline)).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
    }

    pub fn save_record(&self, pipeline: &str, record: &PipelineRecord) -> Result<()> {
        crate::util::write_atomic(&self.record_path(pipeline), serde_json::to_string_pretty(record)?.as_bytes())
    }
}
