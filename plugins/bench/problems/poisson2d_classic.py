"""``poisson2d_classic``: PINNacle's Poisson2d-C (Hao et al., NeurIPS 2024), forward.

-lap u = 0 on the square [-0.5, 0.5]^2 minus four disks of radius 0.1 centred at
(+-0.3, +-0.3); u = 1 on the square's edges, u = 0 on the circles.  Reference: our
Shortley-Weller finite differences (``fd_reference.laplace_with_holes``, second order; 401^2
nodes, within 4e-5 of the 801^2 solution, and within 1.5e-3 L2RE of PINNacle's COMSOL file).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..fd_reference import laplace_with_holes
from .common import Setup, deepxde
from .pinnacle import Points, forward_setup, pinnacle_problem, reference_file, sampled_data

HOLES = [(0.3, 0.3, 0.1), (-0.3, 0.3, 0.1), (0.3, -0.3, 0.1), (-0.3, -0.3, 0.1)]
POINTS = {True: Points(1024, 256), False: Points(8192, 2048)}


@lru_cache(maxsize=2)
def reference(n: int = 401) -> tuple[np.ndarray, np.ndarray]:
    """(X (N, 2), u (N, 1)): the finite-difference solution at every 4th node off the holes."""
    X, Y, U = laplace_with_holes(n, HOLES)
    X, Y, U = (a[::4, ::4].ravel() for a in (X, Y, U))
    keep = ~np.isnan(U)
    return np.stack([X[keep], Y[keep]], 1), U[keep][:, None]


def poisson2d_classic(noise, quick, rng) -> Setup:
    """PINNacle's Poisson2d-C (forward; ``noise`` unused)."""
    dde = deepxde()
    geom = dde.geometry.Rectangle([-0.5, -0.5], [0.5, 0.5])
    for cx, cy, r in HOLES:
        geom = dde.geometry.CSGDifference(geom, dde.geometry.Disk([cx, cy], r))

    def pde(x, u):
        return dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)

    def edge(x, on):
        return on and bool(np.isclose(np.abs(x), 0.5).any())

    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: 1, edge),
        dde.icbc.DirichletBC(geom, lambda x: 0, lambda x, on: on and not edge(x, on)),
    ]
    pts = POINTS[quick]
    data = sampled_data(dde, geom, pde, bcs, pts)
    table = reference_file("poisson2d_classic", "poisson_classic.dat", 2)
    X, exact = reference() if table is None else (table[:, :2], table[:, 2:3])
    return forward_setup(dde, data, quick, X, exact, (1.0, 1.0))


PROBLEMS = {"poisson2d_classic": pinnacle_problem(poisson2d_classic, 1000)}
