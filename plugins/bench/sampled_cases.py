"""The problems of ``bench sampled``: DeepXDE-style scripts, written the way DeepXDE's examples
are (its geometry, boundary conditions, sampling, feature and output transforms), each with an
exact solution.  Every ``data(dde)`` returns ``(data, net)`` built on DeepXDE's float default.

1D: Poisson with Dirichlet, Neumann and Robin conditions, the Euler beam (4th order), an
inverse field (u observed, the source q a second output); 1D + t (time not mollified):
diffusion, viscous Burgers (Cole-Hopf solution), heat; 2D: Poisson, Laplace on the disk in
polar coordinates with a feature transform, Helmholtz with a hard-constraint output
transform (and its soft-constraint twin, for the transform's cost), the plate (4th order);
3D: Poisson.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .problems.beam import beam_exact

__all__ = ["SAMPLED", "Case"]


@dataclass
class Case:
    """One problem: its DeepXDE data and network, exact solution, extent per mollified axis.

    ``exact(x)`` returns (N, m) for every network output; ``score`` the output columns whose
    L2 relative error is reported (the inverse field: q only).  Widths are fractions of
    ``extent`` (one entry per mollified axis).  ``seeds``: how many seeds the full run uses.
    """

    data: Callable[[object], tuple]
    exact: Callable[[np.ndarray], np.ndarray]
    dim: int
    extent: tuple
    steps: int
    axes: tuple | None = None
    score: tuple = (0,)
    seeds: int = 1
    quick: bool = False
    widths: tuple | None = None  # fractions of the extent, if not the benchmark's (WIDTHS)


def _fnn(dde, dim: int, out: int = 1, width: int = 50, depth: int = 3):
    return dde.nn.FNN([dim] + [width] * depth + [out], "tanh", "Glorot uniform")


def _sin(dde, x, dim: int, k: float = np.pi):
    out = 1.0
    for i in range(dim):
        out = out * dde.backend.sin(k * x[:, i : i + 1])
    return out


def _laplacian(dde, y, x, dim: int):
    return sum(dde.grad.hessian(y, x, i=i, j=i) for i in range(dim))


def _on(side: float):
    return lambda x, on: on and np.isclose(x[0], side)


# ---- 1D -----------------------------------------------------------------------------------
def _poisson1d(kind: str):
    """u'' = 2 on [-1, 1], u(-1) = 0 and at x = 1: u = 4 (Dirichlet), u' = 4 (Neumann) or
    u' = u (Robin); u = (x + 1)^2."""

    def data(dde):
        geom = dde.geometry.Interval(-1, 1)
        left = dde.icbc.DirichletBC(geom, lambda x: 0, _on(-1))
        right = {
            "dirichlet": lambda: dde.icbc.DirichletBC(geom, lambda x: 4, _on(1)),
            "neumann": lambda: dde.icbc.NeumannBC(geom, lambda x: 4, _on(1)),
            "robin": lambda: dde.icbc.RobinBC(geom, lambda x, y: y, _on(1)),
        }[kind]()

        def pde(x, y):
            return dde.grad.hessian(y, x) - 2

        data = dde.data.PDE(geom, pde, [left, right], num_domain=64, num_boundary=2)
        return data, _fnn(dde, 1)

    return data


def _beam(dde):
    """DeepXDE's Euler beam (``problems/beam.py``) on 64 Hammersley points."""
    from .problems.beam import beam_data

    return beam_data(dde, 64), _fnn(dde, 1, width=20)


def _inverse_field(dde):
    """u'' = q on [-1, 1] with u = sin(pi x) observed at 50 points, q a second output."""
    geom = dde.geometry.Interval(-1, 1)
    obs = np.linspace(-1, 1, 50)[:, None]
    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: 0, lambda x, on: on, component=0),
        dde.icbc.PointSetBC(obs, np.sin(np.pi * obs), component=0),
    ]

    def pde(x, y):
        return dde.grad.hessian(y, x, component=0) - y[:, 1:2]

    data = dde.data.PDE(geom, pde, bcs, num_domain=200, num_boundary=2, anchors=obs)
    return data, dde.nn.PFNN([1, [20, 20], [20, 20], [20, 20], 2], "tanh", "Glorot uniform")


# ---- 1D + t -------------------------------------------------------------------------------
def _space_time(dde, lo: float, hi: float):
    return dde.geometry.GeometryXTime(dde.geometry.Interval(lo, hi), dde.geometry.TimeDomain(0, 1))


def _diffusion(dde):
    """u_t = u_xx - e^-t (sin(pi x) - pi^2 sin(pi x)) on [-1, 1] x [0, 1] (DeepXDE's
    diffusion_1d); u = e^-t sin(pi x)."""
    geom = _space_time(dde, -1, 1)
    bc = dde.icbc.DirichletBC(
        geom, lambda x: np.sin(np.pi * x[:, :1]) * np.exp(-x[:, 1:]), lambda _, on: on
    )
    ic = dde.icbc.IC(geom, lambda x: np.sin(np.pi * x[:, :1]), lambda _, on: on)

    def pde(x, y):
        t, s = x[:, 1:2], dde.backend.sin(np.pi * x[:, 0:1])
        source = dde.backend.exp(-t) * (s - np.pi**2 * s)
        return dde.grad.jacobian(y, x, i=0, j=1) - dde.grad.hessian(y, x, i=0, j=0) + source

    data = dde.data.TimePDE(geom, pde, [bc, ic], num_domain=400, num_boundary=40, num_initial=20)
    return data, _fnn(dde, 2, width=32)


NU, A = 0.1, 2.0  # Burgers viscosity and the Cole-Hopf constant


def _burgers_exact(x):
    """Cole-Hopf: u = 2 nu pi e sin(pi x) / (A + e cos(pi x)), e = exp(-nu pi^2 t)."""
    e = np.exp(-NU * np.pi**2 * x[:, 1:2])
    return 2 * NU * np.pi * e * np.sin(np.pi * x[:, :1]) / (A + e * np.cos(np.pi * x[:, :1]))


def _burgers(dde):
    """u_t + u u_x = nu u_xx on [-1, 1] x [0, 1], u(+-1, t) = 0."""
    geom = _space_time(dde, -1, 1)
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    ic = dde.icbc.IC(geom, _burgers_exact, lambda _, on: on)

    def pde(x, y):
        u_x = dde.grad.jacobian(y, x, i=0, j=0)
        u_t = dde.grad.jacobian(y, x, i=0, j=1)
        return u_t + y * u_x - NU * dde.grad.hessian(y, x, i=0, j=0)

    data = dde.data.TimePDE(geom, pde, [bc, ic], num_domain=1000, num_boundary=80, num_initial=80)
    return data, _fnn(dde, 2, width=32)


def _heat(dde):
    """u_t = u_xx / pi^2 on [0, 1] x [0, 1], u = sin(pi x) at t = 0, 0 at x = 0, 1."""
    geom = _space_time(dde, 0, 1)
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    ic = dde.icbc.IC(geom, lambda x: np.sin(np.pi * x[:, :1]), lambda _, on: on)

    def pde(x, y):
        u_t = dde.grad.jacobian(y, x, i=0, j=1)
        return u_t - dde.grad.hessian(y, x, i=0, j=0) / np.pi**2

    data = dde.data.TimePDE(geom, pde, [bc, ic], num_domain=2000, num_boundary=200, num_initial=100)
    return data, _fnn(dde, 2)


# ---- 2D and 3D ----------------------------------------------------------------------------
def _poisson(dim: int, n_domain: int, n_boundary: int):
    """-Lap u = dim pi^2 prod sin(pi x_i) on [0, 1]^dim, u = 0 on the boundary."""

    def data(dde):
        geom = (
            dde.geometry.Rectangle([0, 0], [1, 1])
            if dim == 2
            else dde.geometry.Cuboid([0, 0, 0], [1, 1, 1])
        )
        bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)

        def pde(x, y):
            return _laplacian(dde, y, x, dim) + dim * np.pi**2 * _sin(dde, x, dim)

        data = dde.data.PDE(geom, pde, [bc], num_domain=n_domain, num_boundary=n_boundary)
        return data, _fnn(dde, dim)

    return data


def _plate(dde):
    """Lap^2 u = 4 pi^4 sin(pi x) sin(pi y), u = Lap u = 0 on the boundary of [0, 1]^2."""
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    navier = dde.icbc.OperatorBC(geom, lambda x, y, _: _laplacian(dde, y, x, 2), lambda _, on: on)

    def pde(x, y):
        return _laplacian(dde, _laplacian(dde, y, x, 2), x, 2) - 4 * np.pi**4 * _sin(dde, x, 2)

    data = dde.data.PDE(geom, pde, [bc, navier], num_domain=2000, num_boundary=200)
    return data, _fnn(dde, 2)


def _laplace_polar(dde):
    """r u_r + r^2 u_rr + u_tt = 0 on (r, theta) in [0, 1] x [0, 2 pi], u(1, theta) = cos theta
    (DeepXDE's Laplace_disk), the network fed (r sin theta, r cos theta); u = r cos theta."""
    geom = dde.geometry.Rectangle([0, 0], [1, 2 * np.pi])
    bc = dde.icbc.DirichletBC(geom, lambda x: np.cos(x[:, 1:2]), _on(1))

    def pde(x, y):
        u_r = dde.grad.jacobian(y, x, i=0, j=0)
        return (
            x[:, 0:1] * u_r
            + x[:, 0:1] ** 2 * dde.grad.hessian(y, x, i=0, j=0)
            + dde.grad.hessian(y, x, i=1, j=1)
        )

    data = dde.data.PDE(geom, pde, [bc], num_domain=2540, num_boundary=80)
    net = _fnn(dde, 2, width=20)
    torch = dde.backend.torch
    net.apply_feature_transform(
        lambda x: torch.cat([x[:, 0:1] * torch.sin(x[:, 1:2]), x[:, 0:1] * torch.cos(x[:, 1:2])], 1)
    )
    return data, net


K0 = 2 * np.pi  # Helmholtz wavenumber (two half-waves per axis)


def _helmholtz(dde, hard: bool = True):
    """-Lap u - k0^2 u = k0^2 sin(k0 x) sin(k0 y) on [0, 1]^2, u = 0 on the boundary enforced
    by the output transform x (1 - x) y (1 - y) N (DeepXDE's Helmholtz hard-constraint form);
    ``hard=False``: the same points, network and PDE with the transform left out and the
    condition a loss term on 200 boundary points instead (what the transform replaces: the
    pair measures its cost)."""
    geom = dde.geometry.Rectangle([0, 0], [1, 1])

    def pde(x, y):
        f = K0**2 * _sin(dde, x, 2, K0)
        return -_laplacian(dde, y, x, 2) - K0**2 * y - f

    if not hard:
        bc = dde.icbc.DirichletBC(geom, lambda x: 0 * x[:, :1], lambda x, on: on)
        return dde.data.PDE(geom, pde, [bc], num_domain=2000, num_boundary=200), _fnn(dde, 2)
    data = dde.data.PDE(geom, pde, [], num_domain=2000)
    net = _fnn(dde, 2)
    net.apply_output_transform(
        lambda x, y: x[:, 0:1] * (1 - x[:, 0:1]) * x[:, 1:2] * (1 - x[:, 1:2]) * y
    )
    return data, net


def _exact_sin(dim: int, k: float = np.pi):
    return lambda x: np.prod(np.sin(k * x[:, :dim]), axis=1, keepdims=True)


SAMPLED: dict[str, Case] = {
    "poisson1d_dirichlet": Case(
        _poisson1d("dirichlet"), lambda x: (x + 1) ** 2, 1, (2,), 3000, seeds=2
    ),
    "poisson1d_neumann": Case(
        _poisson1d("neumann"), lambda x: (x + 1) ** 2, 1, (2,), 3000, seeds=2
    ),
    "poisson1d_robin": Case(_poisson1d("robin"), lambda x: (x + 1) ** 2, 1, (2,), 3000, seeds=2),
    "beam": Case(_beam, beam_exact, 1, (1,), 3000, seeds=2),
    "inverse_field": Case(
        _inverse_field,
        lambda x: np.hstack([np.sin(np.pi * x), -(np.pi**2) * np.sin(np.pi * x)]),
        1,
        (2,),
        3000,
        score=(1,),
        seeds=2,
    ),
    "diffusion1d": Case(
        _diffusion,
        lambda x: np.exp(-x[:, 1:]) * np.sin(np.pi * x[:, :1]),
        2,
        (2,),
        3000,
        axes=(0,),
        seeds=2,
    ),
    "burgers": Case(_burgers, _burgers_exact, 2, (2,), 3000, axes=(0,), seeds=2),
    "heat1d": Case(
        _heat,
        lambda x: np.exp(-x[:, 1:]) * np.sin(np.pi * x[:, :1]),
        2,
        (1,),
        1000,
        axes=(0,),
        quick=True,
    ),
    "poisson2d": Case(_poisson(2, 2000, 200), _exact_sin(2), 2, (1, 1), 1000, quick=True),
    "laplace_polar": Case(
        _laplace_polar, lambda x: x[:, :1] * np.cos(x[:, 1:2]), 2, (1, 2 * np.pi), 1000
    ),
    "helmholtz_hard": Case(_helmholtz, _exact_sin(2, K0), 2, (1, 1), 1000),
    "helmholtz_soft": Case(
        lambda dde: _helmholtz(dde, hard=False), _exact_sin(2, K0), 2, (1, 1), 1000
    ),
    "plate2d": Case(_plate, _exact_sin(2), 2, (1, 1), 500),
    # 3D at 2.5%: a 86^3 lattice for 4 800 points, so auto falls back to scattered mode at
    # 125 evaluations per point, ~80x autodiff's step (13.5 s; measured): 5% only
    "poisson3d": Case(_poisson(3, 4000, 800), _exact_sin(3), 3, (1, 1, 1), 100, widths=(0.05,)),
}
