"""Auto mode: asks the other modes what their plans cost and takes the cheapest.

Lattice mode when its lattice has fewer nodes than the scattered stencils have evaluations (on
lattice points it gives grid mode's numbers); with a grid-mode boundary ('valid', ...) grid
mode on lattice points; else scattered.  The choice is logged once per mode (logger
``steadygrad``, level INFO).
"""

from __future__ import annotations

import logging
import math

from .base import Mode

__all__ = ["AutoMode"]

logger = logging.getLogger("steadygrad")


class AutoMode(Mode):
    """Chooses among ``modes`` ({name: Mode}: scattered, grid, lattice) per point set."""

    name = "auto"

    def __init__(self, modes: dict):
        self.modes = modes
        self.announced: set = set()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "announced": set()}

    def state(self) -> tuple:
        return self.modes["lattice"].state()

    def choose(self, x, stencils, options) -> tuple:
        st = stencils(x.shape[1])  # the scattered spacing: all modes give the same numbers
        budget = x.shape[0] * len(st.offsets(x.dtype, x.device))  # scattered evaluations
        if options.boundary == "extend":
            candidate, limit = self.modes["lattice"], min(budget, options.max_nodes)
            why = f"{{nodes:,}} lattice nodes cost less than {budget:,} stencil evaluations"
        elif len(st.axes) == x.shape[1]:  # 'valid'/'reflect'/'replicate': grid boundaries
            candidate, limit = self.modes["grid"], budget
            why = "the points are nodes of the stencil lattice"
        else:
            candidate = None
        if candidate is not None:
            try:
                plan = candidate.plan(x, st, options, limit)
            except ValueError:
                plan = None
            if plan is not None:
                self._announce(candidate.name, why.format(nodes=math.prod(plan.size)))
                return candidate, st, plan
        self._announce(
            "scattered", f"no lattice smaller than {budget:,} stencil evaluations serves them"
        )
        return self.modes["scattered"], st, None

    def _announce(self, mode: str, why: str) -> None:
        if mode not in self.announced:
            self.announced.add(mode)
            logger.info("mollifier mode='auto' chose %s mode: %s", mode, why)
