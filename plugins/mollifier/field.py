"""The mollified field of one layer output, its derivative cache and the tensor tags.

Every tensor the layer returns carries a tag ``(field, component, alpha)``; a later request
for d/dx_i of that tensor adds one to alpha and is served from the same network evaluation.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Sequence

import numpy as np
import torch

from .background import LatticePlan
from .grid import GridPlan
from .precision import (
    DEFAULT_ROUNDING,
    MEASURED_SAFETY,
    PROBE,
    PrecisionState,
    describe_excess,
    finite_or_zero,
    rounding_bound,
    unit_roundoff,
)
from .source import Source
from .stencil import Stencil

__all__ = [
    "MollifiedField",
    "UnservableDerivative",
    "derivative_of",
    "differentiate",
    "error_bound_of",
    "field_of",
    "is_field",
    "product_derivative",
]

_TAG = "_steadygrad_field"


class UnservableDerivative(ValueError):
    """Raised when a derivative cannot be produced by the mollifier (e.g. order too high)."""


def field_of(y: torch.Tensor):
    """(field, component, alpha) attached to a tensor produced by a mollifier layer (or of a
    one-column view ``u[:, k:k+1]`` of a layer output u: component k), or None."""
    tag = getattr(y, _TAG, None)
    return _column_of(y) if tag is None else tag


def _column_of(y: torch.Tensor):
    """y = u[:, k:k+1] for a layer output u (N, m): u's tag with component k.  The slice's
    autograd node leads to u's node, where :func:`_tag` left u's tag."""
    fn = y.grad_fn
    if fn is None or fn.name() != "SliceBackward0" or y.dim() != 2 or y.shape[1] != 1:
        return None
    if (fn._saved_dim, fn._saved_step) != (1, 1) or fn._saved_end - fn._saved_start != 1:
        return None
    parent = fn.next_functions[0][0]
    tag = None if parent is None else parent.metadata.get(_TAG)
    sizes = fn._saved_self_sym_sizes
    if tag is None or tag[1] is not None or len(sizes) != 2 or sizes[0] != y.shape[0]:
        return None
    k = fn._saved_start % sizes[1]
    return tag[0], k, tag[2]


def product_derivative(y: torch.Tensor, x: torch.Tensor, axis: int) -> torch.Tensor | None:
    """d(a b)/dx_axis = a' b + a b' for y = a * b whose factors are fields of ``x`` (outputs,
    their columns, derivatives), products of such, or constants (tensors outside autograd);
    None otherwise.  Residuals such as d(a u_x)/dx (a coefficient output times a derivative)
    are then served without the host's autodiff."""
    fn = y.grad_fn
    if fn is None or fn.name() != "MulBackward0":
        return None
    try:
        factors = (fn._saved_self, fn._saved_other)
    except RuntimeError:  # a factor autograd did not keep
        return None
    parts = []
    for f in factors:
        if not torch.is_tensor(f) or f.shape != y.shape:
            return None
        if not f.requires_grad:
            parts.append(torch.zeros_like(f))
            continue
        d = differentiate(f, x, axis) if is_field(f, x) else product_derivative(f, x, axis)
        if d is None:
            return None
        parts.append(d)
    return parts[0] * factors[1] + factors[0] * parts[1]


def is_field(y: torch.Tensor, x: torch.Tensor | None = None) -> bool:
    """True if ``y`` is a layer output or derivative (of inputs ``x``, when given)."""
    tag = field_of(y)
    return tag is not None and (x is None or tag[0].x is x)


def _tag(y: torch.Tensor, field: MollifiedField, component, alpha: tuple) -> torch.Tensor:
    setattr(y, _TAG, (field, component, alpha))
    if component is None and y.grad_fn is not None:  # its column slices find it here
        y.grad_fn.metadata[_TAG] = (field, component, alpha)
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

    The base of the three evaluation modes (``modes.py``: one class each, which owns its value
    layout, its derivatives, its output and its probe points); here live what they share:
    the tags, the derivative cache, and the precision policy's checks.

    Args:
        x: the points (N, d).
        stencil: the stencil of the layer for these points.
        source: the network values (``source.py``; each mode's own): in the evaluation dtype
            at first, in float64 when the precision policy asks, on a refined lattice when
            lattice mode's accuracy check asks; it also hears every derivative order served.
        plan: grid and lattice mode: the lattice plan.
        precision: the layer's :class:`PrecisionState`.
        input_grad: 'always' or 'graph' (grid/lattice mode; see ``connect.py``).
        expected: (component, alpha) keys a previous field on the same points served; they
            are computed together at the first request among them.
    """

    def __init__(
        self,
        x: torch.Tensor,
        stencil: Stencil,
        source: Source,
        plan: GridPlan | LatticePlan | None = None,
        boundary: str = "extend",
        precision: PrecisionState | None = None,
        input_grad: str = "always",
        expected: Sequence[tuple] = (),
    ):
        self.x, self.stencil, self.source = x, stencil, source
        self.plan, self.boundary = plan, boundary
        self.dim = x.shape[1]
        self.precision = precision or PrecisionState("input")
        self.input_grad = input_grad
        self._remeasured = False  # values replaced by a float64 measurement (_enforce_precision)
        # (component, alpha) keys: those this field served, and those a previous field on the
        # same points served (computed together at the first request among them)
        self.requested: dict = {}  # insertion-ordered keys
        self._expected = set(expected)
        self._set_values(*source.values(self.precision.upcast))

    def _set_values(self, values: torch.Tensor, z: torch.Tensor | None, plan=None) -> None:
        self.values, self.z = values, z
        self.plan = plan if plan is not None else self.plan
        # (component, alpha) -> D^alpha u, tagged.  Weak: those tensors' autograd nodes hold
        # this field (connect.py), and a strong cache would close a reference cycle through
        # C++ that Python's gc cannot collect (every step's field and lattice would leak)
        self._cache = weakref.WeakValueDictionary()
        self._pending: dict = {}  # computed together before their request: held until served
        self._passes: dict = {}  # grid/lattice: per-axis orders -> partial convolutions of the box
        self._stencil_values: dict = {}  # scattered: (component, beta) -> d^beta G
        self._gmax: dict = {}

    #: 'scattered', 'grid' or 'lattice' (set by each mode's class)
    mode = "base"

    @property
    def outputs(self) -> int:
        """Number of output components m."""
        return self.values.shape[0]

    def component_values(self, component: int) -> torch.Tensor:
        """The network values of one output component, in the mode's layout."""
        return self.values[component]

    def _orders(self, alpha: tuple) -> tuple:
        return tuple(alpha[a] for a in self.stencil.axes)

    def _compute(self, component: int, alpha: tuple) -> torch.Tensor:
        try:
            return self._derive(component, alpha)
        except UnservableDerivative:
            raise
        except ValueError as err:  # the stencil cannot represent this order
            raise UnservableDerivative(str(err)) from None

    def _derive(self, component: int, alpha: tuple) -> torch.Tensor:  # pragma: no cover
        """D^alpha u[:, component] (N, 1) in the evaluation dtype (each mode's own)."""
        raise NotImplementedError

    # ---- public --------------------------------------------------------------------------
    @property
    def mask(self) -> torch.Tensor:
        """(N,) True where the point's derivatives are exact mollifications (full stencil)."""
        return torch.ones(self.x.shape[0], dtype=torch.bool, device=self.x.device)

    def output(self) -> torch.Tensor:
        """The mollified field u (N, m) in the input dtype, tagged."""
        zeros = (0,) * self.dim
        return _tag(self._output().to(self.x.dtype), self, None, zeros)

    def _output(self) -> torch.Tensor:
        """u (N, m) in the evaluation dtype."""
        zeros = (0,) * self.dim
        return torch.cat([self._derive(c, zeros) for c in range(self.outputs)], 1)

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
        w1 *= self._amplification(alpha)
        return rounding_bound(self.values.dtype, gmax, w1, self._rounding(), coordinate)

    def _amplification(self, alpha: tuple) -> float:
        """Amplification of rounding errors beyond the stencil weights' (lattice mode: the
        interpolation's Lebesgue constant)."""
        return 1.0

    def _magnitudes(self, component: int) -> tuple:
        """(max|g|, max|x| max|grad g|) of one component's values: the scale of equation (1) of
        ``precision.py`` and its coordinate-rounding term (finite differences of the values
        along the stencil's or the lattice's axes)."""
        vals = self.component_values(component)
        if not vals.numel():
            return 0.0, 0.0
        vals, steps = self._value_lattice(vals.detach().double())
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

    def _value_lattice(self, vals: torch.Tensor) -> tuple:
        """(values as a lattice, {dimension: spacing}) for finite differences."""
        return vals, dict(enumerate(self.plan.spacing))

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
        points, rows = self._evaluation_points()
        if not len(points):
            return DEFAULT_ROUNDING
        idx = torch.linspace(
            0, len(points) - 1, min(PROBE, len(points)), device=points.device
        ).long()
        try:
            with torch.no_grad():
                exact = self.source.exact(points.detach()[idx])
        except (ValueError, RuntimeError, TypeError):
            return DEFAULT_ROUNDING
        low = rows.detach()[idx].double()
        scale = float(low.abs().max()) * unit_roundoff(self.values.dtype)
        return (
            max(1.0, finite_or_zero(float((low - exact).abs().max()) / scale)) if scale > 0 else 1.0
        )

    def _evaluation_points(self) -> tuple:
        """(points the network saw (P, d), its values there (P, m)): the rounding probe's."""
        return self.plan.box, self.values.reshape(self.values.shape[0], -1).T

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
        self._check_mode_alpha(alpha)
        return alpha

    def _check_mode_alpha(self, alpha: tuple) -> None:
        """Raise :class:`UnservableDerivative` for orders this mode cannot serve."""

    def interpolation_estimate(self, alpha: Sequence[int], component: int = 0) -> list:
        """Lattice mode: estimated interpolation error of D^alpha u[:, component] per lattice
        axis (see :class:`~steadygrad.mollifier.modes.LatticeField`); empty in the others."""
        self._check_alpha(alpha, component)
        return []

    def saw(self, alpha: tuple) -> None:
        """Tell the layer that D^alpha was requested (its automatic density learns from it)."""
        self.source.saw(max(self._orders(alpha), default=0))

    def _derive_many(self, component: int, alphas: tuple) -> list:
        """Several derivatives at once (each (N, 1), evaluation dtype); a mode that can share
        work between them overrides this."""
        return [self._derive(component, alpha) for alpha in alphas]

    def derivatives(self, component: int, alphas: Sequence[Sequence[int]]) -> list:
        """[D^alpha u[:, component] for alpha in alphas] (each (N, 1), input dtype, tagged, like
        :meth:`derivative`); those already checked by the precision and accuracy policies are
        computed together (lattice mode: one sparse product)."""
        alphas = [self._check_alpha(alpha, component) for alpha in alphas]
        self._together(component, alphas)
        return [self.derivative(component, alpha) for alpha in alphas]

    def _together(self, component: int, alphas: list) -> None:
        """Cache those of ``alphas`` (checked tuples) that the policies have checked and that are
        not cached yet, computed together (nothing when fewer than two)."""
        fresh = [a for a in dict.fromkeys(alphas) if not self._held((component, a))]
        together = [a for a in fresh if (component, a) in self.precision.checked]
        if len(together) < 2:
            return
        try:
            values = self._derive_many(component, tuple(together))
        except ValueError as err:
            raise UnservableDerivative(str(err)) from None
        for alpha, out in zip(together, values):
            self._pending[(component, alpha)] = _tag(out.to(self.x.dtype), self, component, alpha)

    def _held(self, key: tuple) -> bool:
        return key in self._pending or self._cache.get(key) is not None

    def release(self) -> None:
        """Drop the derivatives computed ahead of a request that never came (they would keep
        this field alive: see ``_cache``)."""
        self._pending.clear()

    def _prefetch(self, component: int) -> None:
        """Compute the expected derivatives of ``component`` together (once per field)."""
        alphas = [a for c, a in self._expected if c == component]
        self._expected = {key for key in self._expected if key[0] != component}
        try:
            self._together(component, alphas)
        except UnservableDerivative:
            pass  # each is served (or refused, with its own message) when it is requested

    def derivative(self, component: int, alpha: Sequence[int]) -> torch.Tensor:
        """D^alpha u[:, component], shape (N, 1), input dtype; alpha: one order per input axis."""
        alpha = self._check_alpha(alpha, component)
        self.saw(alpha)
        key = (component, alpha)
        self.requested.setdefault(key)
        if key in self._expected and not self._held(key):
            self._prefetch(component)
        out = self._pending.pop(key, None)
        out = self._cache.get(key) if out is None else out
        if out is not None:
            self._cache[key] = out
            return out
        out = self._compute(component, alpha)
        P = self.precision
        low = self.values.dtype != torch.float64
        if any(self._orders(alpha)) and P.wants_check(key) and low:
            out = self._enforce_precision(component, alpha, out)
        if key not in P.checked:  # after any switch to float64
            out = self._enforce_accuracy(component, alpha, out)
        if low or P.upcast or not self._remeasured:
            # not when another derivative's measurement made these float64: that one was
            # checked in the input dtype, this one was not
            P.checked.add(key)
        out = _tag(out.to(self.x.dtype), self, component, alpha)
        self._cache[key] = out
        return out

    def _enforce_accuracy(self, component: int, alpha: tuple, out: torch.Tensor):
        """A mode's own accuracy check of a new derivative (lattice: the interpolation)."""
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
        if P.precision != "auto":
            P.report(message, key=("excess", alpha))
            return out
        # The bound is a worst case (1.4-21x above the error, precision.py); before paying for
        # float64 from now on, measure the actual float32 error of this derivative against a
        # float64 evaluation at the current weights.
        low = out.detach().double()
        self._remeasured = True
        self._set_values(*self.source.values(True))
        exact = self._compute(component, alpha)
        measured = finite_or_zero(float((low - exact.detach().double()).abs().max()))
        if measured * MEASURED_SAFETY <= P.rtol * scale:
            return exact  # the input dtype is accurate enough: later calls keep it
        P.upcast = True
        P.report(
            f"precision='auto' switched to float64 evaluation of the network: "
            f"{message.split(';')[0]}; measured rounding error {measured:.3g} "
            f"({measured / max(scale, 1e-300):.2g} of the magnitude)",
            key=("switch", alpha),
        )
        return exact


def derivative_of(u: torch.Tensor, alpha: Sequence[int], component: int = 0) -> torch.Tensor:
    """D^alpha u[:, component] (N, 1) for a tensor ``u`` returned by a mollifier layer.

    ``alpha`` has one non-negative order per input axis, added to the orders ``u`` already
    carries (so ``derivative(derivative(u, a), b)`` is the derivative of order a + b).
    """
    tag = field_of(u)
    if tag is None:
        raise ValueError("u was not produced by a MollifierLayer (or was sliced/transformed since)")
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


def error_bound_of(u: torch.Tensor, alpha: Sequence[int], component: int = 0) -> float:
    """Rounding-error bound of D^alpha u[:, component] for a tensor ``u`` from this layer."""
    tag = field_of(u)
    if tag is None:
        raise ValueError("u was not produced by a MollifierLayer")
    return tag[0].error_bound(tuple(a + b for a, b in zip(tag[2], alpha)), tag[1] or component)
