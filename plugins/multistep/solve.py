"""Fixed-grid multistep integration with a hand-written discrete adjoint.

Notation (method coefficients alpha, beta, k steps, sigma1 = sigma(1)): the forward pass
stores x_0..x_N; the backward pass keeps the discrete adjoint a_n = dL/dx_n and, per step,

    q_n = sum_{j<k} beta_j a_{n+k-j}                      (F-adjoint / h: dL/dF_n = h q_n)
    a_n = -sum_{j<k} alpha_j a_{n+k-j} + h J_n^T q_n       (J_n = df/dx at x_n)

with ONE vector-Jacobian product of f per step, which also gives dL/dtheta_n = h f_theta^T q_n.

* ``correction=False``: terminal data a_N = dL/dx_N, a_{>N} = 0 and exact back-propagation
  through the starting steps: exactly the gradient of the discrete solution (autodiff).
* ``correction=True``: the exact terminal data excites the parasitic roots of rho (the -1
  of leapfrog) with O(1) amplitude and makes the first/last q_n inconsistent.  Instead we
  start the same recursion from *consistent* data: a loss gradient g at step n contributes
  the smooth adjoint mode a_{n+i} += (g - (i + s) h J_n^T g) / sigma1, i = 0..k-1, where
  s = -sum beta_j (k - j) / sigma1 (see ``LinearMultistep.shift``).  This annihilates every
  parasitic mode at its source and normalises both ends, so q_n = p(t_n) + O(h^2) for all
  n (p = continuous adjoint), endpoints included; dL/dy0 ~ p(t_0).  Parameters used by a
  single step get h G(t_n); parameters shared by several steps get the trapezoidal sum
  of G, consistent with int G dt to O(h^2).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch.autograd.function import once_differentiable

from .methods import STARTERS, LinearMultistep

__all__ = ["odeint_multistep", "make_grid", "integrate"]

Func = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_grid(t: torch.Tensor, step_size: float | None) -> tuple[torch.Tensor, list[int], float]:
    """Uniform grid t_0 + n h covering ``t`` and the grid index of every entry of ``t``.

    Raises ``ValueError`` if an output time is not on the grid (not a multiple of the step).
    """
    if t.dim() != 1 or t.numel() < 2:
        raise ValueError("t must be a 1-D tensor with at least two time points")
    tt = t.detach().double().cpu()
    if not bool(torch.isfinite(tt).all()):
        raise ValueError("t contains NaN/Inf")
    if not bool((tt[1:] > tt[:-1]).all()):
        raise ValueError("t must be strictly monotonic")
    span = float(tt[-1] - tt[0])
    h = float(tt[1] - tt[0]) if step_size is None else float(step_size)
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"step_size must be a positive number, got {step_size!r}")
    rel = (tt - tt[0]) / h
    idx = torch.round(rel)
    tol = 1e-6 if t.dtype == torch.float64 else 1e-4
    off = (rel - idx).abs()
    if bool((off > tol * torch.clamp(idx, min=1)).any()):
        bad = int(off.argmax())
        what = "the step size" if step_size is not None else "t[1] - t[0] (pass options={'step_size': h})"
        raise ValueError(f"output time t[{bad}] = {float(tt[bad])} is not on the fixed grid t[0] + n*h with "
                         f"h = {h} ({what}): multistep methods need every output time to be a multiple of the step")
    N = int(round(span / h))
    grid = tt[0] + h * torch.arange(N + 1, dtype=torch.float64)
    return grid.to(dtype=t.dtype, device=t.device), [int(i) for i in idx], h


def _one_step(func: Func, t: torch.Tensor, x: torch.Tensor, h: float, start: str) -> torch.Tensor:
    if start == "euler":
        return x + h * func(t, x)
    if start == "rk2":  # Heun
        k1 = func(t, x)
        k2 = func(t + h, x + h * k1)
        return x + 0.5 * h * (k1 + k2)
    k1 = func(t, x)
    k2 = func(t + 0.5 * h, x + 0.5 * h * k1)
    k3 = func(t + 0.5 * h, x + 0.5 * h * k2)
    k4 = func(t + h, x + h * k3)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def _start_steps(func, y0, grid, h, method, start):
    """x_1..x_{k-1} from the one-step starter (differentiable if grad is enabled)."""
    xs, x = [], y0
    for n in range(min(method.k - 1, len(grid) - 1)):
        x = _one_step(func, grid[n], x, h, start)
        xs.append(x)
    return xs


def integrate(func: Func, y0: torch.Tensor, grid: torch.Tensor, method: LinearMultistep,
              start: str) -> torch.Tensor:
    """Trajectory (N+1, *y0.shape) on ``grid``; raises ``FloatingPointError`` on NaN/Inf."""
    N, k, h = len(grid) - 1, method.k, float(grid[1] - grid[0])
    traj = y0.new_empty((N + 1, *y0.shape))
    traj[0] = y0
    for n, x in enumerate(_start_steps(func, y0, grid, h, method, start), start=1):
        traj[n] = x
    used = [any(b != 0 and 0 <= n - j <= N - k for j, b in enumerate(method.beta)) for n in range(N)]
    F: dict[int, torch.Tensor] = {}
    for m in range(N - k + 1):
        for n in range(m, m + k):
            if n not in F and used[n]:
                F[n] = func(grid[n], traj[n])
        x = -sum(a * traj[m + j] for j, a in enumerate(method.alpha[:-1]) if a != 0)
        x = x + h * sum(b * F[m + j] for j, b in enumerate(method.beta) if b != 0)
        traj[m + k] = x
        F.pop(m, None)
    # a row sum is non-finite iff the row has NaN/Inf (or overflows): O(N) extra memory, not O(traj)
    suspect = (~torch.isfinite(traj.reshape(N + 1, -1).sum(dim=1))).nonzero().flatten().tolist()
    bad_rows = [n for n in suspect if not bool(torch.isfinite(traj[n]).all())]
    if bad_rows:
        bad = bad_rows[0]
        raise FloatingPointError(f"{method.name}: the solution became non-finite (NaN/Inf) at step {bad} "
                                 f"(t = {float(grid[bad]):.6g}); reduce the step size or check func")
    return traj


def _hidden_leaves(out: torch.Tensor, known: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Leaf tensors requiring grad that ``out`` depends on but that are not in ``known``."""
    known_ids = {id(p) for p in known}
    seen, stack, found = set(), [out.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        var = getattr(fn, "variable", None)
        if var is not None and id(var) not in known_ids:
            found.append(var)
        stack.extend(f for f, _ in fn.next_functions)
    return found


class _Problem:
    """Everything the backward pass needs besides the saved trajectory."""

    def __init__(self, func, method, grid, out_idx, h, start, correction, params):
        self.func, self.method, self.grid, self.out_idx = func, method, grid, out_idx
        self.h, self.start, self.correction, self.params = h, start, correction, params
        self.traj: torch.Tensor | None = None

    def vjp(self, n: int, v: torch.Tensor):
        """(J_n^T v, f_theta(x_n)^T v per parameter or None if unused)."""
        with torch.enable_grad():
            x = self.traj[n].detach().requires_grad_(True)
            fx = self.func(self.grid[n], x)
            grads = torch.autograd.grad(fx, (x, *self.params), v, allow_unused=True)
        gx = grads[0] if grads[0] is not None else torch.zeros_like(x)
        return gx, grads[1:]


class _MultistepSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, problem: _Problem, y0, t, *params):
        with torch.no_grad():
            traj = integrate(problem.func, y0, problem.grid, problem.method, problem.start)
        problem.traj = traj
        ctx.problem = problem
        return traj[problem.out_idx]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        P = ctx.problem
        y0_grad, param_grads, p0 = _adjoint(P, grad_out)
        t_grad = None
        if ctx.needs_input_grad[2]:
            # continuous-adjoint formulas: dL/dt_i = <g_i, f(t_i, x_i)>, dL/dt_0 = -<p(t_0+), f(t_0, x_0)>
            with torch.no_grad():
                t_grad = torch.zeros(len(P.out_idx), dtype=grad_out.dtype, device=grad_out.device)
                for i, n in enumerate(P.out_idx):
                    f = P.func(P.grid[n], P.traj[n])
                    t_grad[i] = (grad_out[i] * f).sum() if i > 0 else -(p0 * f).sum()
        return (None, y0_grad, t_grad, *param_grads)


def _adjoint(P: _Problem, grad_out: torch.Tensor):
    """Run the discrete adjoint; returns (dL/dy0, parameter gradients, p(t_0+))."""
    m, N, h = P.method, len(P.grid) - 1, P.h
    k, alpha, beta = m.k, m.alpha, m.beta
    exact = not P.correction
    zero = torch.zeros_like(P.traj[0])
    jumps: dict[int, torch.Tensor] = {}
    for i, n in enumerate(P.out_idx):
        jumps[n] = jumps.get(n, zero) + grad_out[i]
    a: dict[int, torch.Tensor] = {}
    grads: list = [None] * len(P.params)
    uses: list = [0] * len(P.params)  # per element: number of steps whose gradient touches it
    first: list = [None] * len(P.params)
    last_used = [False] * len(P.params)
    end_g: tuple = (None,) * len(P.params)
    q0 = zero

    def valid(n: int, j: int) -> bool:  # does step m = n - j exist (exact) / count (corrected)?
        return (0 <= n - j <= N - k) if exact else True

    for n in range(N, -1, -1):
        if n < N:
            js = [j for j, b in enumerate(beta) if b != 0 and valid(n, j)]
            if js:
                q = sum(beta[j] * a.get(n + k - j, zero) for j in js)
                if n == 0:
                    q0 = q
                gx, gp = P.vjp(n, q)
                a[n] = a.get(n, zero) + h * gx
                for i, g in enumerate(gp):
                    if g is not None:
                        grads[i] = h * g if grads[i] is None else grads[i] + h * g
                        if not exact:
                            uses[i] = uses[i] + (g != 0)
                        if n == 0:
                            first[i] = h * g
                        if n == N - 1:
                            last_used[i] = True
            for j, al in enumerate(alpha[:-1]):
                if al != 0 and valid(n, j):
                    a[n] = a.get(n, zero) - al * a.get(n + k - j, zero)
        if n in jumps and bool(jumps[n].ne(0).any()):
            g = jumps[n]
            if exact or n == 0:
                a[n] = a.get(n, zero) + g
            else:
                gx, gp = P.vjp(n, g)
                for i in range(k):
                    a[n + i] = a.get(n + i, zero) + (g - (i + m.shift) * h * gx) / m.sigma1
                if n == N:
                    end_g = gp
        a.pop(n + k, None)  # no longer needed: keeps k states alive, not the whole adjoint

    if exact:
        y0_grad = a.get(0, zero)
        starts = P.traj[1:min(k, N + 1)]
        if len(starts):
            with torch.enable_grad():
                x0 = P.traj[0].detach().requires_grad_(True)
                xs = _start_steps(P.func, x0, P.grid, h, m, P.start)
                outs = torch.autograd.grad(xs, (x0, *P.params), [a.get(n, zero) for n in range(1, len(xs) + 1)],
                                           allow_unused=True)
            y0_grad = y0_grad + outs[0]
            for i, g in enumerate(outs[1:]):
                if g is not None:
                    grads[i] = g if grads[i] is None else grads[i] + g
        p0 = y0_grad - jumps.get(0, zero)
    else:
        p0 = q0
        y0_grad = q0 + jumps.get(0, zero)
        for i in range(len(P.params)):
            # elements shared over steps get trapezoidal weights h/2 at t_0 and t_N; elements of a
            # per-step parameter (e.g. slices of an (N, ...) weight tensor) are used once: left alone
            if grads[i] is None or not torch.is_tensor(uses[i]):
                continue
            shared = uses[i] > 1
            if first[i] is not None:
                grads[i] = grads[i] - 0.5 * first[i] * shared
            if last_used[i] and end_g[i] is not None:
                grads[i] = grads[i] + 0.5 * h * end_g[i] * shared
    for name, g in [("y0", y0_grad)] + [(f"parameter {i}", g) for i, g in enumerate(grads) if g is not None]:
        if not bool(torch.isfinite(g).all()):
            raise FloatingPointError(f"{m.name}: non-finite gradient for {name} in the backward pass")
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(P.params, grads)]
    return y0_grad, grads, p0


def odeint_multistep(func: Func, y0: torch.Tensor, t: torch.Tensor, method: LinearMultistep,
                     step_size: float | None = None, correction: bool = True, start: str | None = None,
                     params: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Solve dy/dt = func(t, y) on a fixed grid with an explicit multistep method.

    Args:
        func: callable (t: 0-d tensor, y: tensor like y0) -> dy/dt.
        y0: initial state, any shape (batches included).
        t: 1-D increasing output times; each must be t[0] + n * step_size.
        method: a :class:`LinearMultistep` instance.
        step_size: h; default t[1] - t[0].
        correction: adjoint-consistent gradients (True) or exact autodiff of the recursion.
        start: one-step starter ('euler', 'rk2', 'rk4'); default the method's.
        params: tensors func depends on; default ``func.parameters()`` for modules.

    Returns:
        Tensor (len(t), *y0.shape).  Gradients flow to y0, t and ``params``.
    """
    start = method.start if start is None else start
    if start not in STARTERS:
        raise ValueError(f"start must be one of {sorted(STARTERS)}, got {start!r}")
    if not torch.is_tensor(y0) or not y0.is_floating_point():
        raise ValueError("y0 must be a floating-point tensor")
    grid, out_idx, h = make_grid(t, step_size)
    if params is None:
        params = tuple(func.parameters()) if isinstance(func, torch.nn.Module) else ()
    params = tuple(p for p in params if torch.is_tensor(p) and p.requires_grad)
    if torch.is_grad_enabled():
        with torch.enable_grad():
            probe = func(grid[0], y0.detach())
        if not torch.is_tensor(probe) or probe.shape != y0.shape:
            raise ValueError(f"func must return a tensor shaped like y0 {tuple(y0.shape)}, "
                             f"got {getattr(probe, 'shape', type(probe).__name__)}")
        hidden = _hidden_leaves(probe, params)
        if hidden:
            shapes = ", ".join(str(tuple(v.shape)) for v in hidden[:4])
            raise ValueError(f"func depends on {len(hidden)} tensor(s) requiring grad that are not among its "
                             f"parameters (shapes {shapes}); pass them as options={{'params': [...]}} so their "
                             "gradients are computed")
    problem = _Problem(func, method, grid, out_idx, h, start, correction, params)
    return _MultistepSolve.apply(problem, y0, t, *params)
