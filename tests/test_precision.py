"""Rounding error of mollifier derivatives: the bound, the precision policy (issue 9)."""

import warnings

import pytest
import torch
from steadygrad.mollifier import MollifierLayer, PrecisionWarning
from steadygrad.mollifier.precision import evaluate_float64


def _mlp(d, seed, depth=2, width=64):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(d, width), torch.nn.Tanh()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))


def _lattice(d, n):
    g = torch.linspace(0, 1, n, dtype=torch.float64)
    return (
        g[:, None]
        if d == 1
        else torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    )


CASES = [
    (dtype, d, depth, kernel, mult, mode)
    for dtype in (torch.float32, torch.bfloat16)
    for d in (1, 2)
    for depth in (1, 3)
    for kernel in ("polynomial", "bump")
    for mult in (3, 12)
    for mode in ("grid", "scattered")
    if not (mode == "scattered" and d == 2 and mult > 6)
]


@pytest.mark.parametrize("dtype,d,depth,kernel,mult,mode", CASES)
def test_bound_holds_and_is_tight(dtype, d, depth, kernel, mult, mode):
    """Orders 1-4: the bound is never below |D u(low precision) - D u(float64)|, and within 30x."""
    n = 120 if d == 1 else 40
    X, h = _lattice(d, n), 1 / (n - 1)
    low = MollifierLayer(
        _mlp(d, depth, depth).to(dtype),
        width=mult * h,
        spacing=h,
        mode=mode,
        kernel=kernel,
        precision="input",
    )
    ref = MollifierLayer(
        _mlp(d, depth, depth).double(), width=mult * h, spacing=h, mode=mode, kernel=kernel
    )
    f_low, f_ref = low.field(X.to(dtype)), ref.field(X)
    for order in (1, 2, 3, 4):
        alpha = (order,) + (0,) * (d - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            err = float(
                (f_low.derivative(0, alpha).double() - f_ref.derivative(0, alpha))
                .abs()
                .max()
                .detach()
            )
        bound = f_low.error_bound(alpha)
        assert err <= bound <= 30 * err, (order, err, bound)


def _residual(precision, dtype, n=48, mult=3):
    """Biharmonic residual of a tanh MLP 2-64-64-1 in grid mode (the GPU benchmark's setting)."""
    X, h = _lattice(2, n), 1 / (n - 1)
    layer = MollifierLayer(
        _mlp(2, 0).to(dtype), width=mult * h, spacing=h, mode="grid", precision=precision
    )
    u = layer(X.to(dtype))
    return (
        layer.derivative(u, (4, 0)) + 2 * layer.derivative(u, (2, 2)) + layer.derivative(u, (0, 4))
    ).double()


def test_auto_policy_makes_float32_agree_with_float64():
    ref = _residual("input", torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = _residual("input", torch.float32)
    assert float((raw - ref).abs().max() / ref.abs().max()) > 1.0  # plain float32 is noise here
    assert any(
        "precision='float64'" in str(w.message) and "width of at least" in str(w.message)
        for w in caught
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auto = _residual("auto", torch.float32)
    assert auto.dtype == torch.float64 and float((auto - ref).abs().max() / ref.abs().max()) < 1e-3
    switched = [w for w in caught if "switched to float64" in str(w.message)]
    assert len(switched) == 1 and "(4, 0)" in str(switched[0].message), [
        str(w.message) for w in caught
    ]


def test_float64_policy_keeps_parameters_and_gradients_in_their_dtype():
    net = _mlp(1, 0)
    X = torch.linspace(0, 1, 50)[:, None]
    layer = MollifierLayer(net, width=0.1, mode="scattered", precision="float64")
    u = layer(X)
    d4 = layer.derivative(u, (4,))
    assert u.dtype == d4.dtype == torch.float32 and next(net.parameters()).dtype == torch.float32
    d4.pow(2).mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(
        g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads
    )
    ref_net = _mlp(1, 0).double()
    ref = MollifierLayer(ref_net, width=0.1, mode="scattered")
    ref.derivative(ref(X.double()), (4,)).pow(2).mean().backward()
    scale = max(float(q.grad.abs().max()) for q in ref_net.parameters())
    for p, q in zip(
        net.parameters(), ref_net.parameters()
    ):  # gradient equals the float64 one (to float32)
        assert torch.allclose(p.grad.double(), q.grad, rtol=1e-4, atol=1e-5 * scale)


def test_auto_never_switches_when_float32_is_accurate():
    X = torch.linspace(0, 1, 64)[:, None]
    layer = MollifierLayer(_mlp(1, 0), width=0.2, mode="scattered")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        layer.derivative(layer(X), (1,))
    assert not layer.precision.upcast


def test_readme_deepxde_configuration_in_float32():
    """The README's DeepXDE snippet (FNN 1-20-20-1, width 0.05, float32): u'''' matches float64."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 20),
        torch.nn.Tanh(),
        torch.nn.Linear(20, 20),
        torch.nn.Tanh(),
        torch.nn.Linear(20, 1),
    )
    X = torch.rand(16, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        layer = MollifierLayer(net, width=0.05)
        d4 = layer.derivative(layer(X), (4,)).double()
    ref_net = net.double()
    ref = MollifierLayer(ref_net, width=0.05)
    exact = ref.derivative(ref(X.double()), (4,))
    assert float((d4 - exact).abs().max() / exact.abs().max()) < 1e-3


@pytest.mark.parametrize("offset", [1e2, 1e3, 1e4])
@pytest.mark.parametrize("mode", ["scattered", "lattice"])
def test_bound_covers_coordinate_rounding_far_from_the_origin(offset, mode):
    """float32 points at 1e4 + [0, 1]: x - y_s is rounded by u |x|; the bound accounts for it
    (never below the error), and precision='auto' switches and meets rtol."""
    torch.manual_seed(0)
    inner = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))

    class Shifted(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, z):
            return self.inner(z - offset)

    net = Shifted()
    x32 = (offset + torch.linspace(0, 1, 50))[:, None]
    ref = MollifierLayer(net.double(), 0.1, mode=mode, precision="float64", points=4)
    exact = ref.derivative(ref(x32.double()), (2,)).detach()
    net.float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        low = MollifierLayer(net, 0.1, mode=mode, precision="input", points=4)
        u = low(x32)
        err = float((low.derivative(u, (2,)).double() - exact).abs().max())
        assert low.error_bound(u, (2,)) >= err
        auto = MollifierLayer(net, 0.1, mode=mode, precision="auto", points=4)
        d = auto.derivative(auto(x32), (2,)).double()
    assert float((d - exact).abs().max()) <= 1e-3 * float(exact.abs().max())


def test_float64_evaluation_restores_the_module_even_when_the_network_raises():
    net = _mlp(1, 0)
    net.register_buffer("scale", torch.ones(1))
    before = [*net.parameters(), net.scale]
    out = evaluate_float64(net, net, torch.rand(5, 1))
    assert out.dtype == torch.float64
    assert all(a is b for a, b in zip(before, [*net.parameters(), net.scale]))

    def broken(z):
        assert net[0].weight.dtype == torch.float64  # the network sees its float64 state
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        evaluate_float64(broken, net, torch.rand(5, 1))
    assert all(a is b for a, b in zip(before, [*net.parameters(), net.scale]))
    assert net[0].weight.dtype == torch.float32


def test_hold_evaluates_in_float64_under_auto_without_rechecks():
    X = torch.linspace(0, 1, 64)[:, None]
    layer = MollifierLayer(_mlp(1, 0), width=0.2, mode="scattered")
    layer.derivative(layer(X), (1,))
    assert not layer.precision.upcast  # float32 is accurate here
    layer.hold()
    for _ in range(2 * layer.precision.RECHECK_EVERY):  # no recheck returns it to float32
        u = layer(X)
    assert layer.precision.upcast and u.dtype == torch.float32
    assert layer.field(X).values.dtype == torch.float64
    layer.hold(False)
    for _ in range(layer.precision.RECHECK_EVERY):
        layer.derivative(layer(X), (1,))
    assert not layer.precision.upcast  # rechecked after release
    explicit = MollifierLayer(_mlp(1, 0), width=0.2, mode="scattered", precision="input")
    explicit.hold()
    assert not explicit.precision.upcast  # an explicit choice is kept


def test_a_measurement_for_one_derivative_does_not_excuse_another(monkeypatch):
    """'auto' measures u_xx in float64 and keeps float32; u_yy, served from those float64
    values in the same call, must still get its own float32 check in the next call."""
    import steadygrad.mollifier.field as F

    X = torch.rand(40, 2, generator=torch.Generator().manual_seed(0))
    layer = MollifierLayer(_mlp(2, 0), width=0.2, mode="scattered")
    seen = []
    original = F.MollifiedField._enforce_precision

    def spy(self, component, alpha, out):
        seen.append((alpha, self.values.dtype))
        return original(self, component, alpha, out)

    monkeypatch.setattr(F.MollifiedField, "_enforce_precision", spy)
    monkeypatch.setattr(F.MollifiedField, "rounding_bound", lambda self, a, c=0: float("inf"))
    for _ in range(2):
        u = layer(X)
        layer.derivative(u, (2, 0)), layer.derivative(u, (0, 2))
    assert not layer.precision.upcast  # every measurement found float32 accurate
    assert {a for a, _ in seen} == {(2, 0), (0, 2)}
    assert all(dtype == torch.float32 for _, dtype in seen)
