"""One class per evaluation mode of a mollified field (the layer picks one, ``layer.py``).

* :class:`ScatteredField`: values G (N, S, m) of the network on the stencil around every point;
  D^alpha u = sum_s w^alpha_s G[:, s]; derivatives along non-mollified axes by autograd of G.
* :class:`GridField`: values (m, n_1..n_d) on the lattice box of a :class:`GridPlan` whose
  nodes include the points; separable convolutions, gathered at the points.
* :class:`LatticeField`: values (m, *size) on a :class:`LatticePlan` covering arbitrary
  points; grid mode's convolutions, then degree-5 interpolation to the points, whose error
  is estimated and kept below rtol (refining the lattice along non-mollified axes).

On the same points and spacing the three give the same numbers up to round-off (grid) or the
interpolation error (lattice).
"""

from __future__ import annotations

import torch

from .connect import Attach, Sample
from .field import MollifiedField, UnservableDerivative
from .grid import axis_pass, valid_mask
from .interpolate import DEGREE, interpolation_estimate
from .precision import finite_or_zero

__all__ = ["GridField", "LatticeField", "ScatteredField"]


class ScatteredField(MollifiedField):
    """Values (N, S, m) on the stencil x_n - y_s; ``z`` the (N S, d) points the network saw."""

    mode = "scattered"

    @property
    def outputs(self) -> int:
        return self.values.shape[-1]

    def component_values(self, component: int) -> torch.Tensor:
        return self.values[:, :, component]

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

    def _derive(self, component: int, alpha: tuple) -> torch.Tensor:
        orders = self._orders(alpha)
        beta = tuple(0 if i in self.stencil.axes else alpha[i] for i in range(self.dim))
        w = self.stencil.weights(orders, self.values.dtype, self.values.device)
        return (self._values_scattered(component, beta) @ w)[:, None]

    def _output(self) -> torch.Tensor:
        orders = (0,) * len(self.stencil.axes)
        w = self.stencil.weights(orders, self.values.dtype, self.values.device)
        return torch.einsum("nsm,s->nm", self.values, w)

    def _value_lattice(self, vals: torch.Tensor) -> tuple:
        # (N, S) -> (N, 2K_1 + 1, ...): the stencil's own lattice around every point
        vals = vals.reshape(len(vals), *(2 * k + 1 for k in self.stencil.half))
        return vals, dict(zip(range(1, vals.dim()), self.stencil.spacings))

    def _evaluation_points(self) -> tuple:
        return self.z, self.values.reshape(-1, self.values.shape[-1])


class _BoxField(MollifiedField):
    """Grid and lattice mode: values (m, *size) on a lattice box, separable convolutions."""

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


class GridField(_BoxField):
    """The points are lattice nodes: convolved box values gathered at them, connected to x."""

    mode = "grid"

    def _derive(self, component: int, alpha: tuple) -> torch.Tensor:
        if any(alpha[i] for i in range(self.dim) if i not in self.stencil.axes):
            raise UnservableDerivative(
                "grid mode mollifies every axis; use scattered mode for autodiff axes"
            )
        return self.connected_derivative(component, alpha)

    def connected_derivative(self, component: int, alpha: tuple) -> torch.Tensor:
        """D^alpha u[:, component] (N, 1) at the points, connected to x (see
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
    def mask(self) -> torch.Tensor:
        if self.boundary == "extend":
            return super().mask
        box_mask = valid_mask(self.values.shape[1:], self.stencil.half, self.x.device)
        return box_mask[tuple(self.plan.index.unbind(1))]


class LatticeField(_BoxField):
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

    def _enforce_accuracy(self, component: int, alpha: tuple, out: torch.Tensor):
        """Refine the lattice along non-mollified axes whose interpolation estimate
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
