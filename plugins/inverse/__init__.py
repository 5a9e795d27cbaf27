"""Inverse problems: parameters that enter a residual linearly, eliminated by least squares.

* :mod:`steadygrad.inverse.bases` - linear bases for a parameter field (Fourier, Legendre),
  with exact derivatives.
* :mod:`steadygrad.inverse.elimination` - :class:`LinearParameter`: p(x) = B(x) c, with c
  solved at every residual evaluation (variable projection) instead of learned by gradient.
* :mod:`steadygrad.inverse.limit` - :func:`information_limit`: how much of a parameter the
  data hold (the least-squares estimate with an exact differentiable forward model).
* :mod:`steadygrad.inverse.noise` - :func:`unbiased_polynomial`: nonlinear terms of noisy
  data without the noise's bias (errors in variables), and :func:`filtered_variance`.
* :mod:`steadygrad.inverse.widths` - :func:`balance_width`: a smoothing width chosen from the
  data and their noise level (bias against noise, Goldenshluger-Lepski).
"""

from .bases import Basis, FourierBasis, LegendreBasis
from .elimination import LinearParameter, NotLinearError
from .limit import LBFGS, GaussNewton, LimitFit, information_limit, linearised_covariance
from .noise import filtered_variance, unbiased_polynomial
from .widths import WidthBalance, balance_width

__all__ = [
    "Basis",
    "FourierBasis",
    "GaussNewton",
    "LBFGS",
    "LegendreBasis",
    "LimitFit",
    "LinearParameter",
    "NotLinearError",
    "WidthBalance",
    "balance_width",
    "filtered_variance",
    "information_limit",
    "linearised_covariance",
    "unbiased_polynomial",
]
