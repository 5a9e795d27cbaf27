"""Reference solvers used for benchmark data, checked against manufactured solutions."""

import numpy as np
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
