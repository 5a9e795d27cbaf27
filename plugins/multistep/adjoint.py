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

from dataclasses import dataclass

import torch

from .closures import check_closures
from .integrate import lincomb, start_steps
from .methods import LinearMultistep

__all__ = [
    "CorrectedAdjoint",
    "ExactAdjoint",
    "Problem",
    "backward",
    "maybe_time_indexed",
    "sweep",
]


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
    checkpoint: int = 0  # nodes per checkpoint segment (0: every node stored)
    on_step: object = None  # forward solve only: on_step(t_n, x_n, h) once per step

    @property
    def steps(self) -> int:
        return len(self.times) - 1

    def vjp(self, n: int, v: torch.Tensor):
        """(J_n^T v, [f_theta(x_n)^T v per parameter, None where unused])."""
        with torch.enable_grad():
            x = self.traj[n].detach().requires_grad_(True)
            fx = self.func(self.times[n], x)
            check_closures(fx, (x, *self.params), f" at t = {float(self.times[n]):.6g}")
            # retain_graph: a parameter may reach func through a tensor computed outside it
            # (W = 2 * base); that graph is the caller's and is read again at the next node
            grads = torch.autograd.grad(
                fx, (x, *self.params), v, allow_unused=True, retain_graph=True
            )
        gx = grads[0] if grads[0] is not None else torch.zeros_like(x)
        return gx, list(grads[1:])


@dataclass
class SweepResult:
    a: dict
    grads: list
    uses: list  # per parameter: elementwise count of nodes touching it (or None)
    y0: torch.Tensor | None = None


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
            for x in xs:
                check_closures(x, (x0, *P.params), " in the starter steps")
            cot = [res.a.get(n, zero) for n in range(1, len(xs) + 1)]
            outs = torch.autograd.grad(
                xs, (x0, *P.params), cot, allow_unused=True, retain_graph=True
            )
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
            term = lincomb([(1 / m.sigma1, g), (-(i + m.shift) * P.h / m.sigma1, gx)])
            a[n + i] = a[n + i] + term if n + i in a else term

    @staticmethod
    def finish(P: Problem, res: SweepResult) -> None:
        pass


def _count(uses, g: torch.Tensor):
    """Elementwise number of nodes whose gradient touched each element (two ops per node)."""
    if uses is None:
        return (g != 0).to(torch.int32)
    return uses.add_(g != 0)


def _accumulate(total, g: torch.Tensor):
    # autograd may hand the same tensor to several inputs (e.g. W_n and B in (W_n + B) x): own it
    return g.clone() if total is None else total.add_(g)


def sweep(P: Problem, strategy, x_seeds: dict, f_seeds: dict, count: bool = False) -> SweepResult:
    """Run the adjoint recursion from node N down to 0 (see module docstring).

    ``x_seeds[n]`` is dL/dx_n from the outputs, ``f_seeds[n]`` a direct cotangent on
    f(t_n, x_n) (cubic interpolation).  Only k + 1 adjoint states are alive at a time.
    Parameter gradients are summed unscaled and multiplied by h once at the end.
    """
    m, N, h = P.method, P.steps, P.h
    k = m.k
    res = SweepResult({}, [None] * len(P.params), [None] * len(P.params))
    a = res.a
    for n in range(N, -1, -1):
        terms = []
        if n < N:
            terms = [
                (b, a[n + k - j])
                for j, b in enumerate(m.beta)
                if b != 0 and n + k - j in a and strategy.valid(n, j, N, k)
            ]
        if n in f_seeds:
            terms.append((1 / h, f_seeds[n]))
        if terms:
            gx, gp = P.vjp(n, lincomb(terms))
            a[n] = h * gx if n not in a else torch.add(a[n], gx, alpha=h)
            for i, g in enumerate(gp):
                if g is not None:
                    res.grads[i] = _accumulate(res.grads[i], g)
                    if count:
                        res.uses[i] = _count(res.uses[i], g)
        if n < N:
            for j, al in enumerate(m.alpha[:-1]):
                if al != 0 and n + k - j in a and strategy.valid(n, j, N, k):
                    prev = a[n + k - j]
                    a[n] = -al * prev if n not in a else torch.add(a[n], prev, alpha=-al)
        if n in x_seeds:
            strategy.seed(P, a, n, x_seeds[n])
        a.pop(n + k, None)
    res.grads = [None if g is None else g.mul_(h) for g in res.grads]
    strategy.finish(P, res)
    return res


def maybe_time_indexed(P: Problem) -> bool:
    """Could some parameter element be used by a single node?

    Probed with a random cotangent at three interior nodes (the initial state often has exact
    zeros): a parameter that some node leaves unused while another uses it, or whose nonzero
    gradient elements at two nodes are not nested (each node touches elements the other does
    not, as slices W_n of a stacked weight are), says yes.  Shared weights touch the same
    elements everywhere, up to accidental zeros, so they cost no second sweep.
    """
    if not P.params:
        return False
    N = P.steps
    nodes = sorted({N - 1, N // 2, max(N // 4, 1)} - {-1, N}) if N >= 4 else list(range(N))
    if len(nodes) < 2:
        return True
    gen = torch.Generator(device=P.traj[0].device).manual_seed(0)
    like = P.traj[0]
    v = torch.randn(like.shape, generator=gen, dtype=like.dtype, device=like.device)
    supports = [[None if g is None else g != 0 for g in P.vjp(n, v)[1]] for n in nodes]
    for i in range(len(P.params)):
        masks = [s[i] for s in supports]
        used = [mk is not None and bool(mk.any()) for mk in masks]
        if any(used) and not all(used):
            return True
        present = [mk for mk in masks if mk is not None]
        for a, b in ((x, y) for j, x in enumerate(present) for y in present[j + 1 :]):
            if bool((a & ~b).any()) and bool((b & ~a).any()):
                return True
    return False


def backward(P: Problem, x_seeds: dict, f_seeds: dict, correction: bool):
    """dL/dy0 and parameter gradients (None where unused, as autograd); see the module docstring."""
    exact = sweep(P, ExactAdjoint, x_seeds, f_seeds)
    grads = exact.grads
    if correction and maybe_time_indexed(P):
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
    return exact.y0, grads
