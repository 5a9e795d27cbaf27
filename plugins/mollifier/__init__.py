"""Mollifier Layers: derivatives of u = g * eta by convolution with kernel derivatives."""
from .grid import grid_derivative, valid_mask
from .kernels import BumpKernel, GaussianKernel, Kernel, PolynomialKernel
from .layer import MollifiedField, MollifierLayer, UnservableDerivative, differentiate, field_of
from .stencil import Stencil, weights_1d

__all__ = [
    "BumpKernel", "GaussianKernel", "Kernel", "PolynomialKernel", "MollifiedField", "MollifierLayer",
    "UnservableDerivative", "Stencil", "differentiate", "field_of", "grid_derivative", "valid_mask", "weights_1d",
]
