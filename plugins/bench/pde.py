"""PDE benchmark problems through DeepXDE: autodiff vs mollifier (scattered and grid).

Every problem trains on lattice points (so grid mode applies) and reports time per
training step, peak memory and the error of the solution or recovered parameter against
a reference computed here (analytic, scipy ``solve_bvp``, or a sparse finite-volume solve).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .reference import (
    default_rate,
    diffusion_reaction_bvp,
    heat2d_reference,
    heat_conductivity,
    langevin_forcing,
    langevin_paths,
)

__all__ = ["PDE_PROBLEMS", "VARIANTS", "Problem", "Setup"]

VARIANTS = ("autodiff", "mollifier-scattered", "mollifier-grid")


@dataclass
class Setup:
    """What a problem builder returns."""

    data: object
    net: object
    evaluate: Callable[[object], dict]
    spacing: float | tuple
    width: float | tuple
    variables: list = field(default_factory=list)
    lr: float = 1e-3
    loss_weights: list | None = None
    axes: tuple | None = None  # mollified input axes (default: all)
    baseline: dict = field(default_factory=dict)  # derivative-free scores, for comparison
    noise_std: float = 0.0  # the observations' noise standard deviation (known to the recipe)


def _dde():
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    return dde


def _noisy(u, noise, rng):
    return u + noise * np.abs(u).max() * rng.standard_normal(u.shape)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _param_scores(pred, true) -> dict:
    """Relative L2 error and correlation of a recovered parameter field (flattened)."""
    pred, true = np.ravel(pred), np.ravel(true)
    return {"param_rel_err": _rel(pred, true), "param_corr": float(np.corrcoef(pred, true)[0, 1])}


def _values(param, X: np.ndarray) -> np.ndarray:
    """An eliminated parameter's recovered field at the points X (N, d), flattened."""
    import torch

    return param.values(torch.as_tensor(X)).detach().cpu().numpy().ravel()


def _lattice2d(lo: float, hi: float, n: int):
    """(n*n, 2) nodes of an n x n lattice on [lo, hi]^2, C order (x index major)."""
    g = np.linspace(lo, hi, n)
    return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)


def poisson1d(noise, quick, rng) -> Setup:
    """-u'' = pi^2 sin(pi x), u(0) = u(1) = 0 (forward; exact u = sin(pi x))."""
    dde = _dde()
    n = 63
    geom = dde.geometry.Interval(0, 1)
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    data = dde.data.PDE(
        geom,
        lambda x, y: dde.grad.hessian(y, x) + np.pi**2 * dde.backend.sin(np.pi * x),
        [bc],
        num_domain=n,
        num_boundary=2,
        train_distribution="uniform",
    )
    net = dde.nn.FNN([1, 32, 32, 1], "tanh", "Glorot uniform")
    xs = np.linspace(0, 1, 201)[:, None]
    return Setup(
        data,
        net,
        lambda m: {"u_l2": _rel(m.predict(xs), np.sin(np.pi * xs))},
        1 / (n + 1),
        4 / (n + 1),
    )


def beam(noise, quick, rng) -> Setup:
    """u'''' = -1, u(0) = u'(0) = 0, u''(1) = u'''(1) = 0 (forward, 4th order)."""
    dde = _dde()
    n = 63

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
    data = dde.data.PDE(
        geom,
        lambda x, y: dde.grad.hessian(ddy(x, y), x) + 1,
        bcs,
        num_domain=n,
        num_boundary=2,
        train_distribution="uniform",
    )
    net = dde.nn.FNN([1, 32, 32, 1], "tanh", "Glorot uniform")
    xs = np.linspace(0, 1, 201)[:, None]
    exact = -(xs**4) / 24 + xs**3 / 6 - xs**2 / 4
    return Setup(
        data, net, lambda m: {"u_l2": _rel(m.predict(xs), exact)}, 1 / (n + 1), 4 / (n + 1)
    )


def diffusion_const(noise, quick, rng) -> Setup:
    """D u'' = -(1 + x) sin(3x) ... inverse for the constant D (true 0.5); data from solve_bvp."""
    dde = _dde()
    D_true, n = 0.5, 63
    f = lambda x: 4 * np.sin(3 * x) + 1
    u_ref = diffusion_reaction_bvp(
        k=lambda x: 0 * x, lam=D_true, f=lambda x: -f(x), boundary=(0.0, 0.0)
    )
    geom = dde.geometry.Interval(0, 1)
    xo = np.linspace(0, 1, n + 2)[:, None]
    D = dde.Variable(1.0)
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    obs = dde.icbc.PointSetBC(xo, _noisy(u_ref(xo), noise, rng))
    pde = lambda x, y: D * dde.grad.hessian(y, x) + 4 * dde.backend.sin(3 * x) + 1
    data = dde.data.PDE(
        geom, pde, [bc, obs], num_domain=n, num_boundary=2, train_distribution="uniform", anchors=xo
    )
    net = dde.nn.FNN([1, 32, 32, 1], "tanh", "Glorot uniform")
    return Setup(
        data,
        net,
        lambda m: {"param_rel_err": abs(float(D) - D_true) / D_true},
        1 / (n + 1),
        4 / (n + 1),
        variables=[D],
        lr=3e-3,
    )


def diffusion_reaction(noise, quick, rng) -> Setup:
    """0.01 u'' - k(x) u = -1, u = 1 at both ends; recover k(x) from noisy u (solve_bvp data)."""
    dde = _dde()
    n, lam = 63, 0.01
    u_ref = diffusion_reaction_bvp(default_rate, lam)
    geom = dde.geometry.Interval(0, 1)
    xo = np.linspace(0, 1, n + 2)[:, None]
    bc = dde.icbc.DirichletBC(geom, lambda x: 1, lambda _, on: on, component=0)
    obs = dde.icbc.PointSetBC(xo, _noisy(u_ref(xo), noise, rng), component=0)

    def pde(x, y):
        return lam * dde.grad.hessian(y, x, component=0) - y[:, 1:2] * y[:, 0:1] + 1

    data = dde.data.PDE(
        geom, pde, [bc, obs], num_domain=n, num_boundary=2, train_distribution="uniform", anchors=xo
    )
    net = dde.nn.FNN([1, 32, 32, 32, 2], "tanh", "Glorot uniform")
    xs = np.linspace(0, 1, 201)[:, None]
    k = default_rate(xs)

    def evaluate(m):
        kp = m.predict(xs)[:, 1:2]
        return _param_scores(kp, k)

    return Setup(data, net, evaluate, 1 / (n + 1), 4 / (n + 1))


HEAT2D_SOURCE, HEAT2D_DEGREE = 20.0, 8


def heat2d_observations(n: int, noise: float, rng) -> tuple[np.ndarray, np.ndarray, float]:
    """heat2d's data: the n x n lattice X (n^2, 2) on [0, 1]^2 (nodes of the 129-node
    reference), u there (n^2, 1) with noise x max|u| Gaussian noise drawn from ``rng``, and
    that noise's standard deviation."""
    X = _lattice2d(0, 1, n)
    u = heat2d_reference(129, source=HEAT2D_SOURCE)(X)[:, None]
    return X, _noisy(u, noise, rng), noise * float(np.abs(u).max())


def heat2d(noise, quick, rng) -> Setup:
    """div(lambda(x,y) grad u) = -f on [0,1]^2 with unknown lambda (paper's 2nd-order case).

    f = 20 makes u = O(1), so data and PDE losses are on the same scale (with f = 1, u ~ 0.05
    and the fit ignores the data: any lambda satisfies the PDE for some u).  lambda = 1 + B c
    (Legendre, degree 8) enters the residual linearly (with its gradient) and is eliminated
    by least squares at every step (``steadygrad.inverse``); the network learns u only."""
    dde = _dde()
    import steadygrad.deepxde as sgd

    from ..inverse import LegendreBasis

    n, f = (17 if quick else 33), HEAT2D_SOURCE
    X, u_obs, _ = heat2d_observations(n, noise, rng)
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    obs = dde.icbc.PointSetBC(X, u_obs)
    lam = sgd.LinearParameter(LegendreBasis(HEAT2D_DEGREE), offset=1.0)  # the known background 1

    def pde(x, y):
        u_x, u_y = dde.grad.jacobian(y, x, i=0, j=0), dde.grad.jacobian(y, x, i=0, j=1)
        lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
        return lam.eliminate((lam(x) * lap + lam.grad(x, 0) * u_x + lam.grad(x, 1) * u_y + f) / f)

    data = dde.data.PDE(geom, pde, [bc, obs], num_domain=0, num_boundary=0, anchors=X)
    lam.attach(data)
    net = dde.nn.FNN([2, 32, 32, 1], "tanh", "Glorot uniform")
    Xi = _lattice2d(0.15, 0.85, 29)
    lam_true = heat_conductivity(Xi[:, 0], Xi[:, 1])
    h = 1 / (n - 1)
    return Setup(
        data,
        net,
        lambda m: _param_scores(_values(lam, Xi), lam_true),
        (h, h),
        (3 * h, 3 * h),
        loss_weights=[1.0, 10.0, 100.0],
    )


CH_EPS2, CH_K0, CH_DEGREE = 0.01, 30.0, 8


def cahn_hilliard_observations(n: int, noise: float, rng) -> tuple:
    """cahn_hilliard's data: the n x n lattice X (n^2, 2) (nodes of the 129-node reference),
    phi there (n^2, 1) with noise x max|phi| Gaussian noise from ``rng``, that noise's
    standard deviation, and the reference interpolator phi(x, y)."""
    from .reference import cahn_hilliard_steady

    phi_ref, _, _ = cahn_hilliard_steady(129, eps2=CH_EPS2)
    X = _lattice2d(0, 1, n)
    phi = phi_ref(X)[:, None]
    return X, _noisy(phi, noise, rng), noise * float(np.abs(phi).max()), phi_ref


def cahn_hilliard(noise, quick, rng) -> Setup:
    """Lap(mu) - k(x,y) phi + s = 0, mu = -eps2 Lap(phi) + phi^3 - phi on [0,1]^2 (4th order, the
    paper's chromatin-model form); recover the rate k(x, y) from noisy phi (Newton-FD reference).
    k = K0 + B c (Legendre, degree 8) is eliminated by least squares at every step."""
    dde = _dde()
    import steadygrad.deepxde as sgd

    from ..inverse import LegendreBasis
    from .reference import ch_rate, ch_source

    eps2, K0 = CH_EPS2, CH_K0
    n = 17 if quick else 33
    X, phi_obs, _, phi_ref = cahn_hilliard_observations(n, noise, rng)
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    obs = dde.icbc.PointSetBC(X, phi_obs)
    src = lambda x: (
        40.0
        * dde.backend.sin(np.pi * x[:, 0:1])
        * dde.backend.sin(np.pi * x[:, 1:2])
        * (1 + x[:, 0:1])
    )
    assert np.allclose(ch_source(0.3, 0.7), 40 * np.sin(0.3 * np.pi) * np.sin(0.7 * np.pi) * 1.3)
    k = sgd.LinearParameter(LegendreBasis(CH_DEGREE), offset=K0)  # k's known magnitude K0

    def pde(x, phi):
        p_x, p_y = dde.grad.jacobian(phi, x, i=0, j=0), dde.grad.jacobian(phi, x, i=0, j=1)
        p_xx, p_yy = dde.grad.hessian(phi, x, i=0, j=0), dde.grad.hessian(phi, x, i=1, j=1)
        bilap = (
            dde.grad.hessian(p_xx, x, i=0, j=0)
            + 2 * dde.grad.hessian(p_xx, x, i=1, j=1)
            + dde.grad.hessian(p_yy, x, i=1, j=1)
        )
        lap = p_xx + p_yy
        lap_mu = (
            -eps2 * bilap + 3 * phi**2 * lap + 6 * phi * (p_x**2 + p_y**2) - lap
        )  # Lap(phi^3) by the chain rule
        return k.eliminate((lap_mu - k(x) * phi + src(x)) / K0)

    data = dde.data.PDE(geom, pde, [obs], num_domain=0, num_boundary=0, anchors=X)
    k.attach(data)
    net = dde.nn.FNN([2, 48, 48, 48, 1], "tanh", "Glorot uniform")
    Xi = _lattice2d(0.15, 0.85, 29)
    k_true = ch_rate(Xi[:, 0], Xi[:, 1])

    def evaluate(m):
        return {
            **_param_scores(_values(k, Xi), k_true),
            "u_l2": _rel(m.predict(X)[:, 0], phi_ref(X)),
        }

    h = 1 / (n - 1)
    return Setup(data, net, evaluate, (h, h), (3 * h, 3 * h), loss_weights=[1.0, 100.0])


def langevin(noise, quick, rng, sigma: float = 0.5) -> Setup:
    """du = (-gamma u + lambda(t)) dt + sigma dW on [0, 1], gamma = 5: recover the forcing
    lambda(t) from one Euler-Maruyama path (step 5e-5) observed at 101 times with measurement
    noise; residual u_t + gamma u - lambda, the mollifier acting on t.  The process noise makes
    the path rough: lambda is identifiable only up to the sigma dW kicks, which the smoothing
    (mollifier width, or the network's own) must average out."""
    dde = _dde()
    gamma, n = 5.0, 101
    t_fine, u_fine = langevin_paths(langevin_forcing, gamma, sigma, 0.3, 1.0, 20000, rng)
    to = np.linspace(0, 1, n)[:, None]
    u_obs = np.interp(to[:, 0], t_fine, u_fine[0])[:, None]
    geom = dde.geometry.Interval(0, 1)
    obs = dde.icbc.PointSetBC(to, _noisy(u_obs, noise, rng), component=0)

    def pde(x, y):
        return dde.grad.jacobian(y, x, i=0, j=0) + gamma * y[:, 0:1] - y[:, 1:2]

    data = dde.data.PDE(geom, pde, [obs], num_domain=0, num_boundary=0, anchors=to)
    net = dde.nn.FNN([1, 32, 32, 2], "tanh", "Glorot uniform")
    ts = np.linspace(0.05, 0.95, 181)[:, None]
    lam = langevin_forcing(ts[:, 0])

    def evaluate(m):
        return _param_scores(m.predict(ts)[:, 1], lam)

    h = 1 / (n - 1)
    return Setup(data, net, evaluate, h, 4 * h, lr=3e-3)


def langevin_ode(noise, quick, rng) -> Setup:
    """``langevin`` without process noise (sigma = 0): only measurement noise."""
    return langevin(noise, quick, rng, sigma=0.0)


class _PeriodicField:
    """A network phi(x, y, t) on Fourier features of (x, y) (the chromatin problem's square is
    periodic; harmonics 1..K let phi represent its domain pattern without the spectral bias of
    raw coordinates) and the rescaled time; output (N, 1)."""

    @staticmethod
    def build(dde, width: int, depth: int, t_mid: float, t_half: float, k_phi=6):
        import torch

        layers, n = [], 4 * k_phi + 1
        for _ in range(depth):
            layers += [torch.nn.Linear(n, width), torch.nn.Tanh()]
            n = width
        mlp = torch.nn.Sequential(*layers, torch.nn.Linear(n, 1))

        class Field(dde.nn.NN):
            def __init__(self):
                super().__init__()
                self.phi = mlp

            def forward(self, x):
                k = torch.arange(1, k_phi + 1, dtype=x.dtype, device=x.device)
                a = 2 * np.pi * x[:, None, :2] * k[None, :, None]
                tau = (x[:, 2:3] - t_mid) / t_half
                return self.phi(
                    torch.cat([torch.sin(a).flatten(1), torch.cos(a).flatten(1), tau], 1)
                )

        return Field()


def _chromatin_residual(dde, lam):
    """Equation (1) of ``chromatin.py`` as a DeepXDE residual of phi, with lambda eliminated."""
    from .chromatin import L_INTERFACE, PHI_E, PHI_MAX

    def pde(x, p):
        p_x, p_y = dde.grad.jacobian(p, x, i=0, j=0), dde.grad.jacobian(p, x, i=0, j=1)
        p_t = dde.grad.jacobian(p, x, i=0, j=2)
        p_xx, p_yy = dde.grad.hessian(p, x, i=0, j=0), dde.grad.hessian(p, x, i=1, j=1)
        bilap = (
            dde.grad.hessian(p_xx, x, i=0, j=0)
            + 2 * dde.grad.hessian(p_xx, x, i=1, j=1)
            + dde.grad.hessian(p_yy, x, i=1, j=1)
        )
        f1 = PHI_MAX**2 - 6 * PHI_MAX * p + 6 * p**2  # f'(phi), f''(phi): Lap f by the chain rule
        f2 = 12 * p - 6 * PHI_MAX
        lap_f = f1 * (p_xx + p_yy) + f2 * (p_x**2 + p_y**2)
        res = p_t - lap_f + L_INTERFACE**2 * bilap - 2 * (lam(x) * PHI_E - p)
        return lam.eliminate(res)

    return pde


@dataclass(frozen=True)
class ChromatinDesign:
    """Which frames of the chromatin model a case observes, and the lambda prior.

    m: pixels per axis (quick / full); levels: residual t-levels, equally spaced on
    [t0, t1]; every: a frame at every ``every``-th level; harmonics: lambda's Fourier
    harmonics per axis (the basis of the PINN and of the information-limit fit alike);
    dt: the limit fit's SBDF2 step."""

    m_quick: int
    m_full: int
    levels: int
    every: int
    harmonics: int
    t0: float = 0.3
    t1: float = 0.5
    dt: float = 2.5e-3

    def size(self, quick: bool) -> int:
        return self.m_quick if quick else self.m_full

    def levels_t(self) -> np.ndarray:
        return np.round(np.linspace(self.t0, self.t1, self.levels), 6)

    def frames(self) -> tuple:
        return tuple(float(t) for t in self.levels_t()[:: self.every])


#: the flagship, chosen by its information limit (docs/benchmarks.md): 41 frames 0.005 apart,
#: lambda at harmonics <= 2 (limit corr 0.94 at 5% noise on 32^2, 0.93-0.95 at 10% on 64^2)
CHROMATIN = ChromatinDesign(32, 64, levels=41, every=1, harmonics=2)
#: the "thin data" case: 5 frames 0.05 apart, harmonics <= 3 (limit corr 0.11-0.13 at 5%)
CHROMATIN_THIN = ChromatinDesign(32, 64, levels=9, every=2, harmonics=3)


def chromatin_case(design: ChromatinDesign, noise, quick, rng) -> Setup:
    """Time-dependent 4th-order chromatin model on the periodic unit square (``chromatin.py``,
    equation (1), phi_e = 0.5): recover lambda(x, y) from noisy frames phi(x, y, t_k) on an
    m x m pixel grid (``design``).  Residual phi_t - Lap f(phi) + l^2 Lap^2 phi -
    2 (lambda phi_e - phi) on the pixel grid at the design's t-levels; lambda = 0.5 +
    harmonics <= H per axis, eliminated by least squares at every step.  Recipe: the network
    is first fitted to the frames alone (``fit_observations``, stopping at the noise level),
    then trained on residual + data with the data weighted by the inverse noise variance
    (capped at 1e6).  The mollifier acts on (x, y, t): half-widths 1/32 (1 pixel at 32^2, 2
    at 64^2: the ceiling of ``direct_estimate`` is corr 0.92 there, against 0.80 at 3 pixels
    of 64^2) and 3 levels.  Baseline: lambda ~ phi / phi_e."""
    dde = _dde()
    import steadygrad.deepxde as sgd

    from ..inverse import FourierBasis
    from .chromatin import PHI_E, chromatin_data, chromatin_rate

    m, t_lat, times = design.size(quick), design.levels_t(), design.frames()
    clean, noisy = chromatin_data(m, times, noise, rng)
    sigma = noise * max(np.abs(v).max() for v in clean.values())
    g = np.arange(m) / m
    X = np.stack(np.meshgrid(g, g, times, indexing="ij"), -1).reshape(-1, 3)
    data = np.stack([noisy[t] for t in times], -1).reshape(-1, 1)
    geom = dde.geometry.GeometryXTime(
        dde.geometry.Rectangle([0, 0], [1, 1]), dde.geometry.TimeDomain(times[0], times[-1])
    )
    obs = dde.icbc.PointSetBC(X, data, component=0)
    anchors = np.stack(np.meshgrid(g, g, t_lat, indexing="ij"), -1).reshape(-1, 3)
    lam = sgd.LinearParameter(FourierBasis(design.harmonics), offset=0.5)
    data_ = dde.data.TimePDE(
        geom, _chromatin_residual(dde, lam), [obs], num_domain=0, num_boundary=0, anchors=anchors
    )
    lam.attach(data_)
    t_mid, t_half = (times[0] + times[-1]) / 2, (times[-1] - times[0]) / 2
    net = _PeriodicField.build(dde, 32 if quick else 64, 3, t_mid, t_half)
    Xe = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    lam_true = chromatin_rate(Xe[:, 0], Xe[:, 1])
    Xq = np.hstack([Xe, np.full((len(Xe), 1), t_mid)])
    baseline = data.reshape(m * m, len(times)).mean(1) / PHI_E
    h, ht = 1 / m, float(t_lat[1] - t_lat[0])
    return Setup(
        data_,
        net,
        lambda model: _param_scores(_values(lam, Xq), lam_true),
        (h, h, ht),
        (1 / 32, 1 / 32, 3 * ht),
        lr=1e-5,  # Adam only starts the residual stage (after the fit): small steps
        # the data term's weight: the inverse noise variance (the residual's is 1), capped
        loss_weights=[1.0, 1.0 / max(sigma**2, 1e-6)],
        noise_std=sigma,
        baseline={f"baseline_{k}": v for k, v in _param_scores(baseline, lam_true).items()},
    )


def chromatin(noise, quick, rng) -> Setup:
    """The chromatin flagship (``CHROMATIN``: 41 frames, lambda at harmonics <= 2)."""
    return chromatin_case(CHROMATIN, noise, quick, rng)


def chromatin_thin(noise, quick, rng) -> Setup:
    """The chromatin "thin data" case (``CHROMATIN_THIN``: 5 frames, harmonics <= 3)."""
    return chromatin_case(CHROMATIN_THIN, noise, quick, rng)


class Problem(NamedTuple):
    """A PDE benchmark: builder, whether it is inverse, and its training schedule (L-BFGS
    steps fitting the network to the observations alone, docs/inverse.md; then Adam steps, then
    L-BFGS steps, DeepXDE's usual recipe for inverse problems), quick and full."""

    builder: Callable
    inverse: bool
    adam_quick: int
    adam_full: int
    lbfgs_quick: int = 0
    lbfgs_full: int = 0
    skip: tuple = ()  # variants not run (say why in docs/benchmarks.md)
    fit_quick: int = 0  # L-BFGS steps of the observation fit (0: none)
    fit_full: int = 0


PDE_PROBLEMS: dict[str, Problem] = {
    "poisson1d": Problem(poisson1d, False, 1000, 10000),
    "beam": Problem(beam, False, 1000, 10000),
    "diffusion_const": Problem(diffusion_const, True, 1000, 10000),
    "diffusion_reaction": Problem(diffusion_reaction, True, 1000, 20000),
    # inverse recipe (docs/inverse.md): eliminated parameter, Adam, then L-BFGS to convergence
    "heat2d": Problem(heat2d, True, 100, 1000, 30, 5000),
    "cahn_hilliard": Problem(cahn_hilliard, True, 100, 1000, 30, 15000),
    "langevin": Problem(langevin, True, 500, 10000),
    "langevin_ode": Problem(langevin_ode, True, 500, 10000),
    # scattered mode: 343-point 3D stencils, 10x autodiff's step; grid gives its numbers
    # autodiff: its 4th-order nested graph over the flagship's 42 025 residual points grew past
    # 19 GB and was killed on the 24 GB machine (docs/benchmarks.md); chromatin_thin runs it
    "chromatin": Problem(
        chromatin, True, 10, 100, 20, 10000, ("mollifier-scattered", "autodiff"), 3000, 10000
    ),
    "chromatin_thin": Problem(
        chromatin_thin, True, 10, 100, 20, 10000, ("mollifier-scattered",), 3000, 10000
    ),
}
