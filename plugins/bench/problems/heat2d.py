"""``heat2d``: the conductivity lambda(x, y) of div(lambda grad u) = -f on the unit square
(inverse, 2nd order), and its information limit."""

from __future__ import annotations

import numpy as np
import torch

from ..reference import heat2d_reference, heat_conductivity
from .common import Problem, Setup, deepxde, lattice2d, limit_result, noisy, param_scores, values

HEAT2D_SOURCE, HEAT2D_DEGREE = 20.0, 8


def heat2d_observations(n: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray, float]:
    """heat2d's data: the n x n lattice X (n^2, 2) on [0, 1]^2 (nodes of the 129-node
    reference), u there (n^2, 1) with noise x max|u| Gaussian noise drawn from ``rng``, and
    that noise's standard deviation."""
    X = lattice2d(0, 1, n)
    u = heat2d_reference(129, source=HEAT2D_SOURCE)(X)[:, None]
    return X, noisy(u, noise, rng), noise * float(np.abs(u).max())


def heat2d(noise, quick, rng) -> Setup:
    """div(lambda(x,y) grad u) = -f on [0,1]^2 with unknown lambda (paper's 2nd-order case).

    f = 20 makes u = O(1), so data and PDE losses are on the same scale (with f = 1, u ~ 0.05
    and the fit ignores the data: any lambda satisfies the PDE for some u).  lambda = 1 + B c
    (Legendre, degree 8) enters the residual linearly (with its gradient) and is eliminated
    by least squares at every step (``steadygrad.inverse``); the network learns u only."""
    dde = deepxde()
    import steadygrad.deepxde as sgd

    from ...inverse import LegendreBasis

    n, f = (17 if quick else 33), HEAT2D_SOURCE
    X, u_obs, _ = heat2d_observations(n, noise, rng)
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    obs = dde.icbc.PointSetBC(X, u_obs)
    lam = sgd.LinearParameter(LegendreBasis(HEAT2D_DEGREE), offset=1.0)  # the known background 1

    def pde(x, y):
        u_x, u_y = dde.grad.jacobian(y, x, i=0, j=0), dde.grad.jacobian(y, x, i=0, j=1)
        lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
        return lam.eliminate((lam(x) * lap + lam.grad(x, 0) * u_x + lam.grad(x, 1) * u_y + f) / f)

    data = dde.data.PDE(geom, pde, [bc, obs], num_domain=0, num_boundary=0, anchors=X)
    lam.attach(data)
    net = dde.nn.FNN([2, 32, 32, 1], "tanh", "Glorot uniform")
    Xi = lattice2d(0.15, 0.85, 29)
    lam_true = heat_conductivity(Xi[:, 0], Xi[:, 1])
    h = 1 / (n - 1)
    return Setup(
        data,
        net,
        lambda m: param_scores(values(lam, Xi), lam_true),
        (h, h),
        (3 * h, 3 * h),
        loss_weights=[1.0, 10.0, 100.0],
    )


def heat2d_limit(noise: float, quick: bool, rng, max_iter: int = 60) -> dict:
    """heat2d's limit: lambda = 1 + LegendreBasis(8) c (the PINN's basis) fitted to the noisy
    lattice values of u through the finite-volume scheme that made the data (``fv_operator``)
    on 65 nodes per axis (the data lattices' nodes among them; within 5e-5 of the 129-node
    reference, 200x below 1% noise), with the adjoint sparse solve; no nuisance unknowns (the
    boundary values and the source are known, as they are to the PINN).  Gauss-Newton: L-BFGS
    stalls on the degree-8 coefficients (measured: chi2 0.91 at 5% noise, floor 0.72)."""
    from ...inverse import GaussNewton, LegendreBasis, information_limit
    from ...inverse.sparse import sparse_solve
    from ..reference import fv_operator

    n, m = (17 if quick else 33), 65
    _, u_obs, sigma = heat2d_observations(n, noise, rng)
    basis = LegendreBasis(HEAT2D_DEGREE)
    face_basis = []  # the basis at each face direction's points, in fv_operator's call order

    def record(*face):
        pts = np.stack([f.ravel() for f in face], -1)
        face_basis.append(basis(torch.as_tensor(pts, dtype=torch.float64)))
        return np.zeros_like(face[0])

    rows, cols, _, grids = fv_operator(record, m, 2)
    b = torch.full((grids[0].size,), -HEAT2D_SOURCE, dtype=torch.float64)
    every = (m - 1) // (n - 1)

    def forward(c):
        faces = iter(face_basis)
        _, _, vals, _ = fv_operator(lambda *f: (1 + next(faces) @ c).reshape(f[0].shape), m, 2)
        u = torch.nn.functional.pad(
            sparse_solve(rows, cols, vals, b).reshape(m - 2, m - 2), (1,) * 4
        )
        return u[::every, ::every].reshape(-1, 1)

    start = {"c": torch.zeros(basis.size, dtype=torch.float64)}
    fit = information_limit(forward, start, torch.as_tensor(u_obs), sigma, GaussNewton(max_iter))
    Xi = lattice2d(0.15, 0.85, 29)
    B_i = basis(torch.as_tensor(Xi))
    lam_true = heat_conductivity(Xi[:, 0], Xi[:, 1])
    return limit_result(fit, lambda p: param_scores((1 + B_i @ p["c"]).numpy(), lam_true))


# inverse recipe (docs/inverse.md): eliminated parameter, Adam, then L-BFGS to convergence
PROBLEMS = {"heat2d": Problem(heat2d, True, 100, 1000, 30, 5000, limit=heat2d_limit)}
