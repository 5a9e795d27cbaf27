"""Grid mode: the points are nodes of a lattice; g on its box, convolved, gathered back."""

from __future__ import annotations

import torch

from ..connect import Attach
from ..field import UnservableDerivative
from ..grid import grid_plan, lattice_spacing, valid_mask
from .base import Call, Mode
from .box import BoxField, BoxSource

__all__ = ["GridField", "GridMode"]


class GridField(BoxField):
    """The points are lattice nodes: convolved box values gathered at them, connected to x."""

    mode = "grid"

    def _derive(self, component: int, alpha: tuple) -> torch.Tensor:
        if any(alpha[i] for i in range(self.dim) if i not in self.stencil.axes):
            raise UnservableDerivative(
                "grid mode mollifies every axis; use scattered mode for autodiff axes"
            )
        return self.connected_derivative(component, alpha)

    def connected_derivative(self, component: int, alpha: tuple) -> torch.Tensor:
        """D^alpha u[:, component] (N, 1) at the points, connected to x (see
        ``connect.py``)."""
        self._check_alpha(alpha, component)
        value = self._gather(self._component_box(alpha, component))
        if not self.x.requires_grad:
            return value
        return Attach.apply(self.x, value, self, component, alpha)

    def _gather(self, box: torch.Tensor) -> torch.Tensor:
        """Pick the (m,) values at the points' lattice indices from a (m, N_1..N_d) box -> (N, m).

        A reshape when the points are the whole box in C order; otherwise ``index_select`` on
        the flattened box (its backward is a scatter-add, much cheaper on GPUs than the sort
        that advanced-indexing backward needs).
        """
        flat, inside = self.plan.flat, self.plan.inside
        if flat is None:
            return box.reshape(box.shape[0], -1).T
        picked = box.reshape(box.shape[0], -1).index_select(1, flat).T
        if inside is not None:
            picked = torch.where(inside[:, None], picked, torch.full_like(picked, float("nan")))
        return picked

    @property
    def mask(self) -> torch.Tensor:
        if self.boundary == "extend":
            return super().mask
        box_mask = valid_mask(self.values.shape[1:], self.stencil.half, self.x.device)
        return box_mask[tuple(self.plan.index.unbind(1))]


class GridMode(Mode):
    """Points on a lattice (spacing ``options.spacing`` or inferred from the points): one
    network evaluation per node of their box, every axis mollified."""

    name = "grid"

    def limit(self, options) -> None:
        return None

    def stencil(self, x, stencils, options):
        if options.axes is not None and len(options.axes) != x.shape[1]:
            raise ValueError(
                "grid mode mollifies every input axis; use mode='lattice' or 'scattered' with axes="
            )
        dim = x.shape[1]
        spacing = (
            None
            if options.spacing is not None
            else tuple(lattice_spacing(x[:, i]) for i in range(dim))
        )
        return stencils(dim, spacing)

    def plan(self, x, st, options, limit):
        return grid_plan(x, st.spacings, st.half, options.boundary, max_nodes=limit)

    def field(self, x, st, plan, call: Call) -> GridField:
        return GridField(
            x,
            st,
            BoxSource(call.network, call.saw, plan),
            plan=plan,
            boundary=call.options.boundary,
            precision=call.precision,
            input_grad=call.options.input_grad,
        )
