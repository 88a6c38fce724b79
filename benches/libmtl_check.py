"""Cross-check of awmt's gradient methods against independent code on hand-built task gradients
(the numbers of the Rust unit tests in src/train/gradient/*.rs).

- MGDA, PCGrad, IMTL, GradNorm, CAGrad: LibMTL's own weighting code (PyPI 1.1.5, installed with
  `pip install --no-deps --target DIR LibMTL`, see benches/libmtl_check.sh); only its `weighting`
  modules are loaded (its package __init__ pulls in the trainer and model zoo). Each task loss is
  linear in a shared parameter vector θ, L_j = g_j·θ + ℓ_j at θ = 0, so LibMTL's per-task
  gradients are exactly the hand-built g_j and its update (θ.grad) is the direction d.
  LibMTL 1.1.5's CAGrad hard-codes three tasks (`x.reshape(1,3)` in its objective): it is run
  as published on three-task cases, and for other task counts as `generalised_cagrad` (the same
  file with only those reshapes made `-1`, patched in memory at run time).
- Nash-MTL and Aligned-MTL are not in any LibMTL release on PyPI; torchjd 0.18 (PyPI) ships ports
  of the authors' code (Nash-MTL's convex-concave iterations with cvxpy/ECOS, Aligned-MTL's
  balance transformation), which are used as the reference.
- FAMO is in no PyPI package: benches/famo_reference.py is a reference written from the paper.
Exit status 1 if any checked number disagrees beyond its stated tolerance.
"""
import importlib.util
import math
import os
import sys
import types

import torch


def load_weighting(root):
    """LibMTL.weighting.<name> modules without running LibMTL/__init__.py: `get(name)` is the class;
    `get(name, patch)` loads the module's source with `patch(source)` applied first."""
    pkg = types.ModuleType("LibMTL")
    pkg.__path__ = [root]
    sys.modules["LibMTL"] = pkg
    sub = types.ModuleType("LibMTL.weighting")
    sub.__path__ = [root + "/weighting"]
    sys.modules["LibMTL.weighting"] = sub

    def get(name, patch=None):
        spec = importlib.util.spec_from_file_location(f"LibMTL.weighting.{name}", f"{root}/weighting/{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        if patch is None:
            spec.loader.exec_module(mod)
        else:
            source = open(spec.origin).read()
            exec(compile(patch(source), spec.origin, "exec"), mod.__dict__)
        return getattr(mod, name, mod)

    get("abstract_weighting")
    return get


def generalise_cagrad(source):
    """LibMTL 1.1.5's CAGrad.py with its three-task reshapes made task-count-free (nothing else)."""
    patched = source.replace("reshape(1,3)", "reshape(1,-1)").replace("reshape(3, 1)", "reshape(-1, 1)").replace("reshape(3,1)", "reshape(-1,1)")
    if patched.count("reshape(1,-1)") != 2 or "reshape(-1, 1)" not in patched or "reshape(-1,1)" not in patched:
        raise RuntimeError("LibMTL's CAGrad.py is not the 1.1.5 source this patch was written for")
    return patched


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
    ref = "torchjd" if "(torchjd)" in what else "reference" if "(reference" in what else "LibMTL"
    ok = len(got) == len(want) and all(abs(a - b) <= tol for a, b in zip(got, want))
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {ref} {['%.6f' % x for x in got]} awmt (hand) {['%.6f' % x for x in want]}")
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
        import scipy  # noqa: F401  (LibMTL's CAGrad solves with scipy's SLSQP)
    except ModuleNotFoundError:
        print("skip CAGrad: LibMTL's CAGrad needs scipy, which this Python lacks (libmtl_check.sh installs it)")
    else:
        cagrad = get("CAGrad")
        third = 1 / 3
        _, d, _ = run(cagrad, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], calpha=0.5, rescale=1)
        check("CAGrad (as published) 3 orthonormal, rescale 1, direction", d, [0.4] * 3, 1e-4)
        _, d, _ = run(cagrad, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], calpha=0.5, rescale=2)
        check("CAGrad (as published) 3 orthonormal, rescale 2 (÷(1+c)), direction", d, [third] * 3, 1e-4)
        _, d, _ = run(cagrad, [[2, 0], [1, 0], [1, 0]], calpha=0.5, rescale=1)
        check("CAGrad (as published) 3 aligned one dominant, direction", d, [1.6, 0.0], 1e-4)
        try:
            run(cagrad, [[1, 0], [0, 1]], calpha=0.5, rescale=1)
            print("note: LibMTL's CAGrad ran with 2 tasks (its 3-task reshape is gone in this version)")
        except ValueError as e:
            print(f"note: LibMTL 1.1.5's CAGrad fails with 2 tasks ({e}); the generalised copy follows")
        cagrad = get("CAGrad", generalise_cagrad)
        _, d, _ = run(cagrad, [[1, 0], [0, 1]], calpha=0.5, rescale=1)
        check("CAGrad (generalised) orthogonal, direction (w = (0.6, 0.6))", d, [0.6, 0.6], 1e-4)
        _, d, _ = run(cagrad, [[2, 0], [1, 0]], calpha=0.5, rescale=1)
        check("CAGrad (generalised) aligned one dominant, direction (w = (0.4, 1.0))", d, [1.8, 0.0], 1e-3)
        _, d, _ = run(cagrad, [[1, 1], [-1, -1]], calpha=0.5, rescale=1)
        check("CAGrad (generalised) opposite, direction", d, [0.0, 0.0], 1e-4)

    try:
        import warnings

        warnings.filterwarnings("ignore")  # cvxpy's DPP and division notices
        from torchjd.aggregation._aligned_mtl import AlignedMTLWeighting
        from torchjd.aggregation._nash_mtl import _NashMTLWeighting
    except ImportError as e:
        print(f"skip Nash-MTL, Aligned-MTL: torchjd[nash_mtl] is not importable here ({e}; libmtl_check.sh installs it)")
    else:
        def nash(grads, max_norm=0.0):
            g = torch.tensor(grads, dtype=torch.float64)
            return _NashMTLWeighting(len(grads), max_norm, 1, 20)(g).tolist()

        r = math.sqrt(0.5)
        check("Nash-MTL (torchjd) orthonormal, α", nash([[1, 0], [0, 1]]), [1.0, 1.0], 1e-4)
        check("Nash-MTL (torchjd) orthonormal, max_norm 1, α", nash([[1, 0], [0, 1]], 1.0), [r, r], 1e-4)
        check("Nash-MTL (torchjd) one dominant, α", nash([[2, 0], [0, 1]]), [0.5, 1.0], 1e-4)
        check("Nash-MTL (torchjd) small gradients, α (K α = 1/α on the raw K)", nash([[0.1, 0], [0, 0.2]]), [10.0, 5.0], 1e-3)
        check("Nash-MTL (torchjd) 3 conflicting, α (awmt's unit test)", nash([[1, 0, 0], [-0.5, 1, 0], [0.3, 0.2, 1]]), [1.18348095, 1.14254762, 0.77585959], 1e-5)
        # Rank-deficient K: the authors' solver (and so torchjd's port) fails and keeps its start
        # (ones); awmt's Newton solve on the strictly convex f finds the solution K α = 1/α.
        print(f"note Nash-MTL parallel gradients: torchjd {nash([[1, 0], [1, 0]])} (solver failed, start kept); awmt [{r:.6f}, {r:.6f}] (K α = 1/α holds)")

        def aligned(grads):
            g = torch.tensor(grads, dtype=torch.float32)
            # pref_vector ones: d = Σ_i ĝ_i, Aligned-MTL's Algorithm 1 with equal preferences (torchjd's
            # default 1/M would scale d by 1/M).
            return AlignedMTLWeighting(pref_vector=torch.ones(len(grads)))(g @ g.T).tolist()

        check("Aligned-MTL (torchjd) one dominant, w", aligned([[2, 0], [0, 1]]), [0.5, 1.0], 1e-5)
        check("Aligned-MTL (torchjd) 3 orthogonal norms 1, 2, 3, w", aligned([[1, 0, 0], [0, 2, 0], [0, 0, 3]]), [1.0, 0.5, 1 / 3], 1e-5)
        check("Aligned-MTL (torchjd) identical, w", aligned([[1, 0], [1, 0]]), [1.0, 1.0], 1e-5)
        check("Aligned-MTL (torchjd) opposite, w", aligned([[1, 1], [-1, -1]]), [0.0, 0.0], 1e-5)
        check("Aligned-MTL (torchjd) one zero, w", aligned([[1, 2], [0, 0]]), [1.0, 0.0], 1e-5)
        check("Aligned-MTL (torchjd) all zero, w", aligned([[0, 0], [0, 0]]), [1.0, 1.0], 1e-5)

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from famo_reference import FamoReference

    famo = FamoReference(2)
    check("FAMO (reference from the paper) t = 1, λ", famo.weights([1.0, 2.0]).tolist(), [2 / 3, 1 / 3], 1e-7)
    famo.update([0.5, 2.0])
    z1 = 1 / (1 + math.exp(0.05))
    a, b = z1 / 0.5, (1 - z1) / 2.0
    check("FAMO (reference from the paper) t = 2 after δ = (ln 2, 0), λ", famo.weights([0.5, 2.0]).tolist(), [a / (a + b), b / (a + b)], 1e-6)
    if FAILURES:
        sys.exit(f"{len(FAILURES)} disagreement(s): {FAILURES}")
    print("all checked numbers agree")


if __name__ == "__main__":
    main()
