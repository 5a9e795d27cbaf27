"""Time per training step of a standard (PINNacle) problem, one backend, after warm-up.

    python examples/step_cost.py heat2d_multiscale autodiff --full
    python examples/step_cost.py heat2d_multiscale mollifier --width 0.025 --precision input
    python examples/step_cost.py heat2d_multiscale mollifier --width 0.025 --space-only

The problem is built by ``steadygrad bench`` (its network, points and float32); the mollifier
runs in ``mode='auto'`` at ``--width`` times each axis's extent.  ``--product-rule`` (the
inverse problems) writes d(a u_x)/dx as a_x u_x + a u_xx, which the mollifier serves without
the autodiff fallback.  ``--space-only`` mollifies the spatial axes and leaves time to the
lattice's interpolant (``axes=``).  One thread; prints one line: ms per step and the peak heap
of one more step (MB).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("DDE_BACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

EXTENTS = {
    "heat2d_multiscale": (1.0, 1.0, 5.0),
    "heat_inverse": (2.0, 2.0, 1.0),
    "poisson2d_classic": (1.0, 1.0),
    "kuramoto_sivashinsky": (2 * np.pi, 1.0),
}


def product_rule_heat_inverse(dde, x, y):
    """HInv's residual with the flux's product differentiated by hand."""
    from steadygrad.bench.problems.heat_inverse import source

    a = y[:, 1:2]

    def d(c, j):
        return dde.grad.jacobian(y, x, i=c, j=j)

    lap = sum(dde.grad.hessian(y, x, component=0, i=j, j=j) for j in (0, 1))
    flux = d(1, 0) * d(0, 0) + d(1, 1) * d(0, 1) + a * lap
    return d(0, 2) - flux - source(x[:, :1], x[:, 1:2], x[:, 2:3], torch.exp, torch.sin, torch.cos)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("problem", choices=sorted(EXTENTS))
    p.add_argument("backend", choices=["autodiff", "mollifier"])
    p.add_argument("--width", type=float, default=0.05, help="fraction of each axis's extent")
    p.add_argument("--precision", default="auto", choices=["auto", "input", "float64"])
    p.add_argument("--full", action="store_true", help="PINNacle's sizes (default: --quick's)")
    p.add_argument("--product-rule", action="store_true")
    p.add_argument(
        "--space-only", action="store_true", help="mollify the spatial axes, not time (the last)"
    )
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    import deepxde as dde
    import steadygrad.deepxde as sgd
    from steadygrad.bench.measure import step_peak_memory
    from steadygrad.bench.problems import PDE_PROBLEMS

    dde.config.set_default_float("float32")
    dde.config.set_random_seed(0)
    setup = PDE_PROBLEMS[args.problem].builder(0.1, not args.full, np.random.default_rng(0))
    if args.product_rule:
        setup.data.pde = lambda x, y: product_rule_heat_inverse(dde, x, y)
    if args.backend == "autodiff":
        sgd.enable("autodiff")
    else:
        extents = EXTENTS[args.problem][: -1 if args.space_only else None]
        axes = tuple(range(len(extents))) if args.space_only else None
        width = tuple(args.width * e for e in extents)
        sgd.enable("mollifier", width=width, axes=axes, mode="auto", precision=args.precision)
    warnings.simplefilter("ignore")
    model = dde.Model(setup.data, setup.net)
    model.compile("adam", lr=1e-3)
    model.train(iterations=3, verbose=0)  # planning, density and precision settle here

    def timed(n: int) -> float:
        t0 = time.perf_counter()
        model.train(iterations=n, verbose=0)
        return time.perf_counter() - t0

    end = timed(2)  # the end-of-train evaluation is in both calls: subtract it
    per_step = (timed(args.steps + 2) - end) / args.steps
    # the bench's convention: one more step (with its end-of-train evaluation) under the
    # per-op heap sampler
    mem = step_peak_memory(lambda: model.train(iterations=1, verbose=0), "cpu", warmed=True)
    print(
        f"{args.problem} {args.backend} width {args.width:g} precision {args.precision} "
        f"{'full' if args.full else 'quick'}{' product-rule' if args.product_rule else ''}"
        f"{' space-only' if args.space_only else ''}: "
        f"{1000 * per_step:.0f} ms/step, peak {mem['peak_mb']:.0f} MB, on "
        f"{len(setup.data.train_x)} points"
    )


if __name__ == "__main__":
    main()
