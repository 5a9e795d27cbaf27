"""Eliminated parameters (variable projection): bases against numpy, the solve against
numpy's least squares, the affinity check, and DeepXDE inverse problems solved with it."""

import numpy as np
import pytest
import torch
from numpy.polynomial import legendre
from steadygrad.inverse import FourierBasis, LegendreBasis, LinearParameter, NotLinearError


def _points(n=40, d=2, seed=0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_legendre_basis_matches_numpy_values_and_derivatives():
    x = _points()
    basis = LegendreBasis(5, axes=(0, 1), lo=(0.0, -1.0), hi=(1.0, 3.0))
    s = [2 * x[:, 0].numpy() - 1, (x[:, 1].numpy() + 1) / 2 - 1]
    for col, (i, j) in enumerate(basis.indices()):
        ei, ej = np.eye(6)[i], np.eye(6)[j]
        ref = legendre.legval(s[0], ei) * legendre.legval(s[1], ej)
        d0 = legendre.legval(s[0], legendre.legder(ei)) * 2 * legendre.legval(s[1], ej)
        d1 = legendre.legval(s[0], ei) * legendre.legval(s[1], legendre.legder(ej)) * 0.5
        np.testing.assert_allclose(basis(x)[:, col].numpy(), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(basis(x, 0)[:, col].numpy(), d0, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(basis(x, 1)[:, col].numpy(), d1, rtol=1e-11, atol=1e-11)


def test_fourier_basis_values_derivatives_and_unused_axes():
    x = _points(d=3)
    basis = FourierBasis(2, axes=(0, 1), period=0.5)
    assert basis.size == 25
    jac = torch.autograd.functional.jacobian(lambda z: basis(z).sum(0), x)  # (25, N, 3)
    for axis in range(3):  # each column depends on its own row of x only
        np.testing.assert_allclose(
            basis(x, axis).numpy(), jac[:, :, axis].T.numpy(), rtol=1e-10, atol=1e-10
        )
    col = basis.indices().index((1, 4))  # [1, cos k=1, cos k=2, sin k=1, sin k=2] per axis:
    # cos(2 pi x / L) sin(4 pi y / L)
    ref = np.cos(4 * np.pi * x[:, 0].numpy()) * np.sin(8 * np.pi * x[:, 1].numpy())
    np.testing.assert_allclose(basis(x)[:, col].numpy(), ref, rtol=1e-12, atol=1e-12)
    assert torch.all(basis(x, 2) == 0)  # time axis: the parameter does not depend on it


def _affine_residual(param, x, a, b):
    """r = a + b * p(x): affine in p."""
    return a + b * param(x)


def test_eliminate_recovers_the_coefficients_and_matches_numpy_lstsq():
    x = _points(200)
    basis = LegendreBasis(3)
    a, b = torch.sin(3 * x[:, :1]), 1 + x[:, 1:] ** 2
    c_true = torch.linspace(-1, 1, basis.size, dtype=torch.float64)
    a_exact = -b * (2.0 + basis(x) @ c_true[:, None])  # residual zero at p = 2 + B c_true
    param = LinearParameter(basis, offset=2.0, ridge=0.0)
    r = param.eliminate(_affine_residual(param, x, a_exact, b))
    assert float(r.abs().max()) < 1e-9
    np.testing.assert_allclose(param.coef.numpy(), c_true.numpy(), atol=1e-8)
    # a residual no p fits, default ridge: the least-squares coefficients of numpy's solver
    param = LinearParameter(basis, offset=2.0)
    param.eliminate(_affine_residual(param, x, a, b))
    M, rhs = (b * basis(x)).numpy(), -(a + 2.0 * b).numpy()[:, 0]
    ref = np.linalg.lstsq(M, rhs, rcond=None)[0]
    np.testing.assert_allclose(param.coef.numpy(), ref, rtol=1e-6, atol=1e-7)
    xe = _points(5, seed=3)
    np.testing.assert_allclose(
        param.values(xe).numpy()[:, 0], 2.0 + basis(xe).numpy() @ ref, rtol=1e-6, atol=1e-7
    )


def test_eliminate_uses_only_rows_after_skip_and_is_differentiable():
    x = _points(60)
    basis = FourierBasis(1)
    param = LinearParameter(basis)
    a, b = torch.randn(60, 1, dtype=torch.float64), 1 + x[:, :1]
    junk = a.clone()
    junk[:10] = 1e6  # boundary rows: evaluated, not in the loss
    param.eliminate(_affine_residual(param, x, junk, b), skip=10)
    c_skip = param.coef.clone()
    param.eliminate(_affine_residual(param, x[10:], a[10:], b[10:]))
    np.testing.assert_allclose(c_skip.numpy(), param.coef.numpy(), rtol=1e-9, atol=1e-12)
    a.requires_grad_(True)
    b.requires_grad_(True)
    torch.autograd.gradcheck(
        lambda a_, b_: param.eliminate(_affine_residual(param, x, a_, b_)).pow(2).sum(), (a, b)
    )


def test_a_residual_not_affine_in_the_parameter_raises():
    x = _points()
    param = LinearParameter(FourierBasis(1))
    with pytest.raises(NotLinearError, match="not affine in the parameter"):
        param.eliminate(x[:, :1] + param(x) ** 2)
    with pytest.raises(NotLinearError, match="not affine"):
        param.eliminate(torch.exp(param(x)))
    with pytest.raises(ValueError, match=r"shape \(N, 11\)"):
        param.eliminate(x[:, :1])  # built without the design columns
    with pytest.raises(RuntimeError, match="evaluate the residual"):
        LinearParameter(FourierBasis(1)).values(x)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: LegendreBasis(-1), "degree must be a non-negative integer"),
        (lambda: LegendreBasis(2.5), "degree must be a non-negative integer"),
        (lambda: FourierBasis(2, period=0), "period must be positive"),
        (lambda: FourierBasis(2, axes=(0, 0)), "distinct"),
        (lambda: LegendreBasis(2, lo=1.0, hi=0.0), "lo < hi"),
        (lambda: LinearParameter("fourier"), "basis must be"),
        (lambda: LinearParameter(FourierBasis(1), ridge=-1), "ridge"),
    ],
)
def test_bad_options_name_the_problem(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_basis_rejects_points_without_its_axes():
    with pytest.raises(ValueError, match="uses axes"):
        FourierBasis(1, axes=(0, 2))(torch.zeros(4, 2))


def test_deepxde_parameter_must_be_attached():
    import steadygrad.deepxde as sgd

    param = sgd.LinearParameter(FourierBasis(1))
    x = _points()
    with pytest.raises(RuntimeError, match=r"param.attach\(data\)"):
        param.eliminate(x[:, :1] + param(x))
    with pytest.raises(TypeError, match="dde.data.PDE"):
        param.attach(object())


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["autodiff", "mollifier-grid"])
def test_heat2d_recovers_lambda_with_either_backend(variant):
    """The recipe (Adam, then L-BFGS on the eliminated lambda) solves heat2d at noise 0 with
    either derivative backend; with the network's lambda this schedule ended at 30-50%."""
    from steadygrad.bench.train import run_pde_problem

    row = run_pde_problem("heat2d", variant, 0.0, True, 0, "cpu", iterations=100, lbfgs=500)
    assert row["status"] == "ok" and row["param_rel_err"] < 0.1 and row["param_corr"] > 0.8, row


def test_budget_that_ends_in_the_first_stage_is_recorded_with_a_note(capfd):
    from steadygrad.bench.train import run_pde_problem

    row = run_pde_problem(
        "heat2d", "mollifier-grid", 0.0, True, 0, "cpu", iterations=10**5, budget=1.0
    )
    assert row["status"] == "ok" and "ended in the Adam stage" in row["note"], row
    assert "lbfgs_steps" not in row and row["trace"] and row["param_rel_err"] > 0
    assert "L-BFGS not reached" in capfd.readouterr().err


def test_time_to_targets_reads_the_first_time_each_error_is_reached():
    from steadygrad.bench.train import time_to_targets

    trace = [{"s": s, "param_rel_err": e} for s, e in ((0, 3.0), (1, 0.15), (2, 0.3), (5, 0.08))]
    assert time_to_targets(trace) == {"s_to_20pct": 1, "s_to_10pct": 5, "s_to_5pct": None}


def _observed_problem(dde, noise=0.0, seed=0):
    """A 1D problem whose residual must never run (it raises), observing sin(pi x)."""

    def pde(x, y):
        raise AssertionError("the observation fit evaluated the PDE residual")

    xo = np.linspace(0, 1, 41)[:, None]
    yo = np.sin(np.pi * xo) + noise * np.random.default_rng(seed).standard_normal(xo.shape)
    obs = dde.icbc.PointSetBC(xo, yo)
    data = dde.data.PDE(dde.geometry.Interval(0, 1), pde, [obs], 0, 0, anchors=xo)
    return data, xo, yo


def test_fit_observations_fits_the_data_alone_and_restores_the_backend():
    import steadygrad.deepxde as sgd
    from steadygrad.bench.problems.common import deepxde as _dde

    dde = _dde()
    dde.config.set_default_float("float64")
    dde.config.set_random_seed(0)
    data, xo, yo = _observed_problem(dde)
    net = dde.nn.FNN([1, 16, 16, 1], "tanh", "Glorot uniform")
    op = sgd.enable("mollifier", width=0.1)
    try:
        model = sgd.fit_observations(data, net, 150)
        assert sgd.active() is op  # the backend is back
    finally:
        sgd.disable()
    fitted = net(torch.as_tensor(xo)).detach().numpy()
    assert np.mean((fitted - yo) ** 2) < 1e-5 and 0 < model.train_state.step < 1000


def test_fit_observations_stops_at_the_noise_level():
    """The discrepancy principle: with noise sigma, the fit stops once the misfit is sigma^2
    (well before the step limit); without it, it fits on, below sigma^2."""
    import steadygrad.deepxde as sgd
    from steadygrad.bench.problems.common import deepxde as _dde

    dde = _dde()
    dde.config.set_default_float("float64")
    sigma, steps = 0.05, {}
    for noise in (sigma, 0.0):
        dde.config.set_random_seed(0)
        data, xo, yo = _observed_problem(dde, sigma)
        net = dde.nn.FNN([1, 16, 16, 1], "tanh", "Glorot uniform")
        model = sgd.fit_observations(data, net, 300, noise=noise)
        misfit = float(np.mean((net(torch.as_tensor(xo)).detach().numpy() - yo) ** 2))
        steps[noise] = (model.train_state.step, misfit)
    assert steps[sigma][1] <= sigma**2 < 2 * steps[sigma][1], steps  # stopped near sigma^2
    assert steps[0.0][1] < 0.8 * sigma**2 and steps[sigma][0] < steps[0.0][0], steps


def test_fit_observations_refuses_bad_input():
    import steadygrad.deepxde as sgd
    from steadygrad.bench.problems.common import deepxde as _dde

    dde = _dde()
    data, _, _ = _observed_problem(dde)
    net = dde.nn.FNN([1, 8, 1], "tanh", "Glorot uniform")
    unobserved = dde.data.PDE(dde.geometry.Interval(0, 1), lambda x, y: y, [], 8, 2)
    with pytest.raises(ValueError, match="no dde.icbc.PointSetBC"):
        sgd.fit_observations(unobserved, net)
    for bad in (0, -3, True, 2.5, "100"):
        with pytest.raises(ValueError, match="iterations"):
            sgd.fit_observations(data, net, bad)
    for bad in (-0.1, float("nan"), "low", True):
        with pytest.raises((TypeError, ValueError), match="noise"):
            sgd.fit_observations(data, net, 10, noise=bad)
    with pytest.raises(TypeError, match="dde.data.PDE"):
        sgd.fit_observations(object(), net)
