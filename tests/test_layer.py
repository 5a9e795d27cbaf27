"""MollifierLayer: grid vs scattered agreement, consistency with autodiff, modes, errors."""

import pytest
import torch
from steadygrad.mollifier import MollifierLayer, field_of


def _net(dim=2, out=2, dtype=torch.float64, device="cpu"):
    torch.manual_seed(0)
    return (
        torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.Tanh(), torch.nn.Linear(32, out))
        .to(dtype)
        .to(device)
    )


def _grid(h, n1, n2, dtype=torch.float64, device="cpu"):
    x = torch.arange(n1, dtype=dtype, device=device) * h
    y = torch.arange(n2, dtype=dtype, device=device) * h + 0.3
    return torch.stack(torch.meshgrid(x, y, indexing="ij"), -1).reshape(-1, 2)


ALPHAS = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (3, 1), (0, 4), (2, 2)]


def test_grid_and_scattered_agree_float64(device):
    net = _net(device=device)
    h = 0.025
    X = _grid(h, 24, 20, device=device).requires_grad_()
    sc = MollifierLayer(net, width=0.2, spacing=h, mode="scattered")
    gr = MollifierLayer(net, width=0.2, spacing=h, mode="grid")
    us, ug = sc(X), gr(X)
    assert field_of(ug)[0].mode == "grid" and field_of(us)[0].mode == "scattered"
    for alpha in ALPHAS:
        for c in (0, 1):
            ds, dg = sc.derivative(us, alpha, c), gr.derivative(ug, alpha, c)
            assert (ds - dg).abs().max() <= 1e-10 * max(1.0, float(ds.detach().abs().max())), alpha


def test_auto_mode_picks_lattice_and_matches_grid_on_lattice_points():
    net = _net()
    h = 0.02
    X = _grid(h, 30, 30)
    auto = MollifierLayer(net, width=0.1, spacing=h, mode="auto")
    u = auto(X)
    assert field_of(u)[0].mode == "lattice"
    ref = MollifierLayer(net, width=0.1, spacing=h, mode="grid")(X)
    assert torch.allclose(u, ref, atol=1e-13)
    valid = MollifierLayer(net, width=0.1, spacing=h, mode="auto", boundary="valid")
    assert field_of(valid(X))[0].mode == "grid"  # grid-mode boundaries keep grid mode
    spread = torch.tensor([[0.0, 0.0], [50.0, 50.0]], dtype=torch.float64)
    assert field_of(auto(spread))[0].mode == "scattered"  # a lattice would cost more


def test_derivatives_consistent_with_autodiff_of_output():
    """D^alpha u from the kernel agrees with autodiff of the layer output (quadrature precision)."""
    net = _net()
    X = (torch.rand(50, 2, dtype=torch.float64) * 0.8).requires_grad_()
    layer = MollifierLayer(net, width=0.1)
    u = layer(X)
    ux = torch.autograd.grad(u[:, 0].sum(), X, create_graph=True)[0]
    uxx = torch.autograd.grad(ux[:, 0].sum(), X, create_graph=True)[0]
    assert torch.allclose(layer.derivative(u, (1, 0)), ux[:, :1], atol=1e-9)
    assert torch.allclose(layer.derivative(u, (0, 1)), ux[:, 1:], atol=1e-9)
    assert torch.allclose(layer.derivative(u, (2, 0)), uxx[:, :1], atol=1e-8)
    assert torch.allclose(layer.derivative(u, (1, 1)), uxx[:, 1:], atol=1e-8)


def test_restricted_axes_use_autodiff_for_the_rest():
    net = _net()
    X = torch.rand(40, 2, dtype=torch.float64).requires_grad_()
    layer = MollifierLayer(net, width=0.05, axes=[0], mode="scattered", points=8)
    u = layer(X)
    ut = layer.derivative(u, (0, 1))
    assert torch.allclose(
        ut, torch.autograd.grad(u[:, 0].sum(), X, create_graph=True)[0][:, 1:], atol=1e-13
    )
    uxx = layer.derivative(u, (2, 0))
    uxxt = layer.derivative(u, (2, 1))
    assert torch.allclose(
        uxxt, torch.autograd.grad(uxx.sum(), X, create_graph=True)[0][:, 1:], atol=1e-11
    )
    assert len(layer.stencil(2).offsets(torch.float64, "cpu")) == 17  # stencil only along x


def test_gradients_reach_network_parameters():
    """d(loss)/d(theta) of a 2nd-derivative loss equals central finite differences."""
    net = _net(out=1)
    X = torch.rand(30, 2, dtype=torch.float64)
    layer = MollifierLayer(net, width=0.1, points=4)

    def loss():
        return layer.derivative(layer(X), (2, 0)).pow(2).mean()

    loss().backward()
    weight = net[0].weight
    for idx in [(0, 0), (5, 1), (17, 0)]:
        with torch.no_grad():
            weight[idx] += 1e-6
            up = float(loss())
            weight[idx] -= 2e-6
            down = float(loss())
            weight[idx] += 1e-6
        assert abs((up - down) / 2e-6 - float(weight.grad[idx])) < 1e-6 * max(
            1.0, abs(float(weight.grad[idx]))
        )
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_and_devices(device, dtype):
    net = _net(dim=1, out=1, dtype=dtype, device=device)
    x = torch.linspace(0, 1, 41, dtype=dtype, device=device)[:, None]
    for mode in ("scattered", "grid"):
        layer = MollifierLayer(net, width=0.1, spacing=0.025, mode=mode)
        u = layer(x)
        d = layer.derivative(u, (2,))
        assert u.dtype == dtype and d.device.type == device.type and torch.isfinite(d).all()


def test_1d_sin_accuracy_through_layer():
    k = 6.0
    x = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    layer = MollifierLayer(lambda z: torch.sin(k * z), width=0.05, mode="grid", spacing=0.01)
    u = layer(x)
    T = float(layer.kernel.transfer([k * 0.05])[0])
    assert torch.allclose(layer.derivative(u, (4,)), k**4 * T * torch.sin(k * x), atol=1e-6 * k**4)


def test_valid_boundary_masks_points():
    x = torch.linspace(0, 1, 51, dtype=torch.float64)[:, None]
    layer = MollifierLayer(
        lambda z: torch.sin(z), width=0.06, mode="grid", spacing=0.02, boundary="valid"
    )
    field = layer.field(x)
    u = field.output()
    assert (
        field.mask.sum() == 51 - 6
        and torch.isnan(u[~field.mask]).all()
        and torch.isfinite(u[field.mask]).all()
    )
    for boundary in ("reflect", "replicate"):
        f2 = MollifierLayer(
            lambda z: torch.sin(z), width=0.06, mode="grid", spacing=0.02, boundary=boundary
        ).field(x)
        assert torch.allclose(f2.output()[field.mask], u[field.mask], atol=1e-14)


def test_bad_input_errors():
    net = _net(dim=1, out=1)
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    with pytest.raises(ValueError, match="below 2 grid spacings"):
        MollifierLayer(net, width=0.15, mode="grid")(x)  # spacing 0.1
    with pytest.raises(ValueError, match="regular lattice"):
        MollifierLayer(net, width=0.3, spacing=0.1, mode="grid")(torch.cat([x, x[:1] + 0.037]))
    with pytest.raises(FloatingPointError, match="non-finite"):
        MollifierLayer(lambda z: torch.log(z - 0.5), width=0.1)(x)
    with pytest.raises(ValueError, match="smoothness"):
        layer = MollifierLayer(net, width=0.1, kernel="polynomial:q=3")
        layer.derivative(layer(x), (3,))
    with pytest.raises(ValueError, match="mode"):
        MollifierLayer(net, width=0.1, mode="fft")
    with pytest.raises(ValueError, match="width"):
        MollifierLayer(net, width=-0.1)(x)
    with pytest.raises(ValueError, match="one value per mollified axis"):
        MollifierLayer(_net(), width=(0.1, 0.1, 0.1))(torch.rand(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="not produced by a MollifierLayer"):
        MollifierLayer.derivative(x, (1,))
    with pytest.raises(ValueError, match="grid mode mollifies every input axis"):
        MollifierLayer(_net(), width=0.1, axes=[0], mode="grid")(
            torch.rand(4, 2, dtype=torch.float64)
        )


@pytest.mark.parametrize("boundary", ["extend", "valid", "reflect"])
def test_grid_paths_agree_matmul_conv_gather(monkeypatch, boundary):
    """Banded-matmul vs convolution passes, and C-order (reshape) vs shuffled/partial (index)
    gathers, give the same numbers point by point."""
    from steadygrad.mollifier import grid

    net = _net()
    h = 0.025
    X = _grid(h, 24, 20)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(1))
    layer = MollifierLayer(net, width=0.1, spacing=h, mode="grid", boundary=boundary)
    ref = {a: layer.derivative(layer(X), a, 1).detach() for a in ALPHAS}
    assert (
        layer.field(X).plan.flat is None or boundary == "valid"
    )  # C order: the gather is a reshape
    monkeypatch.setattr(grid, "MATMUL_MAX_LENGTH", 0)  # every pass by convolution
    conv = MollifierLayer(net, width=0.1, spacing=h, mode="grid", boundary=boundary)
    shuffled, partial = X[perm], X[:-7]  # partial: C order but not the whole bounding box
    u_conv, u_shuf, u_part = conv(X), conv(shuffled), conv(partial)
    assert field_of(u_shuf)[0].plan.flat is not None and field_of(u_part)[0].plan.flat is not None
    for a in ALPHAS:
        d_conv = conv.derivative(u_conv, a, 1)
        torch.testing.assert_close(d_conv, ref[a], rtol=1e-9, atol=1e-9, equal_nan=True)
        torch.testing.assert_close(
            conv.derivative(u_shuf, a, 1), ref[a][perm], rtol=1e-9, atol=1e-9, equal_nan=True
        )
        if boundary != "valid":  # partial box: a different bounding box, so different 'valid' rim
            torch.testing.assert_close(
                conv.derivative(u_part, a, 1), ref[a][:-7], rtol=1e-9, atol=1e-9
            )


def test_lattice_plan_reused_only_for_the_same_points():
    net = _net()
    h = 0.025
    X = _grid(h, 16, 12)
    layer = MollifierLayer(net, width=0.1, spacing=h, mode="grid")
    plan = layer.field(X).plan
    assert (
        layer.field(X).plan is plan and layer.field(X.clone()).plan is plan
    )  # same tensor, equal values
    fresh = lambda pts: MollifierLayer(net, width=0.1, spacing=h, mode="grid")(pts)
    X.add_(h)  # in place: a new version, shifted points
    torch.testing.assert_close(layer(X), fresh(X), rtol=0, atol=0)
    Y = X[:, [1, 0]].contiguous()  # other points, same shape
    torch.testing.assert_close(layer(Y), fresh(Y), rtol=0, atol=0)
    layer.width = 0.15  # configuration changes invalidate the cached stencil and plan
    u = layer(Y)
    assert field_of(u)[0].stencil.widths == (0.15, 0.15)
    torch.testing.assert_close(
        u, MollifierLayer(net, width=0.15, spacing=h, mode="grid")(Y), rtol=0, atol=0
    )


def test_auto_mode_skips_huge_boxes_without_building_them():
    net = _net()
    pts = torch.tensor(
        [[0.0, 0.0], [5.0, 5.0]], dtype=torch.float64
    )  # on the lattice, box of 10^6 nodes
    u = MollifierLayer(net, width=0.02, spacing=0.005, mode="auto")(pts)
    assert field_of(u)[0].mode == "scattered"


def _nan_net(z):
    return torch.where(
        z[:, :1] > 0.55, torch.full_like(z[:, :1], float("nan")), torch.sin(z[:, :1])
    )


@pytest.mark.parametrize("policy", ["sync", "deferred", True])
def test_nonfinite_network_values_raise(policy, device):
    """'sync' raises at the call; 'deferred' (True on CUDA) in backward or at the next call."""
    x = torch.linspace(0, 1, 11, dtype=torch.float64, device=device)[:, None]
    layer = MollifierLayer(_nan_net, width=0.2, spacing=0.1, mode="grid", check_finite=policy)
    deferred = policy == "deferred" or (policy is True and device.type == "cuda")
    w = torch.ones((), dtype=torch.float64, device=device, requires_grad=True)
    ok = MollifierLayer(
        lambda z: w * torch.sin(z), width=0.2, spacing=0.1, mode="grid", check_finite=policy
    )
    for _ in range(2):  # finite values: no error anywhere
        ok.derivative(ok(x), (2,)).sum().backward()
    assert w.grad is not None
    if not deferred:
        with pytest.raises(FloatingPointError, match="7 non-finite"):
            layer(x)
        return
    layer.net = lambda z: w * _nan_net(z)
    u = layer(x)  # no host synchronisation here
    with pytest.raises(FloatingPointError, match="7 non-finite"):
        layer.derivative(u, (2,)).sum().backward()
    with torch.no_grad():
        layer(x)  # no backward: the next call raises
        with pytest.raises(FloatingPointError, match="7 non-finite"):
            layer(x)


def test_used_layer_pickles():
    import pickle

    layer = MollifierLayer(torch.nn.Linear(1, 1), width=0.2, spacing=0.1, mode="grid")
    x = torch.linspace(0, 1, 11)[:, None]
    u = layer(x)
    clone = pickle.loads(pickle.dumps(layer))
    torch.testing.assert_close(clone(x), u)
