"""Fit a neural ODE with time-dependent (per-step) weights: raw vs corrected leapfrog gradients.

Model: dx/dt = tanh(W_n x), one 3x3 weight matrix per leapfrog step (N steps on [0, 1]).
Data: trajectories of the system with the true W(t) = C0 + C1 sin(2 pi t) + C2 cos(3t)
(``steadygrad.bench.reference.TimeDependentWeights``), integrated by scipy DOP853 at rtol 1e-11
from a batch of initial states and observed at 10 times.

Raw gradients (exact autodiff of the leapfrog recursion) put the parasitic adjoint mode
(-1)^n into the per-step gradients, so even and odd weights drift apart: the trained model
fits the leapfrog discretisation it was trained with, not an ODE.  Corrected gradients
(steadygrad's default) keep the weights a smooth function of time.  Reported per variant:
the training loss, the loss of the same weights integrated by an accurate solver (RK4 with
h/8, weights piecewise constant in time: "continuous loss"), the weights' roughness
mean |W_{n+1} - W_n| and their distance to the true W(t_n).

Usage::

    python examples/neural_ode_time_weights.py [--iterations 400] [--steps 50] \
        [--plot out.png] [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import steadygrad  # noqa: F401  (registers leapfrog & co. in torchdiffeq)
import torch
from scipy.integrate import solve_ivp
from steadygrad.bench.reference import TimeDependentWeights
from torchdiffeq import odeint


class PerStepODE(torch.nn.Module):
    """dx/dt = tanh(W_n x) with W of shape (N, d, d); step n covers [n h, (n+1) h)."""

    def __init__(self, W0: torch.Tensor, T: float = 1.0):
        super().__init__()
        self.W = torch.nn.Parameter(W0.clone())
        self.N, self.h = W0.shape[0], T / W0.shape[0]

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n = min(int(float(t) / self.h + 1e-6), self.N - 1)  # x: (batch, d)
        return torch.tanh(x @ self.W[n].T)


def make_data(
    prob: TimeDependentWeights, batch: int, t_obs: np.ndarray, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial states (batch, d) and observations (len(t_obs), batch, d) from DOP853."""
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((batch, prob.x0.size))
    d = prob.x0.size

    def rhs(t, z):
        X = z.reshape(batch, d)
        return np.tanh(X @ prob.W(t).T).ravel()

    sol = solve_ivp(
        rhs, (0, t_obs[-1]), x0.ravel(), t_eval=t_obs, method="DOP853", rtol=1e-11, atol=1e-12
    )
    return torch.tensor(x0), torch.tensor(sol.y.T.reshape(len(t_obs), batch, d))


def train(
    correction: bool,
    x0,
    y_obs,
    t_obs,
    N: int,
    iterations: int,
    lr: float,
    progress=True,
    every: int = 10,
):
    """Adam on the leapfrog loss from W = 0.

    Returns (model, training losses, [(iteration, continuous loss)]).
    """
    d = x0.shape[1]
    model = PerStepODE(torch.zeros(N, d, d, dtype=torch.float64))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t = torch.tensor(t_obs)
    history, continuous = [], []
    steps = range(iterations)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=f"leapfrog {'corrected' if correction else 'raw'}", leave=False)
    for it in steps:
        if it % every == 0:
            continuous.append((it, continuous_loss(model, x0, y_obs, t_obs)))
        opt.zero_grad()
        pred = odeint(
            model,
            x0,
            t,
            method="leapfrog",
            options={"step_size": 1.0 / N, "correction": correction},
        )
        loss = (pred - y_obs).pow(2).mean()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    continuous.append((iterations, continuous_loss(model, x0, y_obs, t_obs)))
    return model, history, continuous


def continuous_loss(model: PerStepODE, x0, y_obs, t_obs, refine: int = 8) -> float:
    """Loss of the trained weights under an accurate solver (RK4, step h/refine)."""
    with torch.no_grad():
        pred = odeint(
            model, x0, torch.tensor(t_obs), method="rk4", options={"step_size": model.h / refine}
        )
    return float((pred - y_obs).pow(2).mean())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument(
        "--steps",
        type=int,
        default=50,
        help="leapfrog steps N on [0, 1] (= number of weight matrices)",
    )
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0, help="seed of the true system and the data")
    ap.add_argument("--plot", default="neural_ode_time_weights.png", help="PNG path ('' for none)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if args.steps % 10:
        raise SystemExit("--steps must be a multiple of 10 (observations every 0.1)")

    prob = TimeDependentWeights(seed=args.seed)
    t_obs = np.linspace(0, 1, 11)
    x0, y_obs = make_data(prob, args.batch, t_obs, args.seed)
    W_true = np.array([prob.W(n / args.steps) for n in range(args.steps)])
    results, models = {}, {}
    for correction in (False, True):
        name = "corrected" if correction else "raw"
        model, hist, cont = train(
            correction, x0, y_obs, t_obs, args.steps, args.iterations, args.lr
        )
        W = model.W.detach().numpy()
        models[name] = model
        results[name] = {
            "train_loss": hist[-1],
            "continuous_loss": cont[-1][1],
            "roughness": float(np.abs(np.diff(W, axis=0)).mean()),
            "weight_err": float(np.abs(W - W_true).mean()),
            "history": hist,
            "continuous": cont,
        }
    if args.plot:
        _plot(args.plot, results, models, W_true, args.steps)
    summary = {
        k: {m: v for m, v in r.items() if m not in ("history", "continuous")}
        for k, r in results.items()
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for name, r in summary.items():
            print(
                f"{name:9s}  train loss {r['train_loss']:.3e}  continuous loss "
                f"{r['continuous_loss']:.3e}  "
                f"roughness {r['roughness']:.3e}  |W - W_true| {r['weight_err']:.3f}"
            )
        if args.plot:
            print(f"plot: {args.plot}")
    return results


def _plot(path, results, models, W_true, N):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        ax[0].semilogy(r["history"], label=f"{name}: training loss (leapfrog)")
        its, cl = zip(*r["continuous"])
        ax[0].semilogy(
            its,
            cl,
            ls="--",
            color=ax[0].lines[-1].get_color(),
            label=f"{name}: same weights, accurate solver",
        )
    ax[0].set(xlabel="Adam iteration", ylabel="mean squared error", title="loss")
    ax[0].legend(fontsize=8)
    t = np.arange(N) / N
    ax[1].plot(t, W_true[:, 0, 0], "k-", lw=2, label="true W(t)[0,0]")
    for name, model in models.items():
        ax[1].plot(t, model.W.detach().numpy()[:, 0, 0], ".-", label=f"learned, {name} gradients")
    ax[1].set(xlabel="t", title="per-step weight W_n[0, 0]")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
