//! The task heads: pooled trunk features → [FC(hidden) → ReLU] → dropout → FC(outputs), with one
//! output per binary task and C outputs per C-way task (the layout of `train::losses::TaskLayout`).
//! `hidden = 0, dropout = 0` is the authors' release (one FC 2048→40); the paper's text says
//! dropout 0.5 on its fully connected layers.

use tch::Tensor;

use super::layers::{Linear, ParamStore};

pub struct Head {
    hidden: Option<Linear>,
    fc: Linear,
    dropout: f64,
}

impl Head {
    pub fn new(store: &mut ParamStore, features: i64, hidden: i64, outputs: i64, dropout: f64) -> Head {
        let (hidden, c_in) = if hidden > 0 { (Some(store.linear("head.hidden", features, hidden)), hidden) } else { (None, features) };
        let fc = store.linear("head.fc", c_in, outputs);
        Head { hidden, fc, dropout }
    }

    pub fn forward(&self, features: &Tensor, train: bool) -> Tensor {
        let mut x = features.shallow_clone();
        if let Some(h) = &self.hidden {
            x = h.forward(&x).relu();
        }
        if self.dropout > 0.0 && train {
            x = x.dropout(self.dropout, true);
        }
        self.fc.forward(&x)
    }
}
