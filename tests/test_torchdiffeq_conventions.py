"""torchdiffeq's own conventions, case by case as in its test suite (odeint, gradient, perturb,
adjoint tests at 0.2.5), for the five multistep methods.  The cases are written here anew."""

import warnings

import numpy as np
import pytest
import steadygrad  # noqa: F401
import torch
from torchdiffeq import odeint, odeint_adjoint

METHODS = ("leapfrog", "ab2", "ab3", "ab4", "milne")


class Constant(torch.nn.Module):
    """y' = a + (y - (a t + b))^5, exact solution a t + b (every consistent method is exact)."""

    def __init__(self, dtype=torch.float64):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.2, dtype=dtype))
        self.b = torch.nn.Parameter(torch.tensor(3.0, dtype=dtype))

    def forward(self, t, y):
        return self.a + (y - (self.a * t + self.b)) ** 5

    def exact(self, t):
        return self.a * t + self.b


class Linear(torch.nn.Module):
    def __init__(self, dim=6):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        U = torch.randn(dim, dim, generator=g, dtype=torch.float64) * 0.1
        self.A = torch.nn.Parameter(U - U.T)

    def forward(self, t, y):
        return self.A @ y


def _problem(dtype=torch.float64, reverse=False):
    f = Constant(dtype)
    t = torch.linspace(1, 8, 10, dtype=torch.float64)
    sol = f.exact(t).to(dtype).detach()
    if reverse:
        t, sol = t.flip(0), sol.flip(0)
    return f, sol[0].clone().requires_grad_(True), t, sol


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_odeint_default_step_and_reversed_time(method, dtype, reverse):
    f, y0, t, sol = _problem(dtype, reverse)
    y = odeint(f, y0, t, method=method)  # no step_size: h = t[1] - t[0]
    assert float((y - sol).abs().max().detach() / sol.abs().max()) < 3e-4


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("adjoint", [False, True])
def test_gradcheck_y0_and_t(method, adjoint):
    f, y0, t, _ = _problem()
    solve = odeint_adjoint if adjoint else odeint
    t = t.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y, s: solve(f, y, s, method=method), (y0, t))


@pytest.mark.parametrize("method", METHODS)
def test_adjoint_against_odeint(method):
    """odeint_adjoint (the continuous adjoint integrated backward with the same method) agrees
    with odeint's gradients to the method's order: the gap shrinks with the step."""
    f = Linear()
    t = torch.linspace(0, 2, 5, dtype=torch.float64)
    gys = torch.rand(5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    gaps = []
    for h in (0.02, 0.01):
        grads = []
        for solve in (odeint, odeint_adjoint):
            y0 = torch.ones(6, dtype=torch.float64, requires_grad=True)
            f.zero_grad()
            solve(f, y0, t, method=method, options={"step_size": h}).backward(gys)
            grads.append(torch.cat([y0.grad, f.A.grad.flatten()]))
        gaps.append(float((grads[0] - grads[1]).abs().max()))
    assert gaps[1] < 1e-3 and gaps[1] < 0.3 * gaps[0] + 1e-12, gaps


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("adjoint", [False, True])
def test_perturb_evaluates_just_after_grid_times(method, adjoint):
    for perturb in (True, False):
        ts = []

        def f(t, x):
            ts.append(t.item())
            return -x

        x0 = torch.tensor([1.0, 2.0], requires_grad=True)
        solve = (lambda *a, **k: odeint_adjoint(*a, adjoint_params=(), **k)) if adjoint else odeint
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xs = solve(
                f,
                x0,
                torch.tensor([0.0, 1.0]),
                method=method,
                options={"step_size": 0.5, "perturb": perturb},
            )
        assert (0.0 in ts or 0.5 in ts) != perturb, (perturb, ts)
        if adjoint:
            ts.clear()
            xs.sum().backward()
            assert (1.0 in ts or 0.5 in ts) != perturb, (perturb, ts)


@pytest.mark.slow
@pytest.mark.parametrize("method,order", [("leapfrog", 2), ("milne", 4)])
def test_weakly_stable_adjoint_converges_at_the_method_order(method, order):
    """The spiral (float64, weighted loss on all 10 outputs): odeint_adjoint's y0-gradient
    error against dopri5 is large at N = 2304 (leapfrog 163%: its forward states are 30x less
    accurate than ab4's, and reconstructing y³-dynamics backward amplifies that), but it
    shrinks at least at the method's order when h halves."""
    A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)
    t = torch.linspace(0, 25, 10, dtype=torch.float64)
    weights = torch.linspace(1, 2, 10, dtype=torch.float64)[:, None]

    def grad(solve, **kw):
        y0 = torch.tensor([2.0, 0.0], dtype=torch.float64, requires_grad=True)
        (weights * solve(lambda s, y: (y**3) @ A, y0, t, **kw)).sum().backward()
        return y0.grad

    ref = grad(odeint, method="dopri5", rtol=1e-11, atol=1e-12)
    errs = [
        float(
            (
                grad(
                    odeint_adjoint, method=method, options={"step_size": 25 / N}, adjoint_params=()
                )
                - ref
            ).norm()
            / ref.norm()
        )
        for N in (2304, 4608)
    ]
    assert errs[1] < errs[0] / (0.75 * 2**order), errs


@pytest.mark.parametrize("method", ["ab4"])
def test_spiral_adjoint_against_dopri5(method):
    """torchdiffeq's compare-adjoint case in float32: y' = y^3 A, t = linspace(0, 25, 10).

    Only strongly stable methods: odeint_adjoint integrates the adjoint backward with the same
    method, and leapfrog/Milne's parasitic root grows on dissipative dynamics (docs/multistep.md).
    """

    def problem():
        class F(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.A = torch.nn.Parameter(torch.tensor([[-0.1, 2.0], [-2.0, -0.1]]))
                self.unused = torch.nn.Linear(2, 5)

            def forward(self, t, y):
                return torch.mm(y**3, self.A)

        return F(), torch.tensor([[2.0, 0.0]], requires_grad=True), torch.linspace(0.0, 25.0, 10)

    f, y0, t = problem()
    ys = odeint_adjoint(f, y0, t, method=method, options={"step_size": 25 / 9 / 256})
    gys = torch.rand(ys.shape, generator=torch.Generator().manual_seed(0)) * 0.1
    ys.backward(gys)
    assert float(f.unused.weight.grad.abs().max()) == 0.0
    ours = (y0.grad.clone(), f.A.grad.clone())
    f, y0, t = problem()
    odeint(f, y0, t, method="dopri5").backward(gys)
    assert float((ours[0] - y0.grad).abs().max()) < 3e-4 * 10
    assert float((ours[1] - f.A.grad).abs().max()) < 2e-3 * 10


@pytest.mark.parametrize("method", METHODS)
def test_events_like_fixed_grid_solvers(method):
    """y' = -y from 1: the event y = 0.5 is at t = ln 2; gradient of the event time w.r.t. y0."""
    y0 = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    t0 = torch.tensor([0.0, 5.0], dtype=torch.float64)  # torchdiffeq: len 2, t[0] is the start
    event_t, sol = odeint(
        lambda t, y: -y,
        y0,
        t0,
        method=method,
        options={"step_size": 0.001},
        event_fn=lambda t, y: y[0] - 0.5,
    )
    assert abs(float(event_t.detach()) - np.log(2)) < 2e-3 and sol.shape == (2, 1)
    assert abs(float(sol[-1, 0]) - 0.5) < 1e-6
    with pytest.raises(ValueError, match="step_size"):
        odeint(lambda t, y: -y, y0, t0, method=method, event_fn=lambda t, y: y[0] - 0.5)


@pytest.mark.parametrize("method", METHODS)
def test_odeint_adjoint_time_indexed_weights_converge_like_odeint(method):
    """tanh(W_n x), one 3x3 weight per step, loss on x(T): odeint_adjoint's per-step gradients
    (node-wise quadrature of the parameter adjoint) converge to the continuous adjoint G(t_n)
    at second order, within 4x of odeint's corrected ones; y0's gradient agrees too."""
    from steadygrad.bench.ode import _PerStep
    from steadygrad.bench.reference import TimeDependentWeights

    prob = TimeDependentWeights(seed=0)
    errs = {odeint: [], odeint_adjoint: []}
    for N in (50, 100):
        for solve in errs:
            f = _PerStep(prob, N, "cpu")
            x0 = torch.tensor(prob.x0, requires_grad=True)
            t = torch.tensor([0.0, prob.T], dtype=torch.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # float(t) on a tensor requiring grad
                xs = solve(f, x0, t, method=method, options={"step_size": f.h})
                (0.5 * (xs[-1] - torch.tensor(prob.y)).pow(2).sum()).backward()
            g = torch.stack([w.grad for w in f.W]).numpy() / f.h
            errs[solve].append(np.abs(g - prob.G(np.arange(N) * f.h)).max())
            assert np.abs(x0.grad.numpy() - prob.p(0.0)[0]).max() < 0.05
    adj, ref = errs[odeint_adjoint], errs[odeint]
    assert adj[1] < adj[0] / 3.0, (method, adj)  # second order
    assert all(a < 4 * max(r, 1e-6) for a, r in zip(adj, ref)), (method, adj, ref)


@pytest.mark.parametrize(
    "options,err,match",
    [
        ({"params": "abc"}, TypeError, "sequence of tensors"),
        ({"params": [1.0, 2.0]}, TypeError, "sequence of tensors"),
        ({"step_size": torch.tensor(0.1, requires_grad=True)}, ValueError, "requires grad"),
    ],
)
def test_options_that_would_be_silently_ignored_raise(options, err, match):
    y0 = torch.ones(1, requires_grad=True)
    with pytest.raises(err, match=match):
        odeint(lambda t, y: -y, y0, torch.linspace(0, 1, 3), method="leapfrog", options=options)


@pytest.mark.parametrize("extra", [{}, {"interp": "cubic"}])
def test_an_unknown_starter_is_refused_on_every_path(extra):
    """The plain, quadrature (odeint_adjoint) and event paths all refuse start='rk5'."""
    func = torch.nn.Linear(1, 1)
    y0, t = torch.ones(1, 1), torch.linspace(0, 1, 3)
    opts = {"step_size": 0.1, "start": "rk5", **extra}
    with pytest.raises(ValueError, match="start"):
        odeint(func, y0, t, method="ab3", options=opts)
    with pytest.raises(ValueError, match="start"):
        odeint_adjoint(func, y0, t, method="ab3", options=opts)
    with pytest.raises(ValueError, match="start"):
        odeint(
            func,
            y0,
            torch.tensor([0.0, 5.0]),
            method="ab3",
            options=opts,
            event_fn=lambda t, y: y.sum() - 5,
        )


@pytest.mark.parametrize("method", METHODS)
def test_callback_step_is_called_once_per_step_forward_and_adjoint(method):
    """torchdiffeq's fixed-grid callback protocol (its TestCallbacks.test_steps): 10 steps of
    0.1 on [0, 1] call func.callback_step 10 times, and callback_step_adjoint 10 times in
    odeint_adjoint's backward pass; the times passed are the step starts."""
    torch.manual_seed(0)
    f = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())

    class Func(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.seen, self.back = f, [], 0

        def forward(self, t, y):
            return self.f(y)

        def callback_step(self, t0, y0, dt):
            self.seen.append((float(t0), float(dt)))

        def callback_step_adjoint(self, t0, y0, dt):
            self.back += 1

    func = Func()
    y0, t = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0])
    ys = odeint_adjoint(func, y0, t, method=method, options={"step_size": 0.1})
    assert [round(s, 6) for s, _ in func.seen] == [round(0.1 * n, 6) for n in range(10)]
    assert all(abs(dt - 0.1) < 1e-6 for _, dt in func.seen)
    ys.sum().backward()
    assert func.back == 10
    func.seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a supported callback: no "not supported" warning
        odeint(func, y0, t, method=method, options={"step_size": 0.1})
    assert len(func.seen) == 10


def _spiral(damping: float):
    A = torch.tensor([[-damping, 2.0], [-2.0, -damping]], dtype=torch.float64)
    return lambda t, y: y @ A.T


@pytest.mark.parametrize("method", ["leapfrog", "milne"])
def test_stability_monitor_warns_on_the_damped_spiral_not_on_an_oscillator(method):
    """torchdiffeq's ode_demo spiral (damping 0.1) at h = 0.1: the parasitic mode of the weakly
    stable methods grows (the solution is visibly off from ab4's); an undamped oscillator at
    the same step keeps it at its starting level: no warning."""
    from steadygrad.multistep import StabilityWarning

    y0 = torch.tensor([2.0, 0.0], dtype=torch.float64)
    t = torch.linspace(0, 25, 251, dtype=torch.float64)
    opts = {"step_size": 0.1}
    advice = (
        r"parasitic .* whatever the step_size, so a smaller step does not help: use method='ab3'"
    )
    with pytest.warns(StabilityWarning, match=advice):
        ys = odeint(_spiral(0.1), y0, t, method=method, options=opts)
    ref = odeint(_spiral(0.1), y0, t, method="ab4", options=opts)
    assert float((ys - ref).abs().max()) > 1e-3  # the warning is about a real error
    with warnings.catch_warnings():
        warnings.simplefilter("error", StabilityWarning)
        odeint(_spiral(0.0), y0, t, method=method, options=opts)
        odeint(_spiral(0.1), y0, t, method="ab3", options=opts)  # strongly stable: not watched


def test_the_stability_warning_shows_once_in_a_training_loop():
    """A training loop solves again and again with changing parameters: the warning appears
    once at its call site (not once per solve, as when its text carried the measured sizes),
    says what to do, and keeps the sizes on the warning object."""
    from steadygrad.multistep import StabilityWarning

    y0 = torch.tensor([2.0, 0.0], dtype=torch.float64)
    t = torch.linspace(0, 25, 251, dtype=torch.float64)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        for k in range(20):  # the damping changes a little, as a trained model's would
            odeint(_spiral(0.1 + 0.002 * k), y0, t, method="leapfrog", options={"step_size": 0.1})
    shown = [w.message for w in seen if issubclass(w.category, StabilityWarning)]
    assert len(shown) == 1, [str(m) for m in shown]
    text = str(shown[0])
    assert "leapfrog on [0, 25] with h = 0.1" in text and "continuous adjoint" in text
    assert "method='ab3' or 'ab4'" in text
    assert shown[0].worst > 10 * shown[0].early


@pytest.mark.parametrize("method", ["ab4", "milne"])
def test_events_honour_cubic_interpolation(method):
    """y' = -y from 1, event y = 0.5 at ln 2, h = 0.1 (4th-order nodes): the cubic Hermite
    interpolant between the nodes finds the event time ~1000x closer than the linear one, as
    torchdiffeq's fixed-grid solvers do with options={'interp': 'cubic'}."""
    y0 = torch.tensor([1.0], dtype=torch.float64)
    t0 = torch.tensor([0.0, 5.0], dtype=torch.float64)
    errors = {}
    for interp in ("linear", "cubic"):
        event_t, _ = odeint(
            lambda t, y: -y,
            y0,
            t0,
            method=method,
            options={"step_size": 0.1, "interp": interp},
            event_fn=lambda t, y: y[0] - 0.5,
        )
        errors[interp] = abs(float(event_t) - np.log(2))
    assert errors["cubic"] < 1e-4 < errors["linear"], errors
    with pytest.raises(ValueError, match="interp"):
        odeint(lambda t, y: -y, y0, t0, method=method, options={"step_size": 0.1, "interp": "x"})


def _decay_problem():
    base = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    rates = base * torch.linspace(1, 2, 10, dtype=torch.float64)  # computed outside func

    def f(t, y):
        return -rates[min(int(round(float(t.detach()) * 10)), 9)] * y

    return base, rates, f


@pytest.mark.parametrize("solver", [odeint, odeint_adjoint])
@pytest.mark.parametrize("listed", ["leaf", "non-leaf"])
def test_parameters_reached_through_tensors_computed_outside_func(solver, listed):
    """func reads rates = base * c computed before the solve: listing base (the leaf) or rates
    (non-leaf) both give d y(1) / d base, repeatedly (the caller's graph is not consumed), and
    match rk4's autograd to the step's accuracy."""
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    grads = []
    for _ in range(2):
        base, rates, f = _decay_problem()
        params = [base] if listed == "leaf" else [rates]
        kw = {"adjoint_params": params} if solver is odeint_adjoint else {}
        y0 = torch.tensor([1.0], dtype=torch.float64)
        ys = solver(f, y0, t, method="ab2", options={"params": params}, **kw)
        grads.append(float(torch.autograd.grad(ys[-1].sum(), base)[0]))
    base, _, f = _decay_problem()
    ref = odeint(f, torch.tensor([1.0], dtype=torch.float64), t, method="rk4")
    expected = float(torch.autograd.grad(ref[-1].sum(), base)[0])
    assert grads[0] == grads[1] and abs(grads[0] - expected) < 0.05 * abs(expected)


def test_closure_used_only_after_t0_gets_its_gradient():
    """A closure parameter first used after t0, y0 not requiring grad: once an error naming
    params, now found in f's graph (at the last probe time) and given its gradient on every
    path, equal to central differences of the discrete solution (float64)."""
    W = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)

    def f_of(w):
        return lambda t, y: -y + (w * y if t > 0.5 else 0 * y)

    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    y0 = torch.tensor([1.0], dtype=torch.float64)

    def last(w, **options):
        return odeint(f_of(w), y0, t, method="ab2", options=options)[-1].sum()

    fd = (last(0.7 + 1e-6) - last(0.7 - 1e-6)) / 2e-6
    for options in ({}, {"recompute": True}, {"checkpoint": True}):
        (grad,) = torch.autograd.grad(last(W, **options), W)
        assert float(grad) == pytest.approx(float(fd), rel=1e-6), options
    ys = odeint(f_of(W), y0, t, method="ab2", options={"params": [W], "recompute": True})
    assert torch.autograd.grad(ys[-1].sum(), W)[0] > 0
