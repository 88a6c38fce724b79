"""FAMO reference written from the paper (Liu et al., "FAMO: Fast Adaptive Multitask Optimization",
NeurIPS 2023, Algorithm 1), NOT LibMTL's or the authors' code: neither LibMTL's PyPI release nor
any other PyPI package ships FAMO. Used by benches/libmtl_check.py (numbers) and
benches/grad_bench.py (cost), independently of awmt's crates/awmt-torch/src/train/gradient/famo.rs.

The paper's quantities: task logits ξ, z = softmax(ξ); the update direction is
Σ_i z_i ∇log(L_i − L_i* + ε) rescaled by c = (Σ_i z_i / (L_i − L_i* + ε))⁻¹, i.e. task weights
λ_i = c·z_i / (L_i − L_i* + ε) on the raw losses (L* = 0 here). After the parameter step,
δ_i = log(L_i(θ_t) + ε) − log(L_i(θ_{t+1}) + ε) on the same batch, and ξ descends
∇_ξ = (∂z/∂ξ)ᵀ δ plus the decay γξ, with Adam (lr β = w_lr, the paper's 0.025, γ = 0.001).
"""
import torch


class FamoReference:
    def __init__(self, tasks, w_lr=0.025, gamma=0.001, eps=1e-8):
        self.xi = torch.zeros(tasks, dtype=torch.float64, requires_grad=True)
        # torch's Adam with weight_decay adds γξ to the gradient: the paper's decay term.
        self.opt = torch.optim.Adam([self.xi], lr=w_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=gamma)
        self.eps = eps
        self.before = None

    def weights(self, losses):
        """λ for this iteration's losses (a 1-D tensor); remembers them for `update`."""
        l = torch.as_tensor(losses, dtype=torch.float64).detach().clamp_min(0.0) + self.eps
        self.before = l
        z = torch.softmax(self.xi.detach(), 0)
        c = 1.0 / (z / l).sum()
        return c * z / l

    def update(self, losses_after):
        """ξ step from the same batch's losses after the parameter step."""
        after = torch.as_tensor(losses_after, dtype=torch.float64).detach().clamp_min(0.0) + self.eps
        delta = self.before.log() - after.log()
        z = torch.softmax(self.xi, 0)
        (grad,) = torch.autograd.grad(z, self.xi, grad_outputs=delta)
        self.opt.zero_grad()
        self.xi.grad = grad
        self.opt.step()
