"""Stencil density from accuracy (``density.py``) and the layer's automatic points.

Reference: the scattered layer applied to g = sin(k x + phase), whose mollified derivatives are
k^n eta_hat(k) sin(k x + phase + n pi / 2), with eta_hat from scipy's adaptive quadrature.
"""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from steadygrad.mollifier import MollifierLayer
from steadygrad.mollifier.density import (
    interpolation_error,
    points_for,
    quadrature_error,
)
from steadygrad.mollifier.kernels import make_kernel


def _eta_hat(kernel, kw):
    c = quad(lambda s: kernel.derivative(np.array([s]))[0], -1, 1, epsabs=1e-14)[0]
    return quad(lambda s: kernel.derivative(np.array([s]))[0] * math.cos(kw * s), -1, 1)[0] / c


@pytest.mark.parametrize("kernel", ["polynomial", "bump"])
@pytest.mark.parametrize("points", [2, 3, 5])
@pytest.mark.parametrize("kw", [1.0, 2.0])
def test_quadrature_error_is_the_error_the_layer_makes(kernel, points, kw):
    width, ker = 0.05, make_kernel(kernel)
    k = kw / width
    x = torch.linspace(0.2, 0.8, 97, dtype=torch.float64)[:, None]
    layer = MollifierLayer(
        lambda z: torch.sin(k * z + 0.3),
        width,
        kernel=kernel,
        points=points,
        mode="scattered",
        precision="float64",
    )
    u, hat = layer(x), _eta_hat(ker, kw)
    for n in range(4):
        d = layer.derivative(u, (n,)) if n else u
        exact = k**n * hat * torch.sin(k * x + 0.3 + n * math.pi / 2)
        measured = float((d - exact).abs().max() / exact.abs().max())
        predicted = quadrature_error(ker, n, points, kw)
        # a sup over 97 points of a sinusoid's error: within a few % of its amplitude
        assert measured <= predicted * 1.001 + 1e-12
        assert measured >= predicted * 0.9 - 1e-12


def test_interpolation_error_bounds_lattice_minus_scattered():
    width, kw = 0.05, 1.5
    k = kw / width
    x = torch.rand(300, 1, dtype=torch.float64) * 0.6 + 0.2
    g = lambda z: torch.sin(k * z + 0.3)  # noqa: E731
    for p in (2, 3, 4):
        opts = dict(points=p, precision="float64")
        lat = MollifierLayer(g, width, mode="lattice", **opts)(x)
        sc = MollifierLayer(g, width, mode="scattered", **opts)(x)
        gap = float((lat - sc).abs().max()) / _eta_hat(make_kernel("polynomial"), kw)
        assert 0.05 * interpolation_error(p, kw) <= gap <= interpolation_error(p, kw) * 1.01


def test_points_for_orders_and_tolerance():
    ker = make_kernel("polynomial")
    assert [points_for(ker, range(n + 1), 1e-3, True) for n in range(5)] == [2, 2, 2, 3, 3]
    assert points_for(ker, [2], 1e-6, True) > points_for(ker, [2], 1e-4, True)
    with pytest.raises(ValueError, match="no stencil density meets rtol=1e-14.*points="):
        points_for(ker, [4], 1e-14, True)


def test_layer_learns_the_density_from_the_orders_requested():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    layer = MollifierLayer(net.double(), width=0.1, mode="scattered")
    x = torch.rand(20, 1, dtype=torch.float64)
    assert layer.density() == 3  # order 4 until something is requested
    layer.derivative(layer(x), (2,))
    assert layer.density() == 2
    layer.derivative(layer(x), (4,))
    assert layer.density() == 3
    assert MollifierLayer(net, width=0.1, points=5).density() == 5
    strict = MollifierLayer(net, width=0.1, rtol=1e-6)
    assert strict.density() > 3


def test_one_info_line_per_point_set_with_the_cost_estimate(caplog):
    import logging

    from steadygrad.mollifier.cost import relative_cost

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    layer = MollifierLayer(net, width=0.05, mode="lattice")
    x = torch.rand(2000, 2)
    with caplog.at_level(logging.INFO, logger="steadygrad"):
        for _ in range(3):
            u = layer(x)
            layer.derivative(u, (2, 0))
    lines = [r.getMessage() for r in caplog.records if "points in 2D" in r.getMessage()]
    assert len(lines) == 2, lines  # before and after the orders were known
    assert "3 points per half-width" in lines[0] and "until the residual" in lines[0]
    assert "2 points per half-width" in lines[1] and "orders <= 2" in lines[1]
    assert "lattice mode" in lines[1] and "x autodiff's" in lines[1]
    # the model: cheaper per point than autodiff when the lattice has fewer nodes than points
    assert relative_cost(1000, 2000, 2) < 1 < relative_cost(20_000, 2000, 2)
    assert relative_cost(20_000, 2000, 4) < 1
    # float32 points with a float64 network: dearer, and the line names the float32 option
    assert relative_cost(20_000, 2000, 2, upcast=True) > 2 * relative_cost(20_000, 2000, 2)
    from steadygrad.mollifier.cost import describe_point_set

    line = describe_point_set(3000, 3, "lattice", 100_000, 2, 2, "float64", upcast=True)
    assert "precision='input'" in line and "beyond rtol" in line and "autodiff" in line
    assert "precision=" not in describe_point_set(3000, 3, "lattice", 100_000, 2, 2, "float32")
    # every axis of 3D points mollified: the line names the lattice over fewer axes
    assert "axes=" in describe_point_set(3000, 3, "lattice", 100_000, 2, 2, "float32", False, True)
    assert "axes=" not in line
