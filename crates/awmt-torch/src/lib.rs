//! awmt-torch: the half of awmt that links libtorch — the networks (`model`), Algorithm 1 and the
//! task-weighting methods (`train`), prepared images as tensors (`data`), the `train` and
//! `evaluate` stages' work (`stages`), and running one stage in the `awmt-worker` process
//! (`worker`). Everything else (pipelines, cache, scheduler, the other stage kinds, the specs these
//! modules implement) is the torch-free `awmt` crate, so that the `awmt` front end cannot link
//! libtorch.

pub mod data;
pub mod model;
pub mod stages;
pub mod torch_env;
pub mod train;
pub mod worker;
