"""Inverse problem: recover a space-dependent reaction rate k(x) from noisy u (DeepXDE).

    lam u'' - k(x) u = -1 on [0, 1],  u(0) = u(1) = 1,  lam = 0.01,
    k(x) = 0.1 + exp(-0.5 (x - 0.5)^2 / 0.15^2)  (unknown; a second network output).

Data: u from scipy's solve_bvp (tol 1e-10) at 100 points with Gaussian noise of
``--noise`` x max|u| (default 5%).  The only steadygrad line is the opt-in below.

    python examples/diffusion_reaction_inverse.py --derivatives autodiff
    python examples/diffusion_reaction_inverse.py --derivatives mollifier --width 0.05
"""

import argparse
import json
import os
import time

os.environ.setdefault("DDE_BACKEND", "pytorch")
import deepxde as dde
import numpy as np
import steadygrad.deepxde
from steadygrad.bench.reference import default_rate, diffusion_reaction_bvp

parser = argparse.ArgumentParser()
parser.add_argument("--derivatives", default="mollifier", choices=("autodiff", "mollifier"))
parser.add_argument(
    "--width",
    type=lambda v: v if v == "auto" else float(v),
    default=0.05,
    help="mollifier half-width, or 'auto' (chosen from the observations)",
)
parser.add_argument("--noise", type=float, default=0.05)
parser.add_argument("--iterations", type=int, default=10000)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--json", help="write results here")
parser.add_argument("--plot", help="save a PNG of k(x) here")
args = parser.parse_args()

dde.config.set_default_float("float64")
dde.config.set_random_seed(args.seed)
lam = 0.01
u_ref = diffusion_reaction_bvp(default_rate, lam)
rng = np.random.default_rng(args.seed)
ob_x = np.linspace(0, 1, 100)[:, None]
ob_u = u_ref(ob_x) + args.noise * np.abs(u_ref(ob_x)).max() * rng.standard_normal(ob_x.shape)

if args.derivatives == "mollifier":
    steadygrad.deepxde.enable("mollifier", width=args.width)  # <- the one-line opt-in


def pde(x, y):
    u, k = y[:, 0:1], y[:, 1:2]
    u_xx = dde.grad.hessian(y, x, component=0)
    return lam * u_xx - k * u + 1


geom = dde.geometry.Interval(0, 1)
bc = dde.icbc.DirichletBC(geom, lambda x: 1, lambda _, on_boundary: on_boundary, component=0)
observe_u = dde.icbc.PointSetBC(ob_x, ob_u, component=0)
data = dde.data.PDE(geom, pde, [bc, observe_u], num_domain=50, num_boundary=2, anchors=ob_x)
net = dde.nn.PFNN([1, [20, 20], [20, 20], [20, 20], 2], "tanh", "Glorot uniform")
model = dde.Model(data, net)
model.compile("adam", lr=0.001)
t0 = time.perf_counter()
model.train(iterations=args.iterations, display_every=max(1, args.iterations // 5))
seconds = time.perf_counter() - t0

x = np.linspace(0, 1, 501)[:, None]
pred = model.predict(x)
k_true = default_rate(x)
k_err = float(np.linalg.norm(pred[:, 1:2] - k_true) / np.linalg.norm(k_true))
u_err = float(np.linalg.norm(pred[:, 0:1] - u_ref(x)) / np.linalg.norm(u_ref(x)))
print(f"{args.derivatives}: relative L2 error k(x) {k_err:.3e}, u(x) {u_err:.3e}, {seconds:.1f} s")
if args.json:
    with open(args.json, "w") as fh:
        json.dump(
            {
                "derivatives": args.derivatives,
                "k_l2": k_err,
                "u_l2": u_err,
                "seconds": seconds,
                "noise": args.noise,
                "iterations": args.iterations,
                "seed": args.seed,
            },
            fh,
        )
if args.plot:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].plot(ob_x, ob_u, ".", ms=3, label="noisy data")
    ax[0].plot(x, u_ref(x), "k-", lw=1, label="solve_bvp")
    ax[0].plot(x, pred[:, 0], "r--", label=args.derivatives)
    ax[1].plot(x, k_true, "k-", lw=1, label="true k")
    ax[1].plot(x, pred[:, 1], "r--", label=f"{args.derivatives} (L2 {k_err:.2%})")
    for a, t in zip(ax, ("u(x)", "k(x)")):
        a.set_title(t)
        a.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
