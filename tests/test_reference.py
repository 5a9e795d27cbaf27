"""Reference solvers used for benchmark data, checked against manufactured solutions."""

import numpy as np
import pytest
import torch
from steadygrad.bench.reference import cahn_hilliard_steady, ch_rate


def _phi(x, y):
    # sine products satisfy phi = 0 and Laplace(phi) = 0 on the boundary of the unit square
    return 0.8 * torch.sin(np.pi * x) * torch.sin(np.pi * y) + 0.3 * torch.sin(
        2 * np.pi * x
    ) * torch.sin(np.pi * y)


def _lap(u, x, y):
    ux, uy = torch.autograd.grad(u.sum(), (x, y), create_graph=True)
    return (
        torch.autograd.grad(ux.sum(), x, create_graph=True)[0]
        + torch.autograd.grad(uy.sum(), y, create_graph=True)[0]
    )


def _source(eps2):
    """s = eps2 Lap^2 phi - Lap(phi^3) + Lap(phi) + k phi, by nested autograd (exact)."""

    def s(X, Y):
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(Y, dtype=torch.float64, requires_grad=True)
        phi = _phi(x, y)
        lap = _lap(phi, x, y)
        out = (
            eps2 * _lap(lap, x, y) - _lap(phi**3, x, y) + lap + torch.as_tensor(ch_rate(X, Y)) * phi
        )
        return out.detach().numpy()

    return s


def test_cahn_hilliard_reference_converges_to_manufactured_solution():
    eps2 = 0.01
    errs = []
    for m in (33, 65):
        _, xs, phi = cahn_hilliard_steady(m, eps2=eps2, s=_source(eps2))
        X, Y = np.meshgrid(xs, xs, indexing="ij")
        errs.append(np.abs(phi - _phi(torch.tensor(X), torch.tensor(Y)).numpy()).max())
    order = np.log2(errs[0] / errs[1])
    assert errs[1] < 2e-3 and 1.8 < order < 2.2, errs


def test_heat_fv_is_second_order_on_a_manufactured_solution():
    """div((1 + x) grad u) = -f with u = sin(pi x) sin(pi y) sin(pi z) (3D) and in 2D."""
    from steadygrad.bench.reference import heat_fv

    for dim in (2, 3):

        def exact(*c):
            return np.prod([np.sin(np.pi * x) for x in c], axis=0)

        def k(*c):
            return 1 + c[0]

        def f(*c):
            rest = np.prod([np.sin(np.pi * x) for x in c[1:]], axis=0)
            return (1 + c[0]) * dim * np.pi**2 * exact(*c) - np.pi * np.cos(np.pi * c[0]) * rest

        errors = []
        for m in (9, 17):
            grid = np.meshgrid(*[np.linspace(0, 1, m)] * dim, indexing="ij")
            errors.append(np.abs(heat_fv(k, f, m, dim) - exact(*grid)).max())
        assert 3.5 < errors[0] / errors[1] < 4.5, (dim, errors)


def test_langevin_paths_match_the_ode_and_the_ou_variance():
    """sigma = 0: first-order convergence to solve_ivp (DOP853); lambda = 0: the sample
    variance of 4000 paths matches sigma^2 (1 - exp(-2 gamma t)) / (2 gamma)."""
    from scipy.integrate import solve_ivp
    from steadygrad.bench.reference import langevin_forcing, langevin_paths

    gamma, rng = 5.0, np.random.default_rng(0)
    exact = solve_ivp(
        lambda t, u: -gamma * u + langevin_forcing(t),
        (0, 1),
        [0.3],
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        dense_output=True,
    ).sol
    errs = []
    for steps in (1000, 2000):
        t, u = langevin_paths(langevin_forcing, gamma, 0.0, 0.3, 1.0, steps, rng)
        errs.append(np.abs(u[0] - exact(t)[0]).max())
    assert 1.8 < errs[0] / errs[1] < 2.2 and errs[1] < 1e-3, errs
    t, u = langevin_paths(lambda t: 0 * t, gamma, 0.8, 0.0, 1.0, 500, rng, paths=4000)
    var = 0.8**2 * (1 - np.exp(-2 * gamma * t[-1])) / (2 * gamma)
    assert abs(u[:, -1].var() / var - 1) < 0.08, (u[:, -1].var(), var)


def test_burgers_cole_hopf_against_quadrature_and_the_published_shock_slope():
    """PINNacle's Burgers1d reference: the trapezoidal Cole-Hopf integrals against scipy's
    adaptive quad, and the steepest slope against Basdevant et al. (1986): |u_x(0, t)| peaks
    at 152.00516 at t = 0.51047."""
    from scipy.integrate import quad
    from scipy.optimize import minimize_scalar
    from steadygrad.bench.reference import BURGERS_NU, burgers_cole_hopf

    nu = BURGERS_NU

    def by_quad(x, t):
        def f(s):
            return np.exp(-np.cos(np.pi * (x - s)) / (2 * np.pi * nu) - s**2 / (4 * nu * t) - 60)

        reach = np.sqrt(1600 * nu * t)  # wider than the reference's own cut, sqrt(600 nu t)
        kw = dict(limit=400, epsrel=1e-12, points=np.linspace(-reach, reach, 41)[1:-1])
        num = quad(lambda s: np.sin(np.pi * (x - s)) * f(s), -reach, reach, **kw)[0]
        return -num / quad(f, -reach, reach, **kw)[0]

    for x, t in [(0.3, 0.2), (-0.01, 1.0), (0.005, 0.8), (-0.9, 0.05), (0.001, 0.3)]:
        assert burgers_cole_hopf(x, t) == pytest.approx(by_quad(x, t), rel=1e-10, abs=1e-12)
    x = np.linspace(-1, 1, 9)
    assert np.allclose(burgers_cole_hopf(x, 0.0), -np.sin(np.pi * x))
    assert np.allclose(burgers_cole_hopf(np.array([-1.0, 1.0]), 0.7), 0.0, atol=1e-12)
    h = 1e-7

    def slope(t):
        return (burgers_cole_hopf(h, t) - burgers_cole_hopf(-h, t)) / (2 * h)

    peak = minimize_scalar(slope, bounds=(0.5, 0.52), method="bounded", options={"xatol": 1e-7})
    assert -peak.fun == pytest.approx(152.00516, rel=2e-6) and peak.x == pytest.approx(
        0.51047, abs=1e-4
    )
    with pytest.raises(ValueError, match="t >= 0"):
        burgers_cole_hopf(0.0, -0.1)
