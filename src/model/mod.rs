//! Networks: ResNet trunks, a small CNN, per-task heads, pretrained-weight import.
