"""DeepXDE adapter: opt-in/out, dde.grad routing, boundary conditions, fallbacks, runner."""

import json
import os
import subprocess
import sys
import warnings

import deepxde as dde
import numpy as np
import pytest
import steadygrad.deepxde as sgd
import torch
from steadygrad.derivatives import UnservableDerivative
from steadygrad.mollifier import MollifierLayer, field_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _clean():
    dde.config.set_default_float("float64")
    yield
    sgd.disable()


def _net(dim=1, out=1):
    torch.manual_seed(0)
    return dde.nn.FNN([dim] + [16] * 2 + [out], "tanh", "Glorot uniform")


def test_enable_disable_restores_deepxde_exactly():
    from deepxde.nn.pytorch.nn import NN

    before = (dde.grad.jacobian, dde.grad.hessian, dde.grad.clear, NN.__dict__.get("__call__"))
    sgd.enable("mollifier", width=0.1)
    assert dde.grad.jacobian is not before[0] and "__call__" in NN.__dict__
    sgd.enable("mollifier", width=0.2)  # replacing keeps one layer of patches
    sgd.disable()
    after = (dde.grad.jacobian, dde.grad.hessian, dde.grad.clear, NN.__dict__.get("__call__"))
    assert all(a is b for a, b in zip(before, after))
    sgd.disable()  # idempotent


def test_dde_grad_returns_kernel_derivatives():
    net = _net(dim=2, out=2)
    x = torch.rand(20, 2, dtype=torch.float64, requires_grad=True)
    op = sgd.enable("mollifier", width=0.1)
    y = net(x)
    field = field_of(y)[0]
    assert torch.equal(dde.grad.jacobian(y, x, i=1, j=0), field.derivative(1, (1, 0)))
    assert torch.equal(dde.grad.hessian(y, x, component=0, i=0, j=1), field.derivative(0, (1, 1)))
    u_xx = dde.grad.hessian(y, x, component=0, i=0, j=0)
    assert torch.equal(dde.grad.hessian(u_xx, x, i=1, j=1), field.derivative(0, (2, 2)))  # nested
    assert dde.grad.jacobian(y, x, i=0).shape == (20, 2)  # full gradient row (Neumann BCs)
    # agrees with autodiff of the mollified output
    auto = torch.autograd.grad(y[:, 0].sum(), x, create_graph=True)[0]
    assert torch.allclose(dde.grad.jacobian(y, x, i=0, j=1), auto[:, 1:], atol=1e-9)
    with pytest.raises(ValueError, match="i and j cannot be both None"):
        dde.grad.jacobian(y, x)
    assert "mollifier" in op.describe()


def test_fallback_warns_once_and_strict_raises():
    net = _net()
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None].requires_grad_()
    sgd.enable("mollifier", width=0.1)
    y = net(x)
    with pytest.warns(sgd.FallbackWarning, match="not a mollifier field"):
        d = dde.grad.jacobian(y**2, x)
    assert torch.allclose(d, 2 * y * dde.grad.jacobian(y, x), atol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dde.grad.jacobian(y**3, x)  # second time: no warning
    sgd.enable("mollifier", width=0.1, kernel="polynomial:q=3")
    y = net(x)
    with pytest.warns(sgd.FallbackWarning, match="smoothness"):
        dde.grad.hessian(dde.grad.hessian(y, x), x)  # 4th order > kernel smoothness -> autodiff
    sgd.enable("mollifier", width=0.1, strict=True)
    y = net(x)
    with pytest.raises(ValueError, match="strict"):
        dde.grad.jacobian(y**2, x)


def test_output_transform_keeps_hard_constraint():
    """Hard constraints are served by the kernel (forward mode through the transform), with no
    fallback warning; reference: the chain rule written out with the kernel derivatives of u."""
    net = _net()
    net.apply_output_transform(lambda x, y: x * (1 - x) * y)
    sgd.enable("mollifier", width=0.1)
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None].requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error", sgd.FallbackWarning)
        y = net(x)
        assert abs(float(y[0])) < 1e-15 and abs(float(y[-1])) < 1e-15
        assert dde.grad.hessian(y, x).shape == (11, 1)
    for mode in ("grid", "lattice", "scattered"):
        op = sgd.enable("mollifier", width=0.2, mode=mode, points=4, strict=True)
        net._output_transform = None
        u = net(x)
        u1, u2 = op.derivative(u, x, 0), op.derivative(op.derivative(u, x, 0), x, 0)
        net.apply_output_transform(lambda x, y: x * (1 - x) * y)
        y = net(x)
        expected = -2 * u + 2 * (1 - 2 * x) * u1 + x * (1 - x) * u2
        d2 = dde.grad.hessian(y, x)
        assert field_of(d2) is not None, mode  # served by the kernel path, not autodiff
        assert torch.allclose(d2, expected, atol=1e-12), mode
        assert torch.allclose(dde.grad.jacobian(y, x), (1 - 2 * x) * u + x * (1 - x) * u1)


def _only_at_the_inputs(x, y):
    """A transform that refuses shifted inputs (e.g. a lookup keyed by the input tensor)."""
    if not x.is_leaf:
        raise KeyError("unknown input tensor")
    return x * y


def test_untraceable_output_transform_warns_once_then_autodiff():
    net = _net()
    net.apply_output_transform(_only_at_the_inputs)
    sgd.enable("mollifier", width=0.2, mode="lattice")
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None].requires_grad_()
    with pytest.warns(sgd.FallbackWarning, match="output transform cannot be differentiated"):
        assert dde.grad.jacobian(net(x), x).shape == (11, 1)
    sgd.enable("mollifier", width=0.2, mode="lattice", strict=True)
    with pytest.raises(UnservableDerivative, match="output transform"):
        dde.grad.jacobian(net(x), x)


def test_grid_mode_in_deepxde_matches_scattered():
    net = _net()
    x = torch.linspace(0, 1, 21, dtype=torch.float64)[:, None].requires_grad_()
    sgd.enable("mollifier", width=0.1, spacing=0.025, mode="grid")
    d_grid = dde.grad.hessian(net(x), x)
    sgd.enable("mollifier", width=0.1, spacing=0.025, mode="scattered")
    d_sc = dde.grad.hessian(net(x), x)
    assert torch.allclose(d_grid, d_sc, atol=1e-10)


def test_bad_backend_name():
    with pytest.raises(ValueError, match="no derivatives plugin named 'fd'"):
        sgd.enable("fd")
    with pytest.raises(TypeError, match="bad options"):
        sgd.enable("mollifier", widht=0.1)


def test_neumann_robin_bcs_route_through_kernel():
    """DeepXDE's Neumann and Robin BC errors equal the kernel derivative of the same network."""
    sgd.enable("mollifier", width=0.1, strict=True)  # strict: any autodiff fallback would raise
    geom = dde.geometry.Interval(0, 1)
    neumann = dde.icbc.NeumannBC(geom, lambda x: 0, lambda x, on: on and np.isclose(x[0], 0))
    robin = dde.icbc.RobinBC(geom, lambda x, y: y, lambda x, on: on and np.isclose(x[0], 1))
    net = _net()
    X = np.array([[0.0], [1.0]])
    x = torch.tensor(X, requires_grad=True)
    y = net(x)
    layer = MollifierLayer(lambda z: torch.nn.Module.__call__(net, z), width=0.1)
    du = layer.derivative(layer(x), (1,)).detach()
    # outward normals: -1 at x = 0, +1 at x = 1; Robin: du/dn - u
    assert torch.allclose(neumann.error(X, x, y, 0, 1), -du[:1], atol=1e-12)
    assert torch.allclose(robin.error(X, x, y, 1, 2), du[1:] - y[1:].detach(), atol=1e-12)
    model = dde.Model(
        dde.data.PDE(
            geom,
            lambda x, y: dde.grad.hessian(y, x) + 1,
            [neumann, robin],
            num_domain=8,
            num_boundary=2,
        ),
        net,
    )
    model.compile("adam", lr=1e-3)
    model.train(iterations=3, display_every=10, verbose=0)
    assert np.isfinite(np.sum(model.train_state.loss_train))


@pytest.mark.slow
def test_runner_on_unmodified_beam_script(cli, tmp_path):
    out = tmp_path / "beam.json"
    res = cli(
        [
            "run",
            "examples/beam.py",
            "--derivatives",
            "mollifier",
            "--width",
            "0.1",
            "--strict",
            "--",
            "--iterations",
            "1500",
            "--json",
            str(out),
        ]
    )
    assert res.returncode == 0, res.stderr[-2000:]
    err = json.loads(out.read_text())["l2_relative_error"]
    assert err < 0.05, err


def test_runner_errors(capsys):
    from steadygrad.cli import main

    assert main(["run", os.path.join(ROOT, "examples", "beam.py")]) != 0
    assert "--width is required" in capsys.readouterr().err
    assert main(["run", "no_such_script.py", "--width", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "steadygrad run: no such script: no_such_script.py"


@pytest.mark.slow
def test_inverse_diffusion_reaction_both_backends(tmp_path):
    results = {}
    for backend in ("autodiff", "mollifier"):
        out = tmp_path / f"{backend}.json"
        res = subprocess.run(
            [
                sys.executable,
                "examples/diffusion_reaction_inverse.py",
                "--derivatives",
                backend,
                "--iterations",
                "3000",
                "--json",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )
        assert res.returncode == 0, res.stderr[-2000:]
        results[backend] = json.loads(out.read_text())
    for r in results.values():
        assert r["u_l2"] < 0.1 and r["k_l2"] < 0.5, results


def test_lbfgs_compile_holds_the_precision_policy_and_adam_releases_it():
    """L-BFGS's line search needs a smooth loss: compiling it holds the layer in float64."""
    geom = dde.geometry.Interval(0, 1)
    data = dde.data.PDE(geom, lambda x, y: dde.grad.hessian(y, x) + 1, [], num_domain=16)
    op = sgd.enable("mollifier", width=0.1)
    model = dde.Model(data, _net())
    model.compile("L-BFGS")
    P = op.layer.precision
    assert P.held and P.upcast
    model.compile("adam", lr=1e-3)
    assert not P.held
