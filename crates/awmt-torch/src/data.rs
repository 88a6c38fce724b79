//! Prepared images as tensors: a batch of a memory-mapped `prepare` split (awmt's
//! `data::prepared`), normalised and laid out N×3×H×W for the network.

use awmt::data::images::normalise_chw;
use awmt::data::prepared::PreparedSplit;
use tch::Tensor;

/// `batch` for a prepared split (the split type lives in the torch-free crate).
pub trait ImageBatch {
    /// Images `indices` as a normalised float tensor of shape N×3×H×W on the CPU.
    fn batch(&self, indices: &[usize]) -> Tensor;
}

impl ImageBatch for PreparedSplit {
    fn batch(&self, indices: &[usize]) -> Tensor {
        let n = self.info.image_bytes();
        let mut floats = vec![0f32; indices.len() * n];
        for (&i, out) in indices.iter().zip(floats.chunks_exact_mut(n)) {
            normalise_chw(self.image(i), self.info.mean, self.info.std, out);
        }
        let (h, w, c) = (self.info.height as i64, self.info.width as i64, self.info.channels as i64);
        Tensor::from_slice(&floats).view([indices.len() as i64, c, h, w])
    }
}
