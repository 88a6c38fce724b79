//! exec layer (being written).
