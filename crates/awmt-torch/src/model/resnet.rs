//! ResNet-18 and ResNet-50 trunks (v1.5: stride on the bottleneck's 3×3 convolution) with
//! torchvision's parameter names (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`, …),
//! ending in global average pooling; the classifier `fc` is replaced by the task heads.

use tch::Tensor;

use super::layers::{BatchNorm, BnMode, Conv, Mode, ParamStore};

enum Block {
    Basic { conv1: Conv, bn1: BatchNorm, conv2: Conv, bn2: BatchNorm, down: Option<(Conv, BatchNorm)> },
    Bottleneck { conv1: Conv, bn1: BatchNorm, conv2: Conv, bn2: BatchNorm, conv3: Conv, bn3: BatchNorm, down: Option<(Conv, BatchNorm)> },
}

impl Block {
    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        // In-place ReLU and residual add, as torchvision does (less memory traffic).
        let (mut y, down) = match self {
            Block::Basic { conv1, bn1, conv2, bn2, down } => {
                let y = bn1.forward(&conv1.forward(x, mode), mode).relu_();
                (bn2.forward(&conv2.forward(&y, mode), mode), down)
            }
            Block::Bottleneck { conv1, bn1, conv2, bn2, conv3, bn3, down } => {
                let y = bn1.forward(&conv1.forward(x, mode), mode).relu_();
                let y = bn2.forward(&conv2.forward(&y, mode), mode).relu_();
                (bn3.forward(&conv3.forward(&y, mode), mode), down)
            }
        };
        let shortcut = match down {
            Some((c, b)) => b.forward(&c.forward(x, mode), mode),
            None => x.shallow_clone(),
        };
        y += shortcut;
        y.relu_()
    }
}

/// A ResNet trunk up to the pooled feature vector.
pub struct ResNet {
    conv1: Conv,
    bn1: BatchNorm,
    blocks: Vec<Block>,
    pub features: i64,
}

impl ResNet {
    /// ResNet-18: basic blocks [2, 2, 2, 2], 512 features.
    pub fn resnet18(store: &mut ParamStore, bn: BnMode) -> ResNet {
        Self::build(store, bn, [2, 2, 2, 2], false)
    }

    /// ResNet-50: bottleneck blocks [3, 4, 6, 3], 2048 features.
    pub fn resnet50(store: &mut ParamStore, bn: BnMode) -> ResNet {
        Self::build(store, bn, [3, 4, 6, 3], true)
    }

    fn build(store: &mut ParamStore, bn: BnMode, counts: [usize; 4], bottleneck: bool) -> ResNet {
        let conv1 = store.conv("conv1", 3, 64, 7, 2, 3);
        let bn1 = store.batch_norm("bn1", 64, bn);
        let expansion = if bottleneck { 4 } else { 1 };
        let mut c_in = 64;
        let mut blocks = Vec::new();
        for (layer, &count) in counts.iter().enumerate() {
            let width = 64 << layer;
            for i in 0..count {
                let stride = if i == 0 && layer > 0 { 2 } else { 1 };
                let p = format!("layer{}.{i}", layer + 1);
                let c_out = width * expansion;
                let block = if bottleneck {
                    // Creation order follows torchvision's module order: convs/bns, then downsample.
                    let conv1 = store.conv(&format!("{p}.conv1"), c_in, width, 1, 1, 0);
                    let bn1 = store.batch_norm(&format!("{p}.bn1"), width, bn);
                    let conv2 = store.conv(&format!("{p}.conv2"), width, width, 3, stride, 1);
                    let bn2 = store.batch_norm(&format!("{p}.bn2"), width, bn);
                    let conv3 = store.conv(&format!("{p}.conv3"), width, c_out, 1, 1, 0);
                    let bn3 = store.batch_norm(&format!("{p}.bn3"), c_out, bn);
                    let down = (stride != 1 || c_in != c_out).then(|| {
                        (store.conv(&format!("{p}.downsample.0"), c_in, c_out, 1, stride, 0), store.batch_norm(&format!("{p}.downsample.1"), c_out, bn))
                    });
                    Block::Bottleneck { conv1, bn1, conv2, bn2, conv3, bn3, down }
                } else {
                    let conv1 = store.conv(&format!("{p}.conv1"), c_in, width, 3, stride, 1);
                    let bn1 = store.batch_norm(&format!("{p}.bn1"), width, bn);
                    let conv2 = store.conv(&format!("{p}.conv2"), width, width, 3, 1, 1);
                    let bn2 = store.batch_norm(&format!("{p}.bn2"), width, bn);
                    let down = (stride != 1 || c_in != c_out).then(|| {
                        (store.conv(&format!("{p}.downsample.0"), c_in, c_out, 1, stride, 0), store.batch_norm(&format!("{p}.downsample.1"), c_out, bn))
                    });
                    Block::Basic { conv1, bn1, conv2, bn2, down }
                };
                blocks.push(block);
                c_in = c_out;
            }
        }
        ResNet { conv1, bn1, blocks, features: c_in }
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let mut y = self.bn1.forward(&self.conv1.forward(x, mode), mode).relu_().max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for b in &self.blocks {
            y = b.forward(&y, mode);
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}
