"""Kernel profiles: derivatives, moments and smoothness checks against independent references."""

import numpy as np
import pytest
from scipy.integrate import quad
from steadygrad.mollifier.kernels import BumpKernel, GaussianKernel, PolynomialKernel

KERNELS = [PolynomialKernel(8), PolynomialKernel(5), BumpKernel(), GaussianKernel()]


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_moments_match_scipy_quad(kernel):
    c = quad(lambda s: kernel.derivative(np.array([s]))[0], -1, 1, epsabs=1e-15, limit=200)[0]
    assert kernel.normalisation == pytest.approx(c, rel=1e-10)
    for j in (2, 4, 6):
        mj = (
            quad(
                lambda s: s**j * kernel.derivative(np.array([s]))[0], -1, 1, epsabs=1e-15, limit=200
            )[0]
            / c
        )
        assert kernel.moment(j) == pytest.approx(mj, rel=1e-9)
    assert abs(kernel.moment(1)) < 1e-15 and abs(kernel.moment(3)) < 1e-15


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_derivatives_match_finite_differences(kernel):
    s = np.linspace(-0.9, 0.9, 37)
    d = 1e-5
    for n in range(1, min(kernel.max_order, 5) + 1):
        fd = (kernel.derivative(s + d, n - 1) - kernel.derivative(s - d, n - 1)) / (2 * d)
        exact = kernel.derivative(s, n)
        assert np.max(np.abs(fd - exact)) <= 1e-6 * max(1.0, np.max(np.abs(exact)))


def test_bump_closed_form():
    s = np.linspace(-0.95, 0.95, 21)
    phi = np.exp(-1 / (1 - s**2))
    assert np.allclose(BumpKernel().derivative(s, 0), phi, rtol=1e-14)
    assert np.allclose(BumpKernel().derivative(s, 1), phi * (-2 * s / (1 - s**2) ** 2), rtol=1e-12)
    assert np.all(BumpKernel().derivative(np.array([-1.0, 1.0, 1.5]), 3) == 0)


def test_order_beyond_smoothness_is_rejected():
    with pytest.raises(ValueError, match="exceeds the smoothness"):
        PolynomialKernel(4).derivative(np.zeros(3), 4)
    with pytest.raises(ValueError, match="exceeds the smoothness"):
        BumpKernel().derivative(np.zeros(3), 9)
    with pytest.raises(ValueError, match="q must be an integer"):
        PolynomialKernel(1)
