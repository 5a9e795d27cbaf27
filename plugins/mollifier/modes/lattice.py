"""Lattice mode: arbitrary points served from a background lattice by interpolation.

Grid mode's convolutions on a lattice covering the points (``background.py``), then degree-5
interpolation to the points (``interpolate.py``), whose error is estimated and kept below rtol
by refining the lattice along the non-mollified axes.
"""

from __future__ import annotations

import weakref

import torch

from ..background import lattice_plan
from ..connect import Sample
from ..field import UnservableDerivative
from ..interpolate import DEGREE, interpolation_estimate
from ..precision import finite_or_zero
from .base import Call, Mode
from .box import BoxField, BoxSource
from .scattered import _extend_only

__all__ = ["DIVISIONS", "LatticeField", "LatticeMode"]

#: lattice intervals across the points' extent on a non-mollified axis at first, doubled on
#: demand by the interpolation estimate (8 instead of 32: a 1D + t diffusion problem on 440
#: sampled points went from 1.22x to 0.93x autodiff's step time, same error; refinement covers
#: the rest)
DIVISIONS = 8


class LatticeField(BoxField):
    """Arbitrary points served from a background lattice by interpolation."""

    mode = "lattice"

    def _derive(self, component: int, alpha: tuple) -> torch.Tensor:
        return self.point_derivative(component, alpha)

    def _lattice_orders(self, alpha: tuple, all_axes: bool = False) -> tuple:
        """Derivative orders of the interpolant per lattice axis (only non-mollified axes)."""
        return tuple(
            alpha[a] if all_axes or a not in self.stencil.axes else 0 for a in self.plan.perm
        )

    def point_derivative(self, component: int, alpha: tuple, extra: tuple | None = None):
        """D^alpha u[:, component] at the points (N, 1), in the lattice dtype,
        untagged: the mollified axes by convolution, the others (and ``extra`` orders per input
        axis) by differentiating the interpolant."""
        return self.point_derivatives(component, (alpha,), extra)

    def point_derivatives(self, component: int, alphas: tuple, extra: tuple | None = None):
        """Like :meth:`point_derivative` for several multi-indices that share their
        interpolant orders (mollified axes may differ): (N, k), one sparse product."""
        for alpha in alphas:
            self._check_alpha(alpha, component)
        extra = extra or (0,) * self.dim
        orders = {
            tuple(
                a + e
                for a, e in zip(
                    self._lattice_orders(alpha), self._lattice_orders(extra, all_axes=True)
                )
            )
            for alpha in alphas
        }
        if len(orders) != 1:
            raise ValueError(f"derivatives {alphas} differ in their interpolant orders")
        (orders,) = orders
        if max(orders) > DEGREE - 2:
            raise UnservableDerivative(
                f"interpolant derivative orders {list(orders)} beyond {DEGREE - 2}"
            )
        boxes = [self._component_box(alpha, component).reshape(-1, 1) for alpha in alphas]
        boxes = boxes[0] if len(boxes) == 1 else torch.cat(boxes, 1)
        interpolation = self.plan.interpolation(orders, boxes.dtype)
        return Sample.apply(self.x, boxes, self, component, tuple(alphas), extra, interpolation)

    def _derive_many(self, component: int, alphas: tuple) -> list:
        """Several derivatives (each (N, 1)) from one sparse product where they share their
        interpolant orders."""
        groups: dict = {}
        for alpha in alphas:
            groups.setdefault(self._lattice_orders(alpha), []).append(alpha)
        out = {}
        for group in groups.values():
            values = self.point_derivatives(component, tuple(group))
            out.update({alpha: values[:, j : j + 1] for j, alpha in enumerate(group)})
        return [out[alpha] for alpha in alphas]

    def _amplification(self, alpha: tuple) -> float:
        w = self.plan.weights(self._lattice_orders(alpha), torch.float64)
        return float(w.abs().sum(1).max()) if len(w) else 1.0

    def _check_mode_alpha(self, alpha: tuple) -> None:
        for a, k in enumerate(alpha):
            if a not in self.stencil.axes and k > DEGREE - 2:
                raise UnservableDerivative(
                    f"lattice mode differentiates the degree-{DEGREE} interpolant along the "
                    f"non-mollified axis {a} up to order {DEGREE - 2}, not {k}; use "
                    "mode='scattered' (autodiff along that axis)"
                )

    def interpolation_estimate(self, alpha, component: int = 0) -> list:
        """Estimated interpolation error of D^alpha u[:, component] per lattice axis
        (``plan.perm`` order; see ``interpolate.py``; zero along axes where every point sits
        on a node and the interpolant is not differentiated, where it is exact)."""
        alpha = self._check_alpha(alpha, component)
        with torch.no_grad():
            box = self._component_box(alpha, component)[0]
        aligned = self.plan.aligned()
        return [
            0.0 if aligned[a] and k == 0 else interpolation_estimate(box, a, k, h, self.plan.reach)
            for a, (k, h) in enumerate(zip(self._lattice_orders(alpha), self.plan.spacing))
        ]

    def resolution(self) -> float:
        """How well the lattice resolves the mollified network: the order-0 interpolation
        estimate along the mollified axes relative to max|u| (worst component).  Measured on
        aligned axes too: a network varying faster than the spacing aliases in the
        convolution itself, and the convolved values then vary on the spacing's scale."""
        box = self._grid_conv(self._orders((0,) * self.dim)).detach()  # cached for output()
        worst = 0.0
        for values in box:
            scale = finite_or_zero(float(values.abs().max()))
            for a, h in enumerate(self.plan.spacing):
                if scale and self.plan.perm[a] in self.stencil.axes:
                    e = interpolation_estimate(values, a, 0, h, self.plan.reach)
                    worst = max(worst, e / scale)
        return worst

    def _enforce_accuracy(self, component: int, alpha: tuple, out: torch.Tensor):
        """Refine the lattice along non-mollified axes whose interpolation estimate
        exceeds rtol of the derivative's magnitude (warn when that is impossible, or when a
        refinement did not lower the estimate: then it measures rounding, not interpolation)."""
        P = self.precision
        before: dict = {}  # axis -> its estimate before the last refinement
        for _ in range(8):
            scale = finite_or_zero(float(out.detach().abs().max())) if out.numel() else 0.0
            if scale == 0.0:
                return out
            parts = self.interpolation_estimate(alpha, component)
            over = {self.plan.perm[a]: e for a, e in enumerate(parts) if e > 0.5 * P.rtol * scale}
            if not over:
                return out
            # an interpolation error falls 2^(6 - k) >= 8x per halving; rounding noise grows
            stuck = [a for a, e in over.items() if a in before and e > 0.5 * before[a]]
            coarse = [a for a in over if a not in self.stencil.axes]
            redone = None
            if coarse and not stuck:
                redone = self.source.refine(coarse, self.precision.upcast)
            if redone is None:
                self._report_estimate(alpha, sum(parts), scale, list(over), bool(stuck))
                return out
            before = {a: over[a] for a in coarse}
            self._set_values(*redone)
            out = self._compute(component, alpha)
        return out

    def _report_estimate(self, alpha, estimate: float, scale: float, axes, stuck: bool):
        P = self.precision
        if stuck:
            cause = (
                "; refining the lattice did not lower it, so it is rounding noise of the "
                f"{str(self.values.dtype).replace('torch.', '')} network values: "
                "precision='float64' (or a larger rtol)"
            )
        elif self.values.dtype != torch.float64:
            cause = (
                "; the values are not float64, so the estimate may be rounding noise: "
                "precision='float64' tells which"
            )
        else:
            cause = ""
        P.report(
            f"derivative {alpha}: lattice-mode interpolation error estimate {estimate:.3g} is "
            f"{estimate / scale:.2g} of its magnitude {scale:.3g}, above rtol/2 = "
            f"{P.rtol / 2:g} (axes {axes}); use more points per half-width (points=) or "
            f"mode='scattered'{cause}",
            key=("interpolation", alpha),
        )


class LatticeSource(BoxSource):
    """The network on the background lattice; refinable along non-mollified axes."""

    def __init__(self, network, saw, plan, mode: LatticeMode, x, st, max_nodes: int):
        super().__init__(network, saw, plan)
        self.mode, self.x, self.st, self.max_nodes = mode, x, st, max_nodes

    def refine(self, axes, float64: bool = False):
        plan = self.mode.refine(self.x, self.st, axes, self.max_nodes)
        if plan is None:
            return None
        self.plan = plan
        return (*self.values(float64), plan)


class LatticeMode(Mode):
    """Arbitrary points, one network evaluation per node of a background lattice.

    Attributes:
        divisions: lattice intervals per non-mollified input axis (default ``DIVISIONS``),
            doubled where the interpolation estimate asked for it; kept across calls.
        requests: (plan, the derivatives its last field served): the next field on the same
            plan computes them together (one sparse product).
        last: a weak reference to that field, whose derivatives computed ahead of a request
            are dropped when the next field is made (``MollifiedField.release``).
    """

    name = "lattice"

    def __init__(self):
        self.divisions: dict = {}
        self.requests: tuple | None = None
        self.last = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "requests": None, "last": None}

    def check(self, x, options) -> None:
        _extend_only(self.name, options)

    def state(self) -> tuple:
        return tuple(sorted(self.divisions.items()))

    def plan(self, x, st, options, limit):
        return self._plan(x, st, limit)

    def _plan(self, x, st, limit):
        free = [a for a in range(x.shape[1]) if a not in st.axes]
        divisions = [self.divisions.get(a, DIVISIONS) for a in free]
        return lattice_plan(x, st.axes, st.spacings, st.half, divisions, limit)

    def refine(self, x, st, axes, limit):
        """Double the lattice intervals along ``axes``: the new plan, or None (too big)."""
        for a in axes:
            self.divisions[a] = 2 * self.divisions.get(a, DIVISIONS)
        try:
            return self._plan(x, st, limit)
        except ValueError:
            return None

    def field(self, x, st, plan, call: Call) -> LatticeField:
        previous = self.last() if self.last is not None else None
        if previous is not None:
            previous.release()
        last = self.requests
        expected = tuple(last[1]) if last is not None and last[0] is plan else ()
        source = LatticeSource(call.network, call.saw, plan, self, x, st, call.options.max_nodes)
        field = LatticeField(
            x,
            st,
            source,
            plan=plan,
            precision=call.precision,
            input_grad=call.options.input_grad,
            expected=expected,
        )
        self.requests, self.last = (plan, field.requested), weakref.ref(field)
        return field
