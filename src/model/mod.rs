//! Networks: ResNet trunks, a small CNN, per-task heads, pretrained-weight import.

#[cfg(feature = "torch")]
pub mod heads;
#[cfg(feature = "torch")]
pub mod layers;
pub mod net;
#[cfg(feature = "torch")]
pub mod pretrained;
#[cfg(feature = "torch")]
pub mod resnet;
#[cfg(feature = "torch")]
pub mod small_cnn;

#[cfg(feature = "torch")]
pub use net::Net;
pub use net::{NetConfig, Trunk};
