"""The balanced smoothing width (``steadygrad.inverse.balance_width``) against the oracle width,
which knows the truth, on a problem whose derivative is known exactly."""

import numpy as np
import pytest
from steadygrad.inverse import balance_width

N = 256
X = np.arange(N) / N
K = 2 * np.pi * np.fft.fftfreq(N, 1 / N)
SIGNAL = np.sin(2 * np.pi * X) + 0.5 * np.sin(6 * np.pi * X) + 0.2 * np.cos(10 * np.pi * X)
EXACT = np.real(np.fft.ifft(-(K**2) * np.fft.fft(SIGNAL)))  # u'' of the periodic signal
WIDTHS = (0.0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08)


def _second_derivative(u, width):
    """u'' of u smoothed by a Gaussian of standard deviation ``width`` (exact, Fourier)."""
    return np.real(np.fft.ifft(-(K**2) * np.exp(-0.5 * (K * width) ** 2) * np.fft.fft(u)))


def _choose(sigma, seed, **kw):
    u = SIGNAL + sigma * np.random.default_rng(seed).standard_normal(N)
    chosen = balance_width(
        WIDTHS, _second_derivative, u, lambda d, rng: d + sigma * rng.standard_normal(N), **kw
    )
    errors = [np.sqrt(np.mean((_second_derivative(u, w) - EXACT) ** 2)) for w in WIDTHS]
    return chosen, errors


@pytest.mark.parametrize("sigma", [1e-3, 1e-2, 5e-2])
def test_the_chosen_width_is_near_the_oracle(sigma):
    """Without seeing the truth, the chosen width's error stays within 2x the best candidate's
    (measured: at most 1.65x over these 15 cases), and far below the unsmoothed estimate's."""
    for seed in range(5):
        chosen, errors = _choose(sigma, seed)
        assert errors[chosen.index] <= 2.0 * min(errors), (seed, chosen.width, errors)
        assert errors[chosen.index] < 0.1 * errors[0], (seed, chosen.width)
        np.testing.assert_array_equal(
            chosen.estimate,
            _second_derivative(
                SIGNAL + sigma * np.random.default_rng(seed).standard_normal(N), chosen.width
            ),
        )


def test_more_noise_chooses_wider_and_no_noise_the_narrowest():
    picks = [np.mean([_choose(s, seed)[0].width for seed in range(5)]) for s in (1e-4, 1e-2, 5e-2)]
    assert picks[0] < picks[1] < picks[2], picks
    chosen, _ = _choose(0.0, 0)
    assert chosen.index == 0 and max(chosen.spread) == 0.0
    assert "width 0 (candidate 1 of 8)" in chosen.describe()


def test_bad_input_is_refused():
    est = _second_derivative
    same = lambda d, rng: d  # noqa: E731
    with pytest.raises(ValueError, match="increase"):
        balance_width((0.02, 0.01), est, SIGNAL, same)
    with pytest.raises(ValueError, match="two or more"):
        balance_width((0.01,), est, SIGNAL, same)
    with pytest.raises(ValueError, match="two or more"):
        balance_width((0.0, float("nan")), est, SIGNAL, same)
    with pytest.raises(ValueError, match="draws"):
        balance_width(WIDTHS, est, SIGNAL, same, draws=1)
    with pytest.raises(ValueError, match="kappa"):
        balance_width(WIDTHS, est, SIGNAL, same, kappa=0.0)
    with pytest.raises(ValueError, match="not finite"):
        balance_width(WIDTHS, lambda d, w: est(d, w) / (w > 0.01), SIGNAL, same)
