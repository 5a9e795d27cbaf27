"""``burgers1d``: PINNacle's Burgers1d (Hao et al., NeurIPS 2024), forward.

u_t + u u_x = nu u_xx on [-1, 1] x [0, 1], nu = 0.01 / pi, u(x, 0) = -sin(pi x),
u(+-1, t) = 0: a shock forms at x = 0 (|u_x| peaks at 152.005 at t = 0.5105).  Reference: the
exact Cole-Hopf solution (``reference.burgers_cole_hopf``).  PINNacle trains a 5 x 100 tanh
network on 8 192 domain and 2 048 + 2 048 boundary and initial points for 20 000 Adam steps
(lr 1e-3); the full size here: the same network and schedule on a 129 x 65 lattice (8 385
points, its edge nodes carrying the conditions), so that the mollifier's grid mode applies.
"""

from __future__ import annotations

import numpy as np

from ..reference import BURGERS_NU, burgers_cole_hopf
from .common import Problem, Setup, deepxde, rel


def burgers1d(noise, quick, rng) -> Setup:
    """PINNacle's Burgers1d (forward; ``noise`` unused).  Quick: 3 x 64 network, 65 x 33
    lattice; full: 5 x 100 network (PINNacle's), 129 x 65 lattice."""
    dde = deepxde()
    nx, nt, width, depth = (65, 33, 64, 3) if quick else (129, 65, 100, 5)
    geom = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    ic = dde.icbc.IC(geom, lambda x: -np.sin(np.pi * x[:, :1]), lambda _, on: on)

    def pde(x, y):
        u_x = dde.grad.jacobian(y, x, i=0, j=0)
        u_t = dde.grad.jacobian(y, x, i=0, j=1)
        return u_t + y * u_x - BURGERS_NU * dde.grad.hessian(y, x, i=0, j=0)

    gx, gt = np.linspace(-1, 1, nx), np.linspace(0, 1, nt)
    anchors = np.stack(np.meshgrid(gx, gt, indexing="ij"), -1).reshape(-1, 2)
    # the conditions on the lattice's own edge nodes: every point the residual sees is on it
    data = dde.data.TimePDE(
        geom, pde, [bc, ic], num_domain=0, num_boundary=0, num_initial=0, anchors=anchors
    )
    net = dde.nn.FNN([2, *[width] * depth, 1], "tanh", "Glorot normal")
    xe, te = np.linspace(-1, 1, 201), np.linspace(0, 1, 101)
    X = np.stack(np.meshgrid(xe, te, indexing="ij"), -1).reshape(-1, 2)
    exact = burgers_cole_hopf(X[:, 0], X[:, 1])[:, None]
    hx, ht = gx[1] - gx[0], gt[1] - gt[0]
    return Setup(
        data, net, lambda m: {"u_l2": rel(m.predict(X), exact)}, (hx, ht), (2 * hx, 2 * ht)
    )


# scattered mode skipped: on these lattice points grid mode is what mode='auto' picks, and
# grid and autodiff are the comparison a user meets
PROBLEMS = {
    "burgers1d": Problem(
        burgers1d,
        False,
        300,
        20000,
        skip=("mollifier-scattered", "mollifier-auto"),
        dtype="float32",  # PINNacle's
        traced=True,
    )
}
