"""Stencil density from accuracy: how many points per half-width a derivative order needs.

The stencil (``stencil.py``) approximates D^n u = D^n eta * g by sum_j w^n_j g(x - j h),
h = eps / p for p points per half-width eps.  For a Fourier mode g = exp(i k x) the relative
error of that sum is known exactly from the weights:

    e_n(p, k) = |sum_j w^n_j exp(-i k j h) - (i k)^n eta_hat(k)| / |k^n eta_hat(k)|.

Lattice mode then interpolates the convolved lattice values (degree 5, ``interpolate.py``),
which adds max_s |sum_j l_j(s) exp(i k h s_j) - exp(i k h s)| over the positions s that
occur (the one-sided stencils at the lattice's ends included).  Both errors fall fast with
p (like (k h)^(n+3) and (k h)^6) and grow with k.

The reference wavenumber is k = REFERENCE / eps: a wavelength of 2 pi half-widths, the finest
scale the kernel passes almost unattenuated (eta_hat = 0.97 for the default polynomial kernel).
Coarser features, which is what a PINN's solution is at a width of a few percent of the domain,
have smaller errors.  :func:`points_for` picks the smallest p whose error at that wavenumber is
within the tolerance for every order requested: 2 for orders <= 2, 3 for orders 3-4 at the
default rtol 1e-3 (the table is in docs/mollifier.md, "Stencil density").
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import torch

from .background import PAD
from .interpolate import DEGREE, NODES, axis_weights
from .kernels import Kernel
from .stencil import MIN_POINTS, spectral_error, weights_1d

__all__ = [
    "INITIAL_ORDER",
    "MAX_POINTS",
    "REFERENCE",
    "interpolation_error",
    "points_for",
    "quadrature_error",
]

#: reference wavenumber times the half-width (see the module docstring)
REFERENCE = 1.0
#: the largest density considered (beyond it the error is rounding, not quadrature)
MAX_POINTS = 16
#: the derivative order a density is chosen for before any derivative was requested
INITIAL_ORDER = 4


@lru_cache(maxsize=256)
def _quadrature_error(kernel: Kernel, key: tuple, order: int, points: int, kw: float) -> float:
    w = weights_1d(kernel, order, 1.0, 1.0 / points)  # half-width 1: reference units
    return spectral_error(kernel, order, w, 1.0 / points, kw)


def quadrature_error(kernel: Kernel, order: int, points: int, kw: float = REFERENCE) -> float:
    """Relative error e_n(p, k) of the stencil for derivative ``order`` with ``points`` per
    half-width on the mode exp(i k x), k = ``kw`` / half-width (dimensionless)."""
    return _quadrature_error(kernel, kernel.key(), int(order), int(points), float(kw))


@lru_cache(maxsize=64)
def interpolation_error(points: int, kw: float = REFERENCE) -> float:
    """Relative error of lattice mode's degree-5 interpolation of the mode exp(i k x) on a
    lattice of spacing half-width / ``points``, at the worst position that occurs: the middle
    cell inside, up to DEGREE / 2 - PAD spacings from the nodes' centre at the lattice's ends."""
    nodes = np.arange(NODES) - DEGREE / 2
    reach = DEGREE / 2 - PAD
    s = np.linspace(-reach, reach, 301)
    basis = axis_weights(torch.as_tensor(s), 0).numpy()  # lattice mode's own weights
    theta = kw / points  # k h
    return float(np.abs(basis @ np.exp(1j * theta * nodes) - np.exp(1j * theta * s)).max())


def total_error(kernel: Kernel, order: int, points: int, interpolated: bool) -> float:
    """Quadrature error, plus the interpolation error when ``interpolated`` (lattice mode)."""
    extra = interpolation_error(points) if interpolated else 0.0
    return quadrature_error(kernel, order, points) + extra


def points_for(kernel: Kernel, orders: Iterable[int], rtol: float, interpolated: bool) -> int:
    """The smallest points per half-width (>= 2) whose error at the reference wavenumber is at
    most ``rtol`` for every derivative order in ``orders`` (per mollified axis).

    Raises:
        ValueError: no density up to MAX_POINTS meets rtol (the message names the best one).
    """
    orders = sorted({int(n) for n in orders} | {0})
    best = (float("inf"), MIN_POINTS)
    for p in range(MIN_POINTS, MAX_POINTS + 1):
        worst = max(total_error(kernel, n, p, interpolated) for n in orders)
        if worst <= rtol:
            return p
        best = min(best, (worst, p))
    raise ValueError(
        f"no stencil density meets rtol={rtol:g} for derivative orders {orders} of the "
        f"{kernel!r} kernel: the best, {best[1]} points per half-width, has a relative error "
        f"of {best[0]:.2g} at the kernel's own scale. Use rtol >= {best[0]:.2g}, or give "
        "points= explicitly"
    )
