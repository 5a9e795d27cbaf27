"""Linear multistep ODE solvers with adjoint-consistent gradients."""

from .stability import StabilityWarning

__all__ = ["StabilityWarning"]
