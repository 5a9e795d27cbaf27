"""The mollifier layer: configuration, mode choice and evaluation of u = g * eta.

:class:`MollifierLayer` wraps a network g: R^d -> R^m.  Its output at points x (N, d) is
the mollified field u (N, m), which carries a :class:`~steadygrad.mollifier.field.MollifiedField`
serving every derivative D^alpha u from the *same* network evaluation:

* scattered mode: g is evaluated on the stencil x_n - y_s around every point, values
  G (N, S, m), and D^alpha u = sum_s w^alpha_s G[:, s];
* grid mode: the points lie on a lattice; g is evaluated once per lattice node of their
  bounding box (extended by the stencil half-width) and derivatives are separable
  convolutions, gathered back at the points.  On the same points and spacing both modes
  give the same numbers (to round-off);
* lattice mode: arbitrary points; g is evaluated once on a background lattice covering them
  (``background.py``), convolved as in grid mode, and every D^alpha u is interpolated to the
  points (``interpolate.py``, degree 5).  It differs from scattered mode by the interpolation
  error only, which is estimated and kept below rtol (``field.py``);
* auto (the default): lattice mode when its lattice is smaller than the scattered stencils
  (on lattice points it gives grid mode's numbers), else scattered; with a grid-mode
  boundary ('valid', ...) grid mode on lattice points.  The choice is logged once (logger
  ``steadygrad``, level INFO).

Axes that are not mollified (``axes=``) are differentiated by autodiff of the stencil
values.  The precision policy (``precision.py``) guards high orders against rounding noise.
"""

from __future__ import annotations

import logging
import math
import numbers
import weakref
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .autowidth import WidthChoice, check_extent, choose_width, is_auto
from .background import MAX_NODES, LatticePlan, lattice_plan
from .cost import describe_point_set
from .density import INITIAL_ORDER, points_for
from .field import MollifiedField, field_of
from .finite import FiniteCheck
from .grid import BOUNDARIES, GridPlan, grid_plan, lattice_spacing
from .kernels import Kernel, make_kernel
from .modes import GridField, LatticeField, ScatteredField
from .precision import PrecisionState, evaluate_float64
from .stencil import Stencil
from .values import is_scalar, per_axis, real

__all__ = ["DEFAULTS", "MODES", "MollifierLayer"]

MODES = ("scattered", "grid", "lattice", "auto")
#: lattice intervals across the points' extent on a non-mollified axis at first, doubled on
#: demand by the interpolation estimate (8 instead of 32: a 1D + t diffusion problem on 440
#: sampled points went from 1.22x to 0.93x autodiff's step time, same error; refinement covers
#: the rest)
DIVISIONS = 8
logger = logging.getLogger("steadygrad")
#: the layer's options and defaults, declared once (adapters and the CLI read them from here)
DEFAULTS = {
    "kernel": "polynomial",
    "points": "auto",
    "spacing": None,
    "axes": None,
    "mode": "auto",
    "boundary": "extend",
    "check_finite": True,
    "precision": "auto",
    "rtol": 1e-3,
    "max_nodes": MAX_NODES,
    "input_grad": "always",
}
INPUT_GRADS = ("always", "graph")


def _normalise_width(width):
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


def _normalise_axes(axes):
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
        kernel: profile name ('polynomial', 'bump', 'gaussian', 'polynomial:q=6', or an entry
            point of group ``steadygrad.kernels``) or a :class:`Kernel` instance.
        points: stencil points per half-width (spacing = width / points), or 'auto' (the
            default): the fewest whose error for the derivative orders requested so far stays
            within ``rtol`` (``density.py``: 2 for orders <= 2, 3 for orders 3-4 at rtol 1e-3).
            Until a derivative is requested the density serves order 4; every call after a
            request of a higher order than the current density serves uses a finer stencil.
        spacing: explicit quadrature spacing per mollified axis (overrides ``points``);
            required to equal the grid spacing for grid mode to match scattered mode.
        axes: index or indices of the input axes to mollify (default: all); others use autodiff.
        mode: 'scattered', 'grid' (inputs must lie on a lattice; the fastest on large
            lattices), 'lattice' (arbitrary inputs served from a background lattice) or 'auto'
            (lattice when that is cheaper than scattered, else scattered).
        boundary: grid mode only: 'extend' (evaluate g beyond the points' bounding box; exact,
            identical to scattered), 'valid' (NaN where the stencil leaves the box; see the
            field's ``mask``), 'reflect' or 'replicate' (pad the box values).
        check_finite: raise ``FloatingPointError`` if g returns NaN/Inf (see ``finite.py``).
        precision: 'auto' (evaluate g in the input dtype; switch to float64 when a derivative's
            rounding-error bound exceeds ``rtol`` of its magnitude), 'float64' (always), or
            'input' (never; warn with :class:`PrecisionWarning` instead).  See ``precision.py``.
        rtol: tolerance of the precision policy, relative to each derivative's magnitude
            (lattice mode also keeps its interpolation estimate below rtol / 2).
        max_nodes: lattice and grid mode: the largest lattice (nodes) evaluated; 'lattice'
            raises beyond it, 'auto' falls back to scattered.
        input_grad: grid and lattice mode: 'always' (gradients with respect to the inputs are
            kernel derivatives in every backward pass) or 'graph' (only in passes that build a
            graph, e.g. nested derivatives; a plain ``loss.backward()`` leaves NaN in a leaf
            input's ``.grad`` and skips that cost, about 40% of a 3D step).
        module: the ``nn.Module`` holding the parameters of ``net`` when ``net`` is a plain
            callable (needed for float64 evaluation).
    """

    def __init__(
        self,
        net: Callable[[torch.Tensor], torch.Tensor],
        width: float | Sequence[float],
        kernel: str | Kernel = DEFAULTS["kernel"],
        points: int | str = DEFAULTS["points"],
        spacing: float | Sequence[float] | None = DEFAULTS["spacing"],
        axes: int | Sequence[int] | None = DEFAULTS["axes"],
        mode: str = DEFAULTS["mode"],
        boundary: str = DEFAULTS["boundary"],
        check_finite: bool | str = DEFAULTS["check_finite"],
        precision: str = DEFAULTS["precision"],
        rtol: float = DEFAULTS["rtol"],
        max_nodes: int = DEFAULTS["max_nodes"],
        input_grad: str = DEFAULTS["input_grad"],
        module: nn.Module | None = None,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if boundary not in ("extend",) + BOUNDARIES:
            raise ValueError(
                f"boundary must be one of {('extend',) + BOUNDARIES}, got {boundary!r}"
            )
        if points != "auto" and (
            isinstance(points, bool)
            or not isinstance(points, numbers.Real)
            or not math.isfinite(points)
            or int(points) != points
            or points < 2
        ):
            raise ValueError(
                f"points per half-width must be an integer >= 2 or 'auto', got {points!r}"
            )
        self.net = net
        self.module = module
        self.kernel = make_kernel(kernel)
        self.width = _normalise_width(width)
        self.points = points if points == "auto" else int(points)
        self._orders_seen: int | None = None  # highest per-axis order requested (points='auto')
        self.spacing = spacing
        self.axes = _normalise_axes(axes)
        self.mode, self.boundary = mode, boundary
        self.finite = FiniteCheck(check_finite)
        self.precision = PrecisionState(precision, rtol)
        if (
            isinstance(max_nodes, bool)
            or not isinstance(max_nodes, numbers.Integral)
            or (max_nodes < 1)
        ):
            raise ValueError(f"max_nodes must be a positive integer, got {max_nodes!r}")
        self.max_nodes = int(max_nodes)
        if input_grad not in INPUT_GRADS:
            raise ValueError(f"input_grad must be one of {INPUT_GRADS}, got {input_grad!r}")
        self.input_grad = input_grad
        self._stencils: dict = {}
        self._last_plan: dict | None = None
        # (plan, the derivatives its last field served): the next field on the same plan
        # computes them together (lattice mode: one sparse product)
        self._requests: tuple | None = None
        self._divisions: dict = {}  # lattice mode: intervals per non-mollified axis
        self._announced: set = set()
        self._extent_checked = None  # the width last checked against the points' extent
        self.last_mode: str | None = None  # the mode the last call ran in

    @property
    def check_finite(self):
        return self.finite.policy

    def __getstate__(self) -> dict:
        # caches (device tensors, a weak reference) are not pickled
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {
            **state,
            "_stencils": {},
            "_last_plan": None,
            "_requests": None,
            "_announced": set(),
        }

    # ---- configuration ------------------------------------------------------------------
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
    def _evaluator(self) -> Callable[[torch.Tensor, bool], torch.Tensor]:
        """g(z) -> (N, m), in float64 when asked (parameters cast on the fly).  The network is
        bound now, so a field can re-evaluate it later (precision 'auto')."""
        net = self.net
        module = (
            self.module
            if self.module is not None
            else (net if isinstance(net, nn.Module) else None)
        )

        def evaluate(z: torch.Tensor, float64: bool) -> torch.Tensor:
            values = evaluate_float64(net, module, z) if float64 else net(z)
            if not torch.is_tensor(values) or values.dim() != 2 or len(values) != len(z):
                raise ValueError(
                    f"the wrapped network must return one row per input point, (N, m) = "
                    f"({len(z)}, m) for its {len(z)} points, got shape "
                    f"{tuple(getattr(values, 'shape', ()))} (does it reduce, reshape or drop rows?)"
                )
            return self.finite(values)

        return evaluate

    def _scattered(self, x: torch.Tensor, st: Stencil) -> MollifiedField:
        net = self._evaluator()

        def evaluate(float64: bool):
            dtype = torch.float64 if float64 else x.dtype
            offsets = st.offsets(dtype, x.device)
            z = (x.to(dtype)[:, None, :] - offsets[None]).reshape(-1, x.shape[1])
            if len(st.axes) < x.shape[1] and torch.is_grad_enabled() and not z.requires_grad:
                z.requires_grad_(True)  # autodiff axes need a graph even for constant inputs
            g = net(z, float64)
            return g.reshape(x.shape[0], len(offsets), g.shape[-1]), z

        return self._field(x, st, ScatteredField, evaluate, net)

    def _on_box(self, net, plan: dict):
        """evaluate(float64) -> (values (m, *size), None) on the box of ``plan["plan"]``."""

        def evaluate(float64: bool):
            p = plan["plan"]
            g = net(p.box_in(torch.float64) if float64 else p.box, float64)
            return g.T.reshape(g.shape[1], *p.size), None

        return evaluate

    def _grid(self, x: torch.Tensor, st: Stencil, plan: GridPlan) -> MollifiedField:
        net = self._evaluator()
        evaluate = self._on_box(net, {"plan": plan})
        return self._field(x, st, GridField, evaluate, net, plan=plan, boundary=self.boundary)

    def _background(self, x: torch.Tensor, st: Stencil, max_nodes: int) -> LatticePlan:
        free = [a for a in range(x.shape[1]) if a not in st.axes]
        divisions = [self._divisions.get(a, DIVISIONS) for a in free]
        return lattice_plan(x, st.axes, st.spacings, st.half, divisions, max_nodes)

    def _lattice_mode(self, x: torch.Tensor, st: Stencil, plan: LatticePlan) -> MollifiedField:
        net = self._evaluator()
        current = {"plan": plan}
        evaluate = self._on_box(net, current)

        def refine(axes: Sequence[int]):
            """Double the lattice intervals along ``axes`` and re-evaluate (None: too big)."""
            for a in axes:
                self._divisions[a] = 2 * self._divisions.get(a, DIVISIONS)
            self._last_plan = None
            try:
                current["plan"] = self._background(x, st, self.max_nodes)
            except ValueError:
                return None
            return (*evaluate(self.precision.upcast), current["plan"])

        last = self._requests
        expected = tuple(last[1]) if last is not None and last[0] is plan else ()
        field = self._field(
            x, st, LatticeField, evaluate, net, plan=plan, refine=refine, expected=expected
        )
        self._requests = (plan, field.requested)
        return field

    def _field(self, x, st: Stencil, kind: type, evaluate, net, **kw) -> MollifiedField:
        """The field (of class ``kind``, one per mode) of values ``evaluate(float64)`` ->
        (values, z), with the precision policy's hooks: re-evaluation in float64, and float64
        evaluation at given points."""
        values, z = evaluate(self.precision.upcast)
        return kind(
            x,
            st,
            values,
            z=z,
            input_grad=self.input_grad,
            precision=self.precision,
            reevaluate=lambda: evaluate(True),
            evaluate64=lambda p: net(p, True),
            on_order=self._saw_order,
            **kw,
        )

    def _plan(self, x: torch.Tensor) -> tuple[Stencil, GridPlan | LatticePlan | None]:
        """Stencil and plan for grid/lattice/auto mode (plan None: auto chose scattered).

        The last plan is reused for the same tensor (or equal values, one comparison), so a
        training loop over fixed points pays for the lattice analysis once.
        """
        config = (
            self.mode,
            self.boundary,
            self.width,
            self.spacing,
            self.density(),
            self.kernel.key(),
            self.max_nodes,
        )
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
            return last["stencil"], last["plan"]
        st, plan = self._choose(x)
        self._last_plan = dict(
            config=config,
            ref=weakref.ref(x),
            version=x._version,
            copy=x.detach().clone(),
            stencil=st,
            plan=plan,
        )
        return st, plan

    def _choose(self, x: torch.Tensor) -> tuple[Stencil, GridPlan | LatticePlan | None]:
        dim = x.shape[1]
        if self.mode == "grid":
            spacing = (
                None
                if self.spacing is not None
                else tuple(lattice_spacing(x[:, i]) for i in range(dim))
            )
            st = self.stencil(dim, spacing)
            return st, grid_plan(x, st.spacings, st.half, self.boundary)
        st = self.stencil(dim)  # the scattered spacing: all modes give the same numbers
        if self.mode == "lattice":
            return st, self._background(x, st, self.max_nodes)
        budget = x.shape[0] * len(st.offsets(x.dtype, x.device))  # scattered evaluations
        if self.boundary == "extend":
            try:
                plan = self._background(x, st, min(budget, self.max_nodes))
            except ValueError:
                plan = None
            if plan is not None:
                self._announce(
                    "lattice",
                    f"{math.prod(plan.size):,} lattice nodes cost less than {budget:,} "
                    "stencil evaluations",
                )
                return st, plan
        elif len(st.axes) == dim:  # 'valid'/'reflect'/'replicate' are grid-mode boundaries
            try:
                plan = grid_plan(x, st.spacings, st.half, self.boundary, max_nodes=budget)
            except ValueError:
                plan = None
            if plan is not None:
                self._announce("grid", "the points are nodes of the stencil lattice")
                return st, plan
        self._announce(
            "scattered", f"no lattice smaller than {budget:,} stencil evaluations serves them"
        )
        return st, None

    def _announce(self, mode: str, why: str) -> None:
        if mode not in self._announced:
            self._announced.add(mode)
            logger.info("mollifier mode='auto' chose %s mode: %s", mode, why)

    def field(self, x: torch.Tensor) -> MollifiedField:
        """Evaluate the network once for inputs x (N, d) and return the mollified field."""
        field = self._make_field(x)
        self.last_mode = field.mode
        return field

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
        self.width = _normalise_width(width)
        self._stencils.clear()

    def _make_field(self, x: torch.Tensor) -> MollifiedField:
        _check_points(x)
        if is_auto(self.width):
            raise ValueError(
                "width='auto' is not chosen yet: call choose_width(points, values) with the "
                "observations first (the host adapters do this from the model's observation "
                "data before training)"
            )
        dim = x.shape[1]
        axes = self._axes(dim)
        if self._extent_checked != self.width:  # once per width: one host sync
            self._extent_checked = self.width
            check_extent(x, per_axis(self.width, len(axes), "width", axes="mollified axis"), axes)
        self.precision.new_call()
        if self.mode in ("scattered", "lattice") and self.boundary != "extend":
            raise ValueError(
                f"boundary handling applies to grid mode; {self.mode} mode always evaluates the "
                "full stencil"
            )
        if self.mode == "scattered" or x.shape[0] == 0:
            field = self._scattered(x, self.stencil(dim))
            if x.shape[0]:
                self._describe(field)
            return field
        if len(axes) != dim and self.mode == "grid":
            raise ValueError(
                "grid mode mollifies every input axis; use mode='lattice' or 'scattered' with axes="
            )
        st, plan = self._plan(x)
        if plan is None:
            field = self._scattered(x, st)
        elif isinstance(plan, LatticePlan):
            field = self._lattice_mode(x, st, plan)
        else:
            field = self._grid(x, st, plan)
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
