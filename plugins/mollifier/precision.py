"""Rounding error of mollifier derivatives and the precision policy.

A derivative is D^alpha u = sum_s w_s g(x - y_s).  The network values g carry rounding errors
of c u max|g| (u: unit roundoff of their dtype; c: the network's own forward-rounding factor),
and the stencil sums them with weights of total size ||w^alpha||_1, which grows like
width^-|alpha|.  The coordinates x - y_s the network sees are rounded too, by u |x|, which
moves g by up to u max|x| max|grad g|: negligible near the origin, dominant far from it
(x = 1e4 + [0, 1] in float32).  The a-priori bound is

    B(alpha) = MARGIN * u * (c * max|g| + max|x| * max|grad g|) * ||w^alpha||_1        (1)

c is measured, not guessed: the network is evaluated in float64 on up to PROBE stencil points
and c = max |g - g_float64| / (u max|g|) (at least 1; DEFAULT_ROUNDING when float64
evaluation is impossible); max|grad g| is the largest finite difference of the values along
the stencil or lattice axes.  Calibration on tanh MLPs (1-3 hidden layers of 64, 1D/2D,
orders 1-4, widths 3-12 spacings, polynomial and bump kernels, grid and scattered mode,
float32 and bfloat16) found c = 4-10 (float32) and 2-3 (bfloat16), and with MARGIN = 1.25
the bound lay 1.4-21x above the measured error, never below.

Policy (``precision=``): 'input' evaluates g in the input's dtype; 'float64' always evaluates
g in float64 (parameters cast on the fly, gradients flow back to them, results cast back);
'auto' evaluates in the input dtype; when a requested derivative's bound exceeds ``rtol``
times its magnitude, it evaluates the network once more in float64 and measures the actual
error of the input-dtype derivative; only if that exceeds rtol / MEASURED_SAFETY of the
magnitude does it switch to float64 (warning once per derivative).  Every RECHECK_EVERY calls
it tries the input dtype again (derivatives often grow during training).  Measured on the
2D PINN benchmarks of ``bench sampled`` at a width of 2.5% of the extent: the bound asked for
float64 while the measured error stayed below rtol; float64 doubled the step and left the
final error equal.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "DEFAULT_ROUNDING",
    "MARGIN",
    "MEASURED_SAFETY",
    "PRECISIONS",
    "PROBE",
    "PrecisionState",
    "PrecisionWarning",
    "check_precision",
    "evaluate_float64",
    "rounding_bound",
    "safe_width",
    "unit_roundoff",
]

PRECISIONS = ("auto", "float64", "input")
MARGIN = 1.25
PROBE = 512
DEFAULT_ROUNDING = 10.0
#: 'auto' keeps the input dtype while the measured error is below rtol / MEASURED_SAFETY (the
#: weights move between two checks; the factor covers the error's growth meanwhile)
MEASURED_SAFETY = 4.0


class PrecisionWarning(UserWarning):
    """A mollifier derivative is dominated by rounding error (or precision was switched)."""


def check_precision(precision: str, rtol: float) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1:
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}")


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps / 2 of a floating dtype (2^-24 for float32, 2^-53 for float64, 2^-8 for bfloat16)."""
    return torch.finfo(dtype).eps / 2


def rounding_bound(
    dtype: torch.dtype, gmax: float, w1: float, rounding: float, coordinate: float = 0.0
) -> float:
    """Equation (1): MARGIN u (c max|g| + X) ||w||_1 with c = ``rounding`` and X =
    ``coordinate`` = max|x| max|grad g|, the error of g at coordinates rounded to the dtype
    (points far from the origin: x - y_s in float32 carries an error of u |x|)."""
    return MARGIN * unit_roundoff(dtype) * (max(rounding, 1.0) * gmax + coordinate) * w1


def safe_width(width: float, order: int, excess: float) -> float:
    """Width at which the bound drops by ``excess`` (> 1): ||w||_1 scales like width^-order."""
    return width * excess ** (1.0 / max(order, 1))


def _float_slots(module: nn.Module) -> list[tuple[dict, str]]:
    """(owner dict, name) of every floating parameter and buffer of ``module`` and below."""
    return [
        (table, name)
        for sub in module.modules()
        for table in (sub._parameters, sub._buffers)
        for name, t in table.items()
        if t is not None and t.is_floating_point()
    ]


def evaluate_float64(net, module: nn.Module | None, z: torch.Tensor) -> torch.Tensor:
    """net(z) with z and the module's floating parameters/buffers cast to float64 on the fly
    (differentiable casts: gradients reach the original parameters).

    The casts are swapped into the module's own parameter tables for the call and swapped back
    after it, as ``torch.func.functional_call`` does, without its per-call bookkeeping (it cost
    as much as the float64 forward and backward of a small MLP).
    """
    if module is None:  # a plain function: fine if it has no float32 state of its own
        values = net(z.double())
        if not (torch.is_tensor(values) and values.dtype == torch.float64):
            raise ValueError(
                "float64 evaluation needs the network's parameters: pass an nn.Module as the net "
                "(or module=...), or use precision='input'"
            )
        return values

    slots = _float_slots(module)
    saved = [table[name] for table, name in slots]
    try:
        for (table, name), t in zip(slots, saved):
            table[name] = t.double()
        return net(z.double())
    finally:
        for (table, name), t in zip(slots, saved):
            table[name] = t


def describe_excess(
    alpha: tuple, bound: float, scale: float, width, order: int, dtype: torch.dtype, rtol: float
) -> str:
    """The warning text: which derivative, its bound, and the two fixes."""
    excess = bound / max(rtol * scale, 1e-300)
    widths = [
        safe_width(w, order, excess) for w in (width if isinstance(width, tuple) else (width,))
    ]
    fmt = ", ".join(f"{w:.3g}" for w in widths)
    return (
        f"derivative {alpha}: rounding-error bound {bound:.3g} is "
        f"{bound / max(scale, 1e-300):.2g} of its "
        f"magnitude {scale:.3g} in {str(dtype).replace('torch.', '')} (tolerance rtol={rtol:g}); "
        f"use precision='float64' (or 'auto'), or a width of at least {fmt}"
    )


def finite_or_zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0


class PrecisionState:
    """A layer's precision policy and what it decided so far.

    Attributes:
        precision, rtol: the policy (see the module docstring).
        upcast: True once g is evaluated in float64 ('float64', or 'auto' after a switch).
        held: True while the decisions are kept (no periodic rechecks; ``MollifierLayer.hold``).
        checked: multi-indices whose bound was checked since the last recheck.
        reported: keys of the warnings already emitted (each once).
    """

    RECHECK_EVERY = 50  # calls of the layer between two checks of the same derivative

    def __init__(self, precision: str = "auto", rtol: float = 1e-3):
        check_precision(precision, rtol)
        self.precision, self.rtol = precision, float(rtol)
        self.upcast = precision == "float64"
        self.checked: set = set()
        self.reported: set = set()
        self.calls = 0
        self.rounding: float | None = None  # the network's forward-rounding factor c, once measured
        # held: no rechecks, so the dtype stays what it is (a quasi-Newton line search needs the
        # same smooth function at every evaluation; MollifierLayer.hold)
        self.held = False

    def new_call(self) -> None:
        self.calls += 1
        if self.held:
            return
        if self.calls % self.RECHECK_EVERY == 0:
            self.checked.clear()
            self.rounding = None
            if self.precision == "auto":  # a switch is not forever: derivatives grow in training
                self.upcast = False

    def wants_check(self, key) -> bool:
        return not self.upcast and key not in self.checked

    def report(self, message: str, key=None) -> None:
        """Warn once per ``key`` (default: the message itself)."""
        key = message if key is None else key
        if key not in self.reported:
            self.reported.add(key)
            import warnings

            warnings.warn(message, PrecisionWarning, stacklevel=5)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "checked": set()}
