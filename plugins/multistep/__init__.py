"""Linear multistep ODE solvers with adjoint-consistent gradients."""
