//! Networks: ResNet trunks, a small CNN, per-task heads, pretrained-weight import (torch.save
//! checkpoints and safetensors). The torch-free halves (`spec`, `torch_file`) are awmt's
//! `model` modules, re-exported here so that this module reads as the whole.

pub mod heads;
pub mod layers;
pub mod net;
pub mod pretrained;
pub mod resnet;
pub mod small_cnn;

pub use awmt::model::{spec, torch_file};
pub use layers::LinearInit;
pub use net::{InitOptions, Net};
pub use spec::{NetConfig, Trunk};
