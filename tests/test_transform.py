"""Derivatives of output transforms (hard constraints) by forward mode through the transform.

Reference: nested reverse-mode autodiff of the same transform in lattice mode, where autograd
with respect to the inputs already returns kernel derivatives of u (``connect.py``), so both
sides differentiate the same discrete field by independent mechanisms.
"""

import pytest
import torch
from steadygrad.mollifier import MollifierLayer, field_of
from steadygrad.mollifier.field import UnservableDerivative, differentiate
from steadygrad.mollifier.transform import AffineCache, transformed


def _net(dim, out):
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Linear(dim, 16), torch.nn.Tanh(), torch.nn.Linear(16, out)
    ).double()


def _autodiff(v, x, axes):
    for a in axes:
        (g,) = torch.autograd.grad(v.sum(), x, create_graph=True)
        v = g[:, a : a + 1]
    return v


def _served(v, x, axes, component=0):
    d = differentiate(v, x, axes[0], component)
    for a in axes[1:]:
        d = differentiate(d, x, a)
    return d


def _hard(x, u):  # two outputs, mixing components and coordinates, as DeepXDE examples do
    s = x[:, 0:1] * (1 - x[:, 0:1]) * torch.sin(torch.pi * x[:, 1:2])
    return torch.cat([s * u[:, 0:1] + x[:, 1:2] ** 2, torch.exp(u[:, 1:2]) * u[:, 0:1]], 1)


def _affine(x, u):  # affine in u with x-dependent coefficients mixing the components
    s = x[:, 0:1] * (1 - x[:, 0:1]) * torch.sin(torch.pi * x[:, 1:2])
    return torch.cat([s * u[:, 0:1] + x[:, 1:2] ** 2, torch.exp(x[:, 0:1]) * u - u[:, 0:1]], 1)


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 0), (0, 1), (1, 1), (0, 0, 1)])
@pytest.mark.parametrize("component", [0, 1])
@pytest.mark.parametrize("transform", [_hard, _affine])
def test_transform_derivatives_match_autodiff_through_the_transform(axes, component, transform):
    layer = MollifierLayer(_net(2, 2), width=0.15, mode="lattice", points=4)
    x = torch.rand(60, 2, dtype=torch.float64).requires_grad_()
    v = transformed(x, layer(x), transform, AffineCache())
    assert (field_of(v)[0].affine is None) == (transform is _hard)
    served = _served(v, x, axes, component)
    reference = _autodiff(v[:, component : component + 1], x, axes)
    assert field_of(served) is not None
    assert torch.allclose(served, reference, rtol=1e-9, atol=1e-10)


def _clamped(x, u):
    return x**2 * u


def test_fourth_order_through_a_hard_constraint_and_parameter_gradients():
    """Beam-style x^2 u: d^4/dx^4 and the gradient of a loss on it w.r.t. the parameters."""
    net = _net(1, 1)
    layer = MollifierLayer(net, width=0.2, mode="lattice", points=4)
    x = torch.linspace(0, 1, 40, dtype=torch.float64)[:, None].requires_grad_()
    grads = []
    cache = AffineCache()
    for way in (_served, _autodiff):
        v = transformed(x, layer(x), _clamped, cache)
        d4 = way(v, x, (0, 0, 0, 0))
        grads.append(torch.autograd.grad((d4**2).mean(), list(net.parameters())))
        u = layer(x)
        ref = sum(  # chain rule: (x^2 u)'''' = 12 u'' + 8 x u''' + x^2 u''''
            c * layer.derivative(u, (n,)) if n else c * u
            for c, n in ((12.0, 2), (8 * x, 3), (x**2, 4))
        )
        assert torch.allclose(d4, ref, rtol=1e-9, atol=1e-9)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)


def _only_at_the_inputs(x, y):
    """A transform that refuses shifted inputs (e.g. a lookup keyed by the input tensor)."""
    if not x.is_leaf:
        raise KeyError("unknown input tensor")
    return x * y


def test_identity_transform_keeps_the_base_tag_and_bad_transforms_are_named():
    layer = MollifierLayer(_net(1, 1), width=0.2, mode="scattered", points=4)
    x = torch.rand(10, 1, dtype=torch.float64).requires_grad_()
    u = layer(x)
    v = transformed(x, u, lambda x, y: y)
    assert field_of(u)[0] is not field_of(v)[0]
    assert torch.equal(differentiate(v, x, 0), differentiate(u, x, 0))
    with pytest.raises(ValueError, match="must return"):
        transformed(x, u, lambda x, y: y.sum())
    w = transformed(x, u, _only_at_the_inputs)
    with pytest.raises(UnservableDerivative, match="output transform cannot be differentiated"):
        differentiate(w, x, 0)
    with pytest.raises(ValueError, match="layer output"):
        transformed(x, differentiate(u, x, 0), lambda x, y: y)


def test_affine_coefficients_are_reused_for_the_same_points_only():
    cache, layer = AffineCache(), MollifierLayer(_net(2, 2), width=0.15, points=4)
    x = torch.rand(30, 2, dtype=torch.float64)
    fields = [
        field_of(transformed(p, layer(p), _affine, cache))[0]
        for p in (x.clone().requires_grad_(), x.clone().requires_grad_(), x + 0.01)
    ]
    assert fields[0].affine is fields[1].affine is not fields[2].affine
    assert fields[2].affine is not None
    assert field_of(transformed(x, layer(x), _hard, cache))[0].affine is None
