"""What a point set will cost: the one line the layer logs per point set (logger
``steadygrad``, INFO; ``steadygrad run`` shows it).

The estimate compares network work in units of one forward + backward pass per point.
Nested autodiff of a residual of highest order n costs AUTODIFF[n] such units (measured on a
tanh FNN 3 x 50, 4 000 points, one CPU thread, nested reverse mode: orders 1, 2, 4 cost
1.8-2.8, 4.7-7.1 and 29 units in 1-3 D).  The mollifier evaluates the network once per lattice
node (or stencil point) and pays per point for the convolution and interpolation:
NODE * evaluations / points + OVERHEAD units (fit to a 2D Laplace problem in polar form at 2
and 4 points per half-width, 0.67x and 1.53x autodiff).  A network the precision policy
switched to float64 for float32 points costs FLOAT64 times more per node (measured: PINNacle's
Heat2d-MS on 4 096 points, 3 x 64 tanh, one CPU thread: 946 ms against 400 ms a step).  An
estimate to set expectations, not a measurement: ``steadygrad bench sampled`` measures.
"""

from __future__ import annotations

import math

import torch

__all__ = ["AUTODIFF", "describe_field", "describe_point_set", "relative_cost"]

#: nested autodiff's cost per point for a residual of highest order n (forward+backward units)
AUTODIFF = {0: 1.0, 1: 2.5, 2: 5.0, 3: 12.0, 4: 29.0}
#: the mollifier's cost per network evaluation and its fixed cost per point (same units)
NODE, OVERHEAD = 1.6, 1.6
#: the cost of a node evaluated in float64 against float32
FLOAT64 = 2.4


def relative_cost(evaluations: int, points: int, order: int, upcast: bool = False) -> float:
    """Estimated step cost of the mollifier relative to nested autodiff (see module doc);
    ``upcast``: float32 points whose network the precision policy evaluates in float64."""
    auto = AUTODIFF.get(order, AUTODIFF[4] * 2.5 ** (order - 4))
    node = NODE * (FLOAT64 if upcast else 1.0)
    return (node * evaluations / max(points, 1) + OVERHEAD) / auto


def describe_point_set(
    points: int,
    dim: int,
    mode: str,
    evaluations: int,
    density: int,
    order: int | None,
    dtype: str,
    upcast: bool = False,
    every_axis: bool = False,
) -> str:
    """One line: mode, network evaluations, density, evaluation dtype and expected cost;
    ``upcast``: the points are float32 and the precision policy evaluates the network in
    float64 (``dtype``) to keep the derivatives within rtol; ``every_axis``: all of the
    points' axes are mollified (a lattice over fewer of them may cost less)."""
    where = "lattice nodes" if mode in ("grid", "lattice") else "stencil evaluations"
    line = (
        f"{points:,} points in {dim}D: {mode} mode, {evaluations:,} {where} "
        f"({evaluations / max(points, 1):.2g} per point), {density} points per half-width, "
        f"network in {dtype}"
    )
    if order is None:
        return line + "; density for order 4 until the residual's derivatives are known"
    ratio = relative_cost(evaluations, points, order, upcast)
    line += f"; derivative orders <= {order}: estimated step cost {ratio:.2g}x autodiff's"
    if ratio > 1:
        line += (
            " (slower: a larger width, or --derivatives autodiff / enable('autodiff'), would be "
            "faster"
        )
        if every_axis and dim > 2:  # measured on 2D + t problems (docs/benchmarks.md)
            line += "; so may mollifying fewer axes (axes=, e.g. space and not time)"
        cheaper = relative_cost(evaluations, points, order)
        if upcast:  # what float32 would cost, and what it gives up
            line += (
                f"; float32 evaluation, precision='input' (or a larger rtol), would cost "
                f"{cheaper:.2g}x, its derivatives then beyond rtol"
            )
        line += ")"
    return line


def describe_field(field, orders_seen: int | None, dtype: str) -> tuple[tuple, str]:
    """(key, line): :func:`describe_point_set` of a field's points, mode and network
    evaluations; ``key`` tells one such description from another."""
    x, plan = field.x, field.plan
    evaluations = (
        math.prod(plan.size)
        if plan is not None
        else x.shape[0] * len(field.stencil.offsets(x.dtype, x.device))
    )
    density = round(field.stencil.widths[0] / field.stencil.spacings[0])
    key = (tuple(x.shape), field.mode, density, orders_seen)
    upcast = dtype == "float64" and x.dtype != torch.float64
    every = len(field.stencil.axes) == x.shape[1]
    line = describe_point_set(
        x.shape[0], x.shape[1], field.mode, evaluations, density, orders_seen, dtype, upcast, every
    )
    return key, line
