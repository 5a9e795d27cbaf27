"""Variable projection: a parameter field that enters the residual linearly, solved for.

For a residual r(x; p) that is affine in the parameter field p(x) = B(x) c (B: n basis
functions), the best coefficients for the current network are a linear least-squares
problem, min_c |a + M c|^2 over the residual rows (a = r(x; 0), column i of M = the
response to B_i).  Solving it at every evaluation instead of learning c by gradient removes
the parameter from the optimiser altogether (Golub & Pereyra's variable projection): p can
no longer absorb the misfit of a field that is not fitted yet, since it is recomputed from
the field at every step.

The residual is evaluated once for all columns: ``parameter(x)`` returns the design
(N, n + 2) = [0 | B_1 .. B_n | B c_probe]; elementwise residual code broadcasts it to
(N, n + 2) columns, and ``eliminate`` checks on the last column (a random combination) that
the residual really is affine in p before it trusts the solve.
"""

from __future__ import annotations

import torch

from .bases import Basis

__all__ = ["LinearParameter", "NotLinearError"]


class NotLinearError(ValueError):
    """The residual is not affine in the parameter: elimination would give a wrong answer."""


class LinearParameter:
    """A parameter field p(x) = B(x) c whose coefficients are solved, not learned.

    Use inside the residual: ``p = param(x)`` (or ``param.grad(x, axis)`` for dp/dx_axis)
    gives the design columns (N, n + 2) in place of the (N, 1) field; compute the residual
    with them as with p, elementwise; return ``param.eliminate(residual)``, the (N, 1)
    residual at the least-squares coefficients (differentiable in the network's outputs).

    Args:
        basis: the linear basis of p.
        ridge: Tikhonov weight relative to each column's squared norm (keeps the solve
            defined where the data do not determine some coefficient); default sqrt(eps) of
            the residual's dtype.
        offset: a known part p_0 added to the basis expansion (p = p_0 + B c).

    Attributes:
        coef: the coefficients of the last solve (n,), detached; None before the first.
    """

    def __init__(self, basis: Basis, ridge: float | None = None, offset: float = 0.0):
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a steadygrad.inverse basis, got {type(basis)!r}")
        if ridge is not None and not ridge >= 0:
            raise ValueError(f"ridge must be a non-negative number, got {ridge!r}")
        self.basis, self.ridge, self.offset = basis, ridge, float(offset)
        self.coef: torch.Tensor | None = None
        self._probe: torch.Tensor | None = None

    def _probe_coef(self, x: torch.Tensor) -> torch.Tensor:
        if self._probe is None or self._probe.dtype != x.dtype or self._probe.device != x.device:
            g = torch.Generator().manual_seed(1234)
            probe = torch.randn(self.basis.size, generator=g, dtype=torch.float64)
            self._probe = probe.to(x.dtype).to(x.device)
        return self._probe

    def _design(self, x: torch.Tensor, derivative: int | None, offset: float) -> torch.Tensor:
        B = self.basis(x.detach(), derivative)
        zero = torch.full_like(B[:, :1], offset)
        return torch.cat([zero, B + offset, B @ self._probe_coef(x)[:, None] + offset], 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Design columns of p at x (N, d): (N, n + 2), column 0 = p_0 (the c = 0 field)."""
        return self._design(x, None, self.offset)

    def grad(self, x: torch.Tensor, axis: int) -> torch.Tensor:
        """Design columns of dp/dx_axis (N, n + 2), column 0 = 0."""
        return self._design(x, axis, 0.0)

    def eliminate(self, residual: torch.Tensor, skip: int = 0) -> torch.Tensor:
        """The residual (N, 1) at the coefficients minimising its squared norm over rows
        ``skip:`` (earlier rows, e.g. boundary points whose residual no loss uses, are
        evaluated but do not enter the solve).

        Args:
            residual: (N, n + 2), the residual computed from the design columns.

        Raises:
            NotLinearError: the residual is not affine in p (the probe column disagrees).
        """
        n = self.basis.size
        if residual.dim() != 2 or residual.shape[1] != n + 2:
            raise ValueError(
                f"eliminate expects the residual computed from the design columns, shape "
                f"(N, {n + 2}); got {tuple(residual.shape)}: build every term that contains "
                f"the parameter from param(x) / param.grad(x, axis), elementwise"
            )
        a, M, probe = residual[:, :1], residual[:, 1 : n + 1] - residual[:, :1], residual[:, -1:]
        self._check_affine(a, M, probe - a, self._probe_coef(residual))
        c = self._solve(a[skip:], M[skip:])
        self.coef = c.detach()[:, 0]
        return a + M @ c

    def _check_affine(self, a, M, probe, coef) -> None:
        scale = a.detach().abs().max() + (M.detach() @ coef[:, None]).abs().max()
        gap = float((M.detach() @ coef[:, None] - probe.detach()).abs().max())
        tol = 1e3 * torch.finfo(a.dtype).eps * float(scale) * (1 + self.basis.size) ** 0.5
        if not gap <= tol:
            raise NotLinearError(
                f"the residual is not affine in the parameter (a combination of basis "
                f"columns gives a residual {gap:.3g} away from the combination of their "
                f"residuals, tolerance {tol:.3g}): linear elimination needs p to enter "
                f"linearly (p, dp/dx times expressions of the field, no p^2, exp(p), ...); "
                f"learn such a parameter as a network output or a trainable variable instead"
            )

    def _solve(self, a: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """argmin_c |a + M c|^2 + ridge |S c|^2 (S: column norms) by QR of the scaled,
        ridge-augmented matrix; differentiable in a and M."""
        norms = M.detach().norm(dim=0).clamp_min(torch.finfo(M.dtype).tiny)
        Ms = M / norms
        ridge = self.ridge if self.ridge is not None else torch.finfo(M.dtype).eps ** 0.5
        eye = ridge**0.5 * torch.eye(M.shape[1], dtype=M.dtype, device=M.device)
        Q, R = torch.linalg.qr(torch.cat([Ms, eye], 0))
        rhs = -(Q[: M.shape[0]].T @ a)
        return torch.linalg.solve_triangular(R, rhs, upper=True) / norms[:, None]

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """p(x) at the last solve's coefficients: (N, 1)."""
        if self.coef is None:
            raise RuntimeError("no coefficients yet: evaluate the residual (train) first")
        return self.offset + self.basis(x) @ self.coef.to(x.dtype)[:, None]
