"""Derivative operators: interchangeable backends behind one tiny interface.

A host adapter asks an operator four things:

* ``forward(call, x, module=None)``: evaluate the model at inputs x (N, d), given ``call``
  that evaluates the raw network (``module``: the ``nn.Module`` holding its parameters);
  returns the model output (N, m);
* ``derivative(y, x, axis, component)``: d y / d x[:, axis] for a tensor y produced by
  ``forward`` (or by an earlier ``derivative``; ``axis`` may be a tuple of axes: the mixed
  derivative along all of them), or ``None`` when the operator does not serve that request
  and the host's own autodiff must be used;
* ``transform_output(x, y, transform)``: the output transform (hard constraint) v = T(x, y)
  applied to a ``forward`` result, in a form whose derivatives the operator serves;
* ``owns(y, x)``: whether y is one of its outputs or derivatives (of x, when given);
* ``single_component(y)``: whether y already is one component (a derivative).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import torch

from .mollifier.field import (
    UnservableDerivative,
    differentiate,
    field_of,
    is_field,
    product_derivative,
)
from .mollifier.layer import MollifierLayer
from .mollifier.options import LayerOptions, unknown_options
from .mollifier.transform import AffineCache, transformed

__all__ = ["AutodiffOperator", "DerivativeOperator", "MollifierOperator", "UnservableDerivative"]


def _keywords(init) -> set[str] | None:
    """Parameter names of ``init`` after self (None if it takes ``**kwargs``)."""
    if init is object.__init__:
        return set()
    params = list(inspect.signature(init).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind is not p.VAR_POSITIONAL}


class DerivativeOperator:
    """Interface of a derivative backend (see module docstring)."""

    name = "base"
    #: True if the outputs stay differentiable w.r.t. the inputs by plain autodiff.
    autodiff_compatible = True
    #: True if every point's value is defined (False: some may be NaN by design).
    complete = True

    @classmethod
    def option_names(cls) -> set[str] | None:
        """The keyword options the constructor accepts (None: any)."""
        return _keywords(cls.__init__)

    @classmethod
    def check_options(cls, options: Mapping) -> None:
        """Raise ``TypeError`` naming any option the constructor does not accept."""
        known = cls.option_names()
        unknown = sorted(set(options) - known) if known is not None else []
        if unknown:
            raise TypeError(unknown_options(f"derivative backend {cls.name!r}", unknown, known))

    def forward(
        self,
        call: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        module: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        return call(x)

    def derivative(self, y: torch.Tensor, x: torch.Tensor, axis: int, component: int | None = None):
        return None

    def transform_output(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        return transform(x, y)

    def owns(self, y: torch.Tensor, x: torch.Tensor | None = None) -> bool:
        return False

    def single_component(self, y: torch.Tensor) -> bool:
        return False

    def product_derivative(self, y: torch.Tensor, x: torch.Tensor, axis: int):
        """d y / d x[:, axis] for a product of this operator's fields (None: not one)."""
        return None

    def describe(self) -> str:
        return self.name

    def fallback_note(self) -> str:
        """How the host's autodiff reaches derivatives of this operator's outputs."""
        return "using autodiff"

    def hold(self, held: bool = True) -> None:
        """Keep the operator's adaptive decisions fixed while ``held`` (e.g. during L-BFGS,
        whose line search needs one function at every evaluation); nothing to hold here."""


class AutodiffOperator(DerivativeOperator):
    """Plain nested automatic differentiation (the host's default)."""

    name = "autodiff"


class MollifierOperator(DerivativeOperator):
    """Mollifier Layers (Bhartari, Vinayak, Shenoy 2025): outputs u = g * eta.

    Keyword arguments are the layer's options (``steadygrad.mollifier.options.LayerOptions``;
    ``width`` is required).
    """

    name = "mollifier"

    @classmethod
    def option_names(cls) -> set[str]:
        return set(LayerOptions.names())

    def __init__(self, width, **options):
        self.layer = MollifierLayer(None, width, **options)
        self._affine = AffineCache()
        self.complete = self.layer.boundary != "valid"

    @property
    def needs_observations(self) -> bool:
        """True while ``width='auto'`` waits for :meth:`observe`."""
        return isinstance(self.layer.width, str)

    def observe(self, sets) -> dict:
        """Choose an automatic width from observation sets [(points (N, d), values (N, m))]:
        the widest of the per-set choices (the noisiest set decides).  Returns the report."""
        choices = [self.layer.choose_width(p, v) for p, v in sets]
        width, report = max(choices, key=lambda c: c[0])
        self.layer.set_width(width)
        return report

    def forward(self, call, x, module=None):
        self.layer.net, self.layer.module = call, module
        try:
            return self.layer(x)
        finally:
            self.layer.net = self.layer.module = None

    def derivative(self, y, x, axis, component=None):
        return differentiate(y, x, axis, component)

    def transform_output(self, x, y, transform):
        """v = T(x, u) whose derivatives come from the kernel derivatives of u and forward-mode
        differentiation of T alone (``mollifier/transform.py``)."""
        return transformed(x, y, transform, self._affine)

    def owns(self, y, x=None) -> bool:
        return is_field(y, x)

    def product_derivative(self, y, x, axis):
        return product_derivative(y, x, axis)

    def hold(self, held: bool = True) -> None:
        self.layer.hold(held)

    def single_component(self, y) -> bool:
        tag = field_of(y)
        return tag is not None and tag[1] is not None

    def fallback_note(self) -> str:
        if self.layer.last_mode in ("grid", "lattice"):
            return (
                f"using autodiff, which in {self.layer.last_mode} mode runs through the kernel "
                "derivatives (same numbers as a direct request, more work; request derivatives "
                "of the output itself where you can)"
            )
        return "using autodiff through the network (slower)"

    def describe(self) -> str:
        L = self.layer
        return (
            f"mollifier(kernel={L.kernel!r}, width={L.width}, points={L.points}, "
            f"spacing={L.spacing}, "
            f"axes={L.axes}, mode={L.mode}, boundary={L.boundary}, "
            f"precision={L.precision.precision})"
        )
