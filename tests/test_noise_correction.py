"""Unbiased nonlinear terms of noisy data (steadygrad.inverse.noise), against exact Gaussian
expectations (Gauss-Hermite quadrature), Monte Carlo, and the chromatin direct estimate."""

import numpy as np
import pytest
from steadygrad.inverse import filtered_variance, unbiased_polynomial


def _expectation(q, x, variance, nodes=40):
    """E[q(x + e)], e ~ N(0, variance): Gauss-Hermite (probabilists'), exact for polynomials."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    values = np.polynomial.polynomial.polyval(x[:, None] + np.sqrt(variance) * t, q)
    return values @ w / np.sqrt(2 * np.pi)


@pytest.mark.parametrize("variance", [0.0, 0.01, 0.3, 2.0])
def test_the_unbiased_polynomial_has_the_expectation_of_the_original(variance):
    rng = np.random.default_rng(0)
    x = np.linspace(-2, 2, 9)
    for degree in range(0, 8):
        p = rng.standard_normal(degree + 1)
        q = unbiased_polynomial(p, variance)
        assert q.shape == p.shape
        exact = np.polynomial.polynomial.polyval(x, p)
        assert np.allclose(_expectation(q, x, variance), exact, rtol=1e-10, atol=1e-10)
        if variance > 0 and degree >= 2:  # and p itself is biased: the correction is needed
            assert not np.allclose(_expectation(p, x, variance), exact, rtol=1e-6, atol=1e-6)


def test_the_cubic_and_the_double_well_in_closed_form():
    v = 0.04
    assert np.allclose(unbiased_polynomial([0, 0, 0, 1], v), [0, -3 * v, 0, 1])  # x^3 - 3 v x
    assert np.allclose(unbiased_polynomial([0, 0, 0, 0, 1], v), [3 * v**2, 0, -6 * v, 0, 1])
    from steadygrad.bench.chromatin import DOUBLE_WELL, PHI_MAX, double_well

    phi = np.linspace(0, 0.7, 11)
    assert np.allclose(np.polynomial.polynomial.polyval(phi, DOUBLE_WELL), double_well(phi))
    q = unbiased_polynomial(DOUBLE_WELL, v)  # f - (6 phi - 3 PHI_MAX) v
    assert np.allclose(q, np.add(DOUBLE_WELL, [3 * PHI_MAX * v, -6 * v, 0, 0]))


def test_the_filtered_variance_matches_filtered_white_noise():
    m, sigma = 64, 0.3
    k = 2 * np.pi * np.fft.fftfreq(m, 1.0 / m)
    h = np.exp(-0.5 * (k / 20) ** 2)[:, None] * np.exp(-0.5 * (k / 35) ** 2)[None, :]
    noise = sigma * np.random.default_rng(1).standard_normal((200, m, m))
    filtered = np.real(np.fft.ifft2(np.fft.fft2(noise) * h))
    assert filtered_variance(h, sigma**2) == pytest.approx(filtered.var(), rel=0.02)
    assert filtered_variance(np.ones((m, m)), sigma**2) == pytest.approx(sigma**2)


def test_the_corrected_chromatin_estimate_loses_the_noise_bias():
    """Mean over noise draws, 5% noise, no mollifier: the uncorrected estimate is shifted by
    the double well's noise bias far beyond its scatter; the corrected one is not."""
    from steadygrad.bench.chromatin import chromatin_data, direct_estimate
    from steadygrad.bench.problems.chromatin import CHROMATIN
    from steadygrad.mollifier import make_kernel

    kernel, m, draws = make_kernel("polynomial"), 32, 12
    clean, _ = chromatin_data(m, CHROMATIN.frames(), 0.0, np.random.default_rng(0))
    sigma = 0.05 * max(np.abs(v).max() for v in clean.values())
    truth = direct_estimate(clean, 0.0, kernel, CHROMATIN.harmonics)
    rng = np.random.default_rng(2)
    raw, fixed = [], []
    for _ in range(draws):
        noisy = {t: v + sigma * rng.standard_normal(v.shape) for t, v in clean.items()}
        raw.append(direct_estimate(noisy, 0.0, kernel, CHROMATIN.harmonics) - truth)
        fixed.append(
            direct_estimate(noisy, 0.0, kernel, CHROMATIN.harmonics, noise_variance=sigma**2)
            - truth
        )
    for shifts, biased in ((raw, True), (fixed, False)):
        mean, scatter = np.mean(shifts, 0), np.std(shifts, 0, ddof=1) / np.sqrt(draws)
        z = np.sqrt(np.mean((mean / scatter) ** 2))  # RMS of the mean in standard errors
        assert (z > 5) if biased else (z < 2), z


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: unbiased_polynomial([], 0.1), "non-empty"),
        (lambda: unbiased_polynomial([1, np.nan], 0.1), "finite"),
        (lambda: unbiased_polynomial([[1, 2]], 0.1), "1-D"),
        (lambda: unbiased_polynomial([1, 2], -0.1), "variance"),
        (lambda: unbiased_polynomial([1, 2], float("inf")), "variance"),
        (lambda: filtered_variance(np.array([]), 1.0), "non-empty"),
        (lambda: filtered_variance(np.ones(4), float("nan")), "variance"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
