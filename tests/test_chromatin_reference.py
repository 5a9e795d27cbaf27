"""The chromatin reference solver against a manufactured solution (independent of its
spectral operators: the source is written with the chain rule, analytically)."""

import numpy as np
import pytest
from steadygrad.bench.chromatin import (
    L_INTERFACE,
    PHI_E,
    PHI_MAX,
    chromatin_frames,
    chromatin_rate,
)

A, TWO_PI = 0.1, 2 * np.pi


def exact(t, X, Y):
    return 0.35 + A * np.cos(t) * np.sin(TWO_PI * X) * np.cos(TWO_PI * Y)


def source(t, X, Y):
    """s = phi_t - [Lap f(phi) - l^2 Lap^2 phi + 2 (lambda phi_e - phi)] for phi = exact."""
    phi = exact(t, X, Y)
    wave = phi - 0.35
    lap, bilap = -2 * TWO_PI**2 * wave, 4 * TWO_PI**4 * wave
    amp = A * np.cos(t) * TWO_PI
    grad2 = amp**2 * (
        (np.cos(TWO_PI * X) * np.cos(TWO_PI * Y)) ** 2
        + (np.sin(TWO_PI * X) * np.sin(TWO_PI * Y)) ** 2
    )
    f1 = PHI_MAX**2 - 6 * PHI_MAX * phi + 6 * phi**2
    f2 = -6 * PHI_MAX + 12 * phi
    lap_f = f1 * lap + f2 * grad2
    phi_t = -A * np.sin(t) * np.sin(TWO_PI * X) * np.cos(TWO_PI * Y)
    rhs = lap_f - L_INTERFACE**2 * bilap + 2 * (chromatin_rate(X, Y) * PHI_E - phi)
    return phi_t - rhs


def error(dt, m=32, T=0.2):
    xs = np.arange(m) / m
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    phi = chromatin_frames(m, dt, (T,), phi0=exact(0.0, X, Y), source=source)[T]
    return np.abs(phi - exact(T, X, Y)).max()


def test_second_order_in_time_on_a_manufactured_solution():
    e1, e2, e3 = error(4e-3), error(2e-3), error(1e-3)
    assert 3.2 < e1 / e2 < 5 and 3.2 < e2 / e3 < 5, (e1, e2, e3)
    assert e3 < 1e-4


def test_phase_separation_in_the_benchmark_regime():
    """From 0.35 + noise, domains form by t = 0.5 and stay within (0, PHI_MAX)."""
    frames = chromatin_frames(64, 1e-3, (0.1, 0.5))
    assert frames[0.1].max() - frames[0.1].min() < 0.15
    assert frames[0.5].min() < 0.1 and frames[0.5].max() > 0.6
    assert frames[0.5].min() > 0 and frames[0.5].max() < PHI_MAX


def test_times_must_be_multiples_of_the_step():
    with pytest.raises(ValueError, match="multiples"):
        chromatin_frames(16, 1e-3, (0.0005,))


def test_benchmark_residual_vanishes_on_the_manufactured_solution():
    """The chromatin benchmark's DeepXDE residual, evaluated by autodiff on the manufactured
    phi and the true lambda (in place of the eliminated one), equals the manufactured source s
    (so it is equation (1))."""
    import deepxde as dde
    import torch
    from steadygrad.bench.problems.chromatin import _chromatin_residual

    class TrueRate:  # the eliminated parameter's interface, holding lambda itself
        def __call__(self, x):
            xy = x.detach().numpy()
            return torch.as_tensor(chromatin_rate(xy[:, 0], xy[:, 1]))[:, None]

        def eliminate(self, residual):
            return residual

    pde = _chromatin_residual(dde, TrueRate())
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.uniform(0, 1, (64, 3)), requires_grad=True)
    X, Y, T = (x[:, i : i + 1] for i in range(3))
    phi = 0.35 + A * torch.cos(T) * torch.sin(TWO_PI * X) * torch.cos(TWO_PI * Y)
    residual = pde(x, phi).detach().numpy()[:, 0]
    xs = x.detach().numpy()
    expected = source(xs[:, 2], xs[:, 0], xs[:, 1])
    assert np.abs(residual - expected).max() < 1e-10 * np.abs(expected).max() + 1e-12


def test_direct_estimate_recovers_lambda_without_noise_and_loses_at_5_percent():
    """Differentiating the data directly (no network): exact on clean frames (the reference
    and the residual agree), biased at wide kernels, and below the derivative-free baseline
    at 5% noise for every width (the chromatin benchmark's evidence, docs/benchmarks.md)."""
    from steadygrad.bench.chromatin import chromatin_data, direct_estimate, lowpass
    from steadygrad.bench.direct import TIMES
    from steadygrad.mollifier.kernels import make_kernel

    kernel, m = make_kernel("polynomial"), 64
    g = np.arange(m) / m
    lam = chromatin_rate(*np.meshgrid(g, g, indexing="ij"))

    def corr(est):
        return np.corrcoef(est.ravel(), lam.ravel())[0, 1]

    clean, noisy = chromatin_data(m, TIMES, 0.05, np.random.default_rng(0))
    assert corr(direct_estimate(clean, 0.0, kernel)) > 0.9
    assert corr(direct_estimate(clean, 6 / m, kernel)) < 0.5
    baseline = corr(lowpass(np.mean([noisy[t] for t in TIMES], 0) / PHI_E))
    for width_px in (0, 1, 2, 3, 6):
        assert corr(direct_estimate(noisy, width_px / m, kernel)) < baseline - 0.2
