"""width='auto': the noise estimate, the SURE choice against the clean field, the floors, and
the DeepXDE path (observations taken from PointSetBC at model.compile)."""

import numpy as np
import pytest
import torch
from steadygrad.mollifier import MollifierLayer
from steadygrad.mollifier.autowidth import (
    CANDIDATES,
    FLOAT32_SAFE,
    MIN_SPACINGS,
    _sure,
    choose_width,
    data_spacing,
    estimate_noise,
)
from steadygrad.mollifier.kernels import make_kernel

KERNEL = make_kernel("polynomial")
G = np.linspace(0, 1, 33)
X = np.stack(np.meshgrid(G, G, indexing="ij"), -1).reshape(-1, 2)
CLEAN = np.sin(2 * np.pi * X[:, 0]) * np.cos(3 * X[:, 1])


def noisy(level, seed=0):
    return CLEAN + level * np.random.default_rng(seed).standard_normal(CLEAN.shape)


@pytest.mark.parametrize("level", [0.01, 0.05, 0.2])
def test_noise_estimate_matches_the_added_noise(level):
    rows = np.arange(len(X))
    sigma = estimate_noise(X / (G[1] - G[0]), noisy(level), rows)
    assert abs(sigma / level - 1) < 0.15, sigma


def test_noise_estimate_is_tiny_without_noise():
    assert estimate_noise(X / (G[1] - G[0]), CLEAN, np.arange(len(X))) < 1e-3


def test_spacing_is_read_from_lattice_and_scattered_data():
    assert np.allclose(data_spacing(X), G[1] - G[0])
    pts = np.random.default_rng(0).uniform(0, 1, (400, 2))
    assert np.allclose(data_spacing(pts), 1 / 20, rtol=0.05)


def test_width_grows_with_noise_and_sits_on_the_floor_without_noise():
    chosen = [choose_width(X, noisy(lvl), KERNEL)[1]["chosen_c"] for lvl in (0, 0.05, 0.3)]
    assert chosen[0] == MIN_SPACINGS
    assert chosen == sorted(chosen) and chosen[-1] > chosen[0], chosen


@pytest.mark.parametrize("level", [0.02, 0.1])
def test_auto_width_smooths_within_1_5x_of_the_best_candidate(level):
    """Against the clean field (the reference), the smoother at the chosen width is within
    1.5x of the best candidate's RMS error."""
    y = noisy(level)
    width, report = choose_width(X, y, KERNEL)
    z, rows = X / report["spacing"], np.arange(len(X))

    def err(c):  # smoother error against the clean field: SURE with sigma = 0 on clean targets
        import scipy.sparse  # noqa: F401
        from steadygrad.mollifier import autowidth

        smooth = autowidth._smooth(z, y, rows, KERNEL, c)
        return np.sqrt(np.mean((smooth - CLEAN) ** 2))

    best = min(err(c) for c in CANDIDATES)
    assert err(report["chosen_c"]) <= 1.5 * best


def test_float32_input_precision_floor():
    y = noisy(0.0)
    width, report = choose_width(X, y, KERNEL, order=4, float32_input=True)
    assert report["floor_c"] > MIN_SPACINGS
    assert report["chosen_c"] >= report["floor_c"] >= FLOAT32_SAFE[4] * 1.0


def test_layer_needs_observations_before_use():
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    layer = MollifierLayer(net.double(), width="auto", mode="scattered")
    x = torch.tensor(X[:50])
    with pytest.raises(ValueError, match="not chosen yet"):
        layer(x)
    width, report = layer.choose_width(torch.tensor(X), torch.tensor(noisy(0.05)))
    assert isinstance(layer.width, tuple) and layer.width == width
    assert layer(x).shape == (50, 1)


@pytest.mark.parametrize(
    "width, values, error",
    [
        ("wide", CLEAN, TypeError),
        ("auto", np.ones_like(CLEAN), ValueError),
        ("auto", np.where(np.arange(len(CLEAN)) == 3, np.nan, CLEAN), ValueError),
    ],
)
def test_bad_width_input_is_refused(width, values, error):
    with pytest.raises(error):
        layer = MollifierLayer(torch.nn.Linear(2, 1), width=width)
        layer.choose_width(X, values)


def test_deepxde_takes_the_observations_at_compile(monkeypatch):
    monkeypatch.setenv("DDE_BACKEND", "pytorch")
    import deepxde as dde
    import steadygrad.deepxde as sgd

    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    obs = dde.icbc.PointSetBC(X, noisy(0.05)[:, None])

    def pde(x, y):
        return dde.grad.hessian(y, x, i=0, j=0)

    net = dde.nn.FNN([2, 8, 1], "tanh", "Glorot uniform")
    try:
        op = sgd.enable("mollifier", width="auto", mode="scattered")
        assert op.needs_observations
        dde.Model(dde.data.PDE(geom, pde, [obs], num_domain=0, anchors=X), net).compile(
            "adam", lr=1e-3
        )
        assert not op.needs_observations
        assert np.allclose(op.layer.width, choose_width(X, noisy(0.05), KERNEL)[0], rtol=1e-5)
        sgd.enable("mollifier", width="auto")
        model = dde.Model(dde.data.PDE(geom, pde, [], num_domain=0, anchors=X), net)
        with pytest.raises(ValueError, match="PointSetBC"):
            model.compile("adam", lr=1e-3)
    finally:
        sgd.disable()


def test_sure_is_unbiased_for_the_smoothing_error():
    """E[SURE] = E[mean (S y - clean)^2]: averaged over 40 noise draws they agree to 15%
    (without the 2 sigma^2 tr S / n term SURE would be negative here)."""
    z, rows = X / (G[1] - G[0]), np.arange(len(X))
    from steadygrad.mollifier import autowidth

    sure, true = [], []
    for seed in range(40):
        y = noisy(0.1, seed)
        sure.append(_sure(z, y, rows, KERNEL, 4.0, 0.1)[0])
        true.append(np.mean((autowidth._smooth(z, y, rows, KERNEL, 4.0) - CLEAN) ** 2))
    assert abs(np.mean(sure) / np.mean(true) - 1) < 0.15, (np.mean(sure), np.mean(true))
