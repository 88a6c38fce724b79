//! Network specs and weight files without libtorch: the trunk/head configuration (`spec`) and the
//! torch.save checkpoint reader (`torch_file`). The networks themselves (ResNet trunks, a small CNN,
//! per-task heads, pretrained-weight import) are `awmt_torch::model`.

pub mod spec;
pub mod torch_file;

pub use spec::{NetConfig, Trunk};
