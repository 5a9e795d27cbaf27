"""Inverse problems: parameters that enter a residual linearly, eliminated by least squares.

* :mod:`steadygrad.inverse.bases` - linear bases for a parameter field (Fourier, Legendre),
  with exact derivatives.
* :mod:`steadygrad.inverse.elimination` - :class:`LinearParameter`: p(x) = B(x) c, with c
  solved at every residual evaluation (variable projection) instead of learned by gradient.
"""

from .bases import Basis, FourierBasis, LegendreBasis
from .elimination import LinearParameter, NotLinearError

__all__ = ["Basis", "FourierBasis", "LegendreBasis", "LinearParameter", "NotLinearError"]
