"""``cahn_hilliard``: the rate k(x, y) of a steady Cahn-Hilliard equation on the unit square
(inverse, 4th order), and its information limit."""

from __future__ import annotations

import numpy as np
import torch

from .common import (
    Problem,
    Setup,
    deepxde,
    lattice2d,
    limit_result,
    noisy,
    param_scores,
    rel,
    values,
)

CH_EPS2, CH_K0, CH_DEGREE = 0.01, 30.0, 8


def cahn_hilliard_observations(n: int, noise: float, rng) -> tuple:
    """cahn_hilliard's data: the n x n lattice X (n^2, 2) (nodes of the 129-node reference),
    phi there (n^2, 1) with noise x max|phi| Gaussian noise from ``rng``, that noise's
    standard deviation, and the reference interpolator phi(x, y)."""
    from ..reference import cahn_hilliard_steady

    phi_ref, _, _ = cahn_hilliard_steady(129, eps2=CH_EPS2)
    X = lattice2d(0, 1, n)
    phi = phi_ref(X)[:, None]
    return X, noisy(phi, noise, rng), noise * float(np.abs(phi).max()), phi_ref


def cahn_hilliard(noise, quick, rng) -> Setup:
    """Lap(mu) - k(x,y) phi + s = 0, mu = -eps2 Lap(phi) + phi^3 - phi on [0,1]^2 (4th order, the
    paper's chromatin-model form); recover the rate k(x, y) from noisy phi (Newton-FD reference).
    k = K0 + B c (Legendre, degree 8) is eliminated by least squares at every step."""
    dde = deepxde()
    import steadygrad.deepxde as sgd

    from ...inverse import LegendreBasis
    from ..reference import ch_rate, ch_source

    eps2, K0 = CH_EPS2, CH_K0
    n = 17 if quick else 33
    X, phi_obs, _, phi_ref = cahn_hilliard_observations(n, noise, rng)
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    obs = dde.icbc.PointSetBC(X, phi_obs)
    src = lambda x: (
        40.0
        * dde.backend.sin(np.pi * x[:, 0:1])
        * dde.backend.sin(np.pi * x[:, 1:2])
        * (1 + x[:, 0:1])
    )
    assert np.allclose(ch_source(0.3, 0.7), 40 * np.sin(0.3 * np.pi) * np.sin(0.7 * np.pi) * 1.3)
    k = sgd.LinearParameter(LegendreBasis(CH_DEGREE), offset=K0)  # k's known magnitude K0

    def pde(x, phi):
        p_x, p_y = dde.grad.jacobian(phi, x, i=0, j=0), dde.grad.jacobian(phi, x, i=0, j=1)
        p_xx, p_yy = dde.grad.hessian(phi, x, i=0, j=0), dde.grad.hessian(phi, x, i=1, j=1)
        bilap = (
            dde.grad.hessian(p_xx, x, i=0, j=0)
            + 2 * dde.grad.hessian(p_xx, x, i=1, j=1)
            + dde.grad.hessian(p_yy, x, i=1, j=1)
        )
        lap = p_xx + p_yy
        lap_mu = (
            -eps2 * bilap + 3 * phi**2 * lap + 6 * phi * (p_x**2 + p_y**2) - lap
        )  # Lap(phi^3) by the chain rule
        return k.eliminate((lap_mu - k(x) * phi + src(x)) / K0)

    data = dde.data.PDE(geom, pde, [obs], num_domain=0, num_boundary=0, anchors=X)
    k.attach(data)
    net = dde.nn.FNN([2, 48, 48, 48, 1], "tanh", "Glorot uniform")
    Xi = lattice2d(0.15, 0.85, 29)
    k_true = ch_rate(Xi[:, 0], Xi[:, 1])

    def evaluate(m):
        return {
            **param_scores(values(k, Xi), k_true),
            "u_l2": rel(m.predict(X)[:, 0], phi_ref(X)),
        }

    h = 1 / (n - 1)
    return Setup(data, net, evaluate, (h, h), (3 * h, 3 * h), loss_weights=[1.0, 100.0])


class _SteadyState(torch.autograd.Function):
    """phi(k) of ``CahnHilliardFD`` (Newton, warm-started from the last solve), differentiable
    in k by the implicit function theorem: F(phi(k); k) = 0, dF/dk = -diag(phi), so
    dL/dk = phi * J^-T dL/dphi (J = dF/dphi at the solution; one transposed LU solve)."""

    @staticmethod
    def forward(ctx, k, fd, state):
        from scipy.sparse.linalg import splu

        kk = k.detach().numpy()
        phi = fd.solve(kk, phi=state.get("phi"))
        state["phi"] = phi
        ctx.lu, ctx.phi = splu(fd.jacobian(kk, phi)), phi
        return torch.as_tensor(phi)

    @staticmethod
    def backward(ctx, g):
        p = ctx.lu.solve(g.detach().numpy(), trans="T")
        return torch.as_tensor(ctx.phi * p), None, None


def cahn_hilliard_limit(noise: float, quick: bool, rng, max_iter: int = 60) -> dict:
    """cahn_hilliard's limit: k = K0 + LegendreBasis(8) c (the PINN's basis) fitted to the
    noisy lattice values of phi through the Newton finite-difference scheme that made the data
    (``CahnHilliardFD``) on 65 nodes per axis (the data lattices' among them; within 4.7e-4 of
    the 129-node reference, 0.04 of the noise at 1%), differentiated by the implicit function
    theorem; Gauss-Newton (Levenberg-Marquardt).  No nuisance unknowns (eps2, the source and
    the boundary conditions are known, as they are to the PINN)."""
    from ...inverse import GaussNewton, LegendreBasis, information_limit
    from ..reference import CahnHilliardFD, ch_rate

    n, m = (17 if quick else 33), 65
    _, phi_obs, sigma, _ = cahn_hilliard_observations(n, noise, rng)
    fd, basis, state = CahnHilliardFD(m, CH_EPS2), LegendreBasis(CH_DEGREE), {}
    nodes = np.stack([a.ravel() for a in fd.interior], -1)
    B = basis(torch.as_tensor(nodes, dtype=torch.float64))
    every = (m - 1) // (n - 1)

    def forward(c):
        phi = _SteadyState.apply(CH_K0 + B @ c, fd, state).reshape(m - 2, m - 2)
        return torch.nn.functional.pad(phi, (1,) * 4)[::every, ::every].reshape(-1, 1)

    start = {"c": torch.zeros(basis.size, dtype=torch.float64)}
    fit = information_limit(
        forward, start, torch.as_tensor(phi_obs), sigma, GaussNewton(max_iter, 1e-8)
    )
    Xi = lattice2d(0.15, 0.85, 29)
    B_i = basis(torch.as_tensor(Xi))
    k_true = ch_rate(Xi[:, 0], Xi[:, 1])
    return limit_result(fit, lambda p: param_scores((CH_K0 + B_i @ p["c"]).numpy(), k_true))


PROBLEMS = {
    "cahn_hilliard": Problem(cahn_hilliard, True, 100, 1000, 30, 15000, limit=cahn_hilliard_limit)
}
