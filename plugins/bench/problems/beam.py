"""``beam``: the cantilever u'''' = -1 (forward, 4th order)."""

from __future__ import annotations

import numpy as np

from .common import Problem, Setup, deepxde, rel


def beam_exact(x: np.ndarray) -> np.ndarray:
    """The beam's exact deflection u(x) = -x^4/24 + x^3/6 - x^2/4."""
    return -(x**4) / 24 + x**3 / 6 - x**2 / 4


def beam_data(dde, num_domain: int, **kw):
    """DeepXDE's Euler beam: u'''' = -1 on [0, 1], u(0) = u'(0) = 0, u''(1) = u'''(1) = 0, as a
    ``dde.data.PDE`` with ``num_domain`` points (``kw``: its other arguments).  The one beam of
    the benchmarks (``beam`` here, and ``sampled``'s beam case)."""

    def ddy(x, y):
        return dde.grad.hessian(y, x)

    geom = dde.geometry.Interval(0, 1)
    left = lambda x, on: on and np.isclose(x[0], 0)
    right = lambda x, on: on and np.isclose(x[0], 1)
    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: 0, left),
        dde.icbc.NeumannBC(geom, lambda x: 0, left),
        dde.icbc.OperatorBC(geom, lambda x, y, _: ddy(x, y), right),
        dde.icbc.OperatorBC(geom, lambda x, y, _: dde.grad.jacobian(ddy(x, y), x), right),
    ]
    pde = lambda x, y: dde.grad.hessian(ddy(x, y), x) + 1
    return dde.data.PDE(geom, pde, bcs, num_domain=num_domain, num_boundary=2, **kw)


def beam(noise, quick, rng) -> Setup:
    """The beam on 63 uniform points (forward, 4th order; exact solution known)."""
    dde = deepxde()
    n = 63
    data = beam_data(dde, n, train_distribution="uniform")
    net = dde.nn.FNN([1, 32, 32, 1], "tanh", "Glorot uniform")
    xs = np.linspace(0, 1, 201)[:, None]
    return Setup(
        data, net, lambda m: {"u_l2": rel(m.predict(xs), beam_exact(xs))}, 1 / (n + 1), 4 / (n + 1)
    )


PROBLEMS = {"beam": Problem(beam, False, 1000, 10000)}
