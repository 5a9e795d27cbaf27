"""The options of a multistep solve, validated in one place.

:class:`SolveOptions` holds how a solve runs (step, starter, interpolation of outputs) and
how it is differentiated (``correction``, ``recompute``, ``checkpoint``, ``params``); host
adapters build it from their option mappings with :meth:`SolveOptions.from_mapping`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

import torch

from .grid import INTERPOLATIONS
from .methods import STARTERS, LinearMultistep

__all__ = ["SolveOptions"]


@dataclass(frozen=True)
class SolveOptions:
    """Validated options of :func:`~steadygrad.multistep.solve.odeint_multistep`.

    Attributes:
        step_size: h (a real number; None: t[1] - t[0]).
        start: one-step starter ('euler', 'rk2', 'rk4'); None: the method's (:meth:`starter`).
        interp: 'linear' or 'cubic' (Hermite) for output times off the grid.
        correction: adjoint-consistent gradients for parameters used by a single node.
        recompute: one stored state per node, f re-evaluated in the backward pass.
        checkpoint: False, True (every sqrt(N) nodes) or an integer >= 2.
        params: tensors func depends on (None: ``func.parameters()`` for modules).
        perturb: evaluate func just after each grid time (hosts that support it).
        on_step: called as on_step(t_n, x_n, h) once per forward step.
    """

    step_size: float | None = None
    start: str | None = None
    interp: str = "linear"
    correction: bool = True
    recompute: bool = False
    checkpoint: bool | int = False
    params: tuple | None = None
    perturb: bool = False
    on_step: Callable | None = None

    def __post_init__(self):
        object.__setattr__(self, "step_size", _step_size(self.step_size))
        object.__setattr__(self, "params", _params(self.params))
        if self.start is not None and self.start not in STARTERS:
            raise ValueError(f"start must be one of {sorted(STARTERS)}, got {self.start!r}")
        if self.interp not in INTERPOLATIONS:
            raise ValueError(f"interp must be one of {INTERPOLATIONS}, got {self.interp!r}")
        for name in ("correction", "recompute", "perturb"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        c = self.checkpoint
        if not (isinstance(c, bool) or (isinstance(c, numbers.Integral) and c >= 2)):
            raise ValueError(f"checkpoint must be True, False or an integer >= 2, got {c!r}")

    @classmethod
    def from_mapping(cls, options: Mapping | None, **extra) -> SolveOptions:
        """From a host's option mapping (unknown keys raise, naming the allowed ones)."""
        options = dict(options or {})
        allowed = {f.name for f in fields(cls)} - set(extra) - {"on_step"}
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(
                f"unsupported option(s) {sorted(unknown)} for a fixed-step multistep method "
                f"(adaptive-step options do not apply). Allowed: {sorted(allowed)}"
            )
        try:
            return cls(**options, **extra)
        except (TypeError, ValueError) as err:
            raise type(err)(f"options: {err}") from None

    def starter(self, method: LinearMultistep) -> str:
        """The one-step starter this solve uses."""
        return self.start or method.start


def _step_size(value):
    if value is None:
        return None
    if torch.is_tensor(value) and value.requires_grad:
        raise ValueError(
            "step_size is a tensor that requires grad: the multistep methods do not "
            "differentiate with respect to the step size (the gradient would silently be "
            "missing); pass a plain number, or use a Runge-Kutta method (e.g. rk4) for d/dh"
        )
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"step_size must be a real number, got {value!r}")
    return float(value)


def _params(value):
    if value is None:
        return None
    if torch.is_tensor(value):
        return (value,)
    try:
        if isinstance(value, str):
            raise TypeError
        params = tuple(value)
        if not all(torch.is_tensor(p) for p in params):
            raise TypeError
    except TypeError:
        raise TypeError(
            f"params must be a tensor or a sequence of tensors (those func depends on, e.g. "
            f"list(net.parameters())), got {value!r}"
        ) from None
    return params
