//! The resource trace of one stage in one run: the record the run index stores (`cache::run_index`,
//! one line per finished stage) and the run record hands the report stage, which draws it
//! (`report::dag`). Plain data, so that neither reader depends on the other's module.

use serde::{Deserialize, Serialize};

/// One stage's trace in one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StageTrace {
    #[serde(default)]
    pub run: String,
    pub stage: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub key: Option<String>,
    /// `ran`, `cached`, `failed` or `skipped`.
    pub status: String,
    /// Attempts made (1 without retries; 0 when cached or skipped).
    #[serde(default)]
    pub attempts: u32,
    /// Unix seconds the (last) attempt started and ended; equal for cached stages.
    pub start: f64,
    pub end: f64,
    /// Wall seconds of the last attempt.
    pub seconds: f64,
    /// CPU seconds (user + system) and peak resident bytes of the stage's process tree, where
    /// measured (ran or failed stages).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    #[serde(default)]
    pub max_rss: Option<u64>,
    /// Bytes the stage published into the cache.
    #[serde(default)]
    pub bytes_written: u64,
    /// `local` or `slurm`.
    #[serde(default)]
    pub executor: String,
    /// GPU indices the stage was placed on, where placement is known.
    #[serde(default)]
    pub gpus: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
