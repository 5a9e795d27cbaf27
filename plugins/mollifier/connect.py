"""Layer outputs connected to the inputs' autograd graph, with *kernel* derivatives.

Grid and lattice mode evaluate the network on lattice nodes, not at the inputs x, so plain
autograd would see no dependence of u on x.  These functions restore it: the gradient of
D^alpha u with respect to x[:, i] is the field's own D^(alpha + e_i) u, itself connected, so
``torch.autograd.grad`` through x (output transforms, a host's autodiff fallback, nested
calls) returns mollifier derivatives.  Where the kernel cannot serve alpha + e_i, lattice mode
differentiates its interpolant along axis i instead; grid mode returns NaN there (a gradient
nobody reads, such as a leaf input's ``.grad`` after ``loss.backward()``, is harmless, and one
that is read is visibly undefined, never silently wrong).

With ``input_grad='graph'`` (the field's attribute) the gradient with respect to a *leaf*
input is produced only in backward passes that build a graph (``create_graph=True``: nested
derivatives, output transforms); a plain ``loss.backward()`` then leaves NaN in ``x.grad``
instead of paying for derivatives of one order more that a training loop never reads.

The field object must provide ``point_derivative(component, alpha, extra)`` (lattice) or
``connected_derivative(component, alpha)`` (grid), returning (N, 1) tensors.
"""

from __future__ import annotations

import torch

__all__ = ["Attach", "Sample"]


def _skip_input_grad(ctx, grad) -> torch.Tensor | None:
    """NaN for a leaf input's gradient that nobody differentiates further (see above)."""
    if ctx.x_leaf and ctx.field.input_grad == "graph" and not torch.is_grad_enabled():
        return torch.full(
            (grad.shape[0], len(ctx.alpha)), float("nan"), dtype=ctx.dtype, device=grad.device
        )
    return None


def _plus(alpha: tuple, axis: int) -> tuple:
    return tuple(a + (j == axis) for j, a in enumerate(alpha))


def _input_gradient(ctx, grad, column) -> torch.Tensor:
    """(N, d) gradient with respect to x: grad times ``column(i)`` (N, 1) for every axis i;
    NaN where ``column`` raises ``ValueError`` (an order nobody can serve)."""
    skipped = _skip_input_grad(ctx, grad)
    if skipped is not None:
        return skipped
    cols = []
    for i in range(len(ctx.alpha)):
        try:
            col = column(i)
            if torch.is_grad_enabled():  # a nested derivative someone will read
                ctx.field.saw(_plus(ctx.alpha, i))
        except ValueError:
            col = torch.full_like(grad, float("nan"))
        cols.append(col.to(grad.dtype))
    return (grad * torch.cat(cols, 1)).to(ctx.dtype)


class Sample(torch.autograd.Function):
    """Lattice mode: interpolate lattice values to the points.

    ``apply(x, box, field, component, alpha, extra, interpolation)``: box (T,) flattened
    lattice values of the convolved derivative; ``interpolation`` the plan's map to the points
    and its adjoint (weights include ``extra``, orders of the interpolant's own derivative per
    input axis); (N, 1).
    """

    @staticmethod
    def forward(ctx, x, box, field, component, alpha, extra, interpolation):
        ctx.field, ctx.component, ctx.alpha, ctx.extra = field, component, alpha, extra
        ctx.interpolation, ctx.dtype = interpolation, x.dtype
        ctx.x_leaf = x.grad_fn is None
        return interpolation.apply(box)

    @staticmethod
    def backward(ctx, grad):
        gx = gbox = None
        if ctx.needs_input_grad[1]:
            gbox = ctx.interpolation.adjoint(grad)
        if ctx.needs_input_grad[0]:
            field, c = ctx.field, ctx.component

            def column(i):
                try:
                    return field.point_derivative(c, _plus(ctx.alpha, i), ctx.extra)
                except ValueError:  # the kernel stops here: differentiate the interpolant
                    return field.point_derivative(c, ctx.alpha, _plus(ctx.extra, i))

            gx = _input_gradient(ctx, grad, column)
        return gx, gbox, None, None, None, None, None


class Attach(torch.autograd.Function):
    """Grid mode: ``apply(x, value, field, component, alpha)`` returns ``value`` (N, 1), with
    the gradient with respect to x taken from the field's next-order derivatives."""

    @staticmethod
    def forward(ctx, x, value, field, component, alpha):
        ctx.field, ctx.component, ctx.alpha, ctx.dtype = field, component, alpha, x.dtype
        ctx.x_leaf = x.grad_fn is None
        return value.view_as(value)

    @staticmethod
    def backward(ctx, grad):
        gx = None
        if ctx.needs_input_grad[0]:
            field, c = ctx.field, ctx.component
            gx = _input_gradient(
                ctx, grad, lambda i: field.connected_derivative(c, _plus(ctx.alpha, i))
            )
        return gx, grad, None, None, None
