"""Scattered mode: the network on the stencil x_n - y_s around every point."""

from __future__ import annotations

import torch

from ..field import MollifiedField, UnservableDerivative
from ..source import Source
from .base import Call, Mode

__all__ = ["ScatteredField", "ScatteredMode"]


class ScatteredField(MollifiedField):
    """Values (N, S, m) on the stencil x_n - y_s; ``z`` the (N S, d) points the network saw.
    D^alpha u = sum_s w^alpha_s G[:, s]; derivatives along non-mollified axes by autograd of G."""

    mode = "scattered"

    @property
    def outputs(self) -> int:
        return self.values.shape[-1]

    def component_values(self, component: int) -> torch.Tensor:
        return self.values[:, :, component]

    def _values_scattered(self, component: int, beta: tuple) -> torch.Tensor:
        """d^beta G[:, :, component] w.r.t. the non-mollified axes, shape (N, S)."""
        key = (component, beta)
        if key not in self._stencil_values:
            if not any(beta):
                out = self.values[:, :, component]
            else:
                axis = max(i for i, b in enumerate(beta) if b)
                prev_beta = tuple(b - (i == axis) for i, b in enumerate(beta))
                prev = self._values_scattered(component, prev_beta)
                if not prev.requires_grad:
                    raise UnservableDerivative(
                        f"derivative along non-mollified axis {axis} needs autograd; "
                        "call the layer with inputs that require grad, outside torch.no_grad()"
                    )
                (g,) = torch.autograd.grad(prev.sum(), self.z, create_graph=True)
                out = g[..., axis].reshape(prev.shape)
            self._stencil_values[key] = out
        return self._stencil_values[key]

    def _derive(self, component: int, alpha: tuple) -> torch.Tensor:
        orders = self._orders(alpha)
        beta = tuple(0 if i in self.stencil.axes else alpha[i] for i in range(self.dim))
        w = self.stencil.weights(orders, self.values.dtype, self.values.device)
        return (self._values_scattered(component, beta) @ w)[:, None]

    def _output(self) -> torch.Tensor:
        orders = (0,) * len(self.stencil.axes)
        w = self.stencil.weights(orders, self.values.dtype, self.values.device)
        return torch.einsum("nsm,s->nm", self.values, w)

    def _value_lattice(self, vals: torch.Tensor) -> tuple:
        # (N, S) -> (N, 2K_1 + 1, ...): the stencil's own lattice around every point
        vals = vals.reshape(len(vals), *(2 * k + 1 for k in self.stencil.half))
        return vals, dict(zip(range(1, vals.dim()), self.stencil.spacings))

    def _evaluation_points(self) -> tuple:
        return self.z, self.values.reshape(-1, self.values.shape[-1])


class StencilSource(Source):
    """The network on the stencil around every point: values (N, S, m), z (N S, d)."""

    def __init__(self, network, saw, x: torch.Tensor, st):
        super().__init__(network, saw)
        self.x, self.st = x, st

    def values(self, float64: bool):
        x, st = self.x, self.st
        dtype = torch.float64 if float64 else x.dtype
        offsets = st.offsets(dtype, x.device)
        z = (x.to(dtype)[:, None, :] - offsets[None]).reshape(-1, x.shape[1])
        if len(st.axes) < x.shape[1] and torch.is_grad_enabled() and not z.requires_grad:
            z.requires_grad_(True)  # autodiff axes need a graph even for constant inputs
        g = self.network(z, float64)
        return g.reshape(x.shape[0], len(offsets), g.shape[-1]), z


class ScatteredMode(Mode):
    """Any points, any axes: S network evaluations per point."""

    name = "scattered"
    cached = False

    def check(self, x, options) -> None:
        _extend_only(self.name, options)

    def field(self, x, st, plan, call: Call) -> ScatteredField:
        source = StencilSource(call.network, call.saw, x, st)
        return ScatteredField(
            x, st, source, precision=call.precision, input_grad=call.options.input_grad
        )


def _extend_only(mode: str, options) -> None:
    if options.boundary != "extend":
        raise ValueError(
            f"boundary handling applies to grid mode; {mode} mode always evaluates the full stencil"
        )
