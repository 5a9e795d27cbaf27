"""Integrals carried in the state: time-indexed parameter gradients of a backward adjoint solve.

A continuous-adjoint solve carries parameter gradients as quadratures, q' = r(t, x) with r
independent of q.  A multistep recursion integrates them with its own weights: for a
parameter element used at a single grid node (a time-indexed weight W_n) leapfrog's 2h
midpoint rule gives that node twice its share or nothing.  Here such elements (rate nonzero
at no more than one of the nodes 1 .. N) are summed with weight h at those nodes instead,
every node's own h-wide share, while elements whose rate is nonzero at several nodes (shared
weights) keep the method's quadrature and its order.  (A one-step interval counts node 0 too,
so that shared elements are still told apart.)

Why nodes 1 .. N: the adjoint runs backward in time, so solver node 0 is the later end of the
output interval, where the adjoint is the left limit a(t_i-); the corrected discrete gradient
of W_n is h G(t_n+) (f at node n acts on the future), which the next interval, starting at
t_i, supplies.  Over the whole backward pass every forward node gets h once, the first one
included and the unused last one excluded, as in the corrected discrete gradient.
"""

from __future__ import annotations

import torch

from .grid import make_grid
from .integrate import Func, StepCallback, check_finite, states
from .methods import LinearMultistep

__all__ = ["has_time_indexed_parameters", "integrate_with_quadratures"]


def integrate_with_quadratures(
    func: Func,
    y0: torch.Tensor,
    t: torch.Tensor,
    method: LinearMultistep,
    step_size: float | None,
    start: str,
    quad: torch.Tensor,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """States at the output times ``t`` (on the grid), shape (len(t), *y0.shape).

    ``quad``: boolean mask like ``y0`` of the quadrature components; their single-node
    elements are summed node by node (module docstring).  One extra evaluation of ``func``
    per node; memory independent of the number of steps.
    """
    grid = make_grid(t, step_size)
    if any(theta != 0.0 for theta in grid.theta):
        raise ValueError(
            f"{method.name}: node-wise quadrature needs output times on the step grid "
            f"(step {grid.h:g}); choose a step size that divides the output intervals"
        )
    wanted = set(grid.index)
    rows = {0: y0.clone()} if 0 in wanted else {}
    total = torch.zeros_like(y0[quad])
    uses = torch.zeros(total.shape, dtype=torch.int32, device=y0.device)
    for n, x in states(func, y0, grid.times, method, start, on_step):
        if n == 0 and grid.steps > 1:  # node 0 is not in the sum, nor (N > 1) in the count
            continue
        rate = func(grid.times[n], x)[quad]
        uses.add_(rate != 0)
        if n >= 1:
            total.add_(rate, alpha=grid.h)
        if n in wanted:
            node = x.clone()
            node[quad] = torch.where(uses <= 1, y0[quad] + total, x[quad])
            rows[n] = node
    out = torch.stack([rows[n] for n in grid.index])
    check_finite(out, list(grid.index), grid.times, method)
    return out


def has_time_indexed_parameters(
    func: Func,
    params,
    y: torch.Tensor,
    t: torch.Tensor,
    method: LinearMultistep,
    step_size: float | None,
) -> bool | None:
    """Whether some element of ``params`` is used by a single node of the solve of ``func``
    over ``t`` (probed with the state ``y`` at three nodes, as the backward sweeps do); None
    when the interval has fewer than four steps, too few to tell."""
    from .adjoint import Problem, maybe_time_indexed

    grid = make_grid(t.detach().sort().values, step_size)
    if grid.steps < 4:
        return None
    problem = Problem(func, method, grid.times, grid.h, "euler", params)
    problem.traj = [y.detach()] * len(grid.times)
    return bool(maybe_time_indexed(problem))
