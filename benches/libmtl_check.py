"""Cross-check of awmt's gradient methods against LibMTL's own weighting code on hand-built
task gradients (the numbers of the Rust unit tests in src/train/gradient/*.rs).

LibMTL comes from PyPI (`pip install --no-deps --target DIR LibMTL`, see benches/libmtl_check.sh);
only its `weighting` modules are loaded (its package __init__ pulls in the trainer and model zoo).
Each task loss is linear in a shared parameter vector θ, L_j = g_j·θ + ℓ_j at θ = 0, so LibMTL's
per-task gradients are exactly the hand-built g_j and its update (θ.grad) is the direction d.
LibMTL 1.1.5 (the PyPI release) has no Nash-MTL, Aligned-MTL or FAMO, and its CAGrad needs
scipy; those are skipped, saying so. Exit status 1 if any checked number disagrees.
"""
import importlib.util
import math
import sys
import types

import torch


def load_weighting(root):
    """LibMTL.weighting.<name> modules without running LibMTL/__init__.py."""
    pkg = types.ModuleType("LibMTL")
    pkg.__path__ = [root]
    sys.modules["LibMTL"] = pkg
    sub = types.ModuleType("LibMTL.weighting")
    sub.__path__ = [root + "/weighting"]
    sys.modules["LibMTL.weighting"] = sub

    def get(name):
        spec = importlib.util.spec_from_file_location(f"LibMTL.weighting.{name}", f"{root}/weighting/{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return getattr(mod, name, mod)

    get("abstract_weighting")
    return get


def run(cls, grads, loss_values=None, **kwargs):
    """LibMTL method `cls` on gradients `grads` (list of lists): (returned weights, d, method)."""
    g = torch.tensor(grads, dtype=torch.float32)
    m, p = g.shape
    theta = torch.nn.Parameter(torch.zeros(p))
    w = cls()
    w.task_num, w.device, w.rep_grad, w.epoch = m, "cpu", False, 1
    w.get_share_params = lambda: [theta]

    def zero():
        if theta.grad is not None:
            theta.grad.zero_()

    w.zero_grad_share_params = zero
    values = torch.tensor(loss_values or [1.0] * m)
    w.train_loss_buffer = values.numpy().reshape(m, 1).astype("float64")
    w.init_param()
    losses = g @ theta + values
    weights = w.backward(losses, **kwargs)
    return weights, theta.grad.clone().tolist(), w


FAILURES = []


def check(what, got, want, tol=1e-5):
    ok = len(got) == len(want) and all(abs(a - b) <= tol for a, b in zip(got, want))
    print(f"{'ok  ' if ok else 'FAIL'} {what}: LibMTL {['%.6f' % x for x in got]} awmt (hand) {['%.6f' % x for x in want]}")
    if not ok:
        FAILURES.append(what)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: libmtl_check.py <directory holding the LibMTL package>")
    get = load_weighting(sys.argv[1] + "/LibMTL")
    r2 = math.sqrt(2.0)

    mgda = get("MGDA")
    w, d, _ = run(mgda, [[1, 0], [-1, 1]], mgda_gn="none")
    check("MGDA conflicting, weights", list(w), [0.6, 0.4])
    check("MGDA conflicting, direction", d, [0.2, 0.4])
    w, d, _ = run(mgda, [[3, 0], [0, 1]], mgda_gn="l2")
    check("MGDA l2, direction (w = (1/6, 1/2))", d, [0.5, 0.5])
    w, d, _ = run(mgda, [[3, 0], [1, 0]], mgda_gn="none")
    # Sener & Koltun's code (and so LibMTL) clamps the 2-point γ to [0.001, 0.999] where the paper's
    # Algorithm 1 (and awmt) takes the vertex: 0.001 apart by design.
    check("MGDA aligned one dominant, weights (code clamps to 0.001)", list(w), [0.0, 1.0], 1.0001e-3)

    pcgrad = get("PCGrad")
    # Two tasks: the order does not matter, so LibMTL's unseeded shuffle cannot change d.
    _, d, _ = run(pcgrad, [[1, 0], [-1, 1]])
    check("PCGrad conflicting, direction (w = (2, 1.5))", d, [0.5, 1.5])
    _, d, _ = run(pcgrad, [[1, 1], [-1, -1]])
    check("PCGrad opposite, direction", d, [0.0, 0.0])

    imtl = get("IMTL")
    w, d, _ = run(imtl, [[2, 0], [0, 1]])
    check("IMTL one dominant, α", list(w), [1 / 3, 2 / 3])
    w, d, _ = run(imtl, [[1, 0], [-1, 1]])
    check("IMTL conflicting, α", list(w), [2 - r2, r2 - 1])

    gradnorm = get("GradNorm")
    w, d, method = run(gradnorm, [[3, 0], [0, 1]], loss_values=[1.0, 1.0], alpha=1.5)
    check("GradNorm weights at the first step", list(w), [1.0, 1.0])
    check("GradNorm ∂L_grad/∂s (awmt steps s by −lr times this)", method.loss_scale.grad.tolist(), [2.0, -2.0])

    try:
        cagrad = get("CAGrad")
        w, d, _ = run(cagrad, [[1, 0], [0, 1]], calpha=0.5, rescale=1)
        check("CAGrad orthogonal, direction (w = (0.6, 0.6))", d, [0.6, 0.6], 1e-4)
        _, d, _ = run(cagrad, [[2, 0], [1, 0]], calpha=0.5, rescale=1)
        check("CAGrad aligned one dominant, direction (w = (0.4, 1.0))", d, [1.8, 0.0], 1e-3)
    except ModuleNotFoundError as e:
        print(f"skip CAGrad: LibMTL's CAGrad needs {e.name}, which this Python lacks")
    print("skip Nash-MTL, Aligned-MTL, FAMO: not in LibMTL's PyPI release 1.1.5")
    if FAILURES:
        sys.exit(f"{len(FAILURES)} disagreement(s): {FAILURES}")
    print("all checked numbers agree")


if __name__ == "__main__":
    main()
