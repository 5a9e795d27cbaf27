"""``poisson1d``: -u'' = pi^2 sin(pi x) on [0, 1] (forward, 2nd order)."""

from __future__ import annotations

import numpy as np

from .common import Problem, Setup, deepxde, rel


def poisson1d(noise, quick, rng) -> Setup:
    """-u'' = pi^2 sin(pi x), u(0) = u(1) = 0 (forward; exact u = sin(pi x))."""
    dde = deepxde()
    n = 63
    geom = dde.geometry.Interval(0, 1)
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    data = dde.data.PDE(
        geom,
        lambda x, y: dde.grad.hessian(y, x) + np.pi**2 * dde.backend.sin(np.pi * x),
        [bc],
        num_domain=n,
        num_boundary=2,
        train_distribution="uniform",
    )
    net = dde.nn.FNN([1, 32, 32, 1], "tanh", "Glorot uniform")
    xs = np.linspace(0, 1, 201)[:, None]
    return Setup(
        data,
        net,
        lambda m: {"u_l2": rel(m.predict(xs), np.sin(np.pi * xs))},
        1 / (n + 1),
        4 / (n + 1),
    )


PROBLEMS = {"poisson1d": Problem(poisson1d, False, 1000, 10000)}
