"""Lattice mode: arbitrary points served from one background lattice (issue: sampled points).

References: scattered mode on the same points (the exact discrete mollification, stencil
around every point) and, along non-mollified axes, autodiff of the network.
"""

import logging

import pytest
import torch
from steadygrad.mollifier import MollifierLayer, PrecisionWarning, field_of


def _net(dim, out=1, hidden=32, scale=1.0):
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(dim, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, out),
    ).double()
    with torch.no_grad():
        net[0].weight.mul_(scale)
    return net


ORDERS = {
    1: [(0,), (1,), (2,), (3,), (4,)],
    2: [(0, 0), (1, 0), (0, 2), (1, 1), (3, 1), (2, 2), (0, 4)],
    3: [(0, 0, 0), (2, 0, 0), (0, 1, 1), (0, 0, 2), (2, 2, 0), (0, 0, 4)],
}


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_lattice_matches_scattered_orders_0_to_4_and_bound_holds(dim):
    net = _net(dim, scale=2.0)
    torch.manual_seed(2)
    X = torch.rand(60, dim, dtype=torch.float64)
    width = 0.15
    lat = MollifierLayer(net, width=width, mode="lattice")
    sc = MollifierLayer(net, width=width, mode="scattered")
    ul, us = lat(X), sc(X)
    assert field_of(ul)[0].mode == "lattice"
    for alpha in ORDERS[dim]:
        dl, ds = lat.derivative(ul, alpha), sc.derivative(us, alpha)
        err = float((dl - ds).abs().max())
        assert err <= 1e-4 * float(ds.abs().max()), (alpha, err)
        bound = lat.error_bound(ul, alpha) + sc.error_bound(us, alpha)
        assert err <= bound, (alpha, err, bound)


@pytest.mark.parametrize("dim,scale,seed,width", [(1, 8.0, 1, 0.3), (2, 6.0, 1, 0.2)])
def test_interpolation_estimate_tracks_the_measured_error(dim, scale, seed, width):
    """The Lagrange-remainder estimate from lattice differences (x SAFETY) covers the measured
    interpolation error without overstating it more than 30x (rough networks, 3 points per
    half-width: the calibration's hardest cases, where the unscaled estimate falls short)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(dim, 32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 1),
    ).double()
    with torch.no_grad():
        net[0].weight.mul_(scale)
    X = torch.rand(100, dim, dtype=torch.float64)
    options = dict(width=width, points=3, precision="input")
    lat = MollifierLayer(net, mode="lattice", **options)
    sc = MollifierLayer(net, mode="scattered", **options)
    ul, us = lat(X), sc(X)
    for alpha in ORDERS[dim][:4]:
        err = float((lat.derivative(ul, alpha) - sc.derivative(us, alpha)).abs().max())
        estimate = sum(field_of(ul)[0].interpolation_estimate(alpha))

        assert err <= estimate <= 30 * err, (alpha, err, estimate)


def test_non_mollified_axis_derivatives_and_refinement():
    """axes=(0,): u_t, u_xxt by the interpolant match autodiff along t; a network that varies
    fast in t makes the lattice refine along t until the estimate is below rtol."""
    net = _net(2, scale=1.0)
    with torch.no_grad():
        net[0].weight[:, 1].mul_(12.0)  # fast in t
    X = torch.rand(300, 2, dtype=torch.float64).requires_grad_()
    lat = MollifierLayer(net, width=0.1, axes=(0,), mode="lattice", rtol=1e-5)
    sc = MollifierLayer(net, width=0.1, axes=(0,), mode="scattered")
    ul, us = lat(X), sc(X)
    for alpha in [(0, 1), (2, 0), (2, 1), (0, 2)]:
        dl, ds = lat.derivative(ul, alpha), sc.derivative(us, alpha)
        assert float((dl - ds).abs().max()) <= 1e-5 * float(ds.abs().max()), alpha
    assert lat.strategies["lattice"].divisions.get(1, 32) > 32  # refined along t
    with pytest.raises(Exception, match="non-mollified axis 1 up to order 3"):
        lat.derivative(ul, (0, 4))


def test_refinement_stops_where_the_estimate_is_rounding_noise():
    """Float32 values kept in float32 (precision='input'): along a non-mollified axis the
    6th differences are rounding noise, which grows as the lattice is refined.  The lattice
    refines at most once more after the estimate stops falling, and says why (before, it
    doubled eight times: a 2D + t problem at PINNacle's size grew to 18 GB)."""
    net = _net(2).float()
    X = torch.rand(300, 2).requires_grad_()
    layer = MollifierLayer(net, width=0.1, axes=(0,), mode="lattice", rtol=1e-7, precision="input")
    with pytest.warns(PrecisionWarning, match="refining the lattice did not lower it"):
        layer.derivative(layer(X), (0, 1))
    assert layer.strategies["lattice"].divisions.get(1, 8) <= 32


def test_auto_density_resolves_a_network_finer_than_the_width(caplog):
    """points='auto' doubles the density while lattice mode's own interpolation estimate of u
    says the network is under-resolved (Fourier features of 10 periods per unit at width
    0.1), and the derivatives then match the network's exact ones under a fine quadrature."""
    torch.manual_seed(0)
    net = _net(1)
    B = 2 * torch.pi * 10.0

    def rough(x):
        return net(x) + 0.3 * torch.sin(B * x)

    X = torch.rand(200, 1, dtype=torch.float64)
    layer = MollifierLayer(rough, width=0.1, mode="lattice")
    with caplog.at_level(logging.INFO, logger="steadygrad"):
        d2 = layer.derivative(layer(X), (2,))
    assert "varies faster than" in caplog.text and layer.density() >= 6
    fine = MollifierLayer(rough, width=0.1, mode="scattered", points=24)
    Xg = X.clone().requires_grad_()
    (du,) = torch.autograd.grad(fine(Xg).sum(), Xg, create_graph=True)
    (ref,) = torch.autograd.grad(du.sum(), Xg)  # the kernel over the exact u''
    assert float((d2 - ref).abs().max()) < 1e-3 * float(ref.abs().max())
    plain = MollifierLayer(net, width=0.1, mode="lattice")
    plain.derivative(plain(X), (2,))
    assert plain.density() == 2  # a smooth network is not raised


def test_autograd_through_x_gives_kernel_derivatives_and_parameter_gradients():
    net = _net(2)
    X = torch.rand(80, 2, dtype=torch.float64).requires_grad_()
    lat = MollifierLayer(net, width=0.2, mode="lattice", points=4)  # same stencil as below
    u = lat(X)
    g = torch.autograd.grad(u.sum(), X, create_graph=True)[0]
    gxx = torch.autograd.grad(g[:, 0].sum(), X, create_graph=True)[0]
    assert torch.allclose(g[:, :1], lat.derivative(u, (1, 0)), atol=1e-12)
    assert torch.allclose(gxx[:, 1:], lat.derivative(u, (1, 1)), atol=1e-11)
    # parameter gradients of a Laplacian loss equal scattered mode's
    sc = MollifierLayer(net, width=0.2, mode="scattered", points=4)
    grads = []
    for layer in (lat, sc):
        v = layer(X)
        r = layer.derivative(v, (2, 0)) + layer.derivative(v, (0, 2))
        grads.append(torch.autograd.grad((r**2).mean(), list(net.parameters())))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9)


def test_float32_points_use_the_precision_policy():
    net = _net(2).float()
    X = torch.rand(200, 2)
    lat = MollifierLayer(net, width=0.05, mode="lattice")
    ref = MollifierLayer(_net(2), width=0.05, mode="lattice")
    u, u64 = lat(X), ref(X.double())
    with pytest.warns(PrecisionWarning, match="switched to float64"):
        d = lat.derivative(u, (2, 2))
    d64 = ref.derivative(u64, (2, 2))
    assert d.dtype == torch.float32
    assert float((d.double() - d64).abs().max() / d64.abs().max()) < 1e-3


def test_lattice_follows_resampled_points_and_degenerate_boxes():
    net = _net(2)
    lat = MollifierLayer(net, width=0.1, mode="lattice")
    sc = MollifierLayer(net, width=0.1, mode="scattered")
    for X in (
        torch.rand(50, 2, dtype=torch.float64),
        torch.rand(50, 2, dtype=torch.float64) * 0.5 + 2.0,  # far outside the first box
        torch.stack([torch.rand(30, dtype=torch.float64), torch.full((30,), 0.3)], 1),  # a line
        torch.tensor([[0.2, 0.7]], dtype=torch.float64),  # one point
    ):
        ul, us = lat(X), sc(X)
        for alpha in [(0, 0), (2, 0), (0, 2)]:
            assert torch.allclose(lat.derivative(ul, alpha), sc.derivative(us, alpha), atol=1e-8)


def test_huge_box_is_refused_before_allocating():
    net = _net(2)
    X = torch.tensor([[0.0, 0.0], [100.0, 100.0]], dtype=torch.float64)
    lat = MollifierLayer(net, width=0.01, mode="lattice")
    with pytest.raises(ValueError, match=r"lattice nodes .*max_nodes.*larger width"):
        lat(X)
    with pytest.raises(ValueError, match="max_nodes"):
        MollifierLayer(net, width=0.1, max_nodes=0)


def test_auto_logs_its_choice_once(caplog):
    net = _net(2)
    auto = MollifierLayer(net, width=0.1)
    with caplog.at_level(logging.INFO, logger="steadygrad"):
        for _ in range(3):
            auto(torch.rand(100, 2, dtype=torch.float64))
    chosen = [r.getMessage() for r in caplog.records if "chose" in r.getMessage()]
    assert len(chosen) == 1 and "lattice mode" in chosen[0] and "cost less" in chosen[0]


def test_lattice_mode_on_every_device_matches_scattered_and_trains(device):
    net = _net(2).to(device)
    X = torch.rand(500, 2, dtype=torch.float64, device=device).requires_grad_()
    lat = MollifierLayer(net, width=0.1, mode="lattice")
    sc = MollifierLayer(net, width=0.1, mode="scattered")
    ul, us = lat(X), sc(X)
    for alpha in [(0, 0), (2, 0), (1, 1), (0, 4)]:
        dl, ds = lat.derivative(ul, alpha), sc.derivative(us, alpha)
        assert dl.device == X.device
        assert float((dl - ds).abs().max()) <= 1e-6 * float(ds.abs().max()), alpha
    r = lat.derivative(ul, (2, 0)) + lat.derivative(ul, (0, 2))
    (r**2).mean().backward()  # leaf input's gradient and parameter gradients on the device
    assert X.grad is not None and torch.isfinite(X.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_and_gather_interpolation_are_the_same_map(dtype, monkeypatch):
    """The CPU's CSR product and the gather/scatter-add used on other devices: same values,
    same gradients (to x and to the network) through a whole lattice-mode derivative."""
    from steadygrad.mollifier import background

    net = _net(3).to(dtype)
    torch.manual_seed(3)
    X = torch.rand(50, 3, dtype=dtype, requires_grad=True)
    results = []
    for kind in (background.SparseInterpolation, background.GatherInterpolation):
        monkeypatch.setattr(background, "SparseInterpolation", kind)
        lat = MollifierLayer(net, width=0.2, mode="lattice", precision="input")
        net.zero_grad()
        u = lat(X)
        d = lat.derivative(u, (2, 0, 1))
        gx = torch.autograd.grad(d.sum() + u.pow(2).sum(), X, retain_graph=True)[0]
        (d.pow(2).sum() + u.sum()).backward()
        results.append((d.detach(), gx, net[0].weight.grad.clone()))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    for a, b in zip(*results):
        assert torch.allclose(a, b, **tol), float((a - b).abs().max())


def test_points_on_lattice_nodes_read_one_node_and_are_exact():
    """Points on the background lattice's nodes (a finer lattice than theirs): interpolation
    is exact, so no estimate is reported, each point reads one node, and the numbers are
    scattered mode's to round-off; a point off the nodes breaks the alignment."""
    import warnings

    net = _net(2, scale=3.0)
    g = torch.arange(12, dtype=torch.float64) / 12
    X = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    h = 1 / 24
    lat = MollifierLayer(net, width=2 * h, spacing=h, mode="lattice")
    sc = MollifierLayer(net, width=2 * h, spacing=h, mode="scattered")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        ul, us = lat(X), sc(X)
        field = field_of(ul)[0]
        assert field.plan.aligned() == (True, True)
        for alpha in [(0, 0), (2, 2), (0, 4)]:
            dl, ds = lat.derivative(ul, alpha), sc.derivative(us, alpha)
            assert float((dl - ds).abs().max()) <= 1e-10 * float(ds.abs().max()), alpha
            assert field.interpolation_estimate(alpha) == [0.0, 0.0]
    assert field.plan.interpolation((0, 0), torch.float64).matrix.values().numel() == len(X)
    moved = X.clone()
    moved[5] += h / 3  # the lattice starts at the smallest coordinates: move one point only
    assert field_of(lat(moved))[0].plan.aligned() == (False, False)


@pytest.mark.parametrize("kind", ["SparseInterpolation", "GatherInterpolation"])
def test_derivatives_together_equal_one_by_one(kind, monkeypatch):
    """``field.derivatives`` serves checked derivatives from one sparse product, and so does
    the first request of a call on the points of a previous call that served the same ones:
    the same values, input gradients (nested autograd through x) and parameter gradients as
    one ``derivative`` call each, in lattice mode on either interpolation."""
    from steadygrad.mollifier import background

    monkeypatch.setattr(background, "SparseInterpolation", getattr(background, kind))
    net = _net(2)
    torch.manual_seed(4)
    X = torch.rand(60, 2, dtype=torch.float64, requires_grad=True)
    lat = MollifierLayer(net, width=0.2, mode="lattice", points=3)
    alphas = [(1, 0), (2, 0), (0, 2), (1, 1)]
    first = lat(X)
    for alpha in alphas:  # the policies check each derivative once
        lat.derivative(first, alpha)
    interpolation = field_of(first)[0].plan.interpolation((0, 0), torch.float64)
    apply, calls = interpolation.apply, []
    monkeypatch.setattr(interpolation, "apply", lambda v: calls.append(v.shape[1]) or apply(v))
    results, products = [], []
    for how in ("one by one", "together", "as on the previous call"):
        net.zero_grad()
        if how == "one by one":
            # no previous call on these points to learn from
            lat.strategies["lattice"].requests = None
        u = lat(X)
        field = field_of(u)[0]
        calls.clear()
        if how == "together":
            ds = field.derivatives(0, alphas)
        else:  # the previous call served the same four: the first request computes them all
            ds = [field.derivative(0, alpha) for alpha in alphas]
        products.append(list(calls))
        assert all(field_of(d) is not None for d in ds)
        loss = sum((k + 1) * d.pow(2).sum() for k, d in enumerate(ds))
        gx = torch.autograd.grad(loss, X, create_graph=True)[0]
        (gx.pow(2).sum() + loss).backward()
        results.append((torch.cat(ds, 1).detach(), gx.detach(), net[0].weight.grad.clone()))
    assert products == [[1, 1, 1, 1], [4], [4]]  # one product for all four
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), float((a - b).abs().max())


@pytest.mark.parametrize("mode", ["scattered", "grid"])
def test_derivatives_together_in_the_other_modes(mode):
    net = _net(2)
    g = torch.linspace(0, 1, 21, dtype=torch.float64)
    X = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    layer = MollifierLayer(net, width=0.15, mode=mode, spacing=0.05)
    u = layer(X)
    field = field_of(u)[0]
    one = [field.derivative(0, a) for a in [(2, 0), (0, 1)]]
    both = field_of(layer(X))[0].derivatives(0, [(2, 0), (0, 1)])
    for a, b in zip(one, both):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
