"""``diffusion_reaction``: the rate k(x) of 0.01 u'' - k u = -1 (inverse)."""

from __future__ import annotations

import numpy as np

from ..reference import default_rate, diffusion_reaction_bvp
from .common import Problem, Setup, deepxde, noisy, param_scores


def diffusion_reaction(noise, quick, rng) -> Setup:
    """0.01 u'' - k(x) u = -1, u = 1 at both ends; recover k(x) from noisy u (solve_bvp data)."""
    dde = deepxde()
    n, lam = 63, 0.01
    u_ref = diffusion_reaction_bvp(default_rate, lam)
    geom = dde.geometry.Interval(0, 1)
    xo = np.linspace(0, 1, n + 2)[:, None]
    bc = dde.icbc.DirichletBC(geom, lambda x: 1, lambda _, on: on, component=0)
    obs = dde.icbc.PointSetBC(xo, noisy(u_ref(xo), noise, rng), component=0)

    def pde(x, y):
        return lam * dde.grad.hessian(y, x, component=0) - y[:, 1:2] * y[:, 0:1] + 1

    data = dde.data.PDE(
        geom, pde, [bc, obs], num_domain=n, num_boundary=2, train_distribution="uniform", anchors=xo
    )
    net = dde.nn.FNN([1, 32, 32, 32, 2], "tanh", "Glorot uniform")
    xs = np.linspace(0, 1, 201)[:, None]
    k = default_rate(xs)

    def evaluate(m):
        kp = m.predict(xs)[:, 1:2]
        return param_scores(kp, k)

    return Setup(data, net, evaluate, 1 / (n + 1), 4 / (n + 1))


PROBLEMS = {
    "diffusion_reaction": Problem(
        diffusion_reaction,
        True,
        1000,
        20000,
        limit="no differentiable reference written (solve_bvp data)",
    )
}
