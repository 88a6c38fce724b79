//! Networks: ResNet trunks, a small CNN, per-task heads, pretrained-weight import (torch.save
//! checkpoints and safetensors).

#[cfg(feature = "torch")]
pub mod heads;
#[cfg(feature = "torch")]
pub mod layers;
#[cfg(feature = "torch")]
pub mod net;
#[cfg(feature = "torch")]
pub mod pretrained;
#[cfg(feature = "torch")]
pub mod resnet;
#[cfg(feature = "torch")]
pub mod small_cnn;
pub mod spec;
pub mod torch_file;

#[cfg(feature = "torch")]
pub use layers::LinearInit;
#[cfg(feature = "torch")]
pub use net::{InitOptions, Net};
pub use spec::{NetConfig, Trunk};
