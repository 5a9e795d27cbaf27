"""Grid and lattice mode's shared part: values on a lattice box, separable convolutions."""

from __future__ import annotations

import torch

from ..field import MollifiedField
from ..grid import axis_pass
from ..source import Source

__all__ = ["BoxField", "BoxSource"]


class BoxField(MollifiedField):
    """Grid and lattice mode: values (m, *size) on a lattice box, separable convolutions."""

    def _grid_conv(self, orders: tuple) -> torch.Tensor:
        """Convolution of the box values (m, n_1..n_d) -> (m, N_1..N_d) for per-axis orders.

        Passes run axis by axis and every partial result is cached, so derivatives that share
        their leading orders (u_xxxx, u_xx, u_xxyy) share those passes.
        """
        d = len(orders)
        pad = None if self.boundary in ("extend", "valid") else self.boundary
        start, out = 0, self.values
        for k in range(d, 0, -1):
            if orders[:k] in self._passes:
                start, out = k, self._passes[orders[:k]]
                break
        keep = torch.is_grad_enabled() or not self.values.requires_grad  # never cache a detached
        for i in range(start, d):
            out = axis_pass(out, self.stencil, i, orders[i], d, pad)
            if keep:
                self._passes[orders[: i + 1]] = out
        return out

    def _component_box(self, alpha: tuple, component: int) -> torch.Tensor:
        """The convolved box (1, *size) of D^alpha u[:, component] along the mollified axes."""
        box = self._grid_conv(self._orders(alpha))
        return box if box.shape[0] == 1 else box[component : component + 1]


class BoxSource(Source):
    """The network on the box of a plan: values (m, *size)."""

    def __init__(self, network, saw, plan):
        super().__init__(network, saw)
        self.plan = plan

    def values(self, float64: bool):
        p = self.plan
        g = self.network(p.box_in(torch.float64) if float64 else p.box, float64)
        return g.T.reshape(g.shape[1], *p.size), None
