"""Discrete adjoint of a multistep solve: one backward sweep, two seeding strategies.

Notation (coefficients alpha, beta; k steps; sigma1 = sum beta_j).  The sweep keeps the
adjoint a_n = dL/dx_n and, per node n, with ONE vector-Jacobian product of f,

    q_n = sum_j beta_j a_{n+k-j}                   (the step's F-cotangent / h)
    a_n = -sum_j alpha_j a_{n+k-j} + h J_n^T q_n,   dL/dtheta += h f_theta(x_n)^T q_n.

* :class:`ExactAdjoint` keeps only the terms of steps that exist, seeds a_n += g at every
  output and back-propagates through the starter: exactly the gradient of the discrete
  solution (what autodiff returns).
* :class:`CorrectedAdjoint` (Xu, Chen, Li) seeds each output cotangent g as the smooth
  adjoint mode, a_{n+i} += (g - (i + s) h J_n^T g) / sigma1, i < k, with the shift
  s = -sum beta_j (k - j) / sigma1, and keeps every term.  No parasitic root of rho is
  excited, so q_n = p(t_n+) + O(h^2) at every node, ends included (p: the continuous
  adjoint).  This is what a *time-indexed* parameter (one used by a single node) needs.

The exact gradient is already consistent for y0, t and parameters shared by several nodes
(the parasitic oscillation averages out, and it converges at the method's order), so
:func:`backward` returns exact gradients for those and corrected ones only for parameter
elements used by a single node; the second sweep runs only when such elements exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .integrate import start_steps
from .methods import LinearMultistep

__all__ = ["CorrectedAdjoint", "ExactAdjoint", "Problem", "backward", "sweep"]


@dataclass
class Problem:
    """What the backward pass needs: the saved trajectory and how it was computed."""

    func: object
    method: LinearMultistep
    times: torch.Tensor
    h: float
    start: str
    params: tuple
    traj: torch.Tensor | None = None
    store: bool = True  # keep every node for a backward pass (False: outputs only)

    @property
    def steps(self) -> int:
        return len(self.times) - 1

    def vjp(self, n: int, v: torch.Tensor):
        """(J_n^T v, [f_theta(x_n)^T v per parameter, None where unused])."""
        with torch.enable_grad():
            x = self.traj[n].detach().requires_grad_(True)
            fx = self.func(self.times[n], x)
            grads = torch.autograd.grad(fx, (x, *self.params), v, allow_unused=True)
        gx = grads[0] if grads[0] is not None else torch.zeros_like(x)
        return gx, list(grads[1:])


@dataclass
class SweepResult:
    a: dict
    grads: list
    uses: list  # per parameter: elementwise count of nodes touching it (or None)
    y0: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)


class ExactAdjoint:
    """Exact discrete adjoint (the gradient autodiff would return)."""

    name = "exact"

    @staticmethod
    def valid(n: int, j: int, N: int, k: int) -> bool:
        return 0 <= n - j <= N - k

    @staticmethod
    def seed(P: Problem, a: dict, n: int, g: torch.Tensor) -> None:
        a[n] = a[n] + g if n in a else g

    @staticmethod
    def finish(P: Problem, res: SweepResult) -> None:
        """Back-propagate through the starter steps: dL/dy0 and their parameter terms."""
        zero = torch.zeros_like(P.traj[0])
        res.y0 = res.a.get(0, zero)
        if P.steps < 1 or P.method.k < 2:
            return
        with torch.enable_grad():
            x0 = P.traj[0].detach().requires_grad_(True)
            xs = start_steps(P.func, x0, P.times, P.h, P.method, P.start)
            cot = [res.a.get(n, zero) for n in range(1, len(xs) + 1)]
            outs = torch.autograd.grad(xs, (x0, *P.params), cot, allow_unused=True)
        res.y0 = res.y0 + outs[0]
        for i, g in enumerate(outs[1:]):
            if g is not None:
                res.grads[i] = g if res.grads[i] is None else res.grads[i] + g


class CorrectedAdjoint:
    """Adjoint seeded with the smooth mode only (consistent per-node gradients)."""

    name = "corrected"

    @staticmethod
    def valid(n: int, j: int, N: int, k: int) -> bool:
        return True

    @staticmethod
    def seed(P: Problem, a: dict, n: int, g: torch.Tensor) -> None:
        m = P.method
        gx, _ = P.vjp(n, g)
        for i in range(m.k):
            term = (g - (i + m.shift) * P.h * gx) / m.sigma1
            a[n + i] = a[n + i] + term if n + i in a else term

    @staticmethod
    def finish(P: Problem, res: SweepResult) -> None:
        pass


def _count(uses, g: torch.Tensor):
    """Elementwise number of nodes whose gradient touched each element (two ops per node)."""
    if uses is None:
        return (g != 0).to(torch.int32)
    return uses.add_(g != 0)


def sweep(P: Problem, strategy, x_seeds: dict, f_seeds: dict, count: bool = False) -> SweepResult:
    """Run the adjoint recursion from node N down to 0 (see module docstring).

    ``x_seeds[n]`` is dL/dx_n from the outputs, ``f_seeds[n]`` a direct cotangent on
    f(t_n, x_n) (cubic interpolation).  Only k + 1 adjoint states are alive at a time.
    """
    m, N, h = P.method, P.steps, P.h
    k, zero = m.k, torch.zeros_like(P.traj[0])
    res = SweepResult({}, [None] * len(P.params), [None] * len(P.params))
    a = res.a
    for n in range(N, -1, -1):
        v = None
        if n < N:
            terms = [
                b * a[n + k - j]
                for j, b in enumerate(m.beta)
                if b != 0 and n + k - j in a and strategy.valid(n, j, N, k)
            ]
            v = sum(terms) if terms else None
        if n in f_seeds:
            v = f_seeds[n] / h if v is None else v + f_seeds[n] / h
        if v is not None:
            gx, gp = P.vjp(n, v)
            a[n] = a.get(n, zero) + h * gx
            for i, g in enumerate(gp):
                if g is not None:
                    res.grads[i] = h * g if res.grads[i] is None else res.grads[i] + h * g
                    if count:
                        res.uses[i] = _count(res.uses[i], g)
        if n < N:
            for j, al in enumerate(m.alpha[:-1]):
                if al != 0 and n + k - j in a and strategy.valid(n, j, N, k):
                    a[n] = a.get(n, zero) - al * a[n + k - j]
        if n in x_seeds:
            strategy.seed(P, a, n, x_seeds[n])
        a.pop(n + k, None)
    strategy.finish(P, res)
    return res


def backward(P: Problem, x_seeds: dict, f_seeds: dict, correction: bool):
    """dL/dy0 and parameter gradients (zeros where unused); see the module docstring."""
    exact = sweep(P, ExactAdjoint, x_seeds, f_seeds, count=correction)
    grads = exact.grads
    single = [u is not None and bool((u == 1).any()) for u in exact.uses]
    if correction and any(single):
        corr = sweep(P, CorrectedAdjoint, x_seeds, f_seeds, count=True)
        grads = [
            ge
            if gc is None or uc is None
            else torch.where(uc == 1, gc, ge if ge is not None else 0 * gc)
            for ge, gc, uc in zip(grads, corr.grads, corr.uses)
        ]
    name = P.method.name
    for what, g in [("y0", exact.y0)] + [
        (f"parameter {i}", g) for i, g in enumerate(grads) if g is not None
    ]:
        if not bool(torch.isfinite(g).all()):
            raise FloatingPointError(f"{name}: non-finite gradient for {what} in the backward pass")
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(P.params, grads)]
    return exact.y0, grads
