"""``kuramoto_sivashinsky``: PINNacle's KS (Hao et al., NeurIPS 2024), forward, 4th order.

u_t + (100/16) u u_x + (100/16^2) u_xx + (100/16^4) u_xxxx = 0 on [0, 2 pi] x [0, 1],
u(x, 0) = cos x (1 + sin x), and, as in PINNacle, no boundary condition (the solution is
2 pi-periodic).  Reference: our Fourier-spectral ETDRK4 solution
(``spectral_reference.kuramoto_sivashinsky``: 256 modes, dt 1e-4, within 2e-6 of 512 modes at
dt 5e-5).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..spectral_reference import KS_PINNACLE
from ..spectral_reference import kuramoto_sivashinsky as ks_solve
from .common import Setup, deepxde
from .pinnacle import Points, forward_setup, pinnacle_problem, reference_file, sampled_data

POINTS = {True: Points(1024, 256, 256), False: Points(8192, 2048, 2048)}


@lru_cache(maxsize=1)
def reference() -> tuple[np.ndarray, np.ndarray]:
    """(X (N, 2) = (x, t), u (N, 1)) on every 4th grid point, 26 times."""
    times = np.linspace(0, 1, 26)
    x, u = ks_solve(times)
    X = np.stack(np.meshgrid(x[::4], times, indexing="ij"), -1).reshape(-1, 2)
    return X, u[:, ::4].T.reshape(-1, 1)


def kuramoto_sivashinsky(noise, quick, rng) -> Setup:
    """PINNacle's KS (forward; ``noise`` unused)."""
    dde = deepxde()
    alpha, beta, gamma = KS_PINNACLE
    geom = dde.geometry.GeometryXTime(
        dde.geometry.Interval(0, 2 * np.pi), dde.geometry.TimeDomain(0, 1)
    )

    def pde(x, u):
        u_x, u_t = dde.grad.jacobian(u, x, i=0, j=0), dde.grad.jacobian(u, x, i=0, j=1)
        u_xx = dde.grad.hessian(u, x, i=0, j=0)
        u_xxxx = dde.grad.hessian(u_xx, x, i=0, j=0)
        return u_t + alpha * u * u_x + beta * u_xx + gamma * u_xxxx

    ic = dde.icbc.IC(geom, lambda x: np.cos(x[:, :1]) * (1 + np.sin(x[:, :1])), lambda _, on: on)
    pts = POINTS[quick]
    data = sampled_data(dde, geom, pde, [ic], pts)
    table = reference_file("kuramoto_sivashinsky", "Kuramoto_Sivashinsky.dat", 2)
    X, u = reference() if table is None else (table[:, :2], table[:, 2:3])
    return forward_setup(dde, data, quick, X, u, (2 * np.pi, 1.0))


PROBLEMS = {"kuramoto_sivashinsky": pinnacle_problem(kuramoto_sivashinsky, 500)}
