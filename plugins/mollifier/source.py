"""Where a mollified field's network values come from: :class:`Network` and :class:`Source`.

A field asks its source for the values in the evaluation dtype or in float64 (the precision
policy), for the network at given points in float64 (its rounding probe), for a refined lattice
(lattice mode) and reports the derivative orders it serves (the layer's automatic density).
Each evaluation mode (``modes/``) subclasses :class:`Source` with the points it evaluates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .finite import FiniteCheck
from .precision import evaluate_float64

__all__ = ["Network", "Source"]


class Network:
    """g(z) -> (N, m), in float64 when asked (parameters cast on the fly), NaN/Inf checked.

    Args:
        net: module or callable mapping points (N, d) to values (N, m).
        module: the ``nn.Module`` holding its parameters when ``net`` is a plain callable.
        finite: the layer's NaN/Inf policy.
    """

    def __init__(self, net: Callable, module: nn.Module | None, finite: FiniteCheck):
        self.net, self.finite = net, finite
        if module is None and isinstance(net, nn.Module):
            module = net
        self.module = module

    def __call__(self, z: torch.Tensor, float64: bool = False) -> torch.Tensor:
        values = evaluate_float64(self.net, self.module, z) if float64 else self.net(z)
        if not torch.is_tensor(values) or values.dim() != 2 or len(values) != len(z):
            raise ValueError(
                f"the wrapped network must return one row per input point, (N, m) = "
                f"({len(z)}, m) for its {len(z)} points, got shape "
                f"{tuple(getattr(values, 'shape', ()))} (does it reduce, reshape or drop rows?)"
            )
        return self.finite(values)


class Source:
    """The network values of one field (each mode's subclass says where it evaluates).

    Args:
        network: the bound :class:`Network`.
        saw: called with the highest per-axis order of every derivative a field serves.
    """

    def __init__(self, network: Network, saw: Callable[[int], None] | None = None):
        self.network, self._saw = network, saw

    def values(self, float64: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(values in the mode's layout, the points the network saw or None)."""
        raise NotImplementedError

    def exact(self, points: torch.Tensor) -> torch.Tensor:
        """g at ``points`` (P, d) in float64 (P, m): the rounding probe's reference."""
        return self.network(points, True)

    def refine(self, axes: Sequence[int], float64: bool = False) -> tuple | None:
        """(values, z, plan) on a lattice refined along ``axes`` (in float64 when asked); None:
        not possible."""
        return None

    def saw(self, order: int) -> None:
        if self._saw is not None:
            self._saw(order)
