//! Datasets: CelebA and Market-1501/Duke loaders, procedural datasets, the image pipeline.
pub mod celeba;
pub mod decode_split;
pub mod images;
pub mod jpeg_check;
pub mod market;
pub mod matfile;
pub mod prepared;
pub mod resample;
pub mod splits;
pub mod synth;
pub mod tasks;
pub mod turbojpeg;
pub mod text;
