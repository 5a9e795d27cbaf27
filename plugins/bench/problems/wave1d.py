"""``wave1d``: PINNacle's Wave1d-C (Hao et al., NeurIPS 2024), forward.

u_tt = 4 u_xx on [0, 1] x [0, 1] (t as the second input), u_t(x, 0) = 0 and u equal to the
exact solution at t = 0 and x = 0, 1.  Reference: the exact solution
u = sin(pi x) cos(2 pi t) + sin(4 pi x) cos(8 pi t) / 2.
"""

from __future__ import annotations

import numpy as np

from .common import Setup, deepxde
from .pinnacle import Points, forward_setup, pinnacle_problem, sampled_data

POINTS = {True: Points(1024, 256), False: Points(8192, 2048)}


def exact(X: np.ndarray) -> np.ndarray:
    """u at X (N, 2) = (x, t), (N, 1)."""
    x, t = X[:, :1], X[:, 1:2]
    return np.sin(np.pi * x) * np.cos(2 * np.pi * t) + 0.5 * np.sin(4 * np.pi * x) * np.cos(
        8 * np.pi * t
    )


def wave1d(noise, quick, rng) -> Setup:
    """PINNacle's Wave1d-C (forward; ``noise`` unused)."""
    dde = deepxde()
    geom = dde.geometry.Rectangle([0, 0], [1, 1])

    def pde(x, u):
        return dde.grad.hessian(u, x, i=1, j=1) - 4 * dde.grad.hessian(u, x, i=0, j=0)

    def start(x, on):
        return on and bool(np.isclose(x[1], 0))

    def ends(x, on):
        return on and bool(np.isclose(x[0], 0) or np.isclose(x[0], 1))

    bcs = [
        dde.icbc.NeumannBC(geom, lambda x: 0, start),  # -u_t = 0 (the outward normal is -t)
        dde.icbc.DirichletBC(geom, exact, start),
        dde.icbc.DirichletBC(geom, exact, ends),
    ]
    pts = POINTS[quick]
    data = sampled_data(dde, geom, pde, bcs, pts)
    g = np.linspace(0, 1, 101)
    X = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    return forward_setup(dde, data, quick, X, exact(X), (1.0, 1.0))


PROBLEMS = {"wave1d": pinnacle_problem(wave1d, 1000)}
