"""``chromatin``, ``chromatin_thin``: the reaction rate lambda(x, y) of the time-dependent
4th-order chromatin model from noisy frames (``bench/chromatin.py``), its information limit
and its network-free direct estimate."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ..direct import direct_rows
from .common import Problem, Setup, deepxde, limit_result, param_scores, values


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
    from ..chromatin import L_INTERFACE, PHI_E, PHI_MAX

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
    dde = deepxde()
    import steadygrad.deepxde as sgd

    from ...inverse import FourierBasis
    from ..chromatin import PHI_E, chromatin_data, chromatin_rate

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
        lambda model: param_scores(values(lam, Xq), lam_true),
        (h, h, ht),
        (1 / 32, 1 / 32, 3 * ht),
        lr=1e-5,  # Adam only starts the residual stage (after the fit): small steps
        # the data term's weight: the inverse noise variance (the residual's is 1), capped
        loss_weights=[1.0, 1.0 / max(sigma**2, 1e-6)],
        noise_std=sigma,
        baseline={f"baseline_{k}": v for k, v in param_scores(baseline, lam_true).items()},
    )


def chromatin(noise, quick, rng) -> Setup:
    """The chromatin flagship (``CHROMATIN``: 41 frames, lambda at harmonics <= 2)."""
    return chromatin_case(CHROMATIN, noise, quick, rng)


def chromatin_thin(noise, quick, rng) -> Setup:
    """The chromatin "thin data" case (``CHROMATIN_THIN``: 5 frames, harmonics <= 3)."""
    return chromatin_case(CHROMATIN_THIN, noise, quick, rng)


def chromatin_limit(design, noise: float, quick: bool, rng, max_iter: int = 3000) -> dict:
    """The chromatin design's limit: phi at the first frame (m x m, free, started from the
    noisy frame) and lambda = 0.5 + FourierBasis(H) c, fitted to all frames through the
    Fourier/SBDF2 solver on the pixel grid (dt = 2.5e-3; within 6e-4 of the 128^2 reference
    frames, far below 1% noise)."""
    from ...inverse import LBFGS, FourierBasis, information_limit
    from ..chromatin import chromatin_data, chromatin_rate, chromatin_solve

    m, times = design.size(quick), design.frames()
    clean, noisy = chromatin_data(m, times, noise, rng)
    sigma = noise * max(np.abs(v).max() for v in clean.values())
    g = np.arange(m) / m
    Xe = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    B = FourierBasis(design.harmonics)(torch.as_tensor(Xe, dtype=torch.float64))
    observed = torch.as_tensor(np.stack([noisy[t] for t in times]))

    def forward(phi0, c):
        rate = (0.5 + B @ c).reshape(m, m)
        later = chromatin_solve(phi0, rate, times[0], times[1:], design.dt)
        return torch.cat([phi0[None], later])

    start = {"phi0": observed[0], "c": torch.zeros(B.shape[1], dtype=torch.float64)}
    fit = information_limit(forward, start, observed, sigma, LBFGS(max_iter))
    lam_true = chromatin_rate(Xe[:, 0], Xe[:, 1])
    return limit_result(fit, lambda p: param_scores((0.5 + B @ p["c"]).numpy(), lam_true))


# scattered mode: 343-point 3D stencils, 10x autodiff's step; grid gives its numbers
# autodiff: its 4th-order nested graph over the flagship's 42 025 residual points grew past
# 19 GB and was killed on the 24 GB machine (docs/benchmarks.md); chromatin_thin runs it
PROBLEMS = {
    "chromatin": Problem(
        chromatin,
        True,
        10,
        100,
        5,
        10000,
        ("mollifier-scattered", "mollifier-auto", "autodiff"),
        3000,
        10000,
        limit=partial(chromatin_limit, CHROMATIN),
        direct=partial(direct_rows, CHROMATIN),
    ),
    "chromatin_thin": Problem(
        chromatin_thin,
        True,
        10,
        100,
        5,
        10000,
        ("mollifier-scattered", "mollifier-auto"),
        3000,
        10000,
        limit=partial(chromatin_limit, CHROMATIN_THIN),
        direct=partial(direct_rows, CHROMATIN_THIN),
    ),
}
