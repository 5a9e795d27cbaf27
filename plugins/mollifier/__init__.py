"""Mollifier Layers: derivatives of u = g * eta by convolution with kernel derivatives."""

from .field import MollifiedField, UnservableDerivative, differentiate, field_of, is_field
from .grid import grid_derivative, valid_mask
from .kernels import BumpKernel, GaussianKernel, Kernel, PolynomialKernel, make_kernel
from .layer import DEFAULTS, MODES, MollifierLayer
from .precision import PRECISIONS, PrecisionWarning
from .stencil import Stencil, weights_1d

__all__ = [
    "DEFAULTS",
    "MODES",
    "PRECISIONS",
    "BumpKernel",
    "GaussianKernel",
    "Kernel",
    "MollifiedField",
    "MollifierLayer",
    "PolynomialKernel",
    "PrecisionWarning",
    "Stencil",
    "UnservableDerivative",
    "differentiate",
    "field_of",
    "grid_derivative",
    "is_field",
    "make_kernel",
    "valid_mask",
    "weights_1d",
]
