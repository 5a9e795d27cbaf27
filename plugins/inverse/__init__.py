"""Inverse problems: parameters that enter a residual linearly, eliminated by least squares.

* :mod:`steadygrad.inverse.bases` - linear bases for a parameter field (Fourier, Legendre),
  with exact derivatives.
* :mod:`steadygrad.inverse.elimination` - :class:`LinearParameter`: p(x) = B(x) c, with c
  solved at every residual evaluation (variable projection) instead of learned by gradient.
* :mod:`steadygrad.inverse.limit` - :func:`information_limit`: how much of a parameter the
  data hold (the least-squares estimate with an exact differentiable forward model).
* :mod:`steadygrad.inverse.widths` - :func:`balance_width`: a smoothing width chosen from the
  data and their noise level (bias against noise, Goldenshluger-Lepski).
"""

from .bases import Basis, FourierBasis, LegendreBasis
from .elimination import LinearParameter, NotLinearError
from .limit import LBFGS, GaussNewton, LimitFit, information_limit, linearised_covariance
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
    "information_limit",
    "linearised_covariance",
]
