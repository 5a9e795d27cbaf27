"""Corrected gradients for every loss and parameter, against continuous adjoints (issue 10)."""

import functools

import numpy as np
import pytest
import steadygrad  # noqa: F401  (registers the methods)
import torch
from steadygrad.bench.reference import TimeDependentWeights
from steadygrad.multistep.methods import Leapfrog
from steadygrad.multistep.solve import odeint_multistep
from torchdiffeq import odeint

METHODS = ("leapfrog", "ab2", "ab3", "ab4", "milne")


def _within(corr: float, raw: float) -> bool:
    """The acceptance rule: corrected error <= 3 x max(raw error, 1e-6)."""
    return corr <= 3 * max(raw, 1e-6)


class Decay(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(-0.7, dtype=torch.float64))

    def forward(self, t, y):
        return self.a * y


@pytest.mark.parametrize("method", METHODS)
def test_shared_parameter_with_loss_on_every_output(method):
    """y' = a y, L = sum_i y(t_i)^2, t = linspace(0, 1, 11): dL/da = sum 2 t_i y0^2 e^(2 a t_i)."""
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    exact = float(sum(2 * ti * 1.3**2 * np.exp(-1.4 * ti) for ti in t.tolist()))
    for N in (20, 50, 200):
        errs = {}
        for corr in (False, True):
            f = Decay()
            ys = odeint(
                f,
                torch.tensor([1.3], dtype=torch.float64),
                t,
                method=method,
                options={"step_size": 1 / N, "correction": corr},
            )
            ys.pow(2).sum().backward()
            errs[corr] = abs(float(f.a.grad) - exact) / exact
        assert _within(errs[True], errs[False]), (N, errs)
    assert errs[True] < 1e-4, errs


_SPIRAL_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)
_SPIRAL_T = torch.linspace(0, 25, 10, dtype=torch.float64)
_SPIRAL_W = torch.randn(10, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _spiral_grad(method, **kw):
    y0 = torch.tensor([2.0, 0.0], dtype=torch.float64, requires_grad=True)
    ys = odeint(lambda s, y: (y**3) @ _SPIRAL_A, y0, _SPIRAL_T, method=method, **kw)
    (ys * _SPIRAL_W).sum().backward()
    return y0.grad


@functools.cache
def _spiral_reference():
    return _spiral_grad("dopri5", rtol=1e-10, atol=1e-10)  # 4.5 s: once for both methods


@pytest.mark.parametrize("method", ["leapfrog", "milne"])
def test_spiral_y0_gradient_dissipative(method):
    """torchdiffeq's demo spiral y' = y^3 A over [0, 25], weighted-sum loss on 10 outputs."""
    ref = _spiral_reference()
    errs = {
        c: float(
            (_spiral_grad(method, options={"step_size": 25 / 2304, "correction": c}) - ref).norm()
            / ref.norm()
        )
        for c in (False, True)
    }
    assert _within(errs[True], errs[False]) and errs[True] < 0.1, errs


class PerStepShared(torch.nn.Module):
    """tanh((W_n + B) x): per-step weights W_n and a shared B (zero at the reference)."""

    def __init__(self, prob, N):
        super().__init__()
        self.N, self.h = N, prob.T / N
        self.W = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(prob.W(n * self.h))) for n in range(N)]
        )
        self.B = torch.nn.Parameter(torch.zeros(3, 3, dtype=torch.float64))

    def forward(self, t, x):
        return torch.tanh((self.W[min(int(round(float(t) / self.h)), self.N - 1)] + self.B) @ x)


def _shared_reference(prob):
    """int_0^T G dt, piecewise (G jumps at the outputs), by adaptive quadrature."""
    from scipy.integrate import quad_vec

    edges = [0.0, *[t for t in prob.t_obs if 0 < t < prob.T], prob.T]
    return sum(
        quad_vec(lambda s: prob.G(s)[0], lo, hi, epsabs=1e-12, epsrel=1e-11)[0]
        for lo, hi in zip(edges[:-1], edges[1:])
    )


def _errors(prob, method, N, corr):
    f = PerStepShared(prob, N)
    x0 = torch.tensor(prob.x0, requires_grad=True)
    ts = torch.tensor(prob.t_obs, dtype=torch.float64)
    xs = odeint(f, x0, ts, method=method, options={"step_size": f.h, "correction": corr})
    (0.5 * (xs - torch.tensor(prob.y_obs)).pow(2).sum()).backward()
    per_step = np.abs(
        np.array([np.zeros(w.shape) if w.grad is None else w.grad.numpy() for w in f.W]) / f.h
        - prob.G(np.arange(N) * f.h)
    ).max()
    return {
        "per_step": per_step,
        "y0": np.abs(x0.grad.numpy() - prob.p0).max(),
        "shared": np.abs(f.B.grad.numpy() - prob.B_ref).max(),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_property_random_output_subsets_every_method(seed):
    """Random subsets of output times (on the grid): per-step, shared and y0 gradients."""
    rng = np.random.default_rng(seed)
    grid = np.round(np.linspace(0, 1, 21), 12)
    t_obs = sorted({0.0, *rng.choice(grid[1:], size=rng.integers(1, 6), replace=False).tolist()})
    prob = TimeDependentWeights(seed=seed, t_obs=t_obs)
    prob.B_ref = _shared_reference(prob)
    worst = 0.0
    for method in METHODS:
        per_step = []
        for N in (40, 80):
            raw, cor = _errors(prob, method, N, False), _errors(prob, method, N, True)
            for key in ("per_step", "y0", "shared"):
                assert _within(cor[key], raw[key]), (method, N, key, raw, cor)
                worst = max(worst, cor[key] / max(raw[key], 1e-6))
            per_step.append(cor["per_step"])
        assert per_step[1] < 0.3 * per_step[0], (method, per_step)  # O(h^2) at every node
    assert (
        worst <= 1.0 + 1e-9
    )  # exact gradients for y0 and shared weights; per-step far better than raw


def _penalty(lin, method, options):
    """Gradient penalty |d sum y / d y0|^2 through odeint (double backward)."""

    class F(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, t, y):
            return torch.tanh(self.lin(y))

    y0 = torch.tensor([1.0, -0.5], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    ys = odeint(F(), y0, t, method=method, options=options)
    (g,) = torch.autograd.grad(ys.sum(), y0, create_graph=True)
    return g.pow(2).sum()


@pytest.mark.parametrize("method", METHODS)
def test_create_graph_gives_the_second_derivative(method):
    """Shared weights take the autograd path: double backward is exact (central differences
    of the penalty in one weight), never a silently detached gradient."""
    lin = torch.nn.Linear(2, 2).double()
    options = {"step_size": 0.05}
    penalty = _penalty(lin, method, options)
    assert penalty.requires_grad
    (dw,) = torch.autograd.grad(penalty, lin.weight)
    eps, w = 1e-6, lin.weight.data
    w[0, 1] += eps
    up = float(_penalty(lin, method, options))
    w[0, 1] -= 2 * eps
    down = float(_penalty(lin, method, options))
    assert abs(float(dw[0, 1]) - (up - down) / (2 * eps)) < 1e-7 * max(1.0, abs(float(dw[0, 1])))


def test_create_graph_is_refused_clearly_on_the_recomputing_sweep():
    lin = torch.nn.Linear(2, 2).double()
    with pytest.raises(RuntimeError, match="double backward"):
        _penalty(lin, "leapfrog", {"step_size": 0.1, "recompute": True})


def test_option_validation():
    y0 = torch.ones(2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(TypeError, match="correction"):
        odeint(lambda s, y: -y, y0, t, method="ab2", options={"step_size": 0.1, "correction": "no"})
    with pytest.raises(TypeError, match="step_size"):
        odeint(lambda s, y: -y, y0, t, method="ab2", options={"step_size": "0.1"})
    with pytest.raises(TypeError, match="recompute"):
        odeint(lambda s, y: -y, y0, t, method="ab2", options={"step_size": 0.1, "recompute": "yes"})
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    ys = odeint(lambda s, y: -w * y, y0, t, method="ab2", options={"step_size": 0.1, "params": w})
    ys[-1].sum().backward()
    assert w.grad is not None and float(w.grad) < 0
    for ctx in (torch.no_grad(), torch.enable_grad()):
        with ctx, pytest.raises(ValueError, match="shaped like y0"):
            odeint(lambda s, y: y[:1], y0, t, method="ab2", options={"step_size": 0.1})


def test_single_output_time_returns_y0():
    y0 = torch.tensor([1.0, 2.0], requires_grad=True)
    ys = odeint(
        lambda s, y: -y, y0, torch.tensor([0.3]), method="milne", options={"step_size": 0.1}
    )
    assert ys.shape == (1, 2) and torch.equal(ys[0], y0.detach())
    ys.sum().backward()
    assert torch.equal(y0.grad, torch.ones(2))


@pytest.mark.parametrize("interp", ["linear", "cubic"])
def test_off_grid_outputs_are_interpolated_with_exact_gradients(interp):
    """ode_demo's call (1000 outputs, step 0.1) works; interpolation error and gradients."""
    A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)
    t = torch.linspace(0, 2, 37, dtype=torch.float64)  # spacing 1/18: mostly off the 0.01 grid
    y0 = torch.tensor([0.5, -0.3], dtype=torch.float64)
    ys = odeint(
        lambda s, y: y @ A, y0, t, method="ab4", options={"step_size": 0.01, "interp": interp}
    )
    exact = torch.stack([y0 @ torch.linalg.matrix_exp(A * s) for s in t])
    assert float((ys - exact).abs().max()) < (
        1e-4 if interp == "linear" else 1e-7
    )  # h^2/8 |y''|, h^4
    lin = torch.nn.Linear(2, 2).double()

    def f(y0, tt):
        return odeint_multistep(
            lambda s, y: torch.tanh(lin(y)),
            y0,
            tt,
            Leapfrog(),
            step_size=0.05,
            correction=False,
            interp=interp,
            params=list(lin.parameters()),
        )

    y0 = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    tt = torch.tensor([0.0, 0.23, 0.61, 0.9], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda y: f(y, tt), (y0,))
    tq = tt.clone().requires_grad_(True)
    f(y0, tq).pow(2).sum().backward()
    for i in (1, 2):  # off-grid output times: d/dt_i of the interpolant
        hi, lo = tt.clone(), tt.clone()
        hi[i] += 1e-6
        lo[i] -= 1e-6
        fd = (f(y0, hi).pow(2).sum() - f(y0, lo).pow(2).sum()) / 2e-6
        assert abs(float(fd.detach()) - float(tq.grad[i])) < 1e-6


def test_on_grid_detection_does_not_grow_with_the_index():
    t = torch.tensor([0.0, 25.0, 25.002], dtype=torch.float32)  # 25.002 is 0.4 steps past node 5000
    ys = odeint(
        lambda s, y: torch.ones_like(y),
        torch.zeros(1),
        t,
        method="ab2",
        options={"step_size": 0.005},
    )
    assert abs(float(ys[2, 0] - ys[1, 0]) - 0.002) < 1e-4  # interpolated 0.4 steps on, not snapped
    ys = odeint(
        lambda s, y: torch.ones_like(y),
        torch.zeros(1),
        torch.linspace(0, 25, 5001),
        method="leapfrog",
        options={"step_size": 0.005},
    )
    assert float((ys[:, 0] - torch.linspace(0, 25, 5001)).abs().max()) < 1e-3
