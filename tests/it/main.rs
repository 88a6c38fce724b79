//! awmt's integration tests, as one test binary (one link of polars instead of one per file; ripgrep
//! and just do the same). Each module is one area; `cargo test --test it <module>::` runs one of
//! them. Support code: `common` (a scratch project and the awmt binary), `data_support`. The tests
//! that train in this process are awmt-torch's (crates/awmt-torch/tests/it). Pipelines run `awmt`,
//! which starts `awmt-worker` beside it: `cargo test` at the root builds both (both crates are
//! default members of the workspace).

mod common;
mod data_support;

mod data_celeba;
mod data_decoders;
mod data_market;
mod data_synth;
mod fault_injection;
mod methods_pipeline;
mod orchestrator_cache;
mod orchestrator_errors;
mod orchestrator_gpus;
mod orchestrator_overrides;
mod orchestrator_robustness;
mod pipelines_shipped;
mod quickstart_quality;
mod results_pipeline;
mod runs_experiments;
mod slurm_executor;
mod train_from_scratch;
