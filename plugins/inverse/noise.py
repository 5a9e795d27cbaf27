"""Nonlinear terms of noisy data without the noise's bias (errors in variables).

A residual that contains a polynomial p of a measured field y = x + e, with Gaussian noise e
of known variance v, is biased even when every linear term is not: E[p(x + e)] differs from
p(x) by terms in v (for x^3: 3 v x).  With mollified data the bias does not vanish; it grows as
the kernel narrows, and it is systematic, so no averaging over pixels or frames removes it.

The polynomial q with E[q(x + e)] = p(x) for every x is the heat flow run backwards,
q = exp(-v/2 d^2/dx^2) p = sum_k (-v/2)^k / k! p^(2k) (for monomials: scaled Hermite
polynomials, x^n -> v^(n/2) He_n(x / sqrt(v))).  Evaluated at the data, q(y) is an unbiased
estimate of p(x).  The variance v is that of the noise *as it enters the polynomial*: after a
linear smoothing of white noise, :func:`filtered_variance`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["filtered_variance", "unbiased_polynomial"]


def unbiased_polynomial(coefficients, variance: float) -> np.ndarray:
    """Coefficients of q with E[q(x + e)] = p(x), e ~ N(0, ``variance``).

    Args:
        coefficients: p's coefficients, lowest degree first (numpy.polynomial's order).
        variance: the noise variance (squared units of x); 0 returns p unchanged.

    Returns:
        q's coefficients, lowest degree first, the same length as p's.
    """
    p = np.asarray(coefficients, dtype=float)
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)):
        raise ValueError(f"coefficients must be a non-empty 1-D finite sequence, got {p!r}")
    if not (math.isfinite(variance) and variance >= 0):
        raise ValueError(f"variance must be a finite number >= 0, got {variance!r}")
    q, term, k = p.copy(), p.copy(), 0
    while term.size > 2:
        k += 1
        term = np.polynomial.polynomial.polyder(term, 2) * (-variance / 2) / k
        q[: term.size] += term
    return q


def filtered_variance(transfer: np.ndarray, variance: float) -> float:
    """The pointwise variance of white noise (``variance`` per sample) after a periodic linear
    filter with frequency response ``transfer`` (one value per FFT frequency of the grid, any
    shape): variance x mean |transfer|^2 (Parseval).  An all-ones transfer (no filter) gives
    ``variance`` back."""
    h = np.asarray(transfer)
    if h.size == 0 or not np.all(np.isfinite(h)):
        raise ValueError("transfer must be a non-empty finite array (one value per frequency)")
    if not (math.isfinite(variance) and variance >= 0):
        raise ValueError(f"variance must be a finite number >= 0, got {variance!r}")
    return float(variance * np.mean(np.abs(h) ** 2))
