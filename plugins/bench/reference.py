"""Reference solutions from high-accuracy numerical solvers (scipy), for data and checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_bvp

__all__ = [
    "BURGERS_NU",
    "CahnHilliardFD",
    "burgers_cole_hopf",
    "TimeDependentWeights",
    "cahn_hilliard_steady",
    "ch_rate",
    "ch_source",
    "default_rate",
    "diffusion_reaction_bvp",
    "fv_operator",
    "heat2d_reference",
    "heat_conductivity",
    "heat_fv",
    "langevin_forcing",
    "langevin_paths",
]


def default_rate(x: np.ndarray) -> np.ndarray:
    """k(x) = 0.1 + exp(-0.5 (x - 0.5)^2 / 0.15^2), the space-dependent reaction rate."""
    return 0.1 + np.exp(-0.5 * (x - 0.5) ** 2 / 0.15**2)


def diffusion_reaction_bvp(
    k: Callable[[np.ndarray], np.ndarray] = default_rate,
    lam: float = 0.01,
    f: Callable[[np.ndarray], np.ndarray] = lambda x: -np.ones_like(x),
    boundary: tuple[float, float] = (1.0, 1.0),
    tol: float = 1e-10,
) -> Callable[[np.ndarray], np.ndarray]:
    """Solve lam u'' - k(x) u = f(x) on [0, 1], u(0), u(1) = ``boundary``, with ``solve_bvp``.

    The defaults (f = -1, u = 1 at both ends) keep u in [1, 2.1], so k = (lam u'' - f) / u is
    identifiable everywhere while lam u'' (-0.9 .. 0.35) makes it derivative-sensitive.
    Returns a callable x -> u(x) (the collocation solution's C1 interpolant), accurate to ~tol.
    """

    def rhs(x, y):
        return np.vstack((y[1], (k(x) * y[0] + f(x)) / lam))

    x = np.linspace(0.0, 1.0, 2001)
    ua, ub = boundary
    sol = solve_bvp(
        rhs,
        lambda ya, yb: np.array([ya[0] - ua, yb[0] - ub]),
        x,
        np.ones((2, x.size)),
        tol=tol,
        max_nodes=200000,
    )
    if not sol.success:
        raise RuntimeError(f"solve_bvp failed: {sol.message}")
    return lambda xq: sol.sol(np.asarray(xq, dtype=float))[0]


class TimeDependentWeights:
    """dx/dt = tanh(W(t) x), x in R^3, W(t) = C0 + C1 sin(2 pi t) + C2 cos(3 t).

    Loss L = sum_i 0.5 |x(t_i) - y_i|^2 over output times ``t_obs`` (default: only T, with one
    random target).  The continuous adjoint p' = -J^T p (J = diag(sech^2(W x)) W) runs
    backward from p(T+) = 0 and jumps by x(t_i) - y_i at each output; the gradient density
    G(t) = dL/dW(t) = (p(t+) * sech^2(W x)) x^T is the reference for per-step weight
    gradients g_n / h.  Everything is integrated with DOP853 at rtol 1e-12.
    """

    def __init__(self, seed: int = 0, dim: int = 3, T: float = 1.0, t_obs=None):
        rng = np.random.default_rng(seed)
        self.C = [rng.standard_normal((dim, dim)) for _ in range(3)]
        self.x0 = rng.standard_normal(dim)
        self.y = rng.standard_normal(dim)
        self.T = T
        self.t_obs = np.array([T] if t_obs is None else sorted(t_obs), dtype=float)
        self.y_obs = np.vstack([self.y, rng.standard_normal((len(self.t_obs) - 1, dim))])
        self._solution = None

    def W(self, t: float) -> np.ndarray:
        C0, C1, C2 = self.C
        return C0 + C1 * np.sin(2 * np.pi * t) + C2 * np.cos(3 * t)

    def _solve(self):
        from scipy.integrate import solve_ivp

        if self._solution is None:
            fwd = solve_ivp(
                lambda t, x: np.tanh(self.W(t) @ x),
                (0, self.T),
                self.x0,
                method="DOP853",
                rtol=1e-12,
                atol=1e-13,
                dense_output=True,
            )

            def adj(t, p):
                x = fwd.sol(t)
                W = self.W(t)
                return -(W.T @ ((1 - np.tanh(W @ x) ** 2) * p))

            segments, p = [], np.zeros_like(self.x0)
            edges = [0.0, *[t for t in self.t_obs if 0 < t < self.T], self.T]
            jumps = {float(t): fwd.sol(t) - y for t, y in zip(self.t_obs, self.y_obs)}
            for lo, hi in reversed(list(zip(edges[:-1], edges[1:]))):
                p = p + jumps.get(hi, 0.0)
                seg = solve_ivp(
                    adj, (hi, lo), p, method="DOP853", rtol=1e-12, atol=1e-13, dense_output=True
                )
                segments.append((lo, hi, seg.sol))
                p = seg.y[:, -1]
            self._solution = (fwd, segments[::-1], p + jumps.get(0.0, 0.0))
        return self._solution

    def _p_right(self, t: float) -> np.ndarray:
        """p(t+): the adjoint just after t (no jump at t itself)."""
        _, segments, _ = self._solve()
        for lo, hi, sol in segments:
            if lo <= t < hi:
                return sol(t)
        return np.zeros_like(self.x0)

    def G(self, t: np.ndarray) -> np.ndarray:
        """Continuous gradient density dL/dW(t+), shape (len(t), dim, dim)."""
        fwd = self._solve()[0]
        out = []
        for tt in np.atleast_1d(t):
            x, p, W = fwd.sol(tt), self._p_right(float(tt)), self.W(tt)
            out.append(np.outer(p * (1 - np.tanh(W @ x) ** 2), x))
        return np.array(out)

    def p(self, t: np.ndarray) -> np.ndarray:
        """Continuous adjoint p(t+), shape (len(t), dim); ``p0`` is dL/dx(0) itself."""
        return np.array([self._p_right(float(tt)) for tt in np.atleast_1d(t)])

    @property
    def p0(self) -> np.ndarray:
        """dL/dx_0 (includes an output at t = 0, if any)."""
        return self._solve()[2]


def ch_rate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = 30 (1 + exp(-((x - 0.6)^2 + (y - 0.4)^2) / 0.04)), the space-dependent rate."""
    return 30.0 * (1.0 + np.exp(-((x - 0.6) ** 2 + (y - 0.4) ** 2) / 0.04))


def ch_source(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """s(x, y) = 40 sin(pi x) sin(pi y) (1 + x)."""
    return 40.0 * np.sin(np.pi * x) * np.sin(np.pi * y) * (1.0 + x)


def cahn_hilliard_steady(
    m: int = 129, eps2: float = 0.01, k=ch_rate, s=ch_source, tol: float = 1e-10
):
    """Steady Cahn-Hilliard-type reaction-diffusion on [0, 1]^2 (the chromatin model's form):

        Laplace(mu) - k(x, y) phi + s(x, y) = 0,    mu = -eps2 Laplace(phi) + phi^3 - phi,

    with phi = 0 and Laplace(phi) = 0 on the boundary.  Second-order finite differences on an
    m x m grid (``CahnHilliardFD``), solved by Newton's method with sparse direct solves
    (scipy).  Well posed for k > 1/(4 eps2).

    Returns ``(interpolator (x, y) -> phi, grid xs, phi on the grid)``.
    """
    from scipy.interpolate import RegularGridInterpolator

    fd = CahnHilliardFD(m, eps2, s)
    X, Y = fd.interior
    full = fd.full(fd.solve(k(X, Y).ravel(), tol))
    return RegularGridInterpolator((fd.xs, fd.xs), full, method="cubic"), fd.xs, full


class CahnHilliardFD:
    """The finite-difference system of ``cahn_hilliard_steady`` on the interior nodes:
    F(phi; k) = A phi + L phi^3 + s = 0, A = -eps2 L L - L - diag(k) (5-point Laplacian L;
    the biharmonic with phi = Laplace(phi) = 0 on the boundary is L @ L)."""

    def __init__(self, m: int, eps2: float, s=ch_source):
        import scipy.sparse as sp

        h, n = 1.0 / (m - 1), m - 2
        self.m, self.xs = m, np.linspace(0.0, 1.0, m)
        D = sp.diags([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], [-1, 0, 1]) / h**2
        eye = sp.identity(n)
        self.L = (sp.kron(D, eye) + sp.kron(eye, D)).tocsc()
        self.base = (-eps2 * (self.L @ self.L) - self.L).tocsc()
        self.interior = np.meshgrid(self.xs[1:-1], self.xs[1:-1], indexing="ij")
        self.s = s(*self.interior).ravel()

    def jacobian(self, k: np.ndarray, phi: np.ndarray):
        """dF/dphi at (phi; k), sparse (n^2, n^2)."""
        import scipy.sparse as sp

        return (self.base - sp.diags(k) + self.L @ sp.diags(3 * phi**2)).tocsc()

    def solve(self, k: np.ndarray, tol: float = 1e-10, phi=None) -> np.ndarray:
        """phi on the interior nodes (n^2,) for the rate k there (n^2,), by Newton's method
        (from ``phi``, or from the linear part's solution)."""
        import scipy.sparse as sp
        from scipy.sparse.linalg import spsolve

        A = (self.base - sp.diags(k)).tocsc()
        phi = spsolve(A, -self.s) if phi is None else phi
        for _ in range(50):
            step = spsolve(self.jacobian(k, phi), -(A @ phi + self.L @ phi**3 + self.s))
            phi = phi + step
            if np.abs(step).max() < tol * max(1.0, np.abs(phi).max()):
                return phi
        raise RuntimeError("cahn_hilliard_steady: Newton did not converge")

    def full(self, phi: np.ndarray) -> np.ndarray:
        """Interior values (n^2,) -> the m x m grid with phi = 0 on the boundary."""
        out = np.zeros((self.m, self.m))
        out[1:-1, 1:-1] = phi.reshape(self.m - 2, self.m - 2)
        return out


def heat_conductivity(x, y):
    """lambda(x, y) = 1 + 0.5 exp(-((x-0.5)^2 + (y-0.5)^2) / 0.05)."""
    return 1 + 0.5 * np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.05)


def heat2d_reference(m: int = 129, source: float = 1.0):
    """Solve div(lambda grad u) = -source on [0,1]^2, u = 0 on the boundary, by the 5-point
    finite-volume scheme (``heat_fv``, sparse direct solve); returns an interpolator u(x, y)."""
    from scipy.interpolate import RegularGridInterpolator

    u = heat_fv(heat_conductivity, lambda x, y: np.full_like(x, source), m, 2)
    xs = np.linspace(0, 1, m)
    return RegularGridInterpolator((xs, xs), u, method="cubic")


def fv_operator(conductivity: Callable, m: int, dim: int) -> tuple:
    """The (2 dim + 1)-point finite-volume operator div(k grad .) on the interior nodes of
    [0, 1]^dim (m nodes per axis, boundary included; u = 0 on the boundary), k at the cell faces.

    ``conductivity(*coords)`` may return numpy arrays or torch tensors; the values follow
    (torch: differentiable in whatever k depends on).

    Returns:
        (rows, cols, values, grids): the nonzeros of the (n^dim, n^dim) matrix (n = m - 2;
        duplicate-free) and the interior nodes' coordinate arrays (each (n,) * dim).
    """
    h, n = 1.0 / (m - 1), m - 2
    grids = np.meshgrid(*[np.arange(1, m - 1) * h] * dim, indexing="ij")
    idx = np.arange(n**dim).reshape((n,) * dim)
    diag, rows, cols, vals = 0.0, [], [], []
    for a in range(dim):
        for step in (-1, 1):
            face = [g + (step * h / 2 if i == a else 0) for i, g in enumerate(grids)]
            k = conductivity(*face) / h**2
            diag = diag - k
            inside = [slice(None)] * dim
            inside[a] = slice(1, None) if step == -1 else slice(None, -1)
            neighbour = np.roll(idx, -step, axis=a)
            rows.append(idx[tuple(inside)].ravel())
            cols.append(neighbour[tuple(inside)].ravel())
            vals.append(k[tuple(inside)].reshape(-1))
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.reshape(-1))
    concat = np.concatenate
    if not isinstance(vals[0], np.ndarray):
        import torch

        concat = torch.cat
    return np.concatenate(rows), np.concatenate(cols), concat(vals), grids


def heat_fv(conductivity: Callable, source: Callable, m: int, dim: int) -> np.ndarray:
    """Solve div(k grad u) = -f on [0, 1]^dim, u = 0 on the boundary, by the (2 dim + 1)-point
    finite-volume scheme (``fv_operator``), second order; sparse direct solve.

    Args:
        conductivity, source: callables of ``dim`` coordinate arrays (broadcast) -> array.
        m: nodes per axis, boundary included (spacing 1 / (m - 1)).

    Returns:
        u at the m^dim nodes, shape (m,) * dim (C order, axis 0 = x_0).
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    rows, cols, vals, grids = fv_operator(conductivity, m, dim)
    n = m - 2
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n**dim, n**dim))
    u = np.zeros((m,) * dim)
    u[(slice(1, -1),) * dim] = spsolve(A, -source(*grids).ravel()).reshape((n,) * dim)
    return u


def langevin_forcing(t: np.ndarray) -> np.ndarray:
    """The unknown forcing lambda(t) of the ``langevin`` benchmark on [0, 1] (smooth, O(1))."""
    return 1.0 + np.sin(2 * np.pi * t) + 0.5 * np.cos(6 * np.pi * t)


def langevin_paths(
    forcing: Callable, gamma: float, sigma: float, u0: float, T: float, steps: int, rng, paths=1
) -> tuple[np.ndarray, np.ndarray]:
    """Euler-Maruyama for du = (-gamma u + forcing(t)) dt + sigma dW on [0, T].

    Returns (t (steps + 1,), u (paths, steps + 1)).  Strong order 1/2, weak order 1; with
    sigma = 0 it is explicit Euler (first order).
    """
    dt = T / steps
    t = np.linspace(0.0, T, steps + 1)
    u = np.empty((paths, steps + 1))
    u[:, 0] = u0
    lam = forcing(t)
    kicks = sigma * np.sqrt(dt) * rng.standard_normal((paths, steps))
    for k in range(steps):
        u[:, k + 1] = u[:, k] + (-gamma * u[:, k] + lam[k]) * dt + kicks[:, k]
    return t, u


#: PINNacle's Burgers1d viscosity
BURGERS_NU = 0.01 / np.pi


def burgers_cole_hopf(
    x: np.ndarray, t: np.ndarray, nu: float = BURGERS_NU, nodes: int = 4001
) -> np.ndarray:
    """Exact u of u_t + u u_x = nu u_xx, u(x, 0) = -sin(pi x) (on the line; so u(+-1, t) = 0),
    by the Cole-Hopf transform (Basdevant et al., Comput. Fluids 14, 1986):

        u = -int sin(pi (x - s)) f(x - s) G(s) ds / int f(x - s) G(s) ds,
        f(y) = exp(-cos(pi y) / (2 pi nu)),  G(s) = exp(-s^2 / (4 nu t)),

    each integral by the trapezoidal rule on ``nodes`` points of |s| <= sqrt(600 nu t) (beyond,
    G < e^-150 of its peak), the exponents shifted by their maximum (they reach +-1/(2 pi nu)).

    Args:
        x, t: points, broadcast together (t >= 0; at t = 0 the initial condition).

    Returns:
        u at the broadcast points.
    """
    x, t = (np.array(a, dtype=float) for a in np.broadcast_arrays(x, t))
    if np.any(t < 0) or nu <= 0:
        raise ValueError("burgers_cole_hopf needs t >= 0 and nu > 0")
    out = np.atleast_1d(-np.sin(np.pi * x))
    live = t > 0
    live = np.atleast_1d(live)
    xs, ts = np.atleast_1d(x)[live][:, None], np.atleast_1d(t)[live][:, None]
    s = np.linspace(-1.0, 1.0, nodes)[None, :] * np.sqrt(600 * nu * ts)
    y = xs - s
    exponent = -np.cos(np.pi * y) / (2 * np.pi * nu) - s**2 / (4 * nu * ts)
    weight = np.exp(exponent - exponent.max(axis=1, keepdims=True))
    out[live] = -np.trapezoid(np.sin(np.pi * y) * weight, axis=1) / np.trapezoid(weight, axis=1)
    return out.reshape(x.shape)
