"""Derivatives DeepXDE users write on columns and products of the output: ``u = y[:, 0:1]``
and d(a u_x)/dx are served by the mollifier, not by the autodiff fallback."""

import os
import warnings

import pytest
import torch
from steadygrad.mollifier import MollifierLayer
from steadygrad.mollifier.field import field_of, product_derivative


def _layer_and_output():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    layer = MollifierLayer(net.double(), width=0.1, mode="scattered")
    x = torch.rand(40, 2, dtype=torch.float64, requires_grad=True)
    return layer, x, layer(x)


def _grad(t, x):
    return torch.autograd.grad(t.sum(), x, create_graph=True)[0]


def test_a_column_of_the_output_is_its_component():
    layer, x, y = _layer_and_output()
    a = y[:, 1:2]
    assert field_of(a)[1] == 1 and field_of(y[:, 0:1])[1] == 0
    assert torch.allclose(layer.derivative(a, (1, 0)), layer.derivative(y, (1, 0), component=1))
    # the same as autodiff of the mollified column (scattered mode is autodiff-compatible)
    assert torch.allclose(layer.derivative(a, (0, 1)), _grad(a, x)[:, 1:2], rtol=1e-7)
    assert field_of(y[:5, 0:1]) is None and field_of(y[:, 0:2]) is None  # rows, two columns


def test_products_of_fields_by_the_product_rule_against_autodiff():
    layer, x, y = _layer_and_output()
    u, a = y[:, 0:1], y[:, 1:2]
    u_x = layer.derivative(u, (1, 0))
    for expr in (a * u_x, 3.0 * (a * u_x), u * u, (a * u) * u_x):
        served = product_derivative(expr, x, 0)
        if expr.grad_fn.name() != "MulBackward0" or served is None:
            continue
        assert torch.allclose(served, _grad(expr, x)[:, :1], rtol=1e-6, atol=1e-9), expr
    assert product_derivative(a * u_x, x, 0) is not None
    assert product_derivative(a + u_x, x, 0) is None  # not a product: the host's autodiff
    assert product_derivative(torch.sin(x[:, :1]) * u, x, 0) is None  # x-dependent non-field


def test_deepxde_residual_with_columns_and_a_product_needs_no_fallback():
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde
    import steadygrad.deepxde as sgd

    net = dde.nn.FNN([2, 16, 2], "tanh", "Glorot normal")
    x = torch.rand(100, 2, requires_grad=True)
    try:
        sgd.enable("mollifier", width=0.1, mode="scattered", precision="input")
        y = net(x)
        u, a = y[:, 0:1], y[:, 1:2]
        with warnings.catch_warnings():
            warnings.simplefilter("error", sgd.FallbackWarning)
            u_x = dde.grad.jacobian(u, x, i=0, j=0)
            flux = dde.grad.jacobian(a * u_x, x, i=0, j=0)
    finally:
        sgd.disable()
    expected = torch.autograd.grad((a * u_x).sum(), x, retain_graph=True)[0][:, :1]
    # float32 stencils against float32 autodiff of the same mollified field
    assert (flux - expected).abs().max() < 2e-3 * expected.abs().max()
    with pytest.raises(sgd.FallbackWarning):  # a sum is not served: the fallback still warns
        with warnings.catch_warnings():
            warnings.simplefilter("error", sgd.FallbackWarning)
            sgd.enable("mollifier", width=0.1, mode="scattered", precision="input")
            try:
                dde.grad.jacobian(net(x)[:, 0:1] + x[:, :1], x, i=0, j=0)
            finally:
                sgd.disable()
