"""A DeepXDE script of the usual kind, to run as one process or several.

-Lap u = 2 pi^2 sin(pi x) sin(pi y) on [0, 1]^2, u = 0 on the boundary, 40 observations of u
(PointSetBC), u = sin(pi x) sin(pi y); Adam, then L-BFGS; the PDE points are resampled every
``--resample`` Adam steps.  It knows nothing of steadygrad.

    python examples/deepxde_poisson2d.py
    python -m steadygrad run examples/deepxde_poisson2d.py --width 0.05
    torchrun --nproc_per_node 2 -m steadygrad run examples/deepxde_poisson2d.py --width 0.05
    torchrun --nproc_per_node 2 -m steadygrad run examples/deepxde_poisson2d.py \\
        --derivatives autodiff
"""

import argparse
import os

os.environ.setdefault("DDE_BACKEND", "pytorch")

import deepxde as dde  # noqa: E402
import numpy as np  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--adam", type=int, default=2000)
parser.add_argument("--lbfgs", type=int, default=500)
parser.add_argument("--domain", type=int, default=2000, help="PDE points")
parser.add_argument("--resample", type=int, default=500, help="resampling period (0: never)")
parser.add_argument("--float64", action="store_true")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

dde.config.set_random_seed(args.seed)
if args.float64:
    dde.config.set_default_float("float64")


def exact(x):
    return np.sin(np.pi * x[:, 0:1]) * np.sin(np.pi * x[:, 1:2])


def pde(x, u):
    lap = dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)
    f = 2 * np.pi**2 * dde.backend.sin(np.pi * x[:, 0:1]) * dde.backend.sin(np.pi * x[:, 1:2])
    return -lap - f


geom = dde.geometry.Rectangle([0, 0], [1, 1])
wall = dde.icbc.DirichletBC(geom, lambda x: 0, lambda x, on: on)
observed = np.random.default_rng(args.seed).uniform(0.1, 0.9, (40, 2))
data = dde.data.PDE(
    geom,
    pde,
    [wall, dde.icbc.PointSetBC(observed, exact(observed))],
    num_domain=args.domain,
    num_boundary=200,
    solution=exact,
    num_test=1000,
)
net = dde.nn.FNN([2, 32, 32, 32, 1], "tanh", "Glorot uniform")
model = dde.Model(data, net)
model.compile("adam", lr=1e-3, metrics=["l2 relative error"])
callbacks = [dde.callbacks.PDEPointResampler(period=args.resample)] if args.resample else []
display = max(1, min(500, args.adam))
losshistory, train_state = model.train(
    iterations=args.adam, display_every=display, callbacks=callbacks
)
if args.lbfgs:
    dde.optimizers.config.set_LBFGS_options(maxiter=args.lbfgs)
    # DeepXDE 1.15 sizes PyTorch's L-BFGS calls (1000 iterations each) at import only
    dde.optimizers.config.LBFGS_options["iter_per_step"] = min(1000, args.lbfgs)
    model.compile("L-BFGS", metrics=["l2 relative error"])
    losshistory, train_state = model.train(display_every=display)

X = geom.uniform_points(10_000)
error = dde.metrics.l2_relative_error(exact(X), model.predict(X))
print(f"L2 relative error of u: {error:.3e}")
