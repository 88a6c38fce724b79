//! Datasets: CelebA and Market-1501/Duke loaders, procedural datasets, the image pipeline.
pub mod tasks;
pub mod prepared;
