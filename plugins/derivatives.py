"""Derivative operators: interchangeable backends behind one tiny interface.

A host adapter (DeepXDE) asks an operator two things:

* ``forward(call, x)``: evaluate the model at inputs x (N, d), given ``call`` that
  evaluates the raw network; returns the model output (N, m);
* ``derivative(y, x, axis, component)``: d y / d x[:, axis] for a tensor y produced by
  ``forward`` (or by an earlier ``derivative``), or ``None`` when the operator does not
  serve that request and the host's own autodiff must be used.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .mollifier.layer import MollifierLayer, differentiate

__all__ = ["DerivativeOperator", "AutodiffOperator", "MollifierOperator"]


class DerivativeOperator:
    """Interface of a derivative backend (see module docstring)."""

    name = "base"
    #: True if the outputs stay differentiable w.r.t. the inputs by plain autodiff.
    autodiff_compatible = True

    def forward(self, call: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return call(x)

    def derivative(self, y: torch.Tensor, x: torch.Tensor, axis: int, component: int | None = None):
        return None

    def describe(self) -> str:
        return self.name


class AutodiffOperator(DerivativeOperator):
    """Plain nested automatic differentiation (the host's default)."""

    name = "autodiff"


class MollifierOperator(DerivativeOperator):
    """Mollifier Layers (Bhartari, Vinayak, Shenoy 2025): outputs u = g * eta.

    Keyword arguments are those of :class:`steadygrad.mollifier.MollifierLayer`
    (``width`` is required).
    """

    name = "mollifier"

    def __init__(self, width: float | Sequence[float], kernel="polynomial", points: int = 8,
                 spacing=None, axes: Sequence[int] | None = None, mode: str = "scattered",
                 boundary: str = "extend", check_finite: bool | str = True):
        self.layer = MollifierLayer(None, width, kernel=kernel, points=points, spacing=spacing,
                                    axes=axes, mode=mode, boundary=boundary, check_finite=check_finite)
        self.autodiff_compatible = mode == "scattered"

    def forward(self, call, x):
        self.layer.net = call
        try:
            return self.layer(x)
        finally:
            self.layer.net = None

    def derivative(self, y, x, axis, component=None):
        return differentiate(y, x, axis, component)

    def describe(self) -> str:
        L = self.layer
        return (f"mollifier(kernel={L.kernel!r}, width={L.width}, points={L.points}, "
                f"spacing={L.spacing}, axes={L.axes}, mode={L.mode}, boundary={L.boundary})")
