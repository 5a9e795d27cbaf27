"""Discrete operators: polynomial exactness, accuracy vs the exact mollified derivative."""

import itertools

import numpy as np
import pytest
import torch
from steadygrad.mollifier import Stencil, grid_derivative, weights_1d
from steadygrad.mollifier.kernels import BumpKernel, GaussianKernel, PolynomialKernel

KERNELS = [PolynomialKernel(8), BumpKernel(), GaussianKernel()]
# quadrature precision reached with 8 points per half-width (bump converges more slowly)
TOL = {"polynomial": 1e-7, "bump": 3e-5, "gaussian": 1e-7}


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
@pytest.mark.parametrize("K", [2, 3, 5, 8])
@pytest.mark.parametrize("order", range(5))
def test_exact_on_polynomials_up_to_degree_order_plus_one(kernel, K, order):
    eps = 0.1
    h = eps / K
    w = weights_1d(kernel, order, eps, h)
    y = np.arange(-K, K + 1) * h
    rng = np.random.default_rng(order + 10 * K)
    for degree in range(order + 2):
        p = np.polynomial.Polynomial(rng.standard_normal(degree + 1))
        x = rng.uniform(-1, 1)
        terms = w * p(x - y)
        exact = p.deriv(order)(x)  # (p * eta)^(n) = p^(n) for deg <= n + 1 and symmetric eta
        assert abs(terms.sum() - exact) <= 1e-13 * np.abs(terms).sum() + 1e-15


def _transfer(kernel, k, eps):
    return kernel.transfer(np.array([k * eps]))[0]


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_1d_matches_exact_mollified_derivative(kernel):
    eps, K, k = 0.1, 8, 2 * np.pi
    h = eps / K
    y = np.arange(-K, K + 1) * h
    x = np.linspace(0, 1, 7)
    for n in range(5):
        w = weights_1d(kernel, n, eps, h)
        disc = np.array([np.sum(w * np.sin(k * (xx - y))) for xx in x])
        exact = k**n * _transfer(kernel, k, eps) * np.sin(k * x + n * np.pi / 2)
        assert np.max(np.abs(disc - exact)) <= TOL[kernel.name] * k**n


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_nd_tensor_product_matches_exact(kernel, dim):
    eps, K = 0.1, 6 if dim == 3 else 8
    ks = [2 * np.pi, np.pi, 3.0][:dim]
    st = Stencil(kernel, [eps] * dim, [eps / K] * dim, range(dim), dim)
    offs = st.offsets(torch.float64, "cpu").numpy()
    x = np.array([0.3, 0.7, 0.1][:dim])
    orders_list = [(4, 0, 0), (2, 2, 0), (1, 1, 1), (0, 3, 1), (1, 0, 2)]
    for orders in orders_list:
        orders = orders[:dim]
        w = st.weights(orders, torch.float64, "cpu").numpy()
        g = np.prod([np.sin(kk * (x[i] - offs[:, i])) for i, kk in enumerate(ks)], axis=0)
        disc = np.sum(w * g)
        exact = np.prod(
            [
                kk**n * _transfer(kernel, kk, eps) * np.sin(kk * x[i] + n * np.pi / 2)
                for i, (kk, n) in enumerate(zip(ks, orders))
            ]
        )
        scale = np.prod([kk**n for kk, n in zip(ks, orders)])
        assert abs(disc - exact) <= 5 * TOL[kernel.name] * scale


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
@pytest.mark.parametrize("order", range(5))
def test_converges_like_width_squared_to_true_derivative(kernel, order):
    k, x = 2 * np.pi, 0.3
    widths = np.array([0.08, 0.04, 0.02])
    errs = []
    for eps in widths:
        K = 16
        y = np.arange(-K, K + 1) * eps / K
        w = weights_1d(kernel, order, eps, eps / K)
        errs.append(
            abs(np.sum(w * np.sin(k * (x - y))) - k**order * np.sin(k * x + order * np.pi / 2))
        )
    rates = np.log(np.array(errs[:-1]) / np.array(errs[1:])) / np.log(2)
    assert np.all((rates > 1.85) & (rates < 2.15)), rates


def test_naive_sampling_fails_where_corrected_weights_do_not():
    """A plain sampled bump with 21 points is off by >100% on the 2nd and 4th derivative."""
    kernel, eps, K, k, x = BumpKernel(), 0.05, 10, 2 * np.pi, 0.3
    h = eps / K
    y = np.arange(-K, K + 1) * h
    for n in (2, 4):
        naive = (h / eps) * kernel.derivative(y / eps, n) / kernel.normalisation / eps**n
        true = k**n * np.sin(k * x + n * np.pi / 2)
        assert abs(np.sum(naive * np.sin(k * (x - y))) - true) > abs(true)
        w = weights_1d(kernel, n, eps, h)
        assert abs(np.sum(w * np.sin(k * (x - y))) - true) < 0.01 * abs(true)


@pytest.mark.parametrize(
    "width,spacing", [(0.019, 0.01), (0.0, 0.01), (0.1, float("nan")), (-1, 0.1)]
)
def test_unresolvable_settings_are_rejected(width, spacing):
    with pytest.raises(ValueError):
        weights_1d(PolynomialKernel(8), 2, width, spacing)


def test_width_below_two_spacings_message():
    with pytest.raises(ValueError, match="below 2 grid spacings"):
        weights_1d(BumpKernel(), 1, 0.015, 0.01)


def test_grid_derivative_boundaries_and_mask():
    h, eps = 0.01, 0.05
    xs = torch.arange(0, 1 + h / 2, h, dtype=torch.float64)
    k = 2 * np.pi
    vals = torch.sin(k * xs)[None]
    st = Stencil(PolynomialKernel(8), [eps], [h], [0], 1)
    exact = -(k**2) * _transfer(PolynomialKernel(8), k, eps) * torch.sin(k * xs)
    out, mask = grid_derivative(vals, st, [2], boundary="valid")
    assert mask.sum() == len(xs) - 10 and not mask[:5].any() and mask[5:-5].all()
    assert torch.isnan(out[0, ~mask]).all()
    assert torch.allclose(out[0, mask], exact[mask], atol=1e-6 * k**2)
    for mode in ("reflect", "replicate"):
        o, m = grid_derivative(vals, st, [2], boundary=mode)
        assert torch.isfinite(o).all() and torch.allclose(o[0, m], out[0, m], atol=1e-12)
    with pytest.raises(ValueError, match="boundary"):
        grid_derivative(vals, st, [2], boundary="wrap")


def test_grid_derivative_2d_mixed():
    h, eps = 0.02, 0.1
    xs = torch.arange(0, 1 + h / 2, h, dtype=torch.float64)
    X, Y = torch.meshgrid(xs, xs, indexing="ij")
    kernel = PolynomialKernel(8)
    st = Stencil(kernel, [eps, eps], [h, h], [0, 1], 2)
    out, mask = grid_derivative(torch.sin(2 * X) * torch.cos(3 * Y), st, [1, 2])
    T = _transfer(kernel, 2, eps) * _transfer(kernel, 3, eps)
    exact = -2 * 9 * T * torch.cos(2 * X) * torch.cos(3 * Y)
    assert torch.allclose(out[mask], exact[mask], atol=1e-9)


def test_all_settings_combinations_resolve():
    """Every kernel x order x resolution the API accepts gives consistent weights: the n-th
    moment is (-1)^n n! exactly and a resolved sine's derivative is within 10% (never >100%)."""
    k, x = 2 * np.pi, 0.3
    for kernel, n, K in itertools.product(KERNELS, range(5), range(2, 12)):
        eps = 0.05
        y = np.arange(-K, K + 1) * eps / K
        w = weights_1d(kernel, n, eps, eps / K)
        assert np.isfinite(w).all()
        assert np.sum(w * y**n) == pytest.approx((-1) ** n * np.prod(np.arange(1, n + 1)), rel=1e-9)
        true = k**n * np.sin(k * x + n * np.pi / 2)
        assert abs(np.sum(w * np.sin(k * (x - y))) - true) < 0.1 * k**n
