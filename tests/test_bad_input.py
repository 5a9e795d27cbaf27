"""Bad input to the mollifier: a clear error naming the fix, or correct behaviour (issue 9)."""

import os
import threading
import warnings

import mpmath
import numpy as np
import pytest
import torch
from steadygrad.mollifier import MollifierLayer, PolynomialKernel, UnservableDerivative
from steadygrad.mollifier.kernels import make_kernel

os.environ.setdefault("DDE_BACKEND", "pytorch")


def _net(d=1, m=1, dtype=torch.float64):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, m)).to(
        dtype
    )


def test_order_beyond_the_stencil_is_unservable():
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    short = MollifierLayer(_net(), width=0.1, points=2)
    with pytest.raises(UnservableDerivative, match="cannot represent derivative order 7"):
        short.derivative(short(x), (7,))
    layer = MollifierLayer(_net(), width=0.1, points=8)
    with pytest.raises(UnservableDerivative, match="smoothness"):
        layer.derivative(layer(x), (8,))
    rough = MollifierLayer(_net(), width=0.1, points=32, kernel="bump")
    with pytest.raises(UnservableDerivative, match="error at the kernel's own scale"):
        rough.derivative(rough(x), (8,))


def test_order_q_minus_1_is_served_accurately():
    """The docs say orders up to q - 1 are usable: the 7th derivative of the q = 8 kernel on
    sin(k x) against k^7 eta_hat(k) (eta_hat by scipy's adaptive quadrature)."""
    from scipy.integrate import quad

    kernel, k, width = make_kernel("polynomial"), 10.0, 0.1
    phi = lambda s: kernel.derivative(np.array([s]))[0]  # noqa: E731
    hat = quad(lambda s: phi(s) * np.cos(k * width * s), -1, 1)[0] / quad(phi, -1, 1)[0]
    layer = MollifierLayer(lambda z: torch.sin(k * z), width, points=8, precision="float64")
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    d7 = layer.derivative(layer(x), (7,))
    exact = -(k**7) * hat * torch.cos(k * x)  # d^7 sin = -cos
    assert float((d7 - exact).abs().max()) <= 1e-5 * float(exact.abs().max())


def test_alpha_length_must_match_the_inputs():
    layer = MollifierLayer(_net(2), width=0.1)
    u = layer(torch.rand(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="one order per input axis"):
        layer.derivative(u, (1, 0, 1))
    with pytest.raises(ValueError, match="one order per input axis"):
        layer.derivative(u, (1,))


@pytest.mark.parametrize("q", [8, 60, 200])
def test_polynomial_kernel_accurate_for_large_exponents(q):
    kernel = PolynomialKernel(q)
    exact_c = float(mpmath.sqrt(mpmath.pi) * mpmath.gamma(q + 1) / mpmath.gamma(q + 1.5))
    assert abs(kernel.normalisation / exact_c - 1) < 1e-12
    s = np.array([-0.7, -0.2, 0.05, 0.3, 0.9])
    for n in (0, 2, 4):
        ours = kernel.derivative(s, n)
        ref = np.array(
            [float(mpmath.diff(lambda v: (1 - v * v) ** q, mpmath.mpf(x), n)) for x in s]
        )
        assert np.allclose(ours, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max()), (n, ours, ref)


def test_width_and_option_types():
    X = torch.linspace(0, 1, 21, dtype=torch.float64)[:, None]
    ref = MollifierLayer(_net(), width=0.1)(X)
    for width in (np.float64(0.1), torch.tensor(0.1), np.array(0.1)):
        assert torch.allclose(
            MollifierLayer(_net(), width=width)(X), ref, rtol=1e-6
        )  # torch.tensor(0.1) is float32
    with pytest.raises(TypeError, match="string"):
        MollifierLayer(_net(), width="0.1")
    assert MollifierLayer(_net(2), width=0.1, axes=0).stencil(2).axes == (0,)
    with pytest.raises(ValueError, match="points per half-width"):
        MollifierLayer(_net(), width=0.1, points=float("nan"))
    with pytest.raises(ValueError, match="precision"):
        MollifierLayer(_net(), width=0.1, precision="half")


@pytest.mark.parametrize("mode", ["scattered", "grid", "auto"])
def test_empty_input(mode):
    layer = MollifierLayer(_net(1, 2), width=0.1, spacing=0.02, mode=mode)
    u = layer(torch.zeros(0, 1, dtype=torch.float64))
    assert u.shape == (0, 2) and layer.derivative(u, (2,), component=1).shape == (0, 1)


@pytest.mark.parametrize("mode", ["scattered", "grid", "auto"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_coordinates(mode, bad):
    X = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    X[3, 0] = bad
    with pytest.raises(ValueError, match=r"NaN/Inf \(point 3"):
        MollifierLayer(_net(), width=0.2, spacing=0.1, mode=mode)(X)


def test_float32_lattice_is_a_lattice():
    X = torch.linspace(0, 1, 3000, dtype=torch.float32)[:, None]
    layer = MollifierLayer(_net(dtype=torch.float32), width=8 / 2999, mode="grid")
    u = layer(X)
    assert layer.stencil(1, (1 / 2999,)).spacings[0] == pytest.approx(1 / 2999, rel=1e-9)
    assert u.shape == (3000, 1)


def test_deepxde_refuses_valid_boundary():
    import steadygrad.deepxde as sgd

    with pytest.raises(ValueError, match="NaN loss"):
        sgd.enable("mollifier", width=0.1, spacing=0.05, mode="grid", boundary="valid")
    assert sgd.active() is None


def test_fallback_error_names_the_real_cause_in_scattered_mode():
    import deepxde as dde
    import steadygrad.deepxde as sgd

    sgd.enable("mollifier", width=0.1, mode="scattered")
    try:
        with pytest.raises(RuntimeError, match="not connected") as info:
            dde.grad.jacobian(torch.ones(4, 1), torch.ones(4, 1, requires_grad=True), i=0, j=0)
        assert "lattice" not in str(info.value) and "mode=scattered" in str(info.value)
    finally:
        sgd.disable()


def test_enable_is_per_thread():
    """Thread A trains with the mollifier while thread B runs plain DeepXDE on another net."""
    import deepxde as dde
    import steadygrad.deepxde as sgd

    dtype = next(dde.nn.FNN([1, 2, 1], "tanh", "Glorot uniform").parameters()).dtype
    x = torch.linspace(0, 1, 9, dtype=dtype)[:, None]  # DeepXDE's float type may be 64 here
    results, errors = {}, []
    started = threading.Barrier(2)

    def a():
        try:
            sgd.enable("mollifier", width=0.1)
            net = dde.nn.FNN([1, 8, 1], "tanh", "Glorot uniform")
            started.wait(timeout=30)
            for _ in range(20):
                y = net(x)
                assert sgd.active() is not None and dde.grad.hessian(y, x).shape == (9, 1)
            sgd.disable()
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    def b():
        try:
            net = dde.nn.FNN([1, 8, 1], "tanh", "Glorot uniform")
            started.wait(timeout=30)
            for _ in range(20):
                xx = x.clone().requires_grad_(True)
                y = net(xx)
                plain = torch.nn.Module.__call__(net, xx)
                results.setdefault("same", []).append(bool(torch.equal(y, plain)))
                dde.grad.clear()
            results["active"] = sgd.active()
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(results["same"]) and results["active"] is None
    assert sgd.active() is None


def test_fractional_or_negative_orders_are_refused_not_rounded():
    layer = MollifierLayer(_net(), width=0.1)
    u = layer(torch.linspace(0, 1, 11, dtype=torch.float64)[:, None])
    for alpha in ((1.5,), (2.9,), (-1,), (1.0,)):
        with pytest.raises(ValueError, match="non-negative integer orders"):
            layer.derivative(u, alpha)
    assert layer.derivative(u, (np.int64(1),)).shape == (11, 1)


def test_choose_width_on_coincident_points_names_the_axis():
    from steadygrad.mollifier.autowidth import choose_width
    from steadygrad.mollifier.kernels import make_kernel

    P = np.zeros((30, 1))
    with pytest.raises(ValueError, match="same coordinate along axis 0"):
        choose_width(P, np.random.default_rng(0).standard_normal(30), make_kernel("polynomial"))


@pytest.mark.parametrize("world", [0, -1, 1.5, True])
def test_split_rows_refuses_a_bad_process_count(world):
    from steadygrad.distributed import split_rows

    with pytest.raises(ValueError, match="positive integer"):
        split_rows(5, world)


def test_bench_refuses_an_empty_variant_list(tmp_path):
    from steadygrad.bench.runner import run_benchmarks

    with pytest.raises(ValueError, match="names no variant"):
        run_benchmarks(["poisson1d"], out=str(tmp_path), variants=[], dry_run=True)


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(width=None), TypeError, "width is required"),
        (dict(width=0.1, axes=1.5), TypeError, "axes must be an input-axis index"),
        (dict(width=0.1, axes=(0, True)), TypeError, "axes must be an input-axis index"),
    ],
)
def test_missing_width_and_bad_axes_name_the_fix(kw, err, match):
    with pytest.raises(err, match=match):
        MollifierLayer(_net(), **kw)


def test_lattice_spacing_accepts_numpy_scalars_and_refuses_strings():
    from steadygrad.mollifier.values import per_axis

    assert per_axis(np.float32(0.1), 2, "spacing") == pytest.approx((0.1, 0.1))
    with pytest.raises(TypeError, match="got the string '0.1'"):
        per_axis("0.1", 2, "spacing")
    with pytest.raises(ValueError, match="finite number"):
        per_axis(float("nan"), 2, "origin", positive=False)
    assert per_axis(-1.0, 2, "origin", positive=False) == (-1.0, -1.0)


def test_a_shared_network_with_a_transform_is_transformed_in_a_plain_thread():
    """One DeepXDE network with an output transform, called by a mollifier thread and a plain
    thread at once: the plain thread always gets the transformed output (the adapter switches
    the transform off for its raw evaluations; before the lock, 96 of 400 calls saw that)."""
    import deepxde as dde
    import steadygrad.deepxde as sgd

    net = dde.nn.FNN([1, 16, 1], "tanh", "Glorot uniform")
    net.apply_output_transform(lambda x, y: 100 + y)
    dtype = next(net.parameters()).dtype
    x = torch.linspace(0, 1, 9, dtype=dtype)[:, None]
    bad, errors, stop = [], [], threading.Event()

    def mollified():
        try:
            sgd.enable("mollifier", width=0.1, mode="scattered")
            while not stop.is_set():
                net(x.clone().requires_grad_(True))
        except Exception as err:  # noqa: BLE001
            errors.append(err)
        finally:
            sgd.disable()

    thread = threading.Thread(target=mollified)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thread.start()
        try:
            for _ in range(300):
                bad.append(bool((net(x) < 50).any()))
        finally:
            stop.set()
            thread.join(60)
    assert not errors, errors
    assert not any(bad), f"{sum(bad)} of {len(bad)} plain calls missed the transform"


@pytest.mark.parametrize("mode", ["scattered", "grid", "lattice"])
def test_a_network_returning_the_wrong_number_of_rows_is_named(mode):
    net = _net()
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    layer = MollifierLayer(lambda z: net(z)[:-1], width=0.2, spacing=0.1, mode=mode)
    with pytest.raises(ValueError, match="one row per input point"):
        layer(x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_in_lattice_mode_switch_like_the_other_modes(dtype):
    """Lattice mode with float16/bfloat16 inputs: the documented switch to float64 evaluation
    (before: NotImplementedError from the sparse product), same values as scattered mode."""
    net = _net().to(dtype)
    x = torch.rand(20, 1, generator=torch.Generator().manual_seed(0)).to(dtype)
    layer = MollifierLayer(net, width=0.2, mode="lattice")
    with pytest.warns(UserWarning, match="switched to float64"):
        d = layer.derivative(layer(x), (2,))
    ref = MollifierLayer(net, width=0.2, mode="scattered", precision="float64")
    expected = ref.derivative(ref(x), (2,)).double()
    assert d.dtype == dtype
    assert torch.allclose(d.double(), expected, rtol=1e-2, atol=1e-2 * float(expected.abs().max()))


def test_lattice_warning_for_far_float32_points_points_to_float64():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    layer = MollifierLayer(net, width=0.1, mode="lattice", precision="input")
    with pytest.warns(UserWarning, match="rounding noise: precision='float64' tells which"):
        layer.derivative(layer(1e4 + torch.rand(50, 1)), (2,))


def test_layer_options_are_declared_once_and_validated_on_every_change(cli):
    """Unknown layer options raise, naming the allowed ones; an assignment is validated like
    the constructor; run's flags are generated from the same declaration."""
    from steadygrad.mollifier.options import DEFAULTS, LayerOptions

    with pytest.raises(TypeError, match=r"'kernal' \(did you mean 'kernel'\?\).*'width'"):
        MollifierLayer(_net(), width=0.1, kernal="bump")
    layer = MollifierLayer(_net(), width=0.1)
    with pytest.raises(ValueError, match="mode must be one of"):
        layer.mode = "fast"
    with pytest.raises(ValueError, match="max_nodes must be a positive integer"):
        layer.max_nodes = 0
    assert layer.mode == "auto" and layer.max_nodes == DEFAULTS["max_nodes"]
    layer.mode = "grid"
    assert layer.options.mode == "grid"
    help_text = cli(["run", "--help"]).stdout
    for name in LayerOptions.names():
        assert "--" + name.replace("_", "-") in help_text, name
