"""One-dimensional mollifier profiles phi(s) on the reference support s in [-1, 1].

A kernel of half-width ``eps`` (physical units) is eta(y) = phi(y / eps) / (c * eps) with
c = int phi ds, so that int eta dy = 1.  Multi-dimensional kernels are tensor products of
these profiles (see :mod:`steadygrad.mollifier.stencil`).

Every profile evaluates its derivatives of any supported order exactly (closed-form
polynomial or Hermite/rational recursions in float64), and knows its continuous moments,
which the stencil uses to make the discrete operator quadrature-consistent.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import Polynomial, hermite_e

from .. import registry

__all__ = ["BumpKernel", "GaussianKernel", "Kernel", "PolynomialKernel", "make_kernel"]

# Gauss-Legendre rule used for the moments: the profiles are smooth inside [-1, 1], so a
# rule of this size integrates them to float64 round-off (checked against scipy.quad in tests).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(400)


class Kernel:
    """Base class of a 1D profile; subclasses implement :meth:`_derivative`.

    Attributes:
        name: registry name of the shape.
        max_order: highest derivative order for which D^n phi is a bounded, continuous
            function on the whole line (the kernel's usable smoothness).
    """

    name: str = "kernel"
    max_order: int = 0

    def _derivative(self, s: np.ndarray, order: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def key(self) -> tuple:
        """Hashable identity used to cache stencils built from this kernel."""
        return (type(self).__name__,)

    def check_order(self, order: int) -> None:
        """Raise ``ValueError`` if ``order`` exceeds the kernel's smoothness."""
        if order < 0 or int(order) != order:
            raise ValueError(f"derivative order must be a non-negative integer, got {order!r}")
        if order > self.max_order:
            raise ValueError(
                f"derivative order {order} exceeds the smoothness of the {self!r} kernel "
                f"(its derivatives are continuous up to order {self.max_order}); "
                "use a smoother kernel, e.g. kernel='bump' or a polynomial with larger q"
            )

    def derivative(self, s: np.ndarray, order: int = 0) -> np.ndarray:
        """D^order phi(s) in float64; zero outside [-1, 1] (unnormalised profile)."""
        self.check_order(order)
        s = np.asarray(s, dtype=np.float64)
        out = np.zeros_like(s)
        inside = np.abs(s) < 1.0
        out[inside] = self._derivative(s[inside], order)
        return out

    @property
    def normalisation(self) -> float:
        """c = int phi(s) ds over [-1, 1]."""
        return _moments(self)[0]

    def moment(self, j: int) -> float:
        """M_j = int s^j phi(s) ds / c (normalised moments; odd ones vanish)."""
        m = _moments(self)
        return m[j] / m[0]

    def derivative_moment(self, order: int, j: int) -> float:
        """int s^j D^order eta_ref(s) ds for the normalised reference kernel.

        This is the moment of the *distributional* derivative, obtained by integrating by
        parts: (-1)^n j!/(j-n)! M_{j-n} for j >= n and 0 otherwise.  It makes the discrete
        operator consistent with the derivative of the mollified field u = g * eta.
        """
        if j < order:
            return 0.0
        return (
            (-1) ** order * math.factorial(j) / math.factorial(j - order) * self.moment(j - order)
        )

    def transfer(self, k: np.ndarray) -> np.ndarray:
        """Fourier transform eta_hat(k) = int cos(k s) phi(s) ds / c of the reference kernel."""
        k = np.asarray(k, dtype=np.float64)
        phi = self._derivative(_GL_NODES, 0)
        return np.cos(np.multiply.outer(k, _GL_NODES)) @ (_GL_WEIGHTS * phi) / self.normalisation

    def __repr__(self) -> str:
        return self.name


def _moments(kernel: Kernel) -> np.ndarray:
    """Unnormalised moments int s^j phi ds, j = 0..15, computed once per kernel instance."""
    if getattr(kernel, "_moments", None) is None:
        phi = kernel._derivative(_GL_NODES, 0)
        kernel._moments = np.array([np.sum(_GL_WEIGHTS * phi * _GL_NODES**j) for j in range(16)])
    return kernel._moments


class PolynomialKernel(Kernel):
    """Compact polynomial (1 - s^2)^q; D^n phi is continuous for n <= q - 1.

    Evaluated as (1 - s)^q (1 + s)^q with Leibniz's rule,
    D^n phi = sum_k C(n, k) D^k (1 - s)^q D^(n-k) (1 + s)^q, which stays accurate for large q
    (the power-basis expansion of (1 - s^2)^q loses digits from q ~ 60 on).
    """

    name = "polynomial"

    def __init__(self, q: int = 8):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or int(q) != q or q < 2:
            raise ValueError(f"polynomial kernel exponent q must be an integer >= 2, got {q!r}")
        self.q = int(q)
        self.max_order = self.q - 1

    def key(self) -> tuple:
        return ("polynomial", self.q)

    def _derivative(self, s, order):
        q = self.q

        def falling(k: int) -> float:  # q (q - 1) ... (q - k + 1)
            return math.prod(range(q - k + 1, q + 1))

        out = np.zeros_like(s)
        for k in range(order + 1):
            left = (-1) ** k * falling(k) * (1 - s) ** (q - k)
            right = falling(order - k) * (1 + s) ** (q - order + k)
            out += math.comb(order, k) * left * right
        return out

    def __repr__(self) -> str:
        return f"polynomial(q={self.q})"


class BumpKernel(Kernel):
    """Classic C-infinity bump exp(-1 / (1 - s^2)).

    D^n phi = P_n(s) / (1 - s^2)^(2n) * phi with P_{n+1} = P_n'(1-s^2)^2 + 4 n s (1-s^2) P_n
    - 2 s P_n, P_0 = 1 (differentiate the product and collect powers of 1 - s^2).
    """

    name = "bump"
    max_order = 8

    def __init__(self):
        one_minus = Polynomial([1.0, 0.0, -1.0])
        s = Polynomial([0.0, 1.0])
        self._p = [Polynomial([1.0])]
        for n in range(self.max_order):
            p = self._p[-1]
            self._p.append(p.deriv() * one_minus**2 + 4 * n * s * one_minus * p - 2 * s * p)

    def key(self) -> tuple:
        return ("bump",)

    def _derivative(self, s, order):
        one_minus = 1.0 - s * s
        with np.errstate(under="ignore", over="ignore", divide="ignore", invalid="ignore"):
            phi = np.exp(-1.0 / one_minus)
            val = self._p[order](s) * phi / one_minus ** (2 * order)
        return np.where(phi > 0.0, val, 0.0)


class GaussianKernel(Kernel):
    """Gaussian exp(-s^2 / (2 sigma^2)) truncated at |s| = 1.

    With the default sigma = 1/6 the truncation jump is exp(-18) ~ 1.5e-8 of the peak; the
    stencil's moment conditions use the truncated kernel's own moments, so the discrete
    operator stays consistent with the mollified field.  Derivatives are
    (-1/sigma)^n He_n(s/sigma) phi(s) (probabilists' Hermite polynomials).
    """

    name = "gaussian"
    max_order = 8

    def __init__(self, sigma: float = 1.0 / 6.0):
        if not 0.05 <= sigma <= 0.5:
            raise ValueError(
                f"gaussian sigma (relative to the half-width) must lie in [0.05, 0.5], got "
                f"{sigma!r}"
            )
        self.sigma = float(sigma)

    def key(self) -> tuple:
        return ("gaussian", self.sigma)

    def _derivative(self, s, order):
        z = s / self.sigma
        coef = np.zeros(order + 1)
        coef[order] = 1.0
        return (-1.0 / self.sigma) ** order * hermite_e.hermeval(z, coef) * np.exp(-0.5 * z * z)

    def __repr__(self) -> str:
        return f"gaussian(sigma={self.sigma:g})"


def make_kernel(spec: Kernel | str, **options) -> Kernel:
    """A kernel from a name ('bump'), a spec with options ('polynomial:q=6'), or an instance.

    Names are looked up among the ``steadygrad.kernels`` entry points; what an entry point
    loads must be a :class:`Kernel` subclass.
    """
    if isinstance(spec, Kernel):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"kernel must be a name or a Kernel instance, got {type(spec).__name__}")
    name, _, args = spec.partition(":")
    for item in filter(None, args.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key.strip()] = (
                float(value) if "." in value or "e" in value.lower() else int(value)
            )
        except ValueError:
            raise ValueError(f"kernel option {item!r} in {spec!r} is not key=number") from None
    cls = registry.load("steadygrad.kernels", name.strip(), kind=Kernel)
    try:
        return cls(**options)
    except TypeError as err:
        raise TypeError(f"bad options for kernel {name.strip()!r}: {err}") from None
