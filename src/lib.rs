//! awmt: declarative, content-cached experiment pipelines for the AWMT paper (He et al., 2017).
//!
//! Layers, top to bottom (no arrows upward): `pipeline` (YAML → validated, expanded stages → DAG),
//! `cache` (keys, atomic entries, locks), `exec` (scheduler and executors), `stages` (one file per
//! kind), and the domain code the kinds call: `data`, `model`, `train`, `eval`, `report`.
//! Everything that needs libtorch (training, prediction, the `awmt-worker` binary) is the
//! `awmt-torch` crate (crates/awmt-torch), which depends on this one; this crate never links libtorch.
//! `util`, `trace_record` (a stage's resource trace, plain data) and `supervise` (the parent
//! process of a command stage's tree) know none of them.

pub mod broken_pipe;
pub mod cache;
pub mod data;
pub mod eval;
pub mod exec;
pub mod model;
pub mod params;
pub mod pipeline;
pub mod report;
pub mod rng;
pub mod runs;
pub mod stages;
pub mod rusage;
pub mod supervise;
pub mod trace_record;
pub mod train;
pub mod util;

/// The torch release whose libtorch `awmt-worker` links (pinned with tch 0.24.0; see docs/TOOLCHAIN.md).
pub const TORCH_VERSION: &str = "2.11.0";
