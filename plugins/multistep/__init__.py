"""Linear multistep ODE solvers with adjoint-consistent gradients."""

from .closures import HiddenParameterError
from .stability import StabilityWarning

__all__ = ["HiddenParameterError", "StabilityWarning"]
