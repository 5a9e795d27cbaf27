"""Reference solutions from high-accuracy numerical solvers (scipy), for data and checks."""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.integrate import solve_bvp

__all__ = ["diffusion_reaction_bvp", "default_rate"]


def default_rate(x: np.ndarray) -> np.ndarray:
    """k(x) = 0.1 + exp(-0.5 (x - 0.5)^2 / 0.15^2), the space-dependent reaction rate."""
    return 0.1 + np.exp(-0.5 * (x - 0.5) ** 2 / 0.15**2)


def diffusion_reaction_bvp(k: Callable[[np.ndarray], np.ndarray] = default_rate, lam: float = 0.01,
                           f: Callable[[np.ndarray], np.ndarray] = lambda x: -np.ones_like(x),
                           boundary: tuple[float, float] = (1.0, 1.0),
                           tol: float = 1e-10) -> Callable[[np.ndarray], np.ndarray]:
    """Solve lam u'' - k(x) u = f(x) on [0, 1], u(0), u(1) = ``boundary``, with ``solve_bvp``.

    The defaults (f = -1, u = 1 at both ends) keep u in [1, 2.1], so k = (lam u'' - f) / u is
    identifiable everywhere while lam u'' (-0.9 .. 0.35) makes it derivative-sensitive.
    Returns a callable x -> u(x) (the collocation solution's C1 interpolant), accurate to ~tol.
    """
    def rhs(x, y):
        return np.vstack((y[1], (k(x) * y[0] + f(x)) / lam))

    x = np.linspace(0.0, 1.0, 2001)
    ua, ub = boundary
    sol = solve_bvp(rhs, lambda ya, yb: np.array([ya[0] - ua, yb[0] - ub]), x, np.ones((2, x.size)),
                    tol=tol, max_nodes=200000)
    if not sol.success:
        raise RuntimeError(f"solve_bvp failed: {sol.message}")
    return lambda xq: sol.sol(np.asarray(xq, dtype=float))[0]


class TimeDependentWeights:
    """dx/dt = tanh(W(t) x), x in R^3, W(t) = C0 + C1 sin(2 pi t) + C2 cos(3 t), loss 0.5 |x(T) - y|^2.

    The continuous adjoint p' = -J^T p, p(T) = x(T) - y (J = diag(sech^2(W x)) W) gives the
    gradient density G(t) = dL/dW(t) = (p * sech^2(W x)) x^T, the reference for per-step
    weight gradients g_n / h.  Both are integrated with DOP853 at rtol 1e-12.
    """

    def __init__(self, seed: int = 0, dim: int = 3, T: float = 1.0):
        rng = np.random.default_rng(seed)
        self.C = [rng.standard_normal((dim, dim)) for _ in range(3)]
        self.x0 = rng.standard_normal(dim)
        self.y = rng.standard_normal(dim)
        self.T = T
        self._solution = None

    def W(self, t: float) -> np.ndarray:
        C0, C1, C2 = self.C
        return C0 + C1 * np.sin(2 * np.pi * t) + C2 * np.cos(3 * t)

    def _solve(self):
        from scipy.integrate import solve_ivp

        if self._solution is None:
            fwd = solve_ivp(lambda t, x: np.tanh(self.W(t) @ x), (0, self.T), self.x0, method="DOP853",
                            rtol=1e-12, atol=1e-13, dense_output=True)
            pT = fwd.sol(self.T) - self.y

            def adj(t, p):
                x = fwd.sol(t)
                W = self.W(t)
                return -(W.T @ ((1 - np.tanh(W @ x) ** 2) * p))

            bwd = solve_ivp(adj, (self.T, 0), pT, method="DOP853", rtol=1e-12, atol=1e-13, dense_output=True)
            self._solution = (fwd, bwd)
        return self._solution

    def G(self, t: np.ndarray) -> np.ndarray:
        """Continuous gradient density dL/dW(t), shape (len(t), dim, dim)."""
        fwd, bwd = self._solve()
        out = []
        for tt in np.atleast_1d(t):
            x, p, W = fwd.sol(tt), bwd.sol(tt), self.W(tt)
            out.append(np.outer(p * (1 - np.tanh(W @ x) ** 2), x))
        return np.array(out)

    def p(self, t: np.ndarray) -> np.ndarray:
        """Continuous adjoint p(t), shape (len(t), dim)."""
        return self._solve()[1].sol(np.atleast_1d(t)).T
