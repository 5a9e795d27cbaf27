"""The example third-party plugin (examples/third_party_plugin) is found by name and works.

Its pyproject.toml declarations are installed as package metadata in a temporary folder (what
``pip install`` would write), so discovery goes through the real entry-point machinery.
"""

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from steadygrad import registry

PLUGIN = Path(__file__).resolve().parent.parent / "examples" / "third_party_plugin"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    dist = tmp_path / "steadygrad_extras-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: steadygrad-extras\nVersion: 0.1.0\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in entries.items()), ""]
    (dist / "entry_points.txt").write_text("\n".join(lines))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGIN))
    registry.refresh()
    from steadygrad.adapters.torchdiffeq import register

    register()
    yield
    registry.refresh()


def test_kernel_by_name(installed):
    from steadygrad.mollifier import MollifierLayer

    layer = MollifierLayer(lambda z: z**2, width=0.2, kernel="triweight")
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    assert torch.allclose(
        layer.derivative(layer(x), (2,)), torch.full((11, 1), 2.0, dtype=torch.float64)
    )


def test_ode_method_by_name_has_its_order(installed):
    from torchdiffeq import odeint

    A = torch.tensor([[-0.5, 2.0], [-2.0, -0.3]], dtype=torch.float64)
    y0, t = (
        torch.tensor([1.0, 0.5], dtype=torch.float64),
        torch.tensor([0.0, 2.0], dtype=torch.float64),
    )
    exact = torch.linalg.matrix_exp(2 * A) @ y0
    errs = [
        float(
            (
                odeint(lambda s, y: A @ y, y0, t, method="nystrom3", options={"step_size": 2 / N})[
                    -1
                ]
                - exact
            )
            .abs()
            .max()
        )
        for N in (40, 80, 160)
    ]
    order = -np.polyfit(np.log([40, 80, 160]), np.log(errs), 1)[0]
    assert abs(order - 3) < 0.3, errs


def test_derivative_operator_by_name(installed):
    import steadygrad.deepxde as sgd

    op = sgd.enable("counting-autodiff")
    try:
        import deepxde as dde

        net = dde.nn.FNN([1, 4, 1], "tanh", "Glorot uniform")
        net(torch.rand(3, 1, dtype=next(net.parameters()).dtype))  # DeepXDE's float type may be 64
        assert op.calls == 1 and op.name == "counting-autodiff"
    finally:
        sgd.disable()
