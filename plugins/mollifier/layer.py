"""The mollifier layer: u = g * eta and every derivative from one network evaluation.

:class:`MollifierLayer` wraps a network g: R^d -> R^m.  Its output at points x (N, d) is
the mollified field u (N, m), which carries a :class:`~steadygrad.mollifier.field.MollifiedField`
serving every derivative D^alpha u from the *same* network evaluation.  How the network is
evaluated is the mode's business (``modes/``: scattered, grid, lattice, auto); the layer keeps
the options (``options.py``), the stencil and plan caches, the precision policy and ``hold``.

Axes that are not mollified (``axes=``) are differentiated by autodiff of the stencil
values.  The precision policy (``precision.py``) guards high orders against rounding noise.
"""

from __future__ import annotations

import logging
import math
import numbers
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .autowidth import WidthChoice, check_extent, choose_width, is_auto
from .cost import describe_point_set
from .density import INITIAL_ORDER, points_for
from .field import MollifiedField, field_of
from .finite import FiniteCheck
from .modes import MODES, Call, Mode, strategies
from .options import DEFAULTS, LayerOptions
from .precision import PrecisionState
from .source import Network
from .stencil import Stencil
from .values import per_axis

__all__ = ["DEFAULTS", "MODES", "MollifierLayer"]

logger = logging.getLogger("steadygrad")


def _check_points(x) -> None:
    if not torch.is_tensor(x) or x.dim() != 2:
        raise ValueError(
            f"inputs must be a (N, d) tensor, got {type(x).__name__} "
            f"{tuple(getattr(x, 'shape', ()))}"
        )
    if not x.is_floating_point():
        raise ValueError("inputs must be a floating-point tensor")
    if x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(dim=1).nonzero()[0])
        raise ValueError(
            f"inputs contain NaN/Inf (point {bad} = {x[bad].tolist()}); the mollifier needs finite "
            "coordinates"
        )


class MollifierLayer(nn.Module):
    """Wrap a network g so that the layer outputs the mollified field u = g * eta.

    Args:
        net: module or callable mapping points (N, d) to values (N, m).
        width: kernel half-width eps in input units; a number for every mollified axis, a
            sequence with one entry per mollified axis, or 'auto': chosen from observations by
            :meth:`choose_width` (``autowidth.py``; the host adapters call it with the
            model's observation data before training).
        module: the ``nn.Module`` holding the parameters of ``net`` when ``net`` is a plain
            callable (needed for float64 evaluation).
        **options: the other options of :class:`~steadygrad.mollifier.options.LayerOptions`
            (kernel, points, spacing, axes, mode, boundary, check_finite, precision, rtol,
            max_nodes, input_grad; each documented there).  Unknown names raise ``TypeError``.

    The options are readable (and, but for ``precision`` and ``check_finite``, settable) as
    attributes: ``layer.width``, ``layer.mode = "scattered"``.
    """

    def __init__(
        self,
        net: Callable[[torch.Tensor], torch.Tensor],
        width: float | Sequence[float] | str,
        *,
        module: nn.Module | None = None,
        **options: Any,
    ):
        super().__init__()
        self.options = LayerOptions.create(width=width, **options)
        self.net, self.module = net, module
        self.finite = FiniteCheck(self.options.check_finite)
        self.precision = PrecisionState(self.options.precision, self.options.rtol)
        self.strategies: dict[str, Mode] = strategies()
        self._orders_seen: int | None = None  # highest per-axis order requested (points='auto')
        self._stencils: dict = {}
        self._last_plan: dict | None = None
        self._announced: set = set()
        self._extent_checked = None  # the width last checked against the points' extent
        self.last_mode: str | None = None  # the mode the last call ran in

    def __getstate__(self) -> dict:
        # caches (device tensors, a weak reference) are not pickled
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {**state, "_stencils": {}, "_last_plan": None, "_announced": set()}

    # ---- configuration ------------------------------------------------------------------
    @property
    def check_finite(self):
        return self.finite.policy

    def _axes(self, dim: int) -> tuple:
        axes = tuple(range(dim)) if self.axes is None else self.axes
        if not axes or len(set(axes)) != len(axes) or min(axes) < 0 or max(axes) >= dim:
            raise ValueError(f"axes {axes} are not distinct indices of {dim}-dimensional inputs")
        return axes

    def stencil(self, dim: int, spacing: Sequence[float] | None = None) -> Stencil:
        """The stencil used for ``dim``-dimensional inputs (cached)."""
        axes = self._axes(dim)
        widths = per_axis(self.width, len(axes), "width", axes="mollified axis")
        if spacing is None:
            spacing = (
                per_axis(self.spacing, len(axes), "spacing", axes="mollified axis")
                if self.spacing is not None
                else tuple(w / self.density() for w in widths)
            )
        key = (dim, tuple(spacing), widths, axes, self.kernel.key())
        if key not in self._stencils:
            self._stencils[key] = Stencil(self.kernel, widths, spacing, axes, dim)
        return self._stencils[key]

    def density(self) -> int:
        """Stencil points per half-width for the next call (``points``, or the automatic
        choice for the highest derivative order requested so far)."""
        if self.points != "auto":
            return self.points
        seen = INITIAL_ORDER if self._orders_seen is None else self._orders_seen
        top = min(seen, self.kernel.max_order)
        return points_for(self.kernel, range(top + 1), self.precision.rtol, interpolated=True)

    def _saw_order(self, order: int) -> None:
        """A field of this layer was asked for a derivative of ``order`` along a mollified axis."""
        if self._orders_seen is None or order > self._orders_seen:
            self._orders_seen = order

    # ---- evaluation ---------------------------------------------------------------------
    def _plan(self, x: torch.Tensor, strategy: Mode) -> tuple:
        """(mode, stencil, plan) for the points x, from ``strategy``.

        The last plan is reused for the same tensor (or equal values, one comparison), so a
        training loop over fixed points pays for the lattice analysis once.
        """
        if not strategy.cached:
            return strategy.choose(x, self.stencil, self.options)
        o = self.options
        config = (o.mode, o.boundary, o.width, o.spacing, self.density(), self.kernel.key())
        config += (o.max_nodes, strategy.state())
        last = self._last_plan
        if (
            last is not None
            and last["config"] == config
            and last["copy"].shape == x.shape
            and last["copy"].dtype == x.dtype
            and last["copy"].device == x.device
            and (
                (last["ref"]() is x and last["version"] == x._version)
                or torch.equal(last["copy"], x.detach())
            )
        ):
            return last["chosen"]
        chosen = strategy.choose(x, self.stencil, self.options)
        self._last_plan = dict(
            config=config, ref=weakref.ref(x), version=x._version, copy=x.detach().clone()
        )
        self._last_plan["chosen"] = chosen
        return chosen

    def field(self, x: torch.Tensor) -> MollifiedField:
        """Evaluate the network once for inputs x (N, d) and return the mollified field."""
        field = self._make_field(x)
        self.last_mode = field.mode
        return field

    def _make_field(self, x: torch.Tensor) -> MollifiedField:
        _check_points(x)
        if is_auto(self.width):
            raise ValueError(
                "width='auto' is not chosen yet: call choose_width(points, values) with the "
                "observations first (the host adapters do this from the model's observation "
                "data before training)"
            )
        axes = self._axes(x.shape[1])
        if self._extent_checked != self.width:  # once per width: one host sync
            self._extent_checked = self.width
            check_extent(x, per_axis(self.width, len(axes), "width", axes="mollified axis"), axes)
        self.precision.new_call()
        strategy = self.strategies[self.mode]
        strategy.check(x, self.options)
        if not x.shape[0]:
            strategy = self.strategies["scattered"]
        mode, st, plan = self._plan(x, strategy)
        network = Network(self.net, self.module, self.finite)
        call = Call(network, self.precision, self.options, self._saw_order)
        field = mode.field(x, st, plan, call)
        if x.shape[0]:
            self._describe(field)
        return field

    def _describe(self, field: MollifiedField) -> None:
        """Log one line per point set and density (``cost.py``)."""
        x, plan = field.x, field.plan
        evaluations = (
            math.prod(plan.size)
            if plan is not None
            else x.shape[0] * len(field.stencil.offsets(x.dtype, x.device))
        )
        density = round(field.stencil.widths[0] / field.stencil.spacings[0])
        key = (tuple(x.shape), field.mode, density, self._orders_seen)
        if key in self._announced:
            return
        self._announced.add(key)
        dtype = "float64" if self.precision.upcast else str(x.dtype).replace("torch.", "")
        logger.info(
            "mollifier: %s",
            describe_point_set(
                x.shape[0], x.shape[1], field.mode, evaluations, density, self._orders_seen, dtype
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mollified field u(x), shape (N, m); derivatives via :meth:`derivative`."""
        return self.field(x).output()

    # ---- width and training -------------------------------------------------------------
    def choose_width(self, points, values, order: int = 4) -> WidthChoice:
        """Set the width from observations by the automatic rule (``autowidth.py``).

        Args:
            points: observation coordinates (N, d) (all input axes; the mollified ones are used).
            values: observed values (N,) or (N, m).
            order: highest derivative order of the residual (float32 precision floor only).

        Returns:
            ``(width per mollified axis, report)``; the report says how it was chosen.
        """
        P = torch.as_tensor(points)
        axes = self._axes(P.shape[1])
        spacing = (
            None
            if self.spacing is None
            else per_axis(self.spacing, len(axes), "spacing", axes="mollified axis")
        )
        float32 = self.precision.precision == "input" and P.dtype != torch.float64
        choice = choose_width(P[:, list(axes)], values, self.kernel, spacing, order, float32)
        self.set_width(choice[0])
        logger.info("width='auto' chose %s (%s)", choice[0], choice[1])
        return choice

    def hold(self, held: bool = True) -> None:
        """Prepare for quasi-Newton training (L-BFGS) while ``held``: under
        ``precision='auto'`` the network is evaluated in float64, with no rechecks.

        Its line search compares losses that differ by far less than the derivatives' own
        size.  'auto' bounds the rounding error relative to the derivative, but near
        convergence a residual is much smaller than its terms; measured on a 2D Poisson script
        in float32, the loss varied by 1.5e-4 of itself between points of a
        line search, which then found no decrease.  A dtype switch between two evaluations
        would do the same.  With 'input' or 'float64', holding changes nothing.
        """
        P = self.precision
        P.held = bool(held)
        if P.held and P.precision == "auto":
            P.upcast = True

    def set_width(self, width: float | Sequence[float]) -> None:
        """Replace the half-width (same forms as the constructor's ``width``)."""
        self.options = self.options.replace(width=width)
        self._stencils.clear()

    # ---- derivatives of an output ---------------------------------------------------------
    @staticmethod
    def derivative(u: torch.Tensor, alpha: Sequence[int], component: int = 0) -> torch.Tensor:
        """D^alpha u[:, component] (N, 1) for a tensor ``u`` returned by this layer.

        ``alpha`` has one non-negative order per input axis, added to the orders ``u`` already
        carries (so ``derivative(derivative(u, a), b)`` is the derivative of order a + b).
        """
        tag = field_of(u)
        if tag is None:
            raise ValueError(
                "u was not produced by a MollifierLayer (or was sliced/transformed since)"
            )
        field, comp, base = tag
        alpha = tuple(alpha)
        if len(alpha) != len(base):
            raise ValueError(f"alpha must hold one order per input axis ({len(base)}), got {alpha}")
        if not all(isinstance(a, numbers.Integral) and a >= 0 for a in alpha):
            raise ValueError(
                f"alpha must hold non-negative integer orders (a derivative of order 1.5 is "
                f"not defined), got {alpha}"
            )
        if comp is not None:
            if component not in (0, comp):
                raise ValueError("u is already a single-component derivative")
            component = comp
        return field.derivative(component, tuple(a + b for a, b in zip(base, alpha)))

    def error_bound(self, u: torch.Tensor, alpha: Sequence[int], component: int = 0) -> float:
        """Rounding-error bound of D^alpha u[:, component] for a tensor ``u`` from this layer."""
        tag = field_of(u)
        if tag is None:
            raise ValueError("u was not produced by a MollifierLayer")
        return tag[0].error_bound(tuple(a + b for a, b in zip(tag[2], alpha)), tag[1] or component)


def _option_attribute(name: str) -> property:
    """``layer.<name>``: the option's value; assigning validates and replaces the options."""

    def get(self):
        return getattr(self.options, name)

    def set(self, value):
        self.options = self.options.replace(**{name: value})

    return property(get, set, doc=f"The {name!r} option (see ``LayerOptions``).")


for _name in LayerOptions.names():
    if _name not in ("precision", "check_finite"):  # the policies' states are attributes
        setattr(MollifierLayer, _name, _option_attribute(_name))
