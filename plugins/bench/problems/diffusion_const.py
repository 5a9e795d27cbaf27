"""``diffusion_const``: the constant diffusivity D of D u'' = -(1 + x) sin(3x) ... (inverse)."""

from __future__ import annotations

import numpy as np

from ..reference import diffusion_reaction_bvp
from .common import Problem, Setup, deepxde, noisy


def diffusion_const(noise, quick, rng) -> Setup:
    """D u'' = -(1 + x) sin(3x) ... inverse for the constant D (true 0.5); data from solve_bvp."""
    dde = deepxde()
    D_true, n = 0.5, 63
    f = lambda x: 4 * np.sin(3 * x) + 1
    u_ref = diffusion_reaction_bvp(
        k=lambda x: 0 * x, lam=D_true, f=lambda x: -f(x), boundary=(0.0, 0.0)
    )
    geom = dde.geometry.Interval(0, 1)
    xo = np.linspace(0, 1, n + 2)[:, None]
    D = dde.Variable(1.0)
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    obs = dde.icbc.PointSetBC(xo, noisy(u_ref(xo), noise, rng))
    pde = lambda x, y: D * dde.grad.hessian(y, x) + 4 * dde.backend.sin(3 * x) + 1
    data = dde.data.PDE(
        geom, pde, [bc, obs], num_domain=n, num_boundary=2, train_distribution="uniform", anchors=xo
    )
    net = dde.nn.FNN([1, 32, 32, 1], "tanh", "Glorot uniform")
    return Setup(
        data,
        net,
        lambda m: {"param_rel_err": abs(float(D) - D_true) / D_true},
        1 / (n + 1),
        4 / (n + 1),
        variables=[D],
        lr=3e-3,
    )


PROBLEMS = {
    "diffusion_const": Problem(
        diffusion_const,
        True,
        1000,
        10000,
        limit="no differentiable reference written (solve_bvp data)",
    )
}
