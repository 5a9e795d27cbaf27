"""Multistep solvers in torchdiffeq: forward order, exact and corrected gradients, errors."""

import numpy as np
import pytest
import steadygrad  # noqa: F401  (registers the methods)
import torch
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from steadygrad.bench.reference import TimeDependentWeights
from steadygrad.multistep.methods import AB2, AB3, AB4, Leapfrog, Milne
from torchdiffeq import odeint

METHODS = {"leapfrog": 2, "ab2": 2, "ab3": 3, "ab4": 4, "milne": 4}
A = torch.tensor([[-0.5, 2.0], [-2.0, -0.3]], dtype=torch.float64)


def _order(errs, Ns):
    return np.polyfit(np.log(Ns), np.log(errs), 1)[0] * -1


@pytest.mark.parametrize("method", METHODS)
def test_forward_order_linear(method):
    y0 = torch.tensor([1.0, 0.5], dtype=torch.float64)
    exact = torch.as_tensor(expm(A.numpy() * 2.0) @ y0.numpy())
    Ns = [40, 80, 160]
    errs = [
        float(
            (
                odeint(
                    lambda t, y: A @ y,
                    y0,
                    torch.tensor([0.0, 2.0], dtype=torch.float64),
                    method=method,
                    options={"step_size": 2.0 / N},
                )[-1]
                - exact
            )
            .abs()
            .max()
        )
        for N in Ns
    ]
    assert abs(_order(errs, Ns) - METHODS[method]) < 0.2, errs


@pytest.mark.parametrize("method", METHODS)
def test_forward_order_nonlinear(method):
    def f(t, y):
        return torch.stack([y[1], -torch.sin(y[0]) + 0.3 * torch.cos(t)])

    y0 = np.array([1.0, 0.0])
    ref = solve_ivp(
        lambda t, y: [y[1], -np.sin(y[0]) + 0.3 * np.cos(t)],
        (0, 3),
        y0,
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
    ).y[:, -1]
    Ns = [60, 120, 240]
    errs = [
        float(
            np.abs(
                odeint(
                    f,
                    torch.tensor(y0),
                    torch.tensor([0.0, 3.0], dtype=torch.float64),
                    method=method,
                    options={"step_size": 3.0 / N},
                )[-1].numpy()
                - ref
            ).max()
        )
        for N in Ns
    ]
    assert abs(_order(errs, Ns) - METHODS[method]) < 0.2, errs


class PerStep(torch.nn.Module):
    """tanh(W_n x) with one weight matrix per step (index from t)."""

    def __init__(self, prob, N):
        super().__init__()
        self.N, self.h = N, prob.T / N
        self.W = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(prob.W(n * self.h))) for n in range(N)]
        )

    def forward(self, t, x):
        return torch.tanh(self.W[min(int(round(float(t) / self.h)), self.N - 1)] @ x)


def _per_step_gradients(method, N, correction, prob):
    f = PerStep(prob, N)
    x0 = torch.tensor(prob.x0, requires_grad=True)
    xs = odeint(
        f,
        x0,
        torch.tensor([0.0, prob.T], dtype=torch.float64),
        method=method,
        options={"step_size": f.h, "correction": correction},
    )
    (0.5 * (xs[-1] - torch.tensor(prob.y)).pow(2).sum()).backward()
    g = np.array([w.grad.numpy() for w in f.W]) / f.h
    return g, prob.G(np.arange(N) * f.h), float(np.abs(x0.grad.numpy() - prob.p(0.0)[0]).max())


def _per_step_errors(method, N, correction, prob):
    g, G, y0_err = _per_step_gradients(method, N, correction, prob)
    return np.abs(g - G).max(axis=(1, 2)), y0_err


@pytest.fixture(scope="module")
def prob():
    return TimeDependentWeights(seed=0)


def test_leapfrog_raw_gradients_oscillate_and_corrected_converge(prob):
    Ns = [50, 100, 200, 400]
    raw = [_per_step_errors("leapfrog", N, False, prob)[0] for N in Ns]
    cor = [_per_step_errors("leapfrog", N, True, prob) for N in Ns]
    raw_max = [e.max() for e in raw]
    assert min(raw_max) > 0.2 and raw_max[-1] > 0.9 * raw_max[0]  # O(1), does not decay
    # the error is the parasitic (-1)^n mode: the 3-point filter removes it in the interior
    g, G, _ = _per_step_gradients("leapfrog", 400, False, prob)
    filtered = (g[:-2] + 2 * g[1:-1] + g[2:]) / 4
    assert np.abs(filtered - G[1:-1])[5:-5].max() < 0.01 * np.abs(g - G).max()
    cmax = [e.max() for e, _ in cor]
    assert cmax[Ns.index(200)] <= 1e-2
    assert _order(cmax, Ns) >= 1.8, cmax
    y0_err = [y for _, y in cor]
    assert _order(y0_err, Ns) >= 1.8


@pytest.mark.parametrize("method", ["ab2", "ab3", "ab4", "milne"])
def test_corrected_gradients_uniform_for_all_methods(prob, method):
    Ns = [50, 100, 200]
    raw = _per_step_errors(method, 200, False, prob)[0]
    assert max(raw[0], raw[-1]) > 0.05  # endpoints inconsistent without correction
    cmax = [_per_step_errors(method, N, True, prob)[0].max() for N in Ns]
    assert cmax[-1] <= 1e-3 and _order(cmax, Ns) >= 1.8, cmax


def _recursion_by_autograd(method, f, y0, N, h, start):
    """Independent reference: the same scheme in plain torch ops, differentiated by autograd."""
    xs = [y0]
    step = {"euler": lambda t, x: x + h * f(t, x), "rk4": lambda t, x: _rk4(f, t, x, h)}[start]
    for n in range(method.k - 1):
        xs.append(step(torch.tensor(n * h, dtype=torch.float64), xs[-1]))
    for m in range(N - method.k + 1):
        x = -sum(a * xs[m + j] for j, a in enumerate(method.alpha[:-1]))
        x = x + h * sum(
            b * f(torch.tensor((m + j) * h, dtype=torch.float64), xs[m + j])
            for j, b in enumerate(method.beta)
            if b != 0
        )
        xs.append(x)
    return torch.stack(xs)


def _rk4(f, t, x, h):
    k1 = f(t, x)
    k2 = f(t + h / 2, x + h / 2 * k1)
    k3 = f(t + h / 2, x + h / 2 * k2)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + f(t + h, x + h * k3))


@pytest.mark.parametrize("cls", [Leapfrog, AB2, AB3, AB4, Milne])
def test_uncorrected_equals_autodiff_and_finite_differences(cls):
    method = cls()
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double()
    f = lambda t, x: net(x) * torch.cos(t)
    y0 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)  # a batch of states
    N, h = 12, 0.05
    t = torch.arange(N + 1, dtype=torch.float64) * h

    class F(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, t, x):
            return f(t, x)

    def loss_ours():
        ys = odeint(
            F(), y0, t[[0, 5, N]], method=method.name, options={"step_size": h, "correction": False}
        )
        return (ys[1] ** 2).sum() + (ys[2] * torch.arange(3.0, dtype=torch.float64)).sum()

    L = loss_ours()
    ours = torch.autograd.grad(L, [y0, *net.parameters()])
    traj = _recursion_by_autograd(method, f, y0, N, h, method.start)
    L_ref = (traj[5] ** 2).sum() + (traj[N] * torch.arange(3.0, dtype=torch.float64)).sum()
    ref = torch.autograd.grad(L_ref, [y0, *net.parameters()])
    assert torch.allclose(L, L_ref, atol=1e-12)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-11, rtol=1e-9)
    # finite differences on one parameter entry
    w = next(net.parameters())
    with torch.no_grad():
        w[0, 0] += 1e-6
        lp = float(loss_ours())
        w[0, 0] -= 2e-6
        lm = float(loss_ours())
        w[0, 0] += 1e-6
    assert abs((lp - lm) / 2e-6 - float(ours[1][0, 0])) < 1e-6


def test_shared_weights_corrected_sum_matches_continuous_gradient(prob):
    """Shared weights: sum over steps approximates int G dt to O(h^2) (trapezoidal ends)."""
    C = [torch.tensor(c) for c in prob.C]

    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.B = torch.nn.Parameter(torch.zeros(3, 3, dtype=torch.float64))

        def forward(self, t, x):
            W = C[0] + C[1] * torch.sin(2 * np.pi * t) + C[2] * torch.cos(3 * t) + self.B
            return torch.tanh(W @ x)

    ts = np.linspace(0, 1, 4001)
    exact = np.trapezoid(prob.G(ts), ts, axis=0)
    errs = {}
    for corr in (True, False):
        errs[corr] = []
        for N in (50, 100, 200):
            f = Shared()
            xs = odeint(
                f,
                torch.tensor(prob.x0),
                torch.tensor([0.0, 1.0], dtype=torch.float64),
                method="leapfrog",
                options={"step_size": 1.0 / N, "correction": corr},
            )
            (0.5 * (xs[-1] - torch.tensor(prob.y)).pow(2).sum()).backward()
            errs[corr].append(np.abs(f.B.grad.numpy() - exact).max())
    assert _order(errs[True], [50, 100, 200]) >= 1.8 and errs[True][-1] < 1e-3, errs
    assert _order(errs[False], [50, 100, 200]) >= 1.5, (
        errs
    )  # the summed raw gradient also converges


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tuple_states_batches_dtypes_devices(device, dtype):
    torch.manual_seed(0)
    lin = torch.nn.Linear(2, 2).to(dtype).to(device)

    class F(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, t, state):
            a, b = state
            return (self.lin(b), -a)

    a0 = torch.randn(5, 2, dtype=dtype, device=device, requires_grad=True)
    b0 = torch.randn(5, 2, dtype=dtype, device=device, requires_grad=True)
    t = torch.linspace(0, 1, 11, dtype=dtype, device=device)
    a, b = odeint(F(), (a0, b0), t, method="ab3", options={"step_size": 0.05})
    assert a.shape == (11, 5, 2) and a.device.type == device.type
    (a[-1].sum() + b.pow(2).sum()).backward()
    assert a0.grad is not None and b0.grad is not None and lin.weight.grad is not None
    ra, rb = odeint(F(), (a0, b0), t, method="rk4", options={"step_size": 0.05})
    assert torch.allclose(a, ra, atol=2e-3)  # ab3 vs rk4 at h = 0.05: same solution to O(h^3)


def test_time_gradients_match_rk4_autodiff():
    lin = torch.nn.Linear(2, 2).double()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    y0 = torch.tensor([1.0, -1.0], dtype=torch.float64)
    ys = odeint(
        lambda t, y: torch.tanh(lin(y)),
        y0,
        t,
        method="ab4",
        options={"params": list(lin.parameters()), "step_size": 0.01},
    )
    ys[1:].pow(2).sum().backward()
    g_ours = t.grad.clone()
    t.grad = None
    ref = odeint(lambda t, y: torch.tanh(lin(y)), y0, t, method="dopri5", rtol=1e-10, atol=1e-10)
    ref[1:].pow(2).sum().backward()
    assert torch.allclose(g_ours, t.grad, atol=1e-5)


def test_clear_errors():
    f = torch.nn.Linear(2, 2).double()
    y0 = torch.ones(2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    fn = lambda t, y: f(y)
    with pytest.raises(ValueError, match="unsupported option"):
        odeint(fn, y0, t, method="leapfrog", options={"step_size": 0.1, "max_num_steps": 10})
    with pytest.raises(ValueError, match="rtol/atol"):
        odeint(fn, y0, t, method="leapfrog", rtol=1e-3, options={"step_size": 0.1})
    with pytest.raises(ValueError, match="interp"):
        odeint(
            fn,
            y0,
            torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64),
            method="ab2",
            options={"step_size": 0.1, "interp": "spline", "params": list(f.parameters())},
        )
    with pytest.raises(FloatingPointError, match="non-finite"):
        odeint(lambda t, y: y**3, y0 * 10, t, method="ab2", options={"step_size": 0.1})
    # a closure over a module is no error: its parameters are found in f's graph, and their
    # gradients are those of the module passed itself
    closure = torch.autograd.grad(odeint(fn, y0, t, method="ab2").sum(), list(f.parameters()))
    module = torch.autograd.grad(odeint(_Mod(f), y0, t, method="ab2").sum(), list(f.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(closure, module))
    with pytest.raises(ValueError, match="start"):
        odeint(_Mod(f), y0, t, method="ab2", options={"step_size": 0.1, "start": "magic"})


class _Mod(torch.nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, t, y):
        return self.f(y)


def test_methods_metadata():
    assert Leapfrog().shift == -1.0 and AB2().shift == -0.5
    assert np.allclose(Leapfrog().parasitic_unit_roots(), [-1.0])
    assert len(Milne().parasitic_unit_roots()) == 3 and len(AB4().parasitic_unit_roots()) == 0


@pytest.mark.parametrize("method", ["leapfrog", "ab3"])
def test_per_step_weights_in_one_tensor_match_parameter_list(prob, method):
    """A (N, 3, 3) weight tensor indexed by step is per-step, not shared: no trapezoidal ends."""
    N = 40

    class Stacked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.h = prob.T / N
            self.W = torch.nn.Parameter(
                torch.tensor(np.array([prob.W(n * self.h) for n in range(N)]))
            )

        def forward(self, t, x):
            return torch.tanh(self.W[min(int(round(float(t) / self.h)), N - 1)] @ x)

    f = Stacked()
    xs = odeint(
        f,
        torch.tensor(prob.x0),
        torch.tensor([0.0, prob.T], dtype=torch.float64),
        method=method,
        options={"step_size": prob.T / N},
    )
    (0.5 * (xs[-1] - torch.tensor(prob.y)).pow(2).sum()).backward()
    listed = _per_step_gradients(method, N, True, prob)[0]
    assert np.allclose(f.W.grad.numpy() * N / prob.T, listed, rtol=1e-12, atol=1e-14)


def test_solve_options_validate_once_for_every_caller():
    from steadygrad.multistep.options import SolveOptions
    from steadygrad.multistep.solve import odeint_multistep

    assert SolveOptions().starter(Leapfrog()) == "euler"
    assert SolveOptions(start="rk4").starter(Leapfrog()) == "rk4"
    for bad, err in (
        ({"checkpoint": 1}, ValueError),
        ({"correction": "yes"}, TypeError),
        ({"interp": "spline"}, ValueError),
        ({"params": "abc"}, TypeError),
        ({"step_size": "0.1"}, TypeError),
    ):
        with pytest.raises(err):
            SolveOptions(**bad)
    with pytest.raises(ValueError, match="Allowed"):
        SolveOptions.from_mapping({"max_num_steps": 3})
    y0, t = torch.ones(1, dtype=torch.float64), torch.linspace(0, 1, 5, dtype=torch.float64)
    with pytest.raises(TypeError, match="not both"):
        odeint_multistep(lambda t, y: -y, y0, t, Leapfrog(), SolveOptions(), step_size=0.1)
    out = odeint_multistep(lambda t, y: -y, y0, t, Leapfrog(), SolveOptions(step_size=0.125))
    assert abs(float(out[-1, 0]) - np.exp(-1)) < 1e-2
