"""Quadrature-consistent discrete mollifier weights.

For a kernel of half-width eps sampled with spacing h at offsets y_k = k h, |k| <= K, the
derivative of order n of the mollified field is approximated by

    D^n u(x) = sum_k w^n_k g(x - y_k),     w^n_k ~ h D^n eta(y_k).

Naive sampling is inaccurate when the kernel is resolved by few points.  We therefore
correct the sampled weights by the smallest (least-squares) perturbation that makes the
discrete moments exact,

    sum_k w^n_k y_k^j = int y^j D^n eta(y) dy,   j = 0 .. n + 2   (n + 1 if the stencil is short),

so the operator is exact for every polynomial of degree <= n + 1 (and n + 2 when possible):
it returns exactly (p * eta)^(n), which for such polynomials equals p^(n).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from .kernels import Kernel

__all__ = ["MIN_POINTS", "Stencil", "spectral_error", "weights_1d"]

#: smallest number of grid spacings per half-width accepted (the kernel is unresolvable below).
MIN_POINTS = 2


def _half_length(width: float, spacing: float) -> int:
    return int(math.floor(width / spacing * (1.0 + 1e-9)))


def check_resolution(width: float, spacing: float, axis: int | None = None) -> int:
    """Return K = floor(width / spacing), raising if the kernel spans < 2 spacings."""
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"mollifier width must be a positive number, got {width!r}")
    if not (math.isfinite(spacing) and spacing > 0):
        raise ValueError(f"grid spacing must be a positive number, got {spacing!r}")
    K = _half_length(width, spacing)
    if K < MIN_POINTS:
        where = "" if axis is None else f" on axis {axis}"
        raise ValueError(
            f"mollifier width {width:g}{where} is below {MIN_POINTS} grid spacings "
            f"(spacing {spacing:g}): the kernel cannot be resolved. Use width >= "
            f"{MIN_POINTS * spacing:g} or a finer grid/stencil."
        )
    return K


@lru_cache(maxsize=512)
def _weights_cached(
    kernel_key: tuple, kernel: Kernel, order: int, width: float, spacing: float
) -> np.ndarray:
    K = check_resolution(width, spacing)
    r = spacing / width
    s = np.arange(-K, K + 1) * r  # offsets in kernel units
    c = kernel.normalisation
    w = r * kernel.derivative(s, order) / c  # naive samples (reference units)
    last_error = None
    for top in (order + 2, order + 1):
        V = s[None, :] ** np.arange(top + 1)[:, None]
        target = np.array([kernel.derivative_moment(order, j) for j in range(top + 1)])
        delta, *_ = np.linalg.lstsq(V, target - V @ w, rcond=None)
        corrected = w + delta
        resid = np.abs(V @ corrected - target)
        # relative to the terms' own size: high orders (q - 1, bump/gaussian 8) sum weights of
        # 1e6 and more to moments of order 1, where float64 cannot do better than this
        scale = np.maximum(np.maximum(1.0, np.abs(target)), np.abs(V) @ np.abs(corrected))
        if np.all(resid <= 1e-11 * scale):
            _check_spectrum(kernel, order, corrected, r, 2 * K + 1)
            # back to physical units: D^n eta(y) = D^n eta_ref(y/eps) / eps^(n+1), dy = h.
            return corrected / width**order
        last_error = float(np.max(resid / scale))
    raise ValueError(
        f"a stencil of {2 * K + 1} points cannot represent derivative order {order} of the "
        f"{kernel!r} kernel consistently (moment residual {last_error:.2e}); increase the "
        "number of points per half-width"
    )


#: largest relative error at the kernel's own scale (k = 1 / eps) a stencil may have: beyond
#: it the weights do not represent the derivative (the bump's 8th at 16+ points: 0.17-0.67)
MAX_SPECTRAL_ERROR = 0.05


def spectral_error(kernel: Kernel, order: int, weights: np.ndarray, r: float, kw: float) -> float:
    """Relative error of reference-unit weights (spacing ``r`` half-widths) on exp(i k x),
    k = ``kw`` / half-width: |sum_j w_j exp(-i k j h) - (i k)^n eta_hat(k)| / |k^n eta_hat(k)|."""
    j = np.arange(len(weights)) - len(weights) // 2
    discrete = np.sum(weights * np.exp(-1j * kw * r * j))
    exact = (1j * kw) ** order * float(kernel.transfer(kw))
    return float(abs(discrete - exact) / abs(exact))


def _check_spectrum(kernel: Kernel, order: int, weights: np.ndarray, r: float, n: int) -> None:
    error = spectral_error(kernel, order, weights, r, 1.0)
    if error > MAX_SPECTRAL_ERROR:
        raise ValueError(
            f"a stencil of {n} points cannot represent derivative order {order} of the "
            f"{kernel!r} kernel: its relative error at the kernel's own scale is {error:.2g} "
            "(the sampled derivative is too rough for this spacing); use another number of "
            "points per half-width (points=), or a polynomial kernel"
        )


def weights_1d(kernel: Kernel, order: int, width: float, spacing: float) -> np.ndarray:
    """Weights w^n_k (float64, shape (2K+1,), units 1/length^order) for offsets k*spacing.

    Args:
        kernel: profile of the mollifier.
        order: derivative order n (checked against the kernel's smoothness).
        width: half-width eps of the support (physical units).
        spacing: quadrature spacing h (physical units); width must be >= 2 h.
    """
    kernel.check_order(order)
    return _weights_cached(kernel.key(), kernel, int(order), float(width), float(spacing)).copy()


class Stencil:
    """Separable tensor-product stencil over a subset of the input axes.

    Args:
        kernel: 1D profile used on every mollified axis.
        widths: half-width per mollified axis (physical units).
        spacings: quadrature spacing per mollified axis.
        axes: indices of the mollified input axes (length matches widths).
        dim: total number of input axes.
    """

    def __init__(
        self,
        kernel: Kernel,
        widths: Sequence[float],
        spacings: Sequence[float],
        axes: Sequence[int],
        dim: int,
    ):
        if not (len(widths) == len(spacings) == len(axes)):
            raise ValueError("widths, spacings and axes must have the same length")
        self.kernel = kernel
        self.widths = tuple(float(w) for w in widths)
        self.spacings = tuple(float(h) for h in spacings)
        self.axes = tuple(int(a) for a in axes)
        self.dim = int(dim)
        self.half = tuple(
            check_resolution(w, h, a) for w, h, a in zip(self.widths, self.spacings, self.axes)
        )
        self._offsets: dict = {}
        self._weights: dict = {}

    def weights_axis(self, i: int, order: int) -> np.ndarray:
        """1D weights on the i-th mollified axis (float64)."""
        return weights_1d(self.kernel, order, self.widths[i], self.spacings[i])

    def weights_axis_tensor(
        self, i: int, order: int, dtype: torch.dtype, device, flip: bool = False
    ) -> torch.Tensor:
        """:meth:`weights_axis` as a tensor (reversed if ``flip``: the form a cross-correlation
        needs), cached per dtype/device so that no host-to-device copy happens per call."""
        key = ("axis", i, int(order), dtype, str(device), flip)
        if key not in self._weights:
            w = self.weights_axis(i, order)
            self._weights[key] = torch.as_tensor(
                w[::-1].copy() if flip else w, dtype=dtype, device=device
            )
        return self._weights[key]

    def band_matrix(
        self, i: int, order: int, length: int, dtype: torch.dtype, device
    ) -> torch.Tensor:
        """(length - 2K, length) matrix B with (B v)_j = sum_k w_k v[j + K - k]: the unpadded
        convolution along the i-th mollified axis as a matrix product (cached)."""
        key = ("band", i, int(order), int(length), dtype, str(device))
        if key not in self._weights:
            K = self.half[i]
            if length < 2 * K + 1:
                raise ValueError(
                    f"axis of {length} points is shorter than the stencil's {2 * K + 1}"
                )
            flipped = self.weights_axis(i, order)[::-1]
            band = np.zeros((length - 2 * K, length))
            rows = np.arange(length - 2 * K)
            for t, w in enumerate(flipped):
                band[rows, rows + t] = w
            self._weights[key] = torch.as_tensor(band, dtype=dtype, device=device)
        return self._weights[key]

    def offsets(self, dtype: torch.dtype, device) -> torch.Tensor:
        """Offsets y_s, shape (S, dim), S = prod(2K_i + 1); zero on non-mollified axes."""
        key = (dtype, str(device))
        if key not in self._offsets:
            grids = [np.arange(-K, K + 1) * h for K, h in zip(self.half, self.spacings)]
            pts = np.zeros((int(np.prod([len(g) for g in grids])), self.dim))
            for col, combo in zip(self.axes, zip(*itertools.product(*grids))):
                pts[:, col] = combo
            self._offsets[key] = torch.as_tensor(pts, dtype=dtype, device=device)
        return self._offsets[key]

    def weights(self, orders: Sequence[int], dtype: torch.dtype, device) -> torch.Tensor:
        """Flattened tensor-product weights for per-axis orders, shape (S,), in offsets order."""
        key = (tuple(orders), dtype, str(device))
        if key not in self._weights:
            w = np.ones(1)
            for i, n in enumerate(orders):
                w = np.multiply.outer(w, self.weights_axis(i, n)).reshape(-1)
            self._weights[key] = torch.as_tensor(w, dtype=dtype, device=device)
        return self._weights[key]
