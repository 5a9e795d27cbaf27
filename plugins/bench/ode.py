"""ODE benchmark problems (torchdiffeq): gradient accuracy, cost and memory of multistep methods."""

from __future__ import annotations

import numpy as np
import torch

from .measure import measure
from .reference import TimeDependentWeights

__all__ = ["lotka_volterra", "ode_memory", "ode_speed", "spiral_fit", "time_weights"]


class _PerStep(torch.nn.Module):
    """tanh(W_n x), one weight matrix per step, selected from t."""

    def __init__(self, prob: TimeDependentWeights, N: int, device: str):
        super().__init__()
        self.N, self.h = N, prob.T / N
        self.W = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(prob.W(n * self.h), device=device)) for n in range(N)]
        )

    def forward(self, t, x):
        return torch.tanh(self.W[min(int(round(float(t) / self.h)), self.N - 1)] @ x)


def time_weights(
    quick: bool, device: str, seed: int, methods: tuple = ("leapfrog", "ab2", "ab3", "ab4", "milne")
) -> list[dict]:
    """Per-step gradient error max_n |g_n/h - G(t_n)| (continuous adjoint), raw vs corrected."""
    from torchdiffeq import odeint

    prob = TimeDependentWeights(seed=seed)
    Ns = [50, 100, 200] if quick else [50, 100, 200, 400, 800]
    rows = []
    for method in methods:
        for correction in (False, True):
            for N in Ns:
                f = _PerStep(prob, N, device)
                x0 = torch.tensor(prob.x0, device=device, requires_grad=True)
                t = torch.tensor([0.0, prob.T], dtype=torch.float64, device=device)
                y = torch.tensor(prob.y, device=device)

                def step():
                    f.zero_grad()
                    xs = odeint(
                        f,
                        x0,
                        t,
                        method=method,
                        options={"step_size": f.h, "correction": correction},
                    )
                    (0.5 * (xs[-1] - y).pow(2).sum()).backward()

                res = measure(step, repeats=1, device=device, warmup=1, cpu_memory="polled")
                g = np.array([w.grad.cpu().numpy() for w in f.W]) / f.h
                err = np.abs(g - prob.G(np.arange(N) * f.h)).max(axis=(1, 2))
                rows.append(
                    {
                        "problem": "time_weights",
                        "variant": f"{method}-{'corrected' if correction else 'raw'}",
                        "N": N,
                        "max_grad_err": float(err.max()),
                        "first_step_err": float(err[0]),
                        "last_step_err": float(err[-1]),
                        "ms_per_step": 1000 * res["seconds"],
                        "status": res["status"],
                        "per_step_err": err.tolist() if N == Ns[-1] else None,
                    }
                )
    return rows


class _MLP(torch.nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, dim)
        )

    def forward(self, t, x):
        return self.net(x)


def ode_memory(quick: bool, device: str, seed: int) -> list[dict]:
    """Peak memory and time of one forward+backward vs number of steps."""
    from torchdiffeq import odeint, odeint_adjoint

    torch.manual_seed(seed)
    batch, dim, hidden = (128, 32, 128) if quick else (4096, 64, 256)
    Ns = [40, 80, 160] if quick else [100, 200, 400, 800]
    f = _MLP(dim, hidden).to(device)
    x0 = torch.randn(batch, dim, device=device)
    variants = {
        "leapfrog-corrected": lambda t, N: odeint(
            f, x0, t, method="leapfrog", options={"step_size": 1 / N}
        ),
        "leapfrog-recompute": lambda t, N: odeint(
            f, x0, t, method="leapfrog", options={"step_size": 1 / N, "recompute": True}
        ),
        "leapfrog-checkpoint": lambda t, N: odeint(
            f, x0, t, method="leapfrog", options={"step_size": 1 / N, "checkpoint": True}
        ),
        "rk4-autodiff": lambda t, N: odeint(f, x0, t, method="rk4", options={"step_size": 1 / N}),
        "rk4-odeint_adjoint": lambda t, N: odeint_adjoint(
            f, x0, t, method="rk4", options={"step_size": 1 / N}
        ),
    }
    rows = []
    for name, solve in variants.items():
        for N in Ns:
            t = torch.tensor([0.0, 1.0], device=device)

            def step():
                f.zero_grad()
                solve(t, N)[-1].pow(2).mean().backward()

            res = measure(step, repeats=1 if quick else 2, device=device, warmup=0 if quick else 1)
            rows.append(
                {
                    "problem": "ode_memory",
                    "variant": name,
                    "N": N,
                    "status": res["status"],
                    "ms_per_step": None if res["seconds"] is None else 1000 * res["seconds"],
                    "peak_mb": res.get("peak_mb"),
                    "state_mb": batch * dim * 4 / 2**20,
                }
            )
    return rows


FIT_VARIANTS = {
    "leapfrog-raw": ("leapfrog", {"correction": False}),
    "leapfrog-corrected": ("leapfrog", {}),
    "ab2-raw": ("ab2", {"correction": False}),
    "ab2-corrected": ("ab2", {}),
    "ab4-corrected": ("ab4", {}),
    "rk4": ("rk4", {}),
    "dopri5": ("dopri5", None),
}


def _fit(
    problem: str,
    make_func,
    y0,
    t,
    y_true,
    h: float,
    iters: int,
    lr: float,
    device: str,
    seed: int,
    reference_grad=None,
    evaluate=None,
) -> list[dict]:
    """Train a fresh ``make_func()`` with every variant of FIT_VARIANTS on the same data.

    Rows: ms per step, peak memory, final loss (re-solved with dopri5 at tight tolerance), and,
    with ``reference_grad`` (a flat tensor: the continuous-adjoint gradient at the initial
    parameters), the relative error of each variant's first gradient.
    """
    from torchdiffeq import odeint

    rows = []
    for name, (method, opts) in FIT_VARIANTS.items():
        torch.manual_seed(seed)
        f = make_func().to(device)
        opt = torch.optim.Adam(f.parameters(), lr=lr)
        options = None if opts is None else {"step_size": h, **opts}
        kw = {"rtol": 1e-6, "atol": 1e-8} if opts is None else {}

        def loss_fn():
            return (odeint(f, y0, t, method=method, options=options, **kw) - y_true).pow(2).mean()

        row = {"problem": problem, "variant": name, "iterations": iters}
        if reference_grad is not None:
            f.zero_grad()
            loss_fn().backward()
            g = torch.cat([p.grad.flatten() for p in f.parameters()])
            row["grad_rel_err"] = float((g - reference_grad).norm() / reference_grad.norm())

        def step():
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            opt.step()
            return loss

        res = measure(step, repeats=iters, device=device, warmup=0, cpu_memory="polled")
        with torch.no_grad():
            final = float(
                (odeint(f, y0, t, method="dopri5", rtol=1e-8, atol=1e-9) - y_true).pow(2).mean()
            )
        row.update(
            status=res["status"],
            ms_per_step=None if res["seconds"] is None else 1000 * res["seconds"],
            peak_mb=res.get("peak_mb"),
            memory_kind=res.get("memory_kind"),
            final_loss_dopri5=final,
            **(evaluate(f) if evaluate else {}),
        )
        rows.append(row)
    return rows


def spiral_fit(quick: bool, device: str, seed: int) -> list[dict]:
    """Fit a neural ODE to the cubic spiral dy/dt = y^3 A (torchdiffeq's demo) with each method."""
    from scipy.integrate import solve_ivp

    A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    T, n_obs = 5.0, 101
    t_obs = np.linspace(0, T, n_obs)
    ref = solve_ivp(
        lambda t, y: (y**3) @ A,
        (0, T),
        [2.0, 0.0],
        t_eval=t_obs,
        rtol=1e-11,
        atol=1e-11,
        method="DOP853",
    )
    y_true = torch.tensor(ref.y.T, dtype=torch.float32, device=device)
    t = torch.tensor(t_obs, dtype=torch.float32, device=device)

    class Cubic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2)
            )

        def forward(self, t, y):
            return self.net(y**3)

    return _fit(
        "spiral_fit",
        Cubic,
        y_true[0],
        t,
        y_true,
        T / (n_obs - 1) / 2,
        20 if quick else 1500,
        1e-3,
        device,
        seed,
    )


class LotkaVolterra(torch.nn.Module):
    """dx/dt = a x - b x y, dy/dt = c x y - d y with learnable (a, b, c, d)."""

    TRUE = (1.5, 1.0, 1.0, 3.0)

    def __init__(self, scale: float = 0.8):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.tensor(self.TRUE, dtype=torch.float64) * scale)

    def forward(self, t, z):
        a, b, c, d = self.theta
        x, y = z[..., 0], z[..., 1]
        return torch.stack([a * x - b * x * y, c * x * y - d * y], dim=-1)


def lotka_volterra(quick: bool, device: str, seed: int) -> list[dict]:
    """Recover (a, b, c, d) of Lotka-Volterra from a trajectory (DOP853 data, T = 5, h = 0.05).

    Also reports each method's gradient at the initial guess against the continuous-adjoint
    gradient (torchdiffeq ``odeint_adjoint`` with dopri5 at rtol 1e-10).
    """
    from scipy.integrate import solve_ivp
    from torchdiffeq import odeint_adjoint

    a, b, c, d = LotkaVolterra.TRUE
    T, n_obs = 5.0, 51
    t_obs = np.linspace(0, T, n_obs)
    ref = solve_ivp(
        lambda t, z: [a * z[0] - b * z[0] * z[1], c * z[0] * z[1] - d * z[1]],
        (0, T),
        [1.0, 1.0],
        t_eval=t_obs,
        rtol=1e-12,
        atol=1e-12,
        method="DOP853",
    )
    y_true = torch.tensor(ref.y.T, dtype=torch.float64, device=device)
    t = torch.tensor(t_obs, dtype=torch.float64, device=device)
    f = LotkaVolterra().to(device)
    loss = (
        (odeint_adjoint(f, y_true[0], t, method="dopri5", rtol=1e-10, atol=1e-12) - y_true)
        .pow(2)
        .mean()
    )
    reference = torch.autograd.grad(loss, f.theta)[0]
    true = torch.tensor(LotkaVolterra.TRUE, dtype=torch.float64)

    def evaluate(model):
        return {"param_rel_err": float((model.theta.detach().cpu() - true).norm() / true.norm())}

    return _fit(
        "lotka_volterra",
        LotkaVolterra,
        y_true[0],
        t,
        y_true,
        T / (n_obs - 1) / 2,
        30 if quick else 500,
        0.01,
        device,
        seed,
        reference_grad=reference,
        evaluate=evaluate,
    )


def ode_speed(quick: bool, device: str, seed: int) -> list[dict]:
    """Forward + backward time at equal numbers of f-evaluations, ode_demo-sized network.

    torchdiffeq's ode_demo network (2-50-2 tanh on y^3, batch 20 of 10 outputs); rk4 with N
    steps (4N evaluations) against each multistep method with 4N steps, timed interleaved in
    one process, plus each gradient's relative error against a converged reference (rk4 at
    h = 1/720).  Also leapfrog storing one state per step (``recompute``) and with
    O(sqrt(N)) checkpointing.
    """
    import time

    from torchdiffeq import odeint

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2))
    net = net.to(device=device, dtype=torch.float64)
    y0 = torch.randn(20, 2, dtype=torch.float64, device=device) * 0.5
    t = torch.linspace(0, 1, 10, dtype=torch.float64, device=device)

    class Func(torch.nn.Module):  # as in ode_demo: a module, so odeint finds its parameters
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, s, y):
            return self.net(y**3)

    func = Func()

    def gradient(method, options, **kw):
        net.zero_grad()
        odeint(func, y0, t, method=method, options=options, **kw).pow(2).mean().backward()
        return torch.cat([p.grad.flatten() for p in net.parameters()])

    # rk4 at h = 1/720: 5e-15 from h = 1/1440 and 2e-11 from dopri5 at rtol 1e-12 (dopri5 at
    # rtol 1e-9 is off by 2e-8, the error of the best variants here)
    ref = gradient("rk4", {"step_size": 1 / 720})
    rows = []
    for n_rk4 in [9, 36] if quick else [9, 36, 144]:
        variants = {"rk4-autodiff": ("rk4", {"step_size": 1 / n_rk4})}
        for method in ("leapfrog", "ab2", "ab4"):
            variants[f"{method}-corrected"] = (method, {"step_size": 1 / (4 * n_rk4)})
        variants["leapfrog-recompute"] = (
            "leapfrog",
            {"step_size": 1 / (4 * n_rk4), "recompute": True},
        )
        variants["leapfrog-checkpoint"] = (
            "leapfrog",
            {"step_size": 1 / (4 * n_rk4), "checkpoint": True},
        )
        times: dict = {name: [] for name in variants}
        for _ in range(
            5 if quick else 15
        ):  # interleaved: the machine's load hits every variant alike
            for name, (method, options) in variants.items():
                t0 = time.perf_counter()
                g = gradient(method, options)
                times[name].append(time.perf_counter() - t0)
        for name, (method, options) in variants.items():
            g = gradient(method, options)
            ms = 1000 * sorted(times[name])[len(times[name]) // 2]
            rows.append(
                {
                    "problem": "ode_speed",
                    "variant": name,
                    "f_evals": 4 * n_rk4,
                    "status": "ok",
                    "ms_per_step": ms,
                    "grad_rel_err": float((g - ref).norm() / ref.norm()),
                }
            )
        base = rows[-len(variants)]["ms_per_step"]
        for r in rows[-len(variants) :]:
            r["x_rk4_time"] = r["ms_per_step"] / base
    return rows
