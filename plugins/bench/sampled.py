"""``sampled``: DeepXDE problems on DeepXDE's own sampled training points (not lattices).

Four forward problems with analytic solutions, each trained with DeepXDE's default sampling
(pseudo-random domain and boundary points), its default float32, and an FNN of width 50:

* ``poisson2d``: -Lap u = 2 pi^2 sin(pi x) sin(pi y) on [0,1]^2, u = 0 on the boundary;
* ``plate2d``: Lap^2 u = 4 pi^4 sin(pi x) sin(pi y), u = Lap u = 0 on the boundary (4th order);
* ``poisson3d``: -Lap u = 3 pi^2 sin(pi x) sin(pi y) sin(pi z) on [0,1]^3, u = 0 (4000 + 800
  points; ``poisson3d_dense``: 8000 + 1600);
* ``heat1d``: u_t = u_xx / pi^2 on [0,1] x [0,1], u = sin(pi x) at t = 0, u = 0 at x = 0, 1;
  exact u = exp(-t) sin(pi x); the mollifier acts on x only (``axes=(0,)``).

Variants: DeepXDE's autodiff, the mollifier in its default ``mode='auto'`` (the row records
the mode it chose) and in scattered mode (skipped where a step takes seconds: the plate on
CPU, 3D everywhere).  Each
model trains in chunks, the variants interleaved chunk by chunk in one process, so the time
per step of every variant is measured under the same load; the row carries the L2 relative
error of u against the exact solution after the same number of Adam steps.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .measure import step_peak_memory
from .pde import _dde, _rel

__all__ = ["SAMPLED", "sampled"]


@dataclass
class Case:
    """One sampled-point problem: its DeepXDE data, network sizes and mollifier options."""

    data: Callable[[object], object]
    exact: Callable[[np.ndarray], np.ndarray]
    dim: int
    width: float
    axes: tuple | None = None
    scattered: str = "all"  # devices where a scattered-mode step is affordable: all/cuda/none
    quick: bool = True  # part of ``--quick``


def _sin(x, dim: int):
    dde = _dde()
    out = 1.0
    for i in range(dim):
        out = out * dde.backend.sin(np.pi * x[:, i : i + 1])
    return out


def _laplacian(dde, y, x, dim):
    return sum(dde.grad.hessian(y, x, i=i, j=i) for i in range(dim))


def _poisson(dim: int, n_domain: int, n_boundary: int):
    def data(dde):
        geom = (
            dde.geometry.Rectangle([0, 0], [1, 1])
            if dim == 2
            else dde.geometry.Cuboid([0, 0, 0], [1, 1, 1])
        )
        bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)

        def pde(x, y):
            return _laplacian(dde, y, x, dim) + dim * np.pi**2 * _sin(x, dim)

        return dde.data.PDE(geom, pde, [bc], num_domain=n_domain, num_boundary=n_boundary)

    return data


def _plate(dde):
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    navier = dde.icbc.OperatorBC(geom, lambda x, y, _: _laplacian(dde, y, x, 2), lambda _, on: on)

    def pde(x, y):
        lap = _laplacian(dde, y, x, 2)
        return _laplacian(dde, lap, x, 2) - 4 * np.pi**4 * _sin(x, 2)

    return dde.data.PDE(geom, pde, [bc, navier], num_domain=2000, num_boundary=200)


def _heat(dde):
    geom = dde.geometry.GeometryXTime(dde.geometry.Interval(0, 1), dde.geometry.TimeDomain(0, 1))
    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on: on)
    ic = dde.icbc.IC(geom, lambda x: np.sin(np.pi * x[:, :1]), lambda _, on: on)

    def pde(x, y):
        u_t = dde.grad.jacobian(y, x, i=0, j=1)
        return u_t - dde.grad.hessian(y, x, i=0, j=0) / np.pi**2

    return dde.data.TimePDE(geom, pde, [bc, ic], num_domain=2000, num_boundary=200, num_initial=100)


def _exact_sin(dim):
    return lambda x: np.prod(np.sin(np.pi * x[:, :dim]), axis=1)


SAMPLED: dict[str, Case] = {
    "poisson2d": Case(_poisson(2, 2000, 200), _exact_sin(2), 2, 0.1),
    "plate2d": Case(_plate, _exact_sin(2), 2, 0.1, scattered="cuda"),
    "poisson3d": Case(_poisson(3, 4000, 800), _exact_sin(3), 3, 0.2, scattered="none"),
    # 3D needs many more points than 2D for the same resolution (2000 points in 2D are a
    # 45^2 lattice's worth; 45^3 would be 91 000): twice the points, still sparse
    "poisson3d_dense": Case(
        _poisson(3, 8000, 1600), _exact_sin(3), 3, 0.2, scattered="none", quick=False
    ),
    "heat1d": Case(_heat, lambda x: np.exp(-x[:, 1]) * np.sin(np.pi * x[:, 0]), 2, 0.1, axes=(0,)),
}

VARIANTS = ("autodiff", "mollifier-auto", "mollifier-scattered")


def _route(sgd, variant: str, case: Case) -> None:
    if variant == "autodiff":
        sgd.enable("autodiff")
    else:
        sgd.enable("mollifier", width=case.width, axes=case.axes, mode=variant.split("-")[1])


def _models(dde, sgd, case: Case, variants, seed: int) -> dict:
    """One model per variant, same data points and same initial weights."""
    dde.config.set_random_seed(seed)
    data = case.data(dde)
    models = {}
    for variant in variants:
        dde.config.set_random_seed(seed)
        net = dde.nn.FNN([case.dim] + [50] * 3 + [1], "tanh", "Glorot uniform")
        model = dde.Model(data, net)
        _route(sgd, variant, case)
        model.compile("adam", lr=1e-3)
        models[variant] = model
    return models


def _train_interleaved(sgd, models: dict, case: Case, chunks: int, chunk: int) -> dict:
    """Median seconds per step of each variant, the variants alternating chunk by chunk."""
    times: dict = {v: [] for v in models}
    for _ in range(chunks):
        for variant, model in models.items():
            _route(sgd, variant, case)
            t0 = time.perf_counter()
            model.train(iterations=chunk, display_every=chunk, verbose=0)
            times[variant].append((time.perf_counter() - t0) / chunk)
    return {v: statistics.median(t) for v, t in times.items()}


def sampled(quick: bool, device: str, seed: int, names=None, dtypes=None) -> list[dict]:
    """Rows per problem, dtype and variant: ms per step, peak memory, L2 error, mode chosen,
    ratio to autodiff.  Quick: float32 (DeepXDE's default), 2 chunks of 10 steps, no scattered
    rows; full: float32 and float64, 6 chunks of 50 steps."""
    import steadygrad.deepxde as sgd

    dde = _dde()
    chunks, chunk = (2, 10) if quick else (6, 50)
    dtypes = dtypes or (("float32",) if quick else ("float32", "float64"))
    rows = []
    if device.startswith("cuda"):
        torch.set_default_device(device)  # DeepXDE creates its tensors on the default device
    for dtype in dtypes:
        dde.config.set_default_float(dtype)
        for name in names or [n for n, c in SAMPLED.items() if c.quick or not quick]:
            case = SAMPLED[name]
            affordable = case.scattered == "all" or device.startswith(case.scattered)
            variants = [v for v in VARIANTS if affordable or v != "mollifier-scattered"]
            if quick:
                variants = variants[:2]
            try:
                models = _models(dde, sgd, case, variants, seed)
                per_step = _train_interleaved(sgd, models, case, chunks, chunk)
                rows += _rows(sgd, name, case, models, per_step, device, chunks * chunk)
            finally:
                sgd.disable()
    torch.set_default_device("cpu")
    return rows


def _rows(sgd, name, case, models, per_step, device, steps) -> list[dict]:
    rng = np.random.default_rng(0)
    test = rng.random((4000, case.dim))
    rows = []
    for variant, model in models.items():
        _route(sgd, variant, case)
        mem = step_peak_memory(lambda m=model: m.train(iterations=1, verbose=0), device)
        op = sgd.active()
        pred = model.predict(test)[:, 0]
        chosen = getattr(getattr(op, "layer", None), "last_mode", None)
        rows.append(
            {
                "problem": f"sampled:{name}",
                "variant": variant,
                "status": "ok",
                "mode": chosen,
                "dtype": str(torch.get_default_dtype()).replace("torch.", ""),
                "points": int(len(model.data.train_x)),
                "iterations": steps,
                "ms_per_step": 1000 * per_step[variant],
                "vs_autodiff": per_step[variant] / per_step["autodiff"],
                **mem,
                "u_l2": _rel(pred, case.exact(test)),
            }
        )
    return rows
