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


def _input_gradient(ctx, grad, column, alpha: tuple | None = None) -> torch.Tensor:
    """(N, d) gradient with respect to x: grad times ``column(i)`` (N, 1) for every axis i;
    NaN where ``column`` raises ``ValueError`` (an order nobody can serve).  ``alpha``: the
    derivative whose gradient this is (default ``ctx.alpha``)."""
    alpha = ctx.alpha if alpha is None else alpha
    skipped = _skip_input_grad(ctx, grad)
    if skipped is not None:
        return skipped
    cols = []
    for i in range(len(alpha)):
        try:
            col = column(i)
            if torch.is_grad_enabled():  # a nested derivative someone will read
                ctx.field.saw(_plus(alpha, i))
        except ValueError:
            col = torch.full_like(grad, float("nan"))
        cols.append(col.to(grad.dtype))
    return (grad * torch.cat(cols, 1)).to(ctx.dtype)


class Sample(torch.autograd.Function):
    """Lattice mode: interpolate lattice values to the points.

    ``apply(x, boxes, field, component, alphas, extra, interpolation)``: boxes (T, k)
    flattened lattice values of the convolved derivatives ``alphas`` (k multi-indices, one
    interpolant order each); ``interpolation`` the plan's map to the points and its adjoint
    (weights include ``extra``, orders of the interpolant's own derivative per input axis);
    (N, k).  One sparse product serves all k derivatives.
    """

    @staticmethod
    def forward(ctx, x, boxes, field, component, alphas, extra, interpolation):
        ctx.field, ctx.component, ctx.alphas, ctx.extra = field, component, alphas, extra
        ctx.alpha = alphas[0]
        ctx.interpolation, ctx.dtype = interpolation, x.dtype
        ctx.x_leaf = x.grad_fn is None
        return interpolation.apply(boxes)

    @staticmethod
    def backward(ctx, grad):
        gx = gbox = None
        if ctx.needs_input_grad[1]:
            gbox = ctx.interpolation.adjoint(grad)
        if ctx.needs_input_grad[0]:
            field, c = ctx.field, ctx.component
            parts = []
            for j, alpha in enumerate(ctx.alphas):

                def column(i, alpha=alpha):
                    try:
                        return field.point_derivative(c, _plus(alpha, i), ctx.extra)
                    except ValueError:  # the kernel stops here: differentiate the interpolant
                        return field.point_derivative(c, alpha, _plus(ctx.extra, i))

                parts.append(_input_gradient(ctx, grad[:, j : j + 1], column, alpha))
            gx = parts[0] if len(parts) == 1 else sum(parts)
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
