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
