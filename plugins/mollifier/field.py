"""The mollified field of one layer output, its derivative cache and the tensor tags.

Every tensor the layer returns carries a tag ``(field, component, alpha)``; a later request
for d/dx_i of that tensor adds one to alpha and is served from the same network evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .background import BackgroundPlan
from .connect import Attach, Sample
from .grid import LatticePlan, axis_pass, valid_mask
from .interpolate import DEGREE, interpolation_estimate
from .precision import (
    DEFAULT_ROUNDING,
    PROBE,
    PrecisionState,
    describe_excess,
    finite_or_zero,
    rounding_bound,
    unit_roundoff,
)
from .stencil import Stencil

__all__ = ["MollifiedField", "UnservableDerivative", "differentiate", "field_of", "is_field"]

_TAG = "_steadygrad_field"


class UnservableDerivative(ValueError):
    """Raised when a derivative cannot be produced by the mollifier (e.g. order too high)."""


def field_of(y: torch.Tensor):
    """(field, component, alpha) attached to a tensor produced by a mollifier layer, or None."""
    return getattr(y, _TAG, None)


def is_field(y: torch.Tensor, x: torch.Tensor | None = None) -> bool:
    """True if ``y`` is a layer output or derivative (of inputs ``x``, when given)."""
    tag = field_of(y)
    return tag is not None and (x is None or tag[0].x is x)


def _tag(y: torch.Tensor, field: MollifiedField, component, alpha: tuple) -> torch.Tensor:
    setattr(y, _TAG, (field, component, alpha))
    return y


def differentiate(
    y: torch.Tensor, x: torch.Tensor, axis: int | Sequence[int], component: int | None = None
) -> torch.Tensor | None:
    """d y / d x[:, axis] by the mollifier, or None if ``y`` is not a mollified field of ``x``.

    ``y`` is either a layer output (N, m), then ``component`` selects the output column, or a
    derivative produced earlier by this function (N, 1), which composes multi-indices so that
    nested calls give higher derivatives.  ``axis`` may also be a sequence of axes: the
    derivative along each of them, in one request (d^2 y / dx_0 dx_1 for ``(0, 1)``).  Raises
    :class:`UnservableDerivative` when the request cannot be served (order beyond the kernel's
    smoothness or the stencil's reach).
    """
    tag = field_of(y)
    if tag is None or tag[0].x is not x:
        return None
    field, comp, alpha = tag
    if comp is None:
        if component is None:
            if y.shape[-1] != 1:
                raise ValueError("component must be given for a field with several outputs")
            component = 0
        comp = component
    elif component not in (None, 0):
        raise ValueError(f"component {component} requested from a single-component derivative")
    new = list(alpha)
    for a in (axis,) if isinstance(axis, (int, np.integer)) else axis:
        if not 0 <= a < field.dim:
            raise ValueError(f"axis {a} is out of range for inputs of dimension {field.dim}")
        new[a] += 1
    return field.derivative(comp, tuple(new))


class MollifiedField:
    """Lazily computed derivatives of one layer output; lives as long as that output.

    Args:
        x: the points (N, d).
        stencil: the stencil of the layer for these points.
        mode: 'scattered' (values (N, S, m), stencil around every point), 'grid' (values
            (m, n_1..n_d) on the lattice box of ``plan``, the points are nodes) or 'lattice'
            (values (m, *plan.size) on a :class:`BackgroundPlan`; convolved, then interpolated).
        values: network values in the evaluation dtype.
        z: scattered mode: the stencil points the network saw (for autodiff axes).
        precision: the layer's :class:`PrecisionState`.
        reevaluate: returns (values, z) evaluated in float64 on the same points (policy 'auto').
        evaluate64: g at given points in float64 (measures the network's rounding), or None.
        refine: lattice mode: refine(axes) -> (values, z, plan) on a lattice refined along the
            given input axes, or None when that is impossible (see ``_enforce_interpolation``).
        input_grad: 'always' or 'graph' (grid/lattice mode; see ``connect.py``).
        on_order: called with the highest per-axis order of every mollified derivative
            requested (the layer's automatic stencil density learns from it).
    """

    def __init__(
        self,
        x: torch.Tensor,
        stencil: Stencil,
        mode: str,
        values: torch.Tensor,
        z: torch.Tensor | None = None,
        plan: LatticePlan | BackgroundPlan | None = None,
        boundary: str = "extend",
        precision: PrecisionState | None = None,
        reevaluate: Callable[[], tuple] | None = None,
        evaluate64: Callable[[torch.Tensor], torch.Tensor] | None = None,
        refine: Callable[[Sequence[int]], tuple | None] | None = None,
        input_grad: str = "always",
        on_order: Callable[[int], None] | None = None,
    ):
        self.x, self.stencil, self.mode = x, stencil, mode
        self.plan, self.boundary = plan, boundary
        self.dim = x.shape[1]
        self.precision = precision or PrecisionState("input")
        self._reevaluate, self._evaluate64, self._refine = reevaluate, evaluate64, refine
        self.input_grad = input_grad
        self._on_order = on_order
        self._set_values(values, z)

    def _set_values(self, values: torch.Tensor, z: torch.Tensor | None, plan=None) -> None:
        self.values, self.z = values, z
        self.plan = plan if plan is not None else self.plan
        self._cache: dict = {}
        self._stencil_values: dict = {}
        self._gmax: dict = {}

    # ---- scattered helpers -------------------------------------------------------------
    def _values_scattered(self, component: int, beta: tuple) -> torch.Tensor:
        """d^beta G[:, :, component] w.r.t. the non-mollified axes, shape (N, S)."""
        key = (component, beta)
        if key not in self._stencil_values:
            if not any(beta):
                out = self.values[:, :, component]
            else:
                axis = max(i for i, b in enumerate(beta) if b)
                prev_beta = tuple(b - (i == axis) for i, b in enumerate(beta))
                prev = self._values_scattered(component, prev_beta)
                if not prev.requires_grad:
                    raise UnservableDerivative(
                        f"derivative along non-mollified axis {axis} needs autograd; "
                        "call the layer with inputs that require grad, outside torch.no_grad()"
                    )
                (g,) = torch.autograd.grad(prev.sum(), self.z, create_graph=True)
                out = g[..., axis].reshape(prev.shape)
            self._stencil_values[key] = out
        return self._stencil_values[key]

    def _grid_conv(self, orders: tuple) -> torch.Tensor:
        """Convolution of the box values (m, n_1..n_d) -> (m, N_1..N_d) for per-axis orders.

        Passes run axis by axis and every partial result is cached, so derivatives that share
        their leading orders (u_xxxx, u_xx, u_xxyy) share those passes.
        """
        d = len(orders)
        pad = None if self.boundary in ("extend", "valid") else self.boundary
        start, out = 0, self.values
        for k in range(d, 0, -1):
            if ("grid", orders[:k]) in self._cache:
                start, out = k, self._cache[("grid", orders[:k])]
                break
        keep = torch.is_grad_enabled() or not self.values.requires_grad  # never cache a detached
        for i in range(start, d):
            out = axis_pass(out, self.stencil, i, orders[i], d, pad)
            if keep:
                self._cache[("grid", orders[: i + 1])] = out
        return out

    def _component_box(self, alpha: tuple, component: int) -> torch.Tensor:
        """The convolved box (1, *size) of D^alpha u[:, component] along the mollified axes."""
        box = self._grid_conv(self._orders(alpha))
        return box if box.shape[0] == 1 else box[component : component + 1]

    def _lattice_orders(self, alpha: tuple, all_axes: bool = False) -> tuple:
        """Derivative orders of the interpolant per lattice axis (only non-mollified axes)."""
        return tuple(
            alpha[a] if all_axes or a not in self.stencil.axes else 0 for a in self.plan.perm
        )

    def point_derivative(self, component: int, alpha: tuple, extra: tuple | None = None):
        """Lattice mode: D^alpha u[:, component] at the points (N, 1), in the lattice dtype,
        untagged: the mollified axes by convolution, the others (and ``extra`` orders per input
        axis) by differentiating the interpolant."""
        self._check_alpha(alpha, component)
        extra = extra or (0,) * self.dim
        orders = [
            a + e
            for a, e in zip(self._lattice_orders(alpha), self._lattice_orders(extra, all_axes=True))
        ]
        if max(orders) > DEGREE - 2:
            raise UnservableDerivative(
                f"interpolant derivative orders {orders} beyond {DEGREE - 2}"
            )
        box = self._component_box(alpha, component).reshape(-1)
        plan = self.plan
        interpolation = plan.interpolation(orders, box.dtype)
        return Sample.apply(self.x, box, self, component, alpha, extra, interpolation)

    def connected_derivative(self, component: int, alpha: tuple) -> torch.Tensor:
        """Grid mode: D^alpha u[:, component] (N, 1) at the points, connected to x (see
        ``connect.py``)."""
        self._check_alpha(alpha, component)
        value = self._gather(self._component_box(alpha, component))
        if not self.x.requires_grad:
            return value
        return Attach.apply(self.x, value, self, component, alpha)

    def _gather(self, box: torch.Tensor) -> torch.Tensor:
        """Pick the (m,) values at the points' lattice indices from a (m, N_1..N_d) box -> (N, m).

        A reshape when the points are the whole box in C order; otherwise ``index_select`` on
        the flattened box (its backward is a scatter-add, much cheaper on GPUs than the sort
        that advanced-indexing backward needs).
        """
        flat, inside = self.plan.flat, self.plan.inside
        if flat is None:
            return box.reshape(box.shape[0], -1).T
        picked = box.reshape(box.shape[0], -1).index_select(1, flat).T
        if inside is not None:
            picked = torch.where(inside[:, None], picked, torch.full_like(picked, float("nan")))
        return picked

    @property
    def outputs(self) -> int:
        """Number of output components m."""
        return self.values.shape[-1] if self.mode == "scattered" else self.values.shape[0]

    def _orders(self, alpha: tuple) -> tuple:
        return tuple(alpha[a] for a in self.stencil.axes)

    def _compute(self, component: int, alpha: tuple) -> torch.Tensor:
        orders = self._orders(alpha)
        beta = tuple(0 if i in self.stencil.axes else alpha[i] for i in range(self.dim))
        try:
            if self.mode == "scattered":
                w = self.stencil.weights(orders, self.values.dtype, self.values.device)
                return (self._values_scattered(component, beta) @ w)[:, None]
            if self.mode == "lattice":
                return self.point_derivative(component, alpha)
            if any(beta):
                raise UnservableDerivative(
                    "grid mode mollifies every axis; use scattered mode for autodiff axes"
                )
            return self.connected_derivative(component, alpha)
        except UnservableDerivative:
            raise
        except ValueError as err:  # the stencil cannot represent this order
            raise UnservableDerivative(str(err)) from None

    # ---- public --------------------------------------------------------------------------
    @property
    def mask(self) -> torch.Tensor:
        """(N,) True where the point's derivatives are exact mollifications (full stencil)."""
        if self.mode != "grid" or self.boundary == "extend":
            return torch.ones(self.x.shape[0], dtype=torch.bool, device=self.x.device)
        box_mask = valid_mask(self.values.shape[1:], self.stencil.half, self.x.device)
        return box_mask[tuple(self.plan.index.unbind(1))]

    def output(self) -> torch.Tensor:
        """The mollified field u (N, m) in the input dtype, tagged."""
        zeros = (0,) * self.dim
        orders = (0,) * len(self.stencil.axes)
        if self.mode == "scattered":
            w = self.stencil.weights(orders, self.values.dtype, self.values.device)
            u = torch.einsum("nsm,s->nm", self.values, w)
        elif self.mode == "lattice":
            u = torch.cat([self.point_derivative(c, zeros) for c in range(self.outputs)], 1)
        else:
            u = torch.cat([self.connected_derivative(c, zeros) for c in range(self.outputs)], 1)
        return _tag(u.to(self.x.dtype), self, None, zeros)

    def error_bound(self, alpha: Sequence[int], component: int = 0) -> float:
        """Error bound of D^alpha u[:, component] (absolute, in the units of that derivative):
        the rounding bound MARGIN c u max|g| ||w^alpha||_1 (see ``precision.py``) plus, in
        lattice mode, the interpolation estimate summed over the lattice axes.

        Rounding covers the mollified axes; derivatives along autodiff axes are not amplified
        the same way and are not included.
        """
        return self.rounding_bound(alpha, component) + sum(
            self.interpolation_estimate(alpha, component)
        )

    def rounding_bound(self, alpha: Sequence[int], component: int = 0) -> float:
        """The rounding part of :meth:`error_bound`."""
        alpha = self._check_alpha(alpha, component)
        if component not in self._gmax:
            self._gmax[component] = self._magnitudes(component)
        gmax, coordinate = self._gmax[component]
        w1 = 1.0
        for i, n in enumerate(self._orders(alpha)):
            w1 *= float(np.abs(self.stencil.weights_axis(i, n)).sum())
        if self.mode == "lattice":  # the interpolation's own amplification (Lebesgue constant)
            w = self.plan.weights(self._lattice_orders(alpha), torch.float64)
            w1 *= float(w.abs().sum(1).max()) if len(w) else 1.0
        return rounding_bound(self.values.dtype, gmax, w1, self._rounding(), coordinate)

    def _magnitudes(self, component: int) -> tuple:
        """(max|g|, max|x| max|grad g|) of one component's values: the scale of equation (1) of
        ``precision.py`` and its coordinate-rounding term (finite differences of the values
        along the stencil's or the lattice's axes)."""
        vals = self.values[:, :, component] if self.mode == "scattered" else self.values[component]
        if not vals.numel():
            return 0.0, 0.0
        vals = vals.detach().double()
        if self.mode == "scattered":  # (N, S) -> (N, 2K_1 + 1, ...): the stencil's own lattice
            vals = vals.reshape(len(vals), *(2 * k + 1 for k in self.stencil.half))
            steps = dict(zip(range(1, vals.dim()), self.stencil.spacings))
        else:
            steps = dict(enumerate(self.plan.spacing))
        slope = max(
            (
                float(vals.diff(dim=d).abs().max()) / h
                for d, h in steps.items()
                if vals.shape[d] > 1
            ),
            default=0.0,
        )
        reach = float(self.x.detach().abs().max()) + max(self.stencil.widths)
        return finite_or_zero(float(vals.abs().max())), finite_or_zero(reach * slope)

    def _rounding(self) -> float:
        """The network's forward-rounding factor c (see ``precision.py``), measured once per
        recheck period on up to PROBE of this field's evaluation points."""
        P = self.precision
        if self.values.dtype == torch.float64:
            return 1.0
        if P.rounding is None:
            P.rounding = self._measure_rounding()
        return P.rounding

    def _measure_rounding(self) -> float:
        if self._evaluate64 is None:
            return DEFAULT_ROUNDING
        if self.mode == "scattered":
            points, rows = self.z, self.values.reshape(-1, self.values.shape[-1])
        else:
            points, rows = self.plan.box, self.values.reshape(self.values.shape[0], -1).T
        if not len(points):
            return DEFAULT_ROUNDING
        idx = torch.linspace(
            0, len(points) - 1, min(PROBE, len(points)), device=points.device
        ).long()
        try:
            with torch.no_grad():
                exact = self._evaluate64(points.detach()[idx])
        except (ValueError, RuntimeError, TypeError):
            return DEFAULT_ROUNDING
        low = rows.detach()[idx].double()
        scale = float(low.abs().max()) * unit_roundoff(self.values.dtype)
        return (
            max(1.0, finite_or_zero(float((low - exact).abs().max()) / scale)) if scale > 0 else 1.0
        )

    def _check_alpha(self, alpha: Sequence[int], component: int) -> tuple:
        alpha = tuple(int(a) for a in alpha)
        if len(alpha) != self.dim or min(alpha) < 0:
            raise ValueError(
                f"alpha must hold {self.dim} non-negative orders (one per input axis), got {alpha}"
            )
        if not 0 <= component < self.outputs:
            raise ValueError(f"component {component} out of range for {self.outputs} outputs")
        for a, n in zip(self.stencil.axes, self._orders(alpha)):
            try:
                self.stencil.kernel.check_order(n)
            except ValueError as err:
                raise UnservableDerivative(f"axis {a}: {err}") from None
        if self.mode == "lattice":
            for a, k in enumerate(alpha):
                if a not in self.stencil.axes and k > DEGREE - 2:
                    raise UnservableDerivative(
                        f"lattice mode differentiates the degree-{DEGREE} interpolant along the "
                        f"non-mollified axis {a} up to order {DEGREE - 2}, not {k}; use "
                        "mode='scattered' (autodiff along that axis)"
                    )
        return alpha

    def interpolation_estimate(self, alpha: Sequence[int], component: int = 0) -> list:
        """Lattice mode: estimated interpolation error of D^alpha u[:, component] per lattice
        axis (``plan.perm`` order; see ``interpolate.py``; zero along axes where every point
        sits on a node and the interpolant is not differentiated, where it is exact); empty in
        the other modes."""
        if self.mode != "lattice":
            return []
        alpha = self._check_alpha(alpha, component)
        with torch.no_grad():
            box = self._component_box(alpha, component)[0]
        aligned = self.plan.aligned()
        return [
            0.0 if aligned[a] and k == 0 else interpolation_estimate(box, a, k, h, self.plan.reach)
            for a, (k, h) in enumerate(zip(self._lattice_orders(alpha), self.plan.spacing))
        ]

    def saw(self, alpha: tuple) -> None:
        """Tell the layer that D^alpha was requested (its automatic density learns from it)."""
        if self._on_order is not None:
            self._on_order(max(self._orders(alpha), default=0))

    def derivative(self, component: int, alpha: Sequence[int]) -> torch.Tensor:
        """D^alpha u[:, component], shape (N, 1), input dtype; alpha: one order per input axis."""
        alpha = self._check_alpha(alpha, component)
        self.saw(alpha)
        key = (component, alpha)
        if key in self._cache:
            return self._cache[key]
        out = self._compute(component, alpha)
        P = self.precision
        if any(self._orders(alpha)) and P.wants_check(key) and self.values.dtype != torch.float64:
            out = self._enforce_precision(component, alpha, out)
        if self.mode == "lattice" and key not in P.checked:  # after any switch to float64
            out = self._enforce_interpolation(component, alpha, out)
        P.checked.add(key)
        out = _tag(out.to(self.x.dtype), self, component, alpha)
        self._cache[key] = out
        return out

    def _enforce_interpolation(self, component: int, alpha: tuple, out: torch.Tensor):
        """Lattice mode: refine the lattice along non-mollified axes whose interpolation estimate
        exceeds rtol of the derivative's magnitude (warn when that is impossible)."""
        P = self.precision
        for _ in range(8):
            scale = finite_or_zero(float(out.detach().abs().max())) if out.numel() else 0.0
            if scale == 0.0:
                return out
            parts = self.interpolation_estimate(alpha, component)
            axes = [self.plan.perm[a] for a, e in enumerate(parts) if e > 0.5 * P.rtol * scale]
            if not axes:
                return out
            coarse = [a for a in axes if a not in self.stencil.axes]
            redone = self._refine(coarse) if coarse and self._refine is not None else None
            if redone is None:
                rounding = (
                    "; the values are not float64, so the estimate may be rounding noise "
                    "(coordinates far from the origin): try precision='float64' first"
                    if self.values.dtype != torch.float64
                    else ""
                )
                P.report(
                    f"derivative {alpha}: lattice-mode interpolation error estimate "
                    f"{sum(parts):.3g} exceeds rtol={P.rtol:g} of its magnitude {scale:.3g} "
                    f"(axes {axes}); use more points per half-width (points=) or "
                    f"mode='scattered'{rounding}",
                    key=("interpolation", alpha),
                )
                return out
            self._set_values(*redone)
            out = self._compute(component, alpha)
        return out

    def _enforce_precision(self, component: int, alpha: tuple, out: torch.Tensor) -> torch.Tensor:
        """Apply the policy to one derivative: switch to float64 ('auto') or warn ('input')."""
        P = self.precision
        if not out.numel():
            return out
        bound, scale = (
            self.rounding_bound(alpha, component),
            finite_or_zero(float(out.detach().abs().max())),
        )
        if bound <= P.rtol * scale:
            return out
        order = sum(self._orders(alpha))
        message = describe_excess(
            alpha, bound, scale, self.stencil.widths, order, self.values.dtype, P.rtol
        )
        if P.precision != "auto" or self._reevaluate is None:
            P.report(message, key=("excess", alpha))
            return out
        P.upcast = True
        P.report(
            f"precision='auto' switched to float64 evaluation of the network: "
            f"{message.split(';')[0]}",
            key=("switch", alpha),
        )
        self._set_values(*self._reevaluate())
        return self._compute(component, alpha)
