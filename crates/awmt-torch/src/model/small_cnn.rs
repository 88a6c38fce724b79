//! A small CNN for CPU runs: four 3×3 conv–BN–ReLU stages (16, 32, 64, 128 channels, the first
//! three followed by 2×2 max pooling) and global average pooling; 128 features.
//! `strided_cnn` puts a 4×4, stride-4 conv–BN–ReLU stem (16 channels) in front, so a 224×224
//! image costs about 0.1 GFLOP (the four stages see 56×56 instead of 224×224): cheap enough to
//! train and evaluate dozens of models at the paper's input size on a CPU (benches/celeba_scale.sh).

use tch::Tensor;

use super::layers::{BatchNorm, BnMode, Conv, Mode, ParamStore};

pub struct SmallCnn {
    stem: Option<(Conv, BatchNorm)>,
    stages: Vec<(Conv, BatchNorm, bool)>,
    pub features: i64,
}

impl SmallCnn {
    pub fn new(store: &mut ParamStore, bn: BnMode) -> SmallCnn {
        Self::build(store, bn, false)
    }

    /// With the stride-4 stem (`strided_cnn`).
    pub fn strided(store: &mut ParamStore, bn: BnMode) -> SmallCnn {
        Self::build(store, bn, true)
    }

    fn build(store: &mut ParamStore, bn: BnMode, strided: bool) -> SmallCnn {
        let widths = [16, 32, 64, 128];
        let mut c_in = 3;
        let stem = strided.then(|| {
            c_in = 16;
            (store.conv("stem", 3, 16, 4, 4, 0), store.batch_norm("stem_bn", 16, bn))
        });
        let mut stages = Vec::new();
        for (i, &w) in widths.iter().enumerate() {
            let conv = store.conv(&format!("conv{}", i + 1), c_in, w, 3, 1, 1);
            let bn = store.batch_norm(&format!("bn{}", i + 1), w, bn);
            stages.push((conv, bn, i + 1 < widths.len()));
            c_in = w;
        }
        SmallCnn { stem, stages, features: c_in }
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let mut y = match &self.stem {
            Some((conv, bn)) => bn.forward(&conv.forward(x, mode), mode).relu_(),
            None => x.shallow_clone(),
        };
        for (conv, bn, pool) in &self.stages {
            y = bn.forward(&conv.forward(&y, mode), mode).relu_();
            if *pool {
                y = y.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            }
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn the_strided_stem_quarters_the_resolution_and_keeps_the_features() {
        let mut store = ParamStore::new(Device::Cpu, 1);
        let bn = BnMode { frozen_stats: false, train_affine: true };
        let net = SmallCnn::strided(&mut store, bn);
        let names: Vec<&str> = store.params.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"stem.weight") && names.contains(&"conv4.weight"), "{names:?}");
        let x = Tensor::ones([2, 3, 224, 224], (Kind::Float, Device::Cpu));
        let y = net.forward(&x, Mode { train: false, compute: Kind::Float });
        assert_eq!(y.size(), vec![2, net.features]);
        assert_eq!(net.features, 128);
    }
}
