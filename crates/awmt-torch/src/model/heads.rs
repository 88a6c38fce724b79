//! The task heads: pooled trunk features → [FC(hidden) → ReLU] → dropout → FC(outputs), with one
//! output per binary task and C outputs per C-way task (the layout of `train::losses::TaskLayout`).
//! `hidden = 0, dropout = 0` is the authors' release (one FC 2048→40); the paper's text says
//! dropout 0.5 on its fully connected layers.

use tch::{Kind, Tensor};

use super::layers::{Linear, LinearInit, ParamStore};
use awmt::rng::Rng;

pub struct Head {
    hidden: Option<Linear>,
    fc: Linear,
    dropout: f64,
}

impl Head {
    pub fn new(store: &mut ParamStore, features: i64, hidden: i64, outputs: i64, dropout: f64, init: LinearInit) -> Head {
        let (hidden, c_in) =
            if hidden > 0 { (Some(store.linear("head.hidden", features, hidden, init)), hidden) } else { (None, features) };
        let fc = store.linear("head.fc", c_in, outputs, init);
        Head { hidden, fc, dropout }
    }

    /// `dropout_seed`: Some in training mode (the mask is drawn from awmt's own generator with
    /// that seed, so it never depends on torch's global generator); None in eval mode.
    pub fn forward(&self, features: &Tensor, dropout_seed: Option<u64>) -> Tensor {
        let mut x = features.shallow_clone();
        if let Some(h) = &self.hidden {
            x = h.forward(&x).relu();
        }
        if let (true, Some(seed)) = (self.dropout > 0.0, dropout_seed) {
            // Inverted dropout: keep with probability 1−p and scale kept values by 1/(1−p).
            let keep = 1.0 - self.dropout;
            let mut rng = Rng::new(seed);
            let n = x.numel();
            let mask: Vec<f32> = (0..n).map(|_| if rng.uniform() < keep { (1.0 / keep) as f32 } else { 0.0 }).collect();
            let mask = Tensor::from_slice(&mask).view(x.size().as_slice()).to_kind(Kind::Float).to_device(x.device());
            x = x * mask;
        }
        self.fc.forward(&x)
    }
}
