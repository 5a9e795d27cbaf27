"""``heat_inverse``: PINNacle's HInv (Hao et al., NeurIPS 2024), inverse, 2D + t.

u_t = div(a grad u) + f on [-1, 1]^2 x [0, 1] with the conductivity a unknown (a network output
beside u); a is known on the edges, and u is observed at 2 500 random points with Gaussian noise
(PINNacle: standard deviation 0.1, noise level 0.1 of max|u| = 1).  True fields:
u = exp(-t) sin(pi x) sin(pi y), a = 2 + sin(pi x) sin(pi y), f from them (PINNacle's, which
is consistent here).  With a PINNacle reference folder, the observation points are its
heatinv_points.dat.
"""

from __future__ import annotations

import numpy as np

from .common import Setup, deepxde, noisy, param_scores, rel
from .pinnacle import Points, pinnacle_problem, reference_file, width

POINTS = {True: Points(2048, 512, 512), False: Points(32768, 8192, 8192)}  # PINNacle's x 4
NET = {True: (3, 32), False: (5, 50)}  # PINNacle's PFNN: 5 layers of 50 per output


def u_exact(X):
    return np.exp(-X[:, 2:3]) * np.sin(np.pi * X[:, :1]) * np.sin(np.pi * X[:, 1:2])


def a_exact(X):
    return 2 + np.sin(np.pi * X[:, :1]) * np.sin(np.pi * X[:, 1:2])


def source(x, y, t, exp, sin, cos):
    """f = u_t - div(a grad u) for the true fields (any array library)."""
    p = np.pi
    sx, sy, cx, cy = sin(p * x), sin(p * y), cos(p * x), cos(p * y)
    return exp(-t) * (
        (4 * p**2 - 1) * sx * sy + p**2 * (2 * sx**2 * sy**2 - cx**2 * sy**2 - sx**2 * cy**2)
    )


def heat_inverse(noise, quick, rng) -> Setup:
    """PINNacle's HInv; ``noise``: of max|u| (PINNacle's: 0.1)."""
    dde = deepxde()
    import torch

    geom = dde.geometry.GeometryXTime(
        dde.geometry.Rectangle([-1, -1], [1, 1]), dde.geometry.TimeDomain(0, 1)
    )

    def pde(x, y):
        u, a = y[:, 0:1], y[:, 1:2]
        u_x, u_y = dde.grad.jacobian(u, x, i=0, j=0), dde.grad.jacobian(u, x, i=0, j=1)
        u_t = dde.grad.jacobian(u, x, i=0, j=2)
        flux = dde.grad.jacobian(a * u_x, x, i=0, j=0) + dde.grad.jacobian(a * u_y, x, i=0, j=1)
        f = source(x[:, :1], x[:, 1:2], x[:, 2:3], torch.exp, torch.sin, torch.cos)
        return u_t - flux - f

    table = reference_file("heat_inverse", "heatinv_points.dat", 3)
    if table is None:
        obs_x = rng.uniform([-1, -1, 0], [1, 1, 1], size=(2500, 3))
    else:
        obs_x = table[:, :3]
    bcs = [
        dde.icbc.PointSetBC(obs_x, noisy(u_exact(obs_x), noise, rng), component=0),
        dde.icbc.DirichletBC(geom, a_exact, lambda _, on: on, component=1),
    ]
    pts = POINTS[quick]
    data = dde.data.TimePDE(
        geom, pde, bcs, num_domain=pts.domain, num_boundary=pts.boundary, num_initial=pts.initial
    )
    depth, units = NET[quick]
    net = dde.nn.PFNN([3, *[[units, units]] * depth, 2], "tanh", "Glorot normal")
    e, t = np.linspace(-1, 1, 41), np.linspace(0, 1, 6)
    X = np.stack(np.meshgrid(e, e, t, indexing="ij"), -1).reshape(-1, 3)
    u, a = u_exact(X), a_exact(X)

    def scores(model):
        pred = model.predict(X)
        return {"u_l2": rel(pred[:, :1], u), **param_scores(pred[:, 1], a)}

    return Setup(data, net, scores, None, width(2.0, 2.0, 1.0), noise_std=noise)


LIMIT = (
    "not built yet: a is a field, and the limit needs a forward solver of the heat equation "
    "over a basis for a"
)
PROBLEMS = {"heat_inverse": pinnacle_problem(heat_inverse, 200, True, LIMIT)}
