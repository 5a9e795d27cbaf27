"""``ns2d_lid_driven``: PINNacle's NS2d-C (Hao et al., NeurIPS 2024), forward.

Steady Navier-Stokes at Re = 100 in the unit square, u . grad u + grad p = lap u / 100,
div u = 0; the lid moves at u = 4 x (1 - x), v = 0, the other walls are no-slip, p(0, 0) = 0.
Outputs (u, v, p).  Reference: our stream-function/vorticity finite differences
(``fd_reference.lid_driven_cavity``, 129^2 nodes, Newton's method; checked against Ghia et al.
1982 for the uniform lid, and within 0.2% / 0.4% (u / v) and 2.1% (p) of PINNacle's COMSOL
file).  ``u_l2``: the velocity's L2RE (u and v together); ``p_l2``: the pressure's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..fd_reference import lid_driven_cavity
from .common import Setup, deepxde, rel
from .pinnacle import Points, network, pinnacle_problem, reference_file, width

POINTS = {True: Points(1024, 256), False: Points(8192, 2048)}


@lru_cache(maxsize=1)
def reference() -> tuple[np.ndarray, np.ndarray]:
    """(X (N, 2), (u, v, p) (N, 3)) on every 2nd node of the 129^2 solution."""
    flow = lid_driven_cavity(129)
    X = np.stack([flow.x[::2, ::2].ravel(), flow.y[::2, ::2].ravel()], 1)
    return X, np.stack([f[::2, ::2].ravel() for f in (flow.u, flow.v, flow.p)], 1)


def _scores(model, X, ref) -> dict:
    pred = model.predict(X)
    return {"u_l2": rel(pred[:, :2], ref[:, :2]), "p_l2": rel(pred[:, 2], ref[:, 2])}


def ns2d_lid_driven(noise, quick, rng) -> Setup:
    """PINNacle's NS2d-C (forward; ``noise`` unused)."""
    dde = deepxde()
    geom = dde.geometry.Rectangle([0, 0], [1, 1])

    def pde(x, y):
        u, v = y[:, 0:1], y[:, 1:2]
        d = {(c, j): dde.grad.jacobian(y, x, i=c, j=j) for c in range(3) for j in range(2)}
        lap = [
            dde.grad.hessian(y, x, component=c, i=0, j=0)
            + dde.grad.hessian(y, x, component=c, i=1, j=1)
            for c in range(2)
        ]
        return [
            u * d[0, 0] + v * d[0, 1] + d[2, 0] - lap[0] / 100,
            u * d[1, 0] + v * d[1, 1] + d[2, 1] - lap[1] / 100,
            d[0, 0] + d[1, 1],
        ]

    def top(x, on):
        return on and bool(np.isclose(x[1], 1))

    def walls(x, on):
        return on and not top(x, on)

    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: 4 * x[:, :1] * (1 - x[:, :1]), top, component=0),
        dde.icbc.DirichletBC(geom, lambda x: 0, top, component=1),
        dde.icbc.DirichletBC(geom, lambda x: 0, walls, component=0),
        dde.icbc.DirichletBC(geom, lambda x: 0, walls, component=1),
        dde.icbc.PointSetBC(np.zeros((1, 2)), np.zeros((1, 1)), component=2),
    ]
    pts = POINTS[quick]
    data = dde.data.PDE(geom, pde, bcs, num_domain=pts.domain, num_boundary=pts.boundary)
    table = reference_file("ns2d_lid_driven", "lid_driven_a4.dat", 2)
    X, ref = reference() if table is None else (table[:, :2], table[:, 2:5])
    return Setup(
        data, network(dde, 2, 3, quick), lambda m: _scores(m, X, ref), None, width(1.0, 1.0)
    )


PROBLEMS = {"ns2d_lid_driven": pinnacle_problem(ns2d_lid_driven, 1000)}
