"""ODE benchmark problems (torchdiffeq): gradient accuracy, cost and memory of multistep methods."""
from __future__ import annotations

import numpy as np
import torch

from .measure import measure
from .reference import TimeDependentWeights

__all__ = ["ODE_PROBLEMS", "time_weights", "ode_memory", "spiral_fit"]


class _PerStep(torch.nn.Module):
    """tanh(W_n x), one weight matrix per step, selected from t."""

    def __init__(self, prob: TimeDependentWeights, N: int, device: str):
        super().__init__()
        self.N, self.h = N, prob.T / N
        self.W = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(prob.W(n * self.h), device=device)) for n in range(N)])

    def forward(self, t, x):
        return torch.tanh(self.W[min(int(round(float(t) / self.h)), self.N - 1)] @ x)


def time_weights(quick: bool, device: str, seed: int,
                 methods: tuple = ("leapfrog", "ab2", "ab3", "ab4", "milne")) -> list[dict]:
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
                    xs = odeint(f, x0, t, method=method, options={"step_size": f.h, "correction": correction})
                    (0.5 * (xs[-1] - y).pow(2).sum()).backward()

                res = measure(step, repeats=1, device=device, warmup=1)
                g = np.array([w.grad.cpu().numpy() for w in f.W]) / f.h
                err = np.abs(g - prob.G(np.arange(N) * f.h)).max(axis=(1, 2))
                rows.append({"problem": "time_weights", "variant": f"{method}-{'corrected' if correction else 'raw'}",
                             "N": N, "max_grad_err": float(err.max()), "first_step_err": float(err[0]),
                             "last_step_err": float(err[-1]), "ms_per_step": 1000 * res["seconds"],
                             "status": res["status"], "per_step_err": err.tolist() if N == Ns[-1] else None})
    return rows


class _MLP(torch.nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, dim))

    def forward(self, t, x):
        return self.net(x)


def ode_memory(quick: bool, device: str, seed: int) -> list[dict]:
    """Peak memory and time of one forward+backward vs number of steps."""
    from torchdiffeq import odeint, odeint_adjoint

    torch.manual_seed(seed)
    batch, dim, hidden = (256, 32, 128) if quick else (4096, 64, 256)
    Ns = [50, 100, 200] if quick else [100, 200, 400, 800]
    f = _MLP(dim, hidden).to(device)
    x0 = torch.randn(batch, dim, device=device)
    variants = {
        "leapfrog-corrected": lambda t, N: odeint(f, x0, t, method="leapfrog", options={"step_size": 1 / N}),
        "leapfrog-raw": lambda t, N: odeint(f, x0, t, method="leapfrog",
                                            options={"step_size": 1 / N, "correction": False}),
        "rk4-autodiff": lambda t, N: odeint(f, x0, t, method="rk4", options={"step_size": 1 / N}),
        "rk4-odeint_adjoint": lambda t, N: odeint_adjoint(f, x0, t, method="rk4", options={"step_size": 1 / N}),
    }
    rows = []
    for name, solve in variants.items():
        for N in Ns:
            t = torch.tensor([0.0, 1.0], device=device)

            def step():
                f.zero_grad()
                solve(t, N)[-1].pow(2).mean().backward()

            res = measure(step, repeats=2, device=device)
            rows.append({"problem": "ode_memory", "variant": name, "N": N, "status": res["status"],
                         "ms_per_step": None if res["seconds"] is None else 1000 * res["seconds"],
                         "peak_mb": res.get("peak_mb"), "state_mb": batch * dim * 4 / 2**20})
    return rows


def spiral_fit(quick: bool, device: str, seed: int) -> list[dict]:
    """Fit a neural ODE to the cubic spiral dy/dt = y^3 A (torchdiffeq's demo) with each method."""
    from scipy.integrate import solve_ivp
    from torchdiffeq import odeint

    A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    T, n_obs = 5.0, 101
    t_obs = np.linspace(0, T, n_obs)
    ref = solve_ivp(lambda t, y: (y**3) @ A, (0, T), [2.0, 0.0], t_eval=t_obs, rtol=1e-11, atol=1e-11, method="DOP853")
    y_true = torch.tensor(ref.y.T, dtype=torch.float32, device=device)
    t = torch.tensor(t_obs, dtype=torch.float32, device=device)
    iters = 150 if quick else 1500
    variants = {"leapfrog-raw": ("leapfrog", {"correction": False}), "leapfrog-corrected": ("leapfrog", {}),
                "ab2-corrected": ("ab2", {}), "ab4-corrected": ("ab4", {}), "rk4": ("rk4", {}),
                "dopri5": ("dopri5", None)}
    rows = []
    for name, (method, opts) in variants.items():
        torch.manual_seed(seed)

        class Cubic(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = torch.nn.Sequential(torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2))

            def forward(self, t, y):
                return self.net(y**3)

        f = Cubic().to(device)
        opt = torch.optim.Adam(f.parameters(), lr=1e-3)
        y0 = y_true[0]
        options = None if opts is None else {"step_size": T / (n_obs - 1) / 2, **opts}
        kw = {"rtol": 1e-5, "atol": 1e-6} if opts is None else {}

        def step():
            opt.zero_grad()
            loss = (odeint(f, y0, t, method=method, options=options, **kw) - y_true).abs().mean()
            loss.backward()
            opt.step()
            return loss

        res = measure(step, repeats=iters, device=device, warmup=0)
        with torch.no_grad():
            final = float((odeint(f, y0, t, method="dopri5", rtol=1e-7, atol=1e-8) - y_true).abs().mean())
        rows.append({"problem": "spiral_fit", "variant": name, "status": res["status"], "iterations": iters,
                     "ms_per_step": None if res["seconds"] is None else 1000 * res["seconds"],
                     "peak_mb": res.get("peak_mb"), "final_loss_dopri5": final})
    return rows


ODE_PROBLEMS = {"time_weights": time_weights, "ode_memory": ode_memory, "spiral_fit": spiral_fit}
