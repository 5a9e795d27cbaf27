"""What a point set will cost: the one line the layer logs per point set (logger
``steadygrad``, INFO; ``steadygrad run`` shows it).

The estimate compares network work in units of one forward + backward pass per point.
Nested autodiff of a residual of highest order n costs AUTODIFF[n] such units (measured on a
tanh FNN 3 x 50, 4 000 points, one CPU thread, nested reverse mode: orders 1, 2, 4 cost
1.8-2.8, 4.7-7.1 and 29 units in 1-3 D).  The mollifier evaluates the network once per lattice
node (or stencil point) and pays per point for the convolution and interpolation:
NODE * evaluations / points + OVERHEAD units (fit to a 2D Laplace problem in polar form at 2
and 4 points per half-width, 0.67x and 1.53x autodiff).  An estimate to set expectations, not a
measurement: ``steadygrad bench sampled`` measures.
"""

from __future__ import annotations

import math

__all__ = ["AUTODIFF", "describe_field", "describe_point_set", "relative_cost"]

#: nested autodiff's cost per point for a residual of highest order n (forward+backward units)
AUTODIFF = {0: 1.0, 1: 2.5, 2: 5.0, 3: 12.0, 4: 29.0}
#: the mollifier's cost per network evaluation and its fixed cost per point (same units)
NODE, OVERHEAD = 1.6, 1.6


def relative_cost(evaluations: int, points: int, order: int) -> float:
    """Estimated step cost of the mollifier relative to nested autodiff (see module doc)."""
    auto = AUTODIFF.get(order, AUTODIFF[4] * 2.5 ** (order - 4))
    return (NODE * evaluations / max(points, 1) + OVERHEAD) / auto


def describe_point_set(
    points: int,
    dim: int,
    mode: str,
    evaluations: int,
    density: int,
    order: int | None,
    dtype: str,
) -> str:
    """One line: mode, network evaluations, density, evaluation dtype and expected cost."""
    where = "lattice nodes" if mode in ("grid", "lattice") else "stencil evaluations"
    line = (
        f"{points:,} points in {dim}D: {mode} mode, {evaluations:,} {where} "
        f"({evaluations / max(points, 1):.2g} per point), {density} points per half-width, "
        f"network in {dtype}"
    )
    if order is None:
        return line + "; density for order 4 until the residual's derivatives are known"
    ratio = relative_cost(evaluations, points, order)
    line += f"; derivative orders <= {order}: estimated step cost {ratio:.2g}x autodiff's"
    if ratio > 1:
        line += (
            " (slower: a larger width, or --derivatives autodiff / enable('autodiff'), would be "
            "faster)"
        )
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
    line = describe_point_set(
        x.shape[0], x.shape[1], field.mode, evaluations, density, orders_seen, dtype
    )
    return key, line
