"""The mollifier layer's options, declared once: :class:`LayerOptions`.

Every option is one dataclass field whose metadata carries its help text, how to read it from
a command line (``parse``) and its allowed values (``choices``).  The layer, the derivative
backend's keywords and ``steadygrad run``'s flags are all read from here.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..declared import Declared, option, unknown_options
from .autowidth import is_auto
from .background import MAX_NODES
from .finite import check_policy
from .grid import BOUNDARIES
from .kernels import Kernel, make_kernel
from .modes import MODES
from .precision import PRECISIONS, check_precision
from .values import is_scalar, real

__all__ = ["DEFAULTS", "INPUT_GRADS", "LayerOptions", "option_fields", "unknown_options"]

INPUT_GRADS = ("always", "graph")
BOUNDARY_CHOICES = ("extend",) + BOUNDARIES


def _floats(text: str) -> float | tuple[float, ...]:
    vals = tuple(float(v) for v in text.split(","))
    return vals[0] if len(vals) == 1 else vals


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _auto_or(parse: Callable, what: str) -> Callable:
    def read(text: str):
        return "auto" if text == "auto" else parse(text)

    read.__name__ = what  # argparse names it in its errors: "invalid width value"
    return read


def _check_finite(text: str) -> bool | str:
    words = {"true": True, "false": False, "sync": "sync", "deferred": "deferred"}
    if text.lower() not in words:
        raise ValueError(f"expected one of {sorted(words)}, got {text!r}")
    return words[text.lower()]


_check_finite.__name__ = "check_finite"  # argparse names it in its errors


def _width(width):
    """A float, a tuple of floats (one per mollified axis), or 'auto'; accepts numpy/0-d tensor
    scalars."""
    if is_auto(width):
        return width
    if isinstance(width, str):
        raise TypeError(
            f"width must be a number, a sequence of numbers or 'auto', got the string {width!r}"
        )
    if width is None:
        raise TypeError(
            "width is required: the kernel half-width in input units (e.g. width=0.05, a few "
            "data spacings), one per mollified axis, or width='auto' to choose it from data"
        )
    if is_scalar(width):
        return real(width, "width")
    return tuple(real(w, "width") for w in width)


def _axes(axes):
    """None (all axes), or a tuple of integer input-axis indices."""
    if axes is None:
        return None
    seq = (axes,) if isinstance(axes, numbers.Integral) else axes
    try:
        seq = tuple(seq)
    except TypeError:
        seq = (axes,)
    if not seq or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in seq):
        raise TypeError(
            f"axes must be an input-axis index or a sequence of them (e.g. axes=(0, 1) to "
            f"mollify x and y and leave t to autodiff), got {axes!r}"
        )
    return tuple(int(a) for a in seq)


def _points(points):
    if points != "auto" and (
        isinstance(points, bool)
        or not isinstance(points, numbers.Real)
        or not math.isfinite(points)
        or int(points) != points
        or points < 2
    ):
        raise ValueError(f"points per half-width must be an integer >= 2 or 'auto', got {points!r}")
    return points if points == "auto" else int(points)


def _max_nodes(max_nodes):
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive integer, got {max_nodes!r}")
    return int(max_nodes)


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@dataclass(frozen=True)
class LayerOptions(Declared):
    """The options of a :class:`~steadygrad.mollifier.MollifierLayer`, validated once.

    Build with :meth:`create` (unknown names raise, naming the allowed ones); change with
    :meth:`replace` (validated again).  Each field's ``help`` metadata documents it.
    """

    OWNER = "the mollifier layer"

    width: Any = option(
        None,
        "kernel half-width eps in input units: a number for every mollified axis, one per "
        "mollified axis, or 'auto' (chosen from observations, docs/mollifier.md)",
        _auto_or(_floats, "width"),
    )
    kernel: str | Kernel = option(
        "polynomial",
        "kernel shape: polynomial, bump, gaussian, 'polynomial:q=6', or an entry "
        "point of group steadygrad.kernels",
    )
    points: int | str = option(
        "auto",
        "stencil points per half-width (spacing = width / points), or 'auto': the fewest that "
        "keep the requested derivative orders within rtol (density.py)",
        _auto_or(int, "points"),
    )
    spacing: Any = option(
        None, "explicit stencil spacing per mollified axis (overrides points)", _floats
    )
    axes: Any = option(None, "input axes to mollify (default: all; the others use autodiff)", _ints)
    mode: str = option(
        "auto",
        "scattered, grid (points on a lattice), lattice (served from a background lattice) or "
        "auto (lattice when cheaper than scattered)",
        choices=MODES,
    )
    boundary: str = option(
        "extend",
        "grid mode: extend (exact), valid (NaN where the stencil leaves the points' box), "
        "reflect or replicate",
        choices=BOUNDARY_CHOICES,
    )
    check_finite: bool | str = option(
        True,
        "raise FloatingPointError when the network returns NaN/Inf: true, false, sync or deferred",
        _check_finite,
    )
    precision: str = option(
        "auto",
        "evaluate the network in float64 when rounding would dominate a derivative (auto), "
        "always (float64) or never (input)",
        choices=PRECISIONS,
    )
    rtol: float = option(
        1e-3,
        "relative accuracy of the derivatives (precision policy, stencil density, lattice "
        "interpolation)",
        float,
    )
    max_nodes: int = option(
        MAX_NODES, "largest lattice (nodes) that grid, lattice and auto mode evaluate", int
    )
    input_grad: str = option(
        "always",
        "grid/lattice mode: gradients with respect to the inputs in every backward pass "
        "(always) or only in passes that build a graph (graph); default always, and graph where "
        "the host adapter knows its host never reads the inputs' .grad",
        choices=INPUT_GRADS,
    )

    def __post_init__(self):
        _check_choice("mode", self.mode, MODES)
        _check_choice("boundary", self.boundary, BOUNDARY_CHOICES)
        normalised = dict(
            points=_points(self.points),
            kernel=make_kernel(self.kernel),
            width=_width(self.width),
            axes=_axes(self.axes),
            max_nodes=_max_nodes(self.max_nodes),
        )
        check_policy(self.check_finite)
        check_precision(self.precision, self.rtol)
        _check_choice("input_grad", self.input_grad, INPUT_GRADS)
        for name, value in normalised.items():
            object.__setattr__(self, name, value)


def option_fields() -> tuple[dataclasses.Field, ...]:
    """The declared options (name, default, metadata: help, parse, choices)."""
    return dataclasses.fields(LayerOptions)


#: the defaults of every option but the width (read by adapters and docs)
DEFAULTS: Mapping[str, Any] = {f.name: f.default for f in option_fields() if f.name != "width"}
