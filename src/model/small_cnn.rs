//! A small CNN for CPU runs: four 3×3 conv–BN–ReLU stages (16, 32, 64, 128 channels, the first
//! three followed by 2×2 max pooling) and global average pooling; 128 features.

use tch::Tensor;

use super::layers::{BatchNorm, BnMode, Conv, Mode, ParamStore};

pub struct SmallCnn {
    stages: Vec<(Conv, BatchNorm, bool)>,
    pub features: i64,
}

impl SmallCnn {
    pub fn new(store: &mut ParamStore, bn: BnMode) -> SmallCnn {
        let widths = [16, 32, 64, 128];
        let mut c_in = 3;
        let mut stages = Vec::new();
        for (i, &w) in widths.iter().enumerate() {
            let conv = store.conv(&format!("conv{}", i + 1), c_in, w, 3, 1, 1);
            let bn = store.batch_norm(&format!("bn{}", i + 1), w, bn);
            stages.push((conv, bn, i + 1 < widths.len()));
            c_in = w;
        }
        SmallCnn { stages, features: c_in }
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let mut y = x.shallow_clone();
        for (conv, bn, pool) in &self.stages {
            y = bn.forward(&conv.forward(&y, mode), mode).relu_();
            if *pool {
                y = y.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            }
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}
