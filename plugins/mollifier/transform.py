"""Derivatives of an output transform v = T(x, u) of a mollified field u, without autodiff
through the network.

Hard constraints put a transform after the network, e.g. v = x (1 - x) u.  Every derivative
of v follows from the transform and the kernel derivatives of u by the chain rule, which a
truncated Taylor polynomial applies exactly: with

    P(t) = sum_{beta <= alpha} D^beta u(x) t^beta / beta!      (t in R^d per point)

D^alpha v(x) = d^alpha/dt^alpha T(x + t, P(t)) at t = 0, because the terms of P beyond alpha
do not reach that derivative.  The t-derivatives are nested autograd products of the
transform alone (a few pointwise operations on (N, m) tensors; the shift t is a per-point
leaf, so a pointwise transform gives per-point derivatives), while the network is evaluated
once, as for u.  Forward mode (``torch.func.jvp``) gives the same numbers, but its nested
levels run through Python decompositions and cost 5x more on the CPU.

Most hard constraints are affine in u, T(x, u) = A(x) u + B(x) (typically products
of distance functions with u, plus a boundary value).  Then Leibniz's rule

    D^alpha v = D^alpha B + sum_{beta <= alpha} C(alpha, beta) D^(alpha - beta) A D^beta u

needs the x-derivatives of A and B only, which depend on the points and not on the network:
:class:`Affine` computes them once per point set and every later step reuses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import product

import torch

from .field import UnservableDerivative, _tag, field_of

__all__ = ["Affine", "AffineCache", "TransformedField", "transformed"]

Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TransformedField:
    """Lazily computed derivatives of v = T(x, u) for a tagged layer output u (N, m).

    Exposes what :func:`~steadygrad.mollifier.field.differentiate` needs of a field (``x``,
    ``dim``, ``outputs``, :meth:`derivative`), so derivatives of v are requested exactly like
    those of u.  ``affine``: the transform's :class:`Affine` form on these points, or None
    (the general Taylor path).
    """

    def __init__(
        self,
        x: torch.Tensor,
        u: torch.Tensor,
        transform: Transform,
        outputs: int,
        affine: Affine | None = None,
    ):
        tag = field_of(u)
        if tag is None or tag[1] is not None or any(tag[2]):
            raise ValueError("u must be a layer output (not a derivative or a slice)")
        self.base, self.x, self.u, self.transform = tag[0], x, u, transform
        self.dim, self.outputs, self.affine = x.shape[1], outputs, affine
        self._cache: dict = {}

    def _base(self, beta: tuple) -> torch.Tensor:
        """D^beta u, all components (N, m)."""
        cols = [self.base.derivative(k, beta) for k in range(self.base.outputs)]
        return cols[0] if len(cols) == 1 else torch.cat(cols, 1)

    def _taylor(self, alpha: tuple, t: torch.Tensor) -> torch.Tensor:
        """T(x + t, P(t)) (N, m_out) for per-point shifts t (N, d), with P the Taylor
        polynomial of u up to alpha."""
        poly = self.u
        for b in product(*(range(a + 1) for a in alpha)):
            if any(b):
                monomial = math.prod(t[:, a : a + 1] ** k for a, k in enumerate(b) if k)
                poly = poly + self._base(b) * monomial / math.prod(math.factorial(k) for k in b)
        return self.transform(self.x + t, poly)

    def _general(self, alpha: tuple) -> torch.Tensor:
        outer = torch.is_grad_enabled()
        axes = [a for a, k in enumerate(alpha) for _ in range(k)]
        with torch.enable_grad():
            t = torch.zeros_like(self.x, requires_grad=True)
            try:
                f = self._taylor(alpha, t)
                if not torch.is_tensor(f) or f.shape != (self.x.shape[0], self.outputs):
                    raise UnservableDerivative(
                        f"the output transform returned shape "
                        f"{tuple(getattr(f, 'shape', ()))} for shifted inputs, not "
                        f"{(self.x.shape[0], self.outputs)}"
                    )
                levels = [_nested(f[:, c : c + 1], t, axes, outer) for c in range(self.outputs)]
            except UnservableDerivative:
                raise
            except Exception as err:  # anything autograd cannot trace: the caller falls back
                raise UnservableDerivative(
                    f"the output transform cannot be differentiated along the shifted inputs "
                    f"({type(err).__name__}: {err})"
                ) from None
        # level i is the derivative along axes[:i], also a multi-index <= alpha: keep them all
        for i in range(1, len(axes) + 1):
            beta = tuple(axes[:i].count(a) for a in range(self.dim))
            self._cache.setdefault(beta, torch.cat([col[i] for col in levels], 1))
        return self._cache[alpha]

    def _leibniz(self, alpha: tuple) -> torch.Tensor:
        """D^alpha (A u + B) = D^alpha B + sum_beta C(alpha, beta) D^(alpha-beta) A D^beta u."""
        out, terms = self.affine.terms(alpha, self.u.dtype)
        betas = [beta for beta, _ in terms if any(beta)]
        if len(betas) > 1:  # computed together (one sparse product in lattice mode)
            for k in range(self.base.outputs):
                try:
                    self.base.derivatives(k, betas)
                except UnservableDerivative:
                    break  # served (or refused) one by one below
        for beta, coef in terms:
            try:
                u = self.u if not any(beta) else self._base(beta)
            except UnservableDerivative as err:
                # the coefficients are constants: autodiff of this path's results would miss
                # their dependence on x, so no autodiff fallback is offered
                raise ValueError(
                    f"{err} (needed for derivative {alpha} of the transformed output, which "
                    "the kernel serves alone; use a smoother kernel)"
                ) from None
            # one input component (hard constraints): a broadcast product, cheaper than einsum
            out = out + (coef * u if coef.dim() == 2 else torch.einsum("nok,nk->no", coef, u))
        return out

    def _compute(self, alpha: tuple) -> torch.Tensor:
        if self.affine is None:
            return self._general(alpha)
        self._cache[alpha] = self._leibniz(alpha)
        return self._cache[alpha]

    def derivative(self, component: int, alpha: tuple) -> torch.Tensor:
        """D^alpha v[:, component], shape (N, 1), tagged like a field derivative."""
        alpha = tuple(int(a) for a in alpha)
        if len(alpha) != self.dim or min(alpha) < 0:
            raise ValueError(f"alpha must hold {self.dim} non-negative orders, got {alpha}")
        if not 0 <= component < self.outputs:
            raise ValueError(f"component {component} out of range for {self.outputs} outputs")
        out = self._cache[alpha] if alpha in self._cache else self._compute(alpha)
        out = out[:, component : component + 1]
        return _tag(out, self, component, alpha)


class Affine:
    """A transform of the form T(x, u) = A(x) u + B(x) on one set of points x (N, d), with the
    x-derivatives of A (N, m_out, m) and B (N, m_out) computed once and cached: training on
    fixed points then pays a few multiply-adds per derivative and step.

    Built by :meth:`detect`, which checks affinity in u numerically (two random u, to
    ``64 eps`` of the dtype).
    """

    def __init__(self, x: torch.Tensor, transform: Transform, coefficients: torch.Tensor):
        self.x, self.transform = x, transform
        self._coef = {(0,) * x.shape[1]: coefficients}  # alpha -> (N, m_out, m + 1)

    @classmethod
    def detect(cls, x: torch.Tensor, transform: Transform, m: int) -> Affine | None:
        x = x.detach().clone()
        try:
            with torch.no_grad():
                coef = _coefficients(x, transform, m)
                gen = torch.Generator().manual_seed(0)
                for _ in range(2):
                    u = torch.randn(x.shape[0], m, generator=gen, dtype=x.dtype).to(x.device)
                    exact = transform(x, u)
                    linear = torch.einsum("nok,nk->no", coef[:, :, :-1], u) + coef[:, :, -1]
                    size = coef[:, :, -1].abs() + torch.einsum(
                        "nok,nk->no", coef[:, :, :-1].abs(), u.abs()
                    )
                    tol = 64 * torch.finfo(x.dtype).eps * float(size.max())
                    if not bool(((exact - linear).abs() <= tol).all()):
                        return None
        except Exception:  # not evaluable at these u (e.g. log u at 0): the general path
            return None
        return cls(x, transform, coef)

    def matches(self, x: torch.Tensor, transform: Transform) -> bool:
        """Same transform, same points (values), dtype and device."""
        y = self.x
        return (
            transform is self.transform
            and x.shape == y.shape
            and x.dtype == y.dtype
            and x.device == y.device
            and torch.equal(x.detach(), y)
        )

    def varies(self, alpha: tuple) -> bool:
        """Whether D^alpha A is not identically zero (decided once per alpha: no host sync
        per derivative and step)."""
        key = ("nonzero", alpha)
        if key not in self._coef:
            self._coef[key] = bool(self.coefficient(alpha)[:, :, :-1].abs().max() > 0)
        return self._coef[key]

    def terms(self, alpha: tuple, dtype: torch.dtype) -> tuple:
        """Leibniz's rule for D^alpha v, cached per (alpha, dtype): (D^alpha B (N, m_out),
        [(beta, C(alpha, beta) D^(alpha - beta) A)]) over the beta whose A-derivative is not
        identically zero; each factor is (N, m_out) for one input component, else
        (N, m_out, m)."""
        key = ("terms", alpha, dtype)
        if key not in self._coef:
            terms = []
            for b in product(*(range(a + 1) for a in alpha)):
                gamma = tuple(a - k for a, k in zip(alpha, b))
                if self.varies(gamma):
                    c = math.prod(math.comb(a, k) for a, k in zip(alpha, b))
                    A = c * self.coefficient(gamma)[:, :, :-1].to(dtype)
                    terms.append((b, A[:, :, 0] if A.shape[2] == 1 else A))
            self._coef[key] = (self.coefficient(alpha)[:, :, -1].to(dtype), terms)
        return self._coef[key]

    def coefficient(self, alpha: tuple) -> torch.Tensor:
        """D^alpha [A | B] (N, m_out, m + 1), constants (no graph)."""
        if alpha not in self._coef:
            axes = [a for a, k in enumerate(alpha) for _ in range(k)]
            m = self._coef[(0,) * len(alpha)].shape[2] - 1
            with torch.enable_grad():
                t = torch.zeros_like(self.x, requires_grad=True)
                try:
                    flat = _coefficients(self.x + t, self.transform, m).flatten(1)
                    levels = [
                        _nested(flat[:, j : j + 1], t, axes, False) for j in range(flat.shape[1])
                    ]
                except Exception as err:  # nothing was served from it yet: fall back
                    raise UnservableDerivative(
                        f"the output transform cannot be differentiated along the shifted "
                        f"inputs ({type(err).__name__}: {err})"
                    ) from None
            for i in range(1, len(axes) + 1):
                beta = tuple(axes[:i].count(a) for a in range(len(alpha)))
                stacked = torch.cat([col[i] for col in levels], 1)
                self._coef.setdefault(beta, stacked.reshape(len(self.x), -1, m + 1))
        return self._coef[alpha]


class AffineCache:
    """The last point set's :class:`Affine` form (or the finding that it has none), reused while
    the points and the transform stay the same: one per operator."""

    def __init__(self):
        self._last: tuple | None = None  # (Affine or a failed probe's key, result)

    def get(self, x: torch.Tensor, transform: Transform, m: int) -> Affine | None:
        last = self._last
        if last is not None and last[0].matches(x, transform):
            return last[1]
        found = Affine.detect(x, transform, m)
        probe = found or Affine(x.detach().clone(), transform, torch.zeros(0))
        self._last = (probe, found)
        return found


def _coefficients(x: torch.Tensor, transform: Transform, m: int) -> torch.Tensor:
    """[A_1 .. A_m | B] (N, m_out, m + 1) with B = T(x, 0), A_k = T(x, e_k) - B."""
    zero = x.new_zeros(x.shape[0], m)
    B = transform(x, zero)
    cols = []
    for k in range(m):
        e = zero.clone()
        e[:, k] = 1.0
        cols.append(transform(x, e) - B)
    return torch.stack([*cols, B], 2)


def _nested(f: torch.Tensor, t: torch.Tensor, axes: list, keep: bool) -> list:
    """[f, d f / dt[:, axes[0]], ..., d^k f / dt[:, axes[0]] ... dt[:, axes[-1]]] per point
    (f (N, 1) depends on row n of t only, as pointwise transforms do), by nested reverse-mode
    products of the transform; detached unless ``keep``."""
    levels = [f]
    for a in axes:
        if not f.requires_grad:
            f = torch.zeros_like(f)
        else:
            (g,) = torch.autograd.grad(f.sum(), t, create_graph=True, allow_unused=True)
            f = torch.zeros_like(f) if g is None else g[:, a : a + 1]
        levels.append(f)
    return levels if keep else [v.detach() for v in levels]


def transformed(
    x: torch.Tensor, u: torch.Tensor, transform: Transform, cache: AffineCache | None = None
) -> torch.Tensor:
    """v = transform(x, u) (N, m_out), tagged so that its derivatives are served by
    :class:`TransformedField`; u must be a layer output at x.  With a ``cache``, a transform
    that is affine in u is served from cached coefficients (see :class:`Affine`)."""
    v = transform(x, u)
    if not torch.is_tensor(v) or v.dim() != 2 or v.shape[0] != x.shape[0]:
        raise ValueError(
            f"the output transform must return (N, m) = ({x.shape[0]}, m), got "
            f"{tuple(getattr(v, 'shape', ()))}"
        )
    if v is u:  # the identity: keep u's own tag intact
        v = v.view_as(v)
    affine = None if cache is None else cache.get(x, transform, u.shape[1])
    field = TransformedField(x, u, transform, v.shape[1], affine)
    return _tag(v, field, None, (0,) * x.shape[1])
