"""The uniform step grid t_0 + n h and where each requested output time sits on it.

Multistep methods need equal steps.  Output times that are not grid nodes are interpolated
between the two neighbouring nodes (linear, or cubic Hermite using f at both nodes), as
fixed-grid solvers commonly do.  Only a time within ``SNAP`` steps of a node (float64
rounding of t / h) is that node: snapping a time that is off by more would return the state
at another time, so in float32 a nominal grid time is interpolated between its neighbours,
which is exact to the time's own rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["INTERPOLATIONS", "MAX_STEPS", "SNAP", "Grid", "between", "hermite", "make_grid"]

#: an output time closer than this many steps to a node is taken as the node itself
SNAP = 1e-9
#: the most steps a grid may have (each node is a stored state and a Python-level step)
MAX_STEPS = 10**8
INTERPOLATIONS = ("linear", "cubic")


def hermite(theta):
    """Cubic Hermite basis (h00, h10, h01, h11) at theta in [0, 1] (a float or a tensor)."""
    s, r = theta, 1.0 - theta
    return (1 + 2 * s) * r * r, s * r * r, s * s * (3 - 2 * s), s * s * (s - 1)


def between(interp: str, ta, xa, tb, xb, func=None):
    """t -> the state at t in [ta, tb] from the two nodes: 'linear', or 'cubic' Hermite with
    f = func at both nodes.  Differentiable in t (event times)."""
    if interp == "linear":
        return lambda t: xa + (t - ta) / (tb - ta) * (xb - xa)
    if interp != "cubic":
        raise ValueError(f"interp must be one of {INTERPOLATIONS}, got {interp!r}")
    fa, fb, h = func(ta, xa), func(tb, xb), tb - ta

    def cubic(t):
        h00, h10, h01, h11 = hermite((t - ta) / h)
        return h00 * xa + h10 * h * fa + h01 * xb + h11 * h * fb

    return cubic


@dataclass
class Grid:
    """Step grid and output placement.

    Attributes:
        times: (N + 1,) grid times t_0 + n h in the dtype/device of ``t``.
        h: step (float).
        index: per output, the node n at or below the output time.
        theta: per output, its fraction of the step past node n (0.0 on a node).
    """

    times: torch.Tensor
    h: float
    index: list
    theta: list

    @property
    def steps(self) -> int:
        return len(self.times) - 1


def _check_steps(h: float, t0: float, t1: float) -> None:
    """Refuse a step longer than the interval (a multistep grid cannot shorten its last step
    as Runge-Kutta grids do: the interpolant would span a single huge step) or a grid of more
    than MAX_STEPS steps (it would not fit in memory)."""
    span = t1 - t0
    if span > 0 and h > span * (1 + 1e-12):
        raise ValueError(
            f"step_size {h:g} is longer than the whole interval [{t0:g}, {t1:g}] (length "
            f"{span:g}): the multistep grid would take a single step past its end and "
            "interpolate back. Use a step_size of at most the interval's length"
        )
    steps = span / h
    if not steps <= MAX_STEPS:
        raise ValueError(
            f"step_size {h:g} on [{t0:g}, {t1:g}] means {steps:.3g} steps, more than MAX_STEPS = "
            f"{MAX_STEPS:.0e} (steadygrad.multistep.grid.MAX_STEPS); use a larger step_size"
        )


def make_grid(t: torch.Tensor, step_size: float | None) -> Grid:
    """Grid covering the increasing output times ``t`` (1-D, at least one entry) with step h.

    ``step_size`` None means h = t[1] - t[0].  The last node is the first one at or past
    t[-1]; outputs between nodes are later interpolated.
    """
    if not torch.is_tensor(t) or t.dim() != 1 or t.numel() < 1:
        raise ValueError("t must be a 1-D tensor with at least one time point")
    tt = t.detach().double().cpu()
    if not bool(torch.isfinite(tt).all()):
        raise ValueError("t contains NaN/Inf")
    if not bool((tt[1:] > tt[:-1]).all()):
        raise ValueError("t must be strictly increasing")
    if step_size is None:
        if t.numel() < 2:
            raise ValueError("a single output time needs an explicit step size")
        h = float(tt[1] - tt[0])
    else:
        h = float(step_size)
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"step size must be a positive finite number, got {step_size!r}")
    _check_steps(h, float(tt[0]), float(tt[-1]))
    rel = ((tt - tt[0]) / h).tolist()
    index, theta = [], []
    for r in rel:
        n = math.floor(r + SNAP)
        frac = r - n
        index.append(n)
        theta.append(0.0 if abs(frac) < SNAP else frac)
    N = index[-1] + (1 if theta[-1] else 0)
    times = tt[0] + h * torch.arange(N + 1, dtype=torch.float64)
    return Grid(times.to(dtype=t.dtype, device=t.device), h, index, theta)
