"""PyTorch eager references for the gradient methods' per-iteration cost: the same work as
`crates/awmt-torch/benches/train_step.rs --weighting=NAME [--mode=...]` (small_cnn or a ResNet with frozen BN and
one FC to 40 binary tasks, 10 validation images forward without gradient, 10 training images
forward, the per-task square losses, the method's backward, SGD with momentum).

usage: grad_bench.py <libmtl dir> <model> <size> <steps> <threads> <method> <parameters|representation>
<method>, and whose code runs it:
- EW, MGDA, PCGrad, GradNorm, IMTL: LibMTL 1.1.5's weighting classes as published.
- CAGrad: LibMTL 1.1.5's CAGrad with its hard-coded three-task reshapes made task-count-free
  (libmtl_check.generalise_cagrad; as published it cannot run 40 tasks).
- NashMTL, AlignedMTL (in no LibMTL release on PyPI): LibMTL's per-task gradient plumbing
  (AbsWeighting._get_grads / _backward_new_grads) around torchjd 0.18's ports of the authors'
  code (Nash-MTL: 20 convex-concave iterations with cvxpy/ECOS, max_norm 1; Aligned-MTL: the
  balance transformation on the Gram matrix).
- FAMO: benches/famo_reference.py, written from the paper (one backward, then the same batch
  forward again without gradient after the step, as the paper's Algorithm 1 and awmt's default).
Prints one JSON line like the Rust bench. LibMTL's weighting modules are loaded without its
package __init__ (see libmtl_check.py). In `representation` mode each task's head (its row of the
FC) gets its own detached copy of the trunk output, as LibMTL's architectures do.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from famo_reference import FamoReference  # noqa: E402
from libmtl_check import generalise_cagrad, load_weighting  # noqa: E402
from train_bench import build_net, TASKS, BATCH, WARMUP  # noqa: E402

KWARGS = {
    "MGDA": {"mgda_gn": "none"},
    "PCGrad": {},
    "CAGrad": {"calpha": 0.5, "rescale": 1},
    "GradNorm": {"alpha": 1.5},
    "IMTL": {},
    "EW": {},
    "NashMTL": {},
    "AlignedMTL": {},
}


def torchjd_method(get, which):
    """A LibMTL-style weighting whose weights come from torchjd's port of `which`."""
    import warnings

    warnings.filterwarnings("ignore")  # cvxpy's DPP notice on every solve
    from torchjd.aggregation._aligned_mtl import AlignedMTLWeighting
    from torchjd.aggregation._nash_mtl import _NashMTLWeighting

    class Aggregated(get("abstract_weighting").AbsWeighting):
        def init_param(self):
            if which == "NashMTL":
                self.weights_of = _NashMTLWeighting(self.task_num, 1.0, 1, 20)
            else:
                ones = torch.ones(self.task_num)
                aligned = AlignedMTLWeighting(pref_vector=ones)
                self.weights_of = lambda grads: aligned(grads @ grads.t())

        def backward(self, losses, **kwargs):
            grads = self._get_grads(losses, mode="backward")
            per_grads = None
            if self.rep_grad:
                per_grads, grads = grads
            w = self.weights_of(grads)
            self._backward_new_grads(w, per_grads=per_grads, grads=grads)
            return w.detach().cpu().numpy()

    return Aggregated


def main():
    root, model_name, size, steps, threads, method, mode = sys.argv[1:8]
    size, steps, threads = int(size), int(steps), int(threads)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build_net(model_name)
    if model_name == "small_cnn":
        trunk, fc = net[:-1], net[-1]
    else:
        fc = net.fc
        net.fc = torch.nn.Identity()
        trunk = net
    shared = [p for p in trunk.parameters() if p.requires_grad]
    params = shared + list(fc.parameters())
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=5e-4)

    get = load_weighting(root + "/LibMTL")
    if method == "FAMO":
        famo = FamoReference(TASKS)
        w = get("EW")()  # only its attributes are set below; FAMO's step does not call it
    elif method == "CAGrad":
        w = get("CAGrad", generalise_cagrad)()
    elif method in ("NashMTL", "AlignedMTL"):
        w = torchjd_method(get, method)()
    else:
        w = get(method)()
    names = [f"t{j}" for j in range(TASKS)]
    w.task_num, w.device, w.rep_grad, w.epoch, w.task_name = TASKS, "cpu", mode == "representation", 1, names
    w.get_share_params = lambda: shared

    def zero_shared():
        for p in shared:
            if p.grad is not None:
                p.grad.zero_()

    w.zero_grad_share_params = zero_shared
    w.train_loss_buffer = torch.ones(TASKS, 1).numpy()
    w.init_param()
    if method == "GradNorm":
        opt.add_param_group({"params": [w.loss_scale], "weight_decay": 0.0})

    x_train = torch.randn(BATCH, 3, size, size)
    x_val = torch.randn(BATCH, 3, size, size)
    y = torch.tensor([[1.0 if (i + j) % 3 == 0 else -1.0 for j in range(TASKS)] for i in range(2 * BATCH)])
    y_train, y_val = y[:BATCH], y[BATCH:]

    def step():
        with torch.no_grad():
            v = ((fc(trunk(x_val)) - y_val) ** 2).sum(0)
            v.tolist()
        rep = trunk(x_train)
        if w.rep_grad:
            copies = {n: rep.detach().clone().requires_grad_(True) for n in names}
            out = torch.cat([F.linear(copies[n], fc.weight[j : j + 1], fc.bias[j : j + 1]) for j, n in enumerate(names)], 1)
            w.rep, w.rep_tasks = rep, copies
        else:
            out = fc(rep)
        losses = 0.5 * ((out - y_train) ** 2).sum(0) / BATCH
        losses.tolist()
        if method == "FAMO":
            (famo.weights(losses.detach()).float() * losses).sum().backward()
            opt.step()
            with torch.no_grad():
                after = 0.5 * ((fc(trunk(x_train)) - y_train) ** 2).sum(0) / BATCH
            famo.update(after)
        else:
            w.backward(losses, **KWARGS[method])
            opt.step()
        opt.zero_grad(set_to_none=False)

    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    secs = time.perf_counter() - start
    print(json.dumps({"impl": "reference", "weighting": method, "mode": mode, "model": model_name, "size": size,
                      "threads": threads, "steps": steps, "seconds": round(secs, 3),
                      "ms_per_step": round(1000 * secs / steps, 2)}))


if __name__ == "__main__":
    main()
