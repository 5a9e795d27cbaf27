"""``heat2d_multiscale``: PINNacle's Heat2d-MS (Hao et al., NeurIPS 2024), forward.

u_t = u_xx / (500 pi)^2 + u_yy / pi^2 on [0, 1]^2 x [0, 5], u = 0 on the edges,
u(x, y, 0) = sin(20 pi x) sin(pi y): ten periods in x against one in y.  Reference: the exact
solution u = sin(20 pi x) sin(pi y) exp(-(0.0016 + 1) t).
"""

from __future__ import annotations

import numpy as np

from .common import Setup, deepxde
from .pinnacle import Points, forward_setup, pinnacle_problem, sampled_data

K = (1 / (500 * np.pi) ** 2, 1 / np.pi**2)  # the x and y diffusivities
M = (20 * np.pi, np.pi)  # the initial condition's wavenumbers
POINTS = {True: Points(2048, 512, 512), False: Points(32768, 8192, 8192)}  # PINNacle's x 4


def exact(X: np.ndarray) -> np.ndarray:
    """u at X (N, 3) = (x, y, t), (N, 1)."""
    rate = K[0] * M[0] ** 2 + K[1] * M[1] ** 2
    x, y, t = X[:, :1], X[:, 1:2], X[:, 2:3]
    return np.sin(M[0] * x) * np.sin(M[1] * y) * np.exp(-rate * t)


def heat2d_multiscale(noise, quick, rng) -> Setup:
    """PINNacle's Heat2d-MS (forward; ``noise`` unused)."""
    dde = deepxde()
    geom = dde.geometry.GeometryXTime(
        dde.geometry.Rectangle([0, 0], [1, 1]), dde.geometry.TimeDomain(0, 5)
    )

    def pde(x, u):
        u_t = dde.grad.jacobian(u, x, i=0, j=2)
        u_xx, u_yy = dde.grad.hessian(u, x, i=0, j=0), dde.grad.hessian(u, x, i=1, j=1)
        return u_t - K[0] * u_xx - K[1] * u_yy

    bcs = [
        dde.icbc.IC(geom, exact, lambda _, on: on),
        dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on),
    ]
    pts = POINTS[quick]
    data = sampled_data(dde, geom, pde, bcs, pts)
    axes = (np.linspace(0, 1, 81), np.linspace(0, 1, 21), np.linspace(0, 5, 6))
    X = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return forward_setup(dde, data, quick, X, exact(X), (1.0, 1.0, 5.0))


PROBLEMS = {"heat2d_multiscale": pinnacle_problem(heat2d_multiscale, 200)}
