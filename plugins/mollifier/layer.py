"""The mollifier layer: u = g * eta, with derivatives g * D^alpha eta.

:class:`MollifierLayer` wraps a network g: R^d -> R^m.  Its output at points x (N, d) is
the mollified field u (N, m).  The output tensor carries a :class:`MollifiedField` that
serves any derivative D^alpha u from the *same* network evaluation:

* scattered mode: g is evaluated on the stencil x_n - y_s around every point, values
  G (N, S, m), and D^alpha u = sum_s w^alpha_s G[:, s];
* grid mode: the points lie on a lattice; g is evaluated once per lattice node of their
  bounding box (extended by the stencil half-width) and derivatives are separable
  convolutions, gathered back at the points.  On the same points and spacing both modes
  give the same numbers (to round-off).

Axes that are not mollified (``axes=``) are differentiated by autodiff of the stencil
values, so mixed derivatives such as u_t and u_xxt need one extra backward pass each.
"""
from __future__ import annotations

import math
import weakref
from typing import Callable, Sequence

import torch
from torch import nn

from .grid import BOUNDARIES, LatticePlan, axis_pass, lattice_plan, valid_mask
from .kernels import Kernel
from .stencil import Stencil

__all__ = ["MollifierLayer", "MollifiedField", "UnservableDerivative", "field_of", "differentiate"]

MODES = ("scattered", "grid", "auto")
_TAG = "_steadygrad_field"


class UnservableDerivative(ValueError):
    """Raised when a derivative cannot be produced by the mollifier (e.g. order too high)."""


def field_of(y: torch.Tensor):
    """(field, component, alpha) attached to a tensor produced by a mollifier layer, or None."""
    return getattr(y, _TAG, None)


def _tag(y: torch.Tensor, field: "MollifiedField", component, alpha: tuple) -> torch.Tensor:
    setattr(y, _TAG, (field, component, alpha))
    return y


def differentiate(y: torch.Tensor, x: torch.Tensor, axis: int, component: int | None = None) -> torch.Tensor | None:
    """d y / d x[:, axis] served by the mollifier, or None if ``y`` is not a mollified field of ``x``.

    ``y`` is either a layer output (N, m), then ``component`` selects the output column, or a
    derivative produced earlier by this function (N, 1), which composes multi-indices so that
    nested calls give higher derivatives.  Raises :class:`UnservableDerivative` when the
    requested order exceeds the kernel's smoothness.
    """
    tag = field_of(y)
    if tag is None:
        return None
    field, comp, alpha = tag
    if field.x is not x:
        return None
    if comp is None:
        if component is None:
            if y.shape[-1] != 1:
                raise ValueError("component must be given for a field with several outputs")
            component = 0
        comp = component
    elif component not in (None, 0):
        raise ValueError(f"component {component} requested from a single-component derivative")
    if not 0 <= axis < field.dim:
        raise ValueError(f"axis {axis} is out of range for inputs of dimension {field.dim}")
    new = list(alpha)
    new[axis] += 1
    return field.derivative(comp, tuple(new))


class MollifiedField:
    """Lazily computed derivatives of one layer output; lives as long as that output."""

    def __init__(self, layer: "MollifierLayer", x: torch.Tensor, stencil: Stencil, mode: str,
                 values: torch.Tensor, z: torch.Tensor | None = None,
                 plan: LatticePlan | None = None, boundary: str = "extend"):
        self.layer, self.x, self.stencil, self.mode = layer, x, stencil, mode
        self.values, self.z, self.plan, self.boundary = values, z, plan, boundary
        self.dim = x.shape[1]
        self._cache: dict = {}
        self._stencil_values: dict = {}

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
                        "call the layer with inputs that require grad, outside torch.no_grad()")
                g, = torch.autograd.grad(prev.sum(), self.z, create_graph=True)
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
        for i in range(start, d):
            out = axis_pass(out, self.stencil, i, orders[i], d, pad)
            self._cache[("grid", orders[:i + 1])] = out
        return out

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

    # ---- public --------------------------------------------------------------------------
    @property
    def mask(self) -> torch.Tensor:
        """(N,) True where the point's derivatives are exact mollifications (full stencil)."""
        if self.mode == "scattered" or self.boundary == "extend":
            return torch.ones(self.x.shape[0], dtype=torch.bool, device=self.x.device)
        box_mask = valid_mask(self.values.shape[1:], self.stencil.half, self.x.device)
        return box_mask[tuple(self.plan.index.unbind(1))]

    def output(self) -> torch.Tensor:
        """The mollified field u (N, m), tagged."""
        zeros = (0,) * self.dim
        if self.mode == "scattered":
            w = self.stencil.weights([0] * len(self.stencil.axes), self.values.dtype, self.values.device)
            u = torch.einsum("nsm,s->nm", self.values, w)
        else:
            u = self._gather(self._grid_conv((0,) * len(self.stencil.axes)))
        return _tag(u, self, None, zeros)

    def derivative(self, component: int, alpha: Sequence[int]) -> torch.Tensor:
        """D^alpha u[:, component], shape (N, 1); alpha has one entry per input axis."""
        alpha = tuple(int(a) for a in alpha)
        if len(alpha) != self.dim or min(alpha) < 0:
            raise ValueError(f"alpha must hold {self.dim} non-negative orders, got {alpha}")
        m = self.values.shape[-1] if self.mode == "scattered" else self.values.shape[0]
        if not 0 <= component < m:
            raise ValueError(f"component {component} out of range for {m} outputs")
        key = (component, alpha)
        if key in self._cache:
            return self._cache[key]
        axes = self.stencil.axes
        orders = tuple(alpha[a] for a in axes)
        for a, n in zip(axes, orders):
            try:
                self.stencil.kernel.check_order(n)
            except ValueError as err:
                raise UnservableDerivative(f"axis {a}: {err}") from None
        beta = tuple(0 if i in axes else alpha[i] for i in range(self.dim))
        if self.mode == "scattered":
            w = self.stencil.weights(orders, self.values.dtype, self.values.device)
            out = (self._values_scattered(component, beta) @ w)[:, None]
        else:
            if any(beta):
                raise UnservableDerivative("grid mode mollifies every axis; use scattered mode for autodiff axes")
            box = self._grid_conv(orders)
            out = self._gather(box if box.shape[0] == 1 else box[component:component + 1])
        out = _tag(out, self, component, alpha)
        self._cache[key] = out
        return out


class MollifierLayer(nn.Module):
    """Wrap a network g so that the layer outputs the mollified field u = g * eta.

    Args:
        net: module or callable mapping points (N, d) to values (N, m).
        width: kernel half-width eps in input units; a float for every mollified axis or a
            sequence with one entry per mollified axis.
        kernel: profile name ('polynomial', 'bump', 'gaussian', or an entry point of group
            ``steadygrad.kernels``) or a :class:`Kernel` instance.
        points: stencil points per half-width in scattered mode (spacing = width / points).
        spacing: explicit quadrature spacing per mollified axis (overrides ``points``);
            required to equal the grid spacing for grid mode to match scattered mode.
        axes: indices of the input axes to mollify (default: all); others use autodiff.
        mode: 'scattered', 'grid' (inputs must lie on a lattice) or 'auto' (grid when the
            inputs lie on the stencil lattice and that is cheaper, else scattered).
        boundary: grid mode only: 'extend' (evaluate g beyond the points' bounding box; exact,
            identical to scattered), 'valid' (NaN where the stencil leaves the box; see the
            field's ``mask``), 'reflect' or 'replicate' (pad the box values).
        check_finite: raise ``FloatingPointError`` if g returns NaN/Inf.  True: at once on
            the CPU; on CUDA without stalling the GPU pipeline ('deferred'): the error is raised
            when backward reaches the network values, or at the layer's next call, whichever
            comes first.  'sync' always checks at once (one host synchronisation per call);
            False never checks.
    """

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], width: float | Sequence[float],
                 kernel: str | Kernel = "polynomial", points: int = 8,
                 spacing: float | Sequence[float] | None = None, axes: Sequence[int] | None = None,
                 mode: str = "scattered", boundary: str = "extend", check_finite: bool | str = True):
        super().__init__()
        if check_finite not in (True, False, "sync", "deferred"):
            raise ValueError(f"check_finite must be True, False, 'sync' or 'deferred', got {check_finite!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if boundary not in ("extend",) + BOUNDARIES:
            raise ValueError(f"boundary must be one of {('extend',) + BOUNDARIES}, got {boundary!r}")
        if int(points) != points or points < 2:
            raise ValueError(f"points per half-width must be an integer >= 2, got {points!r}")
        self.net = net
        from .. import registry  # local import: registry imports this package lazily
        self.kernel = registry.make_kernel(kernel) if not isinstance(kernel, Kernel) else kernel
        self.width = width
        self.points = int(points)
        self.spacing = spacing
        self.axes = None if axes is None else tuple(int(a) for a in axes)
        self.mode, self.boundary, self.check_finite = mode, boundary, check_finite
        self._stencils: dict = {}
        self._last_plan: dict | None = None
        self._pending: _DeferredCheck | None = None

    def __getstate__(self) -> dict:
        # caches (device tensors, a weak reference, a pending CUDA event) are not pickled
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {**state, "_stencils": {}, "_last_plan": None, "_pending": None}

    # ---- configuration ------------------------------------------------------------------
    def _axes(self, dim: int) -> tuple:
        axes = tuple(range(dim)) if self.axes is None else self.axes
        if not axes or len(set(axes)) != len(axes) or min(axes) < 0 or max(axes) >= dim:
            raise ValueError(f"axes {axes} are not distinct indices of {dim}-dimensional inputs")
        return axes

    @staticmethod
    def _per_axis(value, n: int, what: str) -> tuple:
        vals = (value,) * n if isinstance(value, (int, float)) else tuple(value)
        if len(vals) != n:
            raise ValueError(f"{what} needs one value per mollified axis ({n}), got {len(vals)}")
        for v in vals:
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{what} must be positive finite numbers, got {value!r}")
        return tuple(float(v) for v in vals)

    def stencil(self, dim: int, spacing: Sequence[float] | None = None) -> Stencil:
        """The stencil used for ``dim``-dimensional inputs (cached)."""
        axes = self._axes(dim)
        widths = self._per_axis(self.width, len(axes), "width")
        if spacing is None:
            spacing = (self._per_axis(self.spacing, len(axes), "spacing") if self.spacing is not None
                       else tuple(w / self.points for w in widths))
        key = (dim, tuple(spacing), widths, axes, self.kernel.key())
        if key not in self._stencils:
            self._stencils[key] = Stencil(self.kernel, widths, spacing, axes, dim)
        return self._stencils[key]

    # ---- evaluation ---------------------------------------------------------------------
    def _check(self, values: torch.Tensor) -> torch.Tensor:
        if values.dim() != 2:
            raise ValueError(f"the wrapped network must return (N, m) values, got shape {tuple(values.shape)}")
        if self._pending is not None:  # a deferred check of the previous call
            pending, self._pending = self._pending, None
            pending()
        if not self.check_finite:
            return values
        bad = torch.isfinite(values.detach()).logical_not().sum()
        deferred = self.check_finite == "deferred" or (self.check_finite is True and values.device.type == "cuda")
        if not deferred:
            _raise_if_nonfinite(int(bad))
            return values
        check = _DeferredCheck(bad)
        self._pending = check
        if values.requires_grad:
            values.register_hook(check.hook)
        return values

    def _scattered(self, x: torch.Tensor, st: Stencil) -> MollifiedField:
        offsets = st.offsets(x.dtype, x.device)
        z = (x[:, None, :] - offsets[None]).reshape(-1, x.shape[1])
        if len(st.axes) < x.shape[1] and torch.is_grad_enabled() and not z.requires_grad:
            z.requires_grad_(True)  # autodiff axes need a graph even for constant inputs
        g = self._check(self.net(z))
        return MollifiedField(self, x, st, "scattered", g.reshape(x.shape[0], offsets.shape[0], -1), z=z)

    def _grid(self, x: torch.Tensor, st: Stencil, plan: LatticePlan) -> MollifiedField:
        g = self._check(self.net(plan.box))
        values = g.T.reshape(g.shape[1], *plan.size)
        return MollifiedField(self, x, st, "grid", values, plan=plan, boundary=self.boundary)

    def _lattice(self, x: torch.Tensor) -> tuple[Stencil, LatticePlan | None]:
        """Stencil and lattice plan for grid/auto mode (plan None: auto chose scattered).

        The last plan is reused for the same tensor (or equal values, one comparison), so a
        training loop over fixed points pays for the lattice analysis once.
        """
        config = (self.mode, self.boundary, self.width, self.spacing, self.points, self.kernel.key())
        last = self._last_plan
        if last is not None and last["config"] == config and last["copy"].shape == x.shape \
                and last["copy"].dtype == x.dtype and last["copy"].device == x.device \
                and ((last["ref"]() is x and last["version"] == x._version) or torch.equal(last["copy"], x.detach())):
            return last["stencil"], last["plan"]
        dim = x.shape[1]
        if self.mode == "grid":
            spacing = None if self.spacing is not None else tuple(_min_gap(x[:, i]) for i in range(dim))
            st = self.stencil(dim, spacing)
            plan = lattice_plan(x, st.spacings, st.half, self.boundary)
        else:  # auto: same spacing as scattered, so both give the same numbers; grid if cheaper
            st = self.stencil(dim)
            try:
                plan = lattice_plan(x, st.spacings, st.half, self.boundary,
                                    max_nodes=x.shape[0] * len(st.offsets(x.dtype, x.device)))
            except ValueError:
                plan = None
        self._last_plan = dict(config=config, ref=weakref.ref(x), version=x._version, copy=x.detach().clone(),
                               stencil=st, plan=plan)
        return st, plan

    def field(self, x: torch.Tensor) -> MollifiedField:
        """Evaluate the network once for inputs x (N, d) and return the mollified field."""
        if not torch.is_tensor(x) or x.dim() != 2:
            raise ValueError(f"inputs must be a (N, d) tensor, got {type(x).__name__} {getattr(x, 'shape', '')}")
        if not x.is_floating_point():
            raise ValueError("inputs must be a floating-point tensor")
        dim = x.shape[1]
        axes = self._axes(dim)
        mode = self.mode
        if mode == "scattered":
            if self.boundary != "extend":
                raise ValueError("boundary handling applies to grid mode; scattered mode always evaluates the full stencil")
            return self._scattered(x, self.stencil(dim))
        if len(axes) != dim:
            if mode == "grid":
                raise ValueError("grid mode mollifies every input axis; use mode='scattered' with axes=")
            return self._scattered(x, self.stencil(dim))
        st, plan = self._lattice(x)
        return self._scattered(x, st) if plan is None else self._grid(x, st, plan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mollified field u(x), shape (N, m); derivatives via :meth:`derivative`."""
        return self.field(x).output()

    @staticmethod
    def derivative(u: torch.Tensor, alpha: Sequence[int], component: int = 0) -> torch.Tensor:
        """D^alpha u[:, component] (N, 1) for a tensor ``u`` returned by this layer."""
        tag = field_of(u)
        if tag is None:
            raise ValueError("u was not produced by a MollifierLayer (or was sliced/transformed since)")
        field, comp, base = tag
        if comp is not None:
            if component not in (0, comp):
                raise ValueError("u is already a single-component derivative")
            component = comp
        return field.derivative(component, tuple(a + b for a, b in zip(base, alpha)))


def _raise_if_nonfinite(bad: int) -> None:
    if bad:
        raise FloatingPointError(
            f"the wrapped network returned {bad} non-finite values (NaN/Inf); the mollified "
            "field and all its derivatives would be NaN")


class _DeferredCheck:
    """Count of non-finite values copied to host memory asynchronously; calling it waits for
    that copy only (issued right after the network forward) and raises if the count is > 0."""

    def __init__(self, bad: torch.Tensor):
        self.event = None
        if bad.device.type == "cuda":
            self.host = torch.empty((), dtype=bad.dtype, device="cpu", pin_memory=True)
            self.host.copy_(bad, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        else:
            self.host = bad
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        if self.event is not None:
            self.event.synchronize()
        _raise_if_nonfinite(int(self.host))

    def hook(self, grad: torch.Tensor) -> None:
        self()


def _min_gap(coords: torch.Tensor) -> float:
    u = torch.unique(coords.detach())
    if u.numel() < 2:
        raise ValueError("grid mode needs at least two distinct coordinates per axis to infer the spacing; pass spacing=")
    return float((u[1:] - u[:-1]).min())
