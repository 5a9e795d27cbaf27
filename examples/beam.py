"""Euler-Bernoulli beam u'''' = -1 on [0, 1] (DeepXDE's classic example), a plain DeepXDE script.

    u(0) = u'(0) = 0,  u''(1) = u'''(1) = 0,  exact u = -x^4/24 + x^3/6 - x^2/4.

It contains no steadygrad code.  Run it unmodified with Mollifier Layers:

    python -m steadygrad run examples/beam.py --derivatives mollifier --width 0.1

or with DeepXDE's autodiff: ``python examples/beam.py``.  ``--iterations N`` shortens it.
"""

import argparse
import json
import os

os.environ.setdefault("DDE_BACKEND", "pytorch")
import deepxde as dde
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--iterations", type=int, default=5000)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--json", help="write the final relative L2 error and timing here")
args = parser.parse_args()

dde.config.set_default_float("float64")
dde.config.set_random_seed(args.seed)


def ddy(x, y):
    return dde.grad.hessian(y, x)


def dddy(x, y):
    return dde.grad.jacobian(ddy(x, y), x)


def pde(x, y):
    dy_xxxx = dde.grad.hessian(ddy(x, y), x)  # nested: a 4th derivative
    return dy_xxxx + 1


def boundary_l(x, on_boundary):
    return on_boundary and dde.utils.isclose(x[0], 0)


def boundary_r(x, on_boundary):
    return on_boundary and dde.utils.isclose(x[0], 1)


def func(x):
    return -(x**4) / 24 + x**3 / 6 - x**2 / 4


geom = dde.geometry.Interval(0, 1)
bcs = [
    dde.icbc.DirichletBC(geom, lambda x: 0, boundary_l),
    dde.icbc.NeumannBC(geom, lambda x: 0, boundary_l),
    dde.icbc.OperatorBC(geom, lambda x, y, _: ddy(x, y), boundary_r),
    dde.icbc.OperatorBC(geom, lambda x, y, _: dddy(x, y), boundary_r),
]
data = dde.data.PDE(geom, pde, bcs, num_domain=10, num_boundary=2, solution=func, num_test=100)
net = dde.nn.FNN([1] + [20] * 3 + [1], "tanh", "Glorot uniform")
model = dde.Model(data, net)
model.compile("adam", lr=0.001, metrics=["l2 relative error"])
losshistory, train_state = model.train(iterations=args.iterations, display_every=1000)

x = np.linspace(0, 1, 201)[:, None]
err = float(np.linalg.norm(model.predict(x) - func(x)) / np.linalg.norm(func(x)))
print(f"relative L2 error of u: {err:.3e}")
if args.json:
    with open(args.json, "w") as fh:
        json.dump({"l2_relative_error": err, "iterations": args.iterations}, fh)
