"""Finite-difference reference solvers for the standard problems without a closed form: the
Laplace equation around circular holes (Shortley-Weller boundary stencil, second order) and the
steady lid-driven cavity (stream function and vorticity, Newton's method)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["CavityFlow", "laplace_with_holes", "lid_driven_cavity"]


def _hole_distance(x, y, dx, dy, holes, h):
    """Distance (< h) from (x, y) along (dx, dy) to the nearest hole's circle, else h."""
    dist = np.full(x.shape, h)
    for cx, cy, r in holes:
        # |p + s d - c|^2 = r^2, smallest s > 0
        px, py = x - cx, y - cy
        b = px * dx + py * dy
        disc = b**2 - (px**2 + py**2 - r**2)
        s = -b - np.sqrt(np.maximum(disc, 0.0))
        hit = (disc > 0) & (s > 0) & (s < dist)
        dist = np.where(hit, s, dist)
    return dist


def laplace_with_holes(
    n: int, holes: list[tuple[float, float, float]], outer: float = 1.0, lo: float = -0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve u_xx + u_yy = 0 on the square [lo, lo + 1]^2 minus the disks ``holes`` ((cx, cy, r)
    each), u = ``outer`` on the square's edges and 0 on the circles, on an n x n grid.

    Shortley-Weller: a node next to a circle uses the three-point second difference with the
    true distance to the circle, (2 / (a b (a + b))) (b u_- - (a + b) u_0 + a u_+), second order.
    Returns (X (n, n), Y (n, n), U (n, n)), U NaN inside the holes.
    """
    g = np.linspace(lo, lo + 1.0, n)
    h = g[1] - g[0]
    X, Y = np.meshgrid(g, g, indexing="ij")
    inside = np.zeros(X.shape, bool)
    for cx, cy, r in holes:
        inside |= (X - cx) ** 2 + (Y - cy) ** 2 <= r**2
    edge = np.zeros(X.shape, bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    free = ~inside & ~edge
    index = -np.ones(X.shape, int)
    index[free] = np.arange(free.sum())
    ii, jj = np.nonzero(free)
    rows, cols, vals = [], [], []
    rhs = np.zeros(free.sum())
    diag = np.zeros(free.sum())
    for axis in (0, 1):
        d = np.eye(2, dtype=int)[axis]
        arms = []
        for sign in (-1, 1):
            ni, nj = ii + sign * d[0], jj + sign * d[1]
            hole = inside[ni, nj]
            dist = _hole_distance(X[ii, jj], Y[ii, jj], sign * d[0], sign * d[1], holes, h)
            arms.append((ni, nj, hole, np.where(hole, dist, h)))
        (li, lj, lhole, a), (ri, rj, rhole, b) = arms
        diag -= 2.0 / (a * b)
        for ni, nj, hole, dist, other in ((li, lj, lhole, a, b), (ri, rj, rhole, b, a)):
            coef = 2.0 / (dist * (a + b))
            known = edge[ni, nj] & ~hole
            rhs -= np.where(known, coef * outer, 0.0)  # the hole's value is 0: nothing to move
            unknown = free[ni, nj] & ~hole
            rows.append(index[ii, jj][unknown])
            cols.append(index[ni, nj][unknown])
            vals.append(coef[unknown])
    k = np.arange(free.sum())
    A = sp.csr_matrix(
        (np.concatenate([diag, *vals]), (np.concatenate([k, *rows]), np.concatenate([k, *cols])))
    )
    U = np.where(edge, outer, 0.0)
    U[free] = spla.spsolve(A.tocsc(), rhs)
    U[inside] = np.nan
    return X, Y, U


class CavityFlow:
    """A steady cavity flow on an n x n grid: ``u``, ``v``, ``p`` (n, n) at nodes ``x``, ``y``
    (indexing 'ij'), the pressure zero at (0, 0)."""

    def __init__(self, x, y, u, v, p):
        self.x, self.y, self.u, self.v, self.p = x, y, u, v, p

    def at(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) values (u, v, p) at ``points`` (N, 2), bicubic interpolation."""
        from scipy.interpolate import RectBivariateSpline

        g = self.x[:, 0], self.y[0]
        return np.stack(
            [
                RectBivariateSpline(*g, f)(points[:, 0], points[:, 1], grid=False)
                for f in (self.u, self.v, self.p)
            ],
            axis=1,
        )


def _stencils(n: int, h: float):
    """Central x, y differences and the 5-point Laplacian: full n x n grid -> interior nodes."""
    m = n - 2
    ii, jj = _interior(n)
    row = np.arange(m * m)

    def op(entries):
        r = np.concatenate([row] * len(entries))
        c = np.concatenate([(ii + di) * n + jj + dj for di, dj, _ in entries])
        v = np.concatenate([np.full(m * m, w) for _, _, w in entries])
        return sp.csr_matrix((v, (r, c)), shape=(m * m, n * n))

    dx = op([(1, 0, 0.5 / h), (-1, 0, -0.5 / h)])
    dy = op([(0, 1, 0.5 / h), (0, -1, -0.5 / h)])
    five = [(1, 0, 1.0), (-1, 0, 1.0), (0, 1, 1.0), (0, -1, 1.0), (0, 0, -4.0)]
    lap = op([(di, dj, w / h**2) for di, dj, w in five])
    return dx, dy, lap


def _interior(n: int):
    ii, jj = np.meshgrid(np.arange(1, n - 1), np.arange(1, n - 1), indexing="ij")
    return ii.ravel(), jj.ravel()


def _embeddings(n: int, h: float, ulid: np.ndarray):
    """Interior unknowns z = (psi, w) -> full-grid psi = P z and w = W z + c, the wall
    vorticity from Thom's formula w_wall = -2 psi_1 / h^2 - 2 U_wall / h."""
    m = n - 2
    ii, jj = _interior(n)
    inner = np.arange(m * m)
    P = sp.csr_matrix((np.ones(m * m), (ii * n + jj, inner)), shape=(n * n, 2 * m * m))
    rows, cols, vals = [ii * n + jj], [m * m + inner], [np.ones(m * m)]
    s, zero = np.arange(1, n - 1), np.zeros(n - 2, int)
    for (wi, wj), (ni, nj) in (
        ((zero, s), (zero + 1, s)),
        ((zero + n - 1, s), (zero + n - 2, s)),
        ((s, zero), (s, zero + 1)),
        ((s, zero + n - 1), (s, zero + n - 2)),
    ):
        rows.append(wi * n + wj)
        cols.append((ni - 1) * m + nj - 1)
        vals.append(np.full(m, -2 / h**2))
    W = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n * n, 2 * m * m),
    )
    c = np.zeros(n * n)
    c[s * n + n - 1] = -2 * ulid / h
    return P, W, c


def lid_driven_cavity(
    n: int = 129, nu: float = 0.01, lid: Callable = lambda x: 4 * x * (1 - x), tol: float = 1e-10
) -> CavityFlow:
    """Steady incompressible flow in the unit square, u = ``lid(x)``, v = 0 on the top edge and
    no slip elsewhere: u . grad u + grad p = nu lap u, div u = 0.

    Stream function psi (u = psi_y, v = -psi_x) and vorticity w = v_x - u_y on an n x n grid:
    lap psi = -w, psi_y w_x - psi_x w_y = nu lap w; the wall vorticity from Thom's formula
    closes the system, solved by Newton's method with the exact sparse Jacobian (central
    differences, second order).  The pressure then follows from the momentum equations
    integrated along grid lines (trapezoid rule), anchored p(0, 0) = 0.
    """
    g = np.linspace(0.0, 1.0, n)
    h, m = g[1] - g[0], n - 2
    dx, dy, lap = _stencils(n, h)
    P, W, c = _embeddings(n, h, lid(g[1:-1]))
    J1 = (lap @ P + sp.hstack([sp.csr_matrix((m * m, m * m)), sp.identity(m * m)])).tocsr()
    DxP, DyP, DxW, DyW, LW = dx @ P, dy @ P, dx @ W, dy @ W, lap @ W
    z = np.zeros(2 * m * m)
    for _ in range(50):
        w = W @ z + c
        psi_x, psi_y, w_x, w_y = DxP @ z, DyP @ z, dx @ w, dy @ w
        r = np.concatenate([J1 @ z, psi_y * w_x - psi_x * w_y - nu * (lap @ w)])
        step = _newton_step(J1, DxP, DyP, DxW, DyW, LW, nu, (psi_x, psi_y, w_x, w_y), r)
        z -= step
        if np.abs(step).max() < tol * max(1.0, np.abs(z).max()):
            break
    else:
        raise RuntimeError("lid-driven cavity: Newton's method did not converge in 50 steps")
    psi = (P @ z).reshape(n, n)
    return _with_pressure(g, psi, (W @ z + c).reshape(n, n), nu, h, lid(g))


def _newton_step(J1, DxP, DyP, DxW, DyW, LW, nu, derivs, r):
    """Solve J dz = r; J2 is the advection term's linearisation, product rule on
    psi_y w_x - psi_x w_y."""
    psi_x, psi_y, w_x, w_y = (sp.diags(d) for d in derivs)
    J2 = w_x @ DyP + psi_y @ DxW - w_y @ DxP - psi_x @ DyW - nu * LW
    return spla.spsolve(sp.vstack([J1, J2]).tocsc(), r)


def _with_pressure(g, psi, w, nu, h, lid) -> CavityFlow:
    """Velocities from psi (the walls' own values on the walls) and the pressure (least
    squares, :func:`_integrate_gradient`) from p_x = -(u u_x + v u_y) - nu w_y and
    p_y = -(u v_x + v v_y) + nu w_x (lap u = -w_y, lap v = w_x for divergence-free flow)."""
    u, v = np.gradient(psi, h, axis=1, edge_order=2), -np.gradient(psi, h, axis=0, edge_order=2)
    u[:, 0] = u[0, :] = u[-1, :] = 0.0
    v[0, :] = v[-1, :] = v[:, 0] = v[:, -1] = 0.0
    u[:, -1] = lid
    ux, uy = np.gradient(u, h, edge_order=2)
    vx, vy = np.gradient(v, h, edge_order=2)
    wx, wy = np.gradient(w, h, edge_order=2)
    px = -(u * ux + v * uy) - nu * wy
    py = -(u * vx + v * vy) + nu * wx
    return CavityFlow(*np.meshgrid(g, g, indexing="ij"), u, v, _integrate_gradient(px, py, h))


def _integrate_gradient(px, py, h):
    """The p (n, n) whose grid-edge differences best match the trapezoid averages of (px, py)
    in least squares, p[0, 0] = 0: a Poisson solve with the gradient's own Neumann data."""
    n = px.shape[0]
    idx = np.arange(n * n).reshape(n, n)
    blocks, rhs = [], []
    for a, b, f in ((idx[:-1, :], idx[1:, :], px), (idx[:, :-1], idx[:, 1:], py)):
        k = a.size
        rows = np.repeat(np.arange(k), 2)
        cols = np.stack([a.ravel(), b.ravel()], 1).ravel()
        blocks.append(sp.csr_matrix((np.tile([-1 / h, 1 / h], k), (rows, cols)), (k, n * n)))
        fa = f[:-1, :] if f is px else f[:, :-1]
        fb = f[1:, :] if f is px else f[:, 1:]
        rhs.append(((fa + fb) / 2).ravel())
    D = sp.vstack(blocks).tocsr()
    anchor = sp.csr_matrix(([1.0], ([0], [0])), (1, n * n))
    A = (D.T @ D + anchor.T @ anchor).tocsc()
    return spla.spsolve(A, D.T @ np.concatenate(rhs)).reshape(n, n)
