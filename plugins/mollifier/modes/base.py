"""The evaluation-mode strategy: how one layer call's points become a mollified field.

A :class:`Mode` chooses its stencil and plan for the points, and builds the field with a
:class:`~steadygrad.mollifier.source.Source` that evaluates the network where the mode needs
it.  The layer keeps one instance per mode (``modes/__init__.py``), so state a mode learns
(lattice mode's refined divisions) lasts across calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from ..field import MollifiedField
from ..precision import PrecisionState
from ..source import Network
from ..stencil import Stencil

__all__ = ["Call", "Mode"]


class Call(NamedTuple):
    """What a mode needs of the layer for one call: the bound network, the precision policy,
    the options and the callback hearing the derivative orders served."""

    network: Network
    precision: PrecisionState
    options: Any  # LayerOptions
    saw: Callable[[int], None]


class Mode:
    """One evaluation mode (see the subclasses)."""

    name = "base"
    #: False: the plan is trivial and not worth the layer's per-points plan cache
    cached = True

    def check(self, x: torch.Tensor, options) -> None:
        """Refuse options this mode cannot honour (before any evaluation)."""

    def state(self) -> tuple:
        """What this mode learned that changes its plans (part of the plan cache's key)."""
        return ()

    def choose(self, x: torch.Tensor, stencils: Callable[..., Stencil], options) -> tuple:
        """(mode that serves x, its stencil, its plan); ``stencils(dim, spacing=None)`` gives
        the layer's cached stencil."""
        st = self.stencil(x, stencils, options)
        return self, st, self.plan(x, st, options, self.limit(options))

    def stencil(self, x: torch.Tensor, stencils: Callable[..., Stencil], options) -> Stencil:
        return stencils(x.shape[1])

    def limit(self, options) -> int | None:
        """The largest lattice (nodes) this mode evaluates when chosen explicitly."""
        return options.max_nodes

    def plan(self, x: torch.Tensor, st: Stencil, options, limit: int | None):
        """The mode's plan for x (None: nothing to plan); ``ValueError`` (or None for a box
        over ``limit``) when this mode cannot serve x within ``limit`` nodes."""
        return None

    def field(self, x: torch.Tensor, st: Stencil, plan, call: Call) -> MollifiedField:
        raise NotImplementedError
