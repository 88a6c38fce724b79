//! awmt-torch's integration tests, as one test binary: training, prediction and pretrained trunks
//! in this process (awmt's own tests, tests/it at the workspace root, run the binaries). Each
//! module is one area; `cargo test -p awmt-torch --test it <module>::` runs one of them. Support code:
//! `train_support` (synthetic prepared data a small CNN learns quickly).

mod train_support;

mod train_gradient;
mod train_learns;
mod train_predict;
mod train_pretrained;
mod train_replay;
mod train_resume;
