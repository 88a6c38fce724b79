//! The torch half of the gradient hook: the training forward pass (split at the trunk's output
//! in `representation` mode), the per-task gradients, their Gram matrix, and the update direction
//! d = Σ_j w_j g_j written into the parameters' `.grad` for the SGD step. Costs: see `gradient`.

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

use super::{GradMode, GradientMethod, Gram, StepInfo};
use crate::model::Net;

/// The training forward pass of one iteration.
pub struct Forward {
    /// The network's outputs [N, outputs].
    pub outputs: Tensor,
    /// In `representation` mode: the trunk's output z (attached to the trunk's graph) and the
    /// detached leaf z' the head was run on.
    rep: Option<(Tensor, Tensor)>,
}

/// Runs the network in training mode; `mode` is the gradient method's, None for loss weighting.
pub fn forward(net: &Net, images: &Tensor, dropout_seed: u64, mode: Option<GradMode>) -> Forward {
    match mode {
        Some(GradMode::Representation) => {
            let z = net.features(images, true);
            let leaf = z.detach().set_requires_grad(true);
            let outputs = net.head_forward(&leaf, Some(dropout_seed));
            Forward { outputs, rep: Some((z, leaf)) }
        }
        _ => Forward { outputs: net.forward(images, Some(dropout_seed)), rep: None },
    }
}

/// Gradients of `loss` w.r.t. `inputs`, zeros where an input does not reach it.
fn grads_of(loss: &Tensor, inputs: &[Tensor], keep_graph: bool) -> Vec<Tensor> {
    Tensor::run_backward(&[loss], inputs, keep_graph, false)
        .into_iter()
        .zip(inputs)
        .map(|(g, p)| if g.defined() { g } else { p.zeros_like() })
        .collect()
}

/// Adds `grads` to the `.grad` of `params` (one cheap backward of Σ p·g).
fn accumulate(params: &[Tensor], grads: &[Tensor]) {
    if params.is_empty() {
        return;
    }
    let surrogate = params
        .iter()
        .zip(grads)
        .map(|(p, g)| (p * g.detach()).sum(Kind::Float))
        .reduce(|a, b| a + b)
        .expect("at least one parameter");
    surrogate.backward();
}

/// Per-task gradients → method → direction into `.grad`. Returns the effective λ (= w). Stops
/// training, naming the method and iteration, when w or d is not finite.
pub fn backward(method: &mut dyn GradientMethod, net: &Net, fwd: &Forward, losses: &Tensor, train: &[f64], t: u64, lr: f64) -> Result<Vec<f64>> {
    let m = train.len();
    let name = method.name();
    let trained = net.store.trained();
    if m == 0 {
        return Ok(Vec::new());
    }
    let g: Tensor;
    let mut shapes: Vec<(Tensor, Vec<i64>)> = Vec::new();
    match &fwd.rep {
        Some((_, leaf)) => {
            // Heads only: ∂L_j/∂z' for each task (M passes through the head), then the head's own
            // gradient of Σ L_j.
            let rows: Vec<Tensor> = (0..m).map(|j| grads_of(&losses.get(j as i64), std::slice::from_ref(leaf), true)[0].reshape([-1])).collect();
            g = Tensor::stack(&rows, 0);
            let head: Vec<Tensor> = trained.iter().filter(|(n, _)| n.starts_with("head.")).map(|(_, p)| p.shallow_clone()).collect();
            let head_grads = grads_of(&losses.sum(Kind::Float), &head, false);
            accumulate(&head, &head_grads);
        }
        None => {
            // Shared: everything but the task-specific output layer; M full backward passes.
            let (shared, specific): (Vec<_>, Vec<_>) = trained.iter().partition(|(n, _)| !n.starts_with("head.fc."));
            let shared: Vec<Tensor> = shared.into_iter().map(|(_, p)| p.shallow_clone()).collect();
            let specific: Vec<Tensor> = specific.into_iter().map(|(_, p)| p.shallow_clone()).collect();
            let inputs: Vec<Tensor> = shared.iter().chain(&specific).map(|p| p.shallow_clone()).collect();
            let mut specific_sum: Vec<Tensor> = specific.iter().map(|p| p.zeros_like()).collect();
            // Each task's gradient goes straight into its row of one [M, P] matrix (one copy, no
            // per-task temporaries the size of the model).
            let sizes: Vec<i64> = shared.iter().map(|p| p.numel() as i64).collect();
            let all = Tensor::empty([m as i64, sizes.iter().sum()], (shared.first().map_or(Kind::Float, |p| p.kind()), losses.device()));
            for j in 0..m {
                let grads = grads_of(&losses.get(j as i64), &inputs, j + 1 < m);
                let row = all.get(j as i64);
                let mut offset = 0;
                for (x, n) in grads[..shared.len()].iter().zip(&sizes) {
                    row.narrow(0, offset, *n).copy_(&x.reshape([-1]));
                    offset += n;
                }
                for (acc, x) in specific_sum.iter_mut().zip(&grads[shared.len()..]) {
                    *acc = &*acc + x;
                }
            }
            g = all;
            accumulate(&specific, &specific_sum);
            shapes = shared.iter().map(|p| (p.shallow_clone(), p.size())).collect();
        }
    }
    let k = g.matmul(&g.tr()).to_kind(Kind::Double).to_device(Device::Cpu);
    let gram = Gram::new(m, Vec::<f64>::try_from(k.reshape([-1]))?);
    if gram.k.iter().any(|x| !x.is_finite()) {
        bail!("iteration {t}: {name}: the task gradients are not finite; training stopped");
    }
    let w = method.combine(&StepInfo { t, losses: train, lr }, &gram);
    if w.len() != m || w.iter().any(|x| !x.is_finite()) {
        bail!("iteration {t}: {name} gave a non-finite update direction (weights {w:?}); training stopped");
    }
    let wt = Tensor::from_slice(&w.iter().map(|x| *x as f32).collect::<Vec<f32>>()).to_device(g.device());
    let d = wt.unsqueeze(0).matmul(&g).squeeze_dim(0);
    let finite = f64::try_from(d.isfinite().all().to_kind(Kind::Double)).unwrap_or(0.0) == 1.0;
    if !finite {
        bail!("iteration {t}: {name} gave a non-finite update direction; training stopped");
    }
    match &fwd.rep {
        Some((z, _)) => (z * d.view(z.size().as_slice()).detach()).sum(Kind::Float).backward(),
        None => {
            let mut offset = 0;
            let mut params = Vec::with_capacity(shapes.len());
            let mut grads = Vec::with_capacity(shapes.len());
            for (p, size) in shapes {
                let n: i64 = size.iter().product();
                grads.push(d.narrow(0, offset, n).view(size.as_slice()));
                params.push(p);
                offset += n;
            }
            accumulate(&params, &grads);
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NetConfig, Trunk};

    /// A stand-in method returning fixed weights.
    struct Fixed(Vec<f64>, GradMode);
    impl GradientMethod for Fixed {
        fn mode(&self) -> GradMode {
            self.1
        }
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn combine(&mut self, _info: &StepInfo, _gram: &Gram) -> Vec<f64> {
            self.0.clone()
        }
    }

    fn net(hidden: i64) -> Net {
        let cfg = NetConfig { trunk: Trunk::SmallCnn, frozen_bn: false, dropout: 0.0, hidden, outputs: 2 };
        Net::new(&cfg, Device::Cpu, 3)
    }

    fn images() -> Tensor {
        let v: Vec<f32> = (0..4 * 3 * 16 * 16).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect();
        Tensor::from_slice(&v).view([4, 3, 16, 16])
    }

    /// Per-task losses of the outputs: L_0 = mean(ψ_0²), L_1 = mean((ψ_1 − 1)²).
    fn losses(out: &Tensor) -> Tensor {
        let a = out.select(1, 0).square().mean(Kind::Float);
        let b = (out.select(1, 1) - 1.0).square().mean(Kind::Float);
        Tensor::stack(&[a, b], 0)
    }

    /// `.grad` of every trained tensor after the hook with weights `w`, and the reference:
    /// the plain backward of Σ_j w_j L_j on the shared part and of Σ_j L_j on the output layer.
    fn compare(mode: GradMode, hidden: i64, w: [f64; 2]) {
        let n = net(hidden);
        let fwd = forward(&n, &images(), 1, Some(mode));
        let l = losses(&fwd.outputs);
        let values = Vec::<f64>::try_from(l.to_kind(Kind::Double)).unwrap();
        let got_w = backward(&mut Fixed(w.to_vec(), mode), &n, &fwd, &l, &values, 1, 0.1).unwrap();
        assert_eq!(got_w, w.to_vec());
        let got: Vec<(String, Tensor)> = n.store.trained().into_iter().map(|(k, p)| (k, p.grad().copy())).collect();
        for (_, p) in n.store.trained() {
            let _ = p.grad().zero_();
        }
        let head_is_specific = |name: &str| match mode {
            GradMode::Parameters => name.starts_with("head.fc."),
            GradMode::Representation => name.starts_with("head."),
        };
        let out = n.forward(&images(), Some(1));
        let l = losses(&out);
        let weighted = l.get(0) * w[0] + l.get(1) * w[1];
        let plain = l.sum(Kind::Float);
        let params: Vec<(String, Tensor)> = n.store.trained();
        let tensors: Vec<Tensor> = params.iter().map(|(_, p)| p.shallow_clone()).collect();
        let gw = Tensor::run_backward(&[&weighted], &tensors, true, false);
        let gp = Tensor::run_backward(&[&plain], &tensors, false, false);
        for (((name, g), want_w), want_p) in got.iter().zip(&gw).zip(&gp) {
            let want = if head_is_specific(name) { want_p } else { want_w };
            let diff = f64::try_from((g - want).abs().max()).unwrap();
            let scale = f64::try_from(want.abs().max()).unwrap().max(1e-6);
            assert!(diff <= 1e-4 * scale, "{mode:?} hidden {hidden} {name}: differs by {diff} (scale {scale})");
        }
    }

    #[test]
    fn direction_matches_the_weighted_backward_in_both_modes() {
        for mode in [GradMode::Parameters, GradMode::Representation] {
            for hidden in [0, 8] {
                compare(mode, hidden, [1.0, 1.0]);
                compare(mode, hidden, [2.0, 0.0]);
                compare(mode, hidden, [0.3, -0.7]);
            }
        }
    }

    #[test]
    fn a_non_finite_direction_stops_training_naming_method_and_iteration() {
        for mode in [GradMode::Parameters, GradMode::Representation] {
            let n = net(0);
            let fwd = forward(&n, &images(), 1, Some(mode));
            let l = losses(&fwd.outputs);
            let err = backward(&mut Fixed(vec![f64::NAN, 1.0], mode), &n, &fwd, &l, &[1.0, 1.0], 17, 0.1).unwrap_err().to_string();
            assert!(err.contains("iteration 17") && err.contains("fixed") && err.contains("non-finite"), "{err}");
            let fwd = forward(&n, &images(), 1, Some(mode));
            let l = losses(&fwd.outputs);
            let err = backward(&mut Fixed(vec![f64::INFINITY, 1.0], mode), &n, &fwd, &l, &[1.0, 1.0], 3, 0.1).unwrap_err().to_string();
            assert!(err.contains("iteration 3"), "{err}");
        }
    }
}
