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
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .autowidth import WidthChoice, check_extent, choose_width, is_auto
from .cost import describe_field
from .density import INITIAL_ORDER, MAX_POINTS, points_for
from .field import MollifiedField, derivative_of, error_bound_of
from .finite import FiniteCheck
from .modes import MODES, Call, Mode, PlanCache, strategies
from .options import DEFAULTS, LayerOptions
from .precision import PrecisionState
from .source import Network
from .stencil import MIN_POINTS, Stencil
from .values import check_points, per_axis

__all__ = ["DEFAULTS", "MODES", "MollifierLayer"]

logger = logging.getLogger("steadygrad")


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
        self._floor = MIN_POINTS  # points='auto': raised where the lattice under-resolves
        self._resolved: set = set()  # (width, density) configurations found resolved
        self._stencils: dict = {}
        self._plans = PlanCache()
        self._announced: set = set()
        self._extent_checked = None  # the width last checked against the points' extent
        self.last_mode: str | None = None  # the mode the last call ran in
        self.last_plan = None  # its lattice plan (grid, lattice; None: scattered)

    def __getstate__(self) -> dict:
        # caches (device tensors, a weak reference) are not pickled
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        caches = {"_stencils": {}, "_plans": PlanCache(), "_announced": set(), "last_plan": None}
        caches["_resolved"] = set()
        return {**state, **caches}

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
        p = points_for(self.kernel, range(top + 1), self.precision.rtol, interpolated=True)
        return max(p, self._floor)

    def _saw_order(self, order: int) -> None:
        """A field of this layer was asked for a derivative of ``order`` along a mollified axis."""
        if self._orders_seen is None or order > self._orders_seen:
            self._orders_seen = order

    # ---- evaluation ---------------------------------------------------------------------
    def _plan(self, x: torch.Tensor, strategy: Mode) -> tuple:
        """(mode, stencil, plan) for the points x from ``strategy``, cached per points."""
        o = self.options
        config = (o.mode, o.boundary, o.width, o.spacing, self.density(), self.kernel.key())
        return self._plans.get(x, strategy, self.stencil, o, config + (o.max_nodes,))

    def field(self, x: torch.Tensor) -> MollifiedField:
        """Evaluate the network once for inputs x (N, d) and return the mollified field."""
        field = self._make_field(x)
        self.last_mode, self.last_plan = field.mode, field.plan
        return field

    def _make_field(self, x: torch.Tensor) -> MollifiedField:
        check_points(x)
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
        field = self._resolve(x, strategy, call, mode.field(x, st, plan, call))
        if x.shape[0]:
            self._describe(field)
        return field

    def _resolve(self, x, strategy: Mode, call: Call, field: MollifiedField) -> MollifiedField:
        """points='auto': double the density while the lattice's values show that it
        under-resolves the network (its order-0 interpolation estimate over rtol/2 of |u|, e.g.
        Fourier features finer than the width), checked once per width and density."""
        while self.points == "auto" and field.mode == "lattice" and x.shape[0]:
            p = self.density()
            key = (self.width, p)
            if key in self._resolved:
                break
            error = field.resolution()
            if error <= 0.5 * self.precision.rtol or p >= MAX_POINTS:
                self._resolved.add(key)
                break
            self._floor = min(2 * p, MAX_POINTS)
            logger.info(
                "mollifier: the network varies faster than %d points per half-width resolve "
                "(interpolation estimate %.2g of |u|, rtol %g): %d points per half-width",
                p, error, self.precision.rtol, self._floor,
            )  # fmt: skip
            mode, st, plan = self._plan(x, strategy)
            field = mode.field(x, st, plan, call)
        return field

    def _describe(self, field: MollifiedField) -> None:
        """Log one line per point set, mode, density and orders seen (``cost.py``)."""
        dtype = "float64" if self.precision.upcast else str(field.x.dtype).replace("torch.", "")
        key, line = describe_field(field, self._orders_seen, dtype)
        if key not in self._announced:
            self._announced.add(key)
            logger.info("mollifier: %s", line)

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
        self._floor = MIN_POINTS  # the resolution check measures the new width afresh

    # ---- derivatives of an output ---------------------------------------------------------
    derivative = staticmethod(derivative_of)

    @staticmethod
    def error_bound(u: torch.Tensor, alpha: Sequence[int], component: int = 0) -> float:
        """Rounding-error bound of D^alpha u[:, component] for a tensor ``u`` from this layer."""
        return error_bound_of(u, alpha, component)


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
