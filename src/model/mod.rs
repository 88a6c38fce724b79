//! Networks: ResNet trunks, a small CNN, per-task heads, pretrained-weight import.

pub mod heads;
pub mod layers;
pub mod net;
pub mod pretrained;
pub mod resnet;
pub mod small_cnn;

pub use net::{Net, NetConfig, Trunk};
