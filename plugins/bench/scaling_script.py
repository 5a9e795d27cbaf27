"""``scaling`` rows for a DeepXDE-style script trained data-parallel (``steadygrad.deepxde``'s
``distribute``, what ``torchrun -m steadygrad run`` switches on), 1 and 2 gloo processes.

The problem is ``sampled``'s 2D Poisson (-Lap u = 2 pi^2 sin(pi x) sin(pi y), u = 0 on the
boundary), DeepXDE's float32, FNN 2-50-50-50-1, Adam; each process one thread.

* weak: the global point count grows with the ranks (``POINTS`` PDE points per rank);
* strong: ``POINTS * max(worlds)`` points, split over the ranks.

Each row carries the time per Adam step (median over steps, slowest rank; DeepXDE's display
evaluations excluded: they are replicated on every rank, and rare at DeepXDE's default
display_every of 1000), the L2 error of u after the timed steps and its difference from
one process on the same global points, and, for the mollifier, the lattice nodes per rank.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time

import torch

__all__ = ["script_scaling"]

POINTS = 4000  # PDE points per rank (weak) / per rank at the largest world (strong)
WIDTH = 0.05  # mollifier half-width (5% of the unit square's side)


def _step_clock(dde):
    """A DeepXDE callback timing each training step (batch begin to end): DeepXDE's display
    evaluations, replicated on every rank and rare at its default display_every, fall outside."""

    class Clock(dde.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list = []

        def on_batch_begin(self):
            self.t0 = time.perf_counter()

        def on_batch_end(self):
            self.seconds.append(time.perf_counter() - self.t0)

    return Clock()


def _worker(rank, world, init, out, points, chunks, chunk, seed, derivatives) -> None:
    import numpy as np
    import torch.distributed as dist

    os.environ.setdefault("DDE_BACKEND", "pytorch")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    import deepxde as dde
    import steadygrad.deepxde as sgd

    from .sampled_cases import SAMPLED, _poisson

    try:
        sgd.distribute()
        sgd.quiet_followers()
        options = dict(width=WIDTH, mode="lattice") if derivatives == "mollifier" else {}
        op = sgd.enable(derivatives, **options)
        dde.config.set_random_seed(seed)
        data, net = _poisson(2, points, points // 10)(dde)
        model = dde.Model(data, net)
        model.compile("adam", lr=1e-3)
        model.train(iterations=chunk, display_every=chunk, verbose=0)  # warm-up, plans
        clock = _step_clock(dde)
        for _ in range(chunks):
            dist.barrier()
            model.train(iterations=chunk, display_every=chunk, verbose=0, callbacks=[clock])
        test = data.geom.uniform_points(4000)
        exact = SAMPLED["poisson2d"].exact(test)
        error = float(np.linalg.norm(model.predict(test) - exact) / np.linalg.norm(exact))
        model.predict(model.train_state.X_train)  # the layer's last plan: this rank's points
        plan = getattr(getattr(op, "layer", None), "last_plan", None)
        nodes = math.prod(plan.size) if plan is not None else None
        result = dict(seconds=statistics.median(clock.seconds), error=error, nodes=nodes)
        result["points"] = len(model.train_state.X_train)
        torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    finally:
        sgd.disable()
        dist.destroy_process_group()


def _run(world, points, chunks, chunk, seed, derivatives) -> list[dict]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        init = os.path.join(tmp, "init")
        args = (world, init, tmp, points, chunks, chunk, seed, derivatives)
        mp.spawn(_worker, args=args, nprocs=world, join=True)
        return [torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(world)]


def script_scaling(quick: bool, seed: int, worlds=(1, 2)) -> list[dict]:
    """Rows per backend, kind (weak/strong; quick: strong only) and process count (see the
    module docstring)."""
    chunks, chunk = (2, 10) if quick else (5, 50)
    per_rank = POINTS // 4 if quick else POINTS
    rows = []
    for derivatives in ("autodiff", "mollifier"):
        for kind in ("strong",) if quick else ("weak", "strong"):
            base, one = None, {}  # one process per global point count
            for world in worlds:
                points = per_rank * (world if kind == "weak" else max(worlds))
                ranks = _run(world, points, chunks, chunk, seed, derivatives)
                if world == 1:
                    one[points] = ranks
                single = one.get(points) or _run(1, points, chunks, chunk, seed, derivatives)
                t = max(r["seconds"] for r in ranks)
                base = t if base is None else base
                rows.append(
                    {
                        "problem": "scaling:deepxde_poisson2d",
                        "variant": f"{derivatives} {kind}",
                        "status": "ok",
                        "processes": world,
                        "threads_per_process": 1,
                        "pde_points": points,
                        "points_per_rank": max(r["points"] for r in ranks),
                        "lattice_nodes_per_rank": max((r["nodes"] or 0) for r in ranks) or None,
                        "ms_per_step": 1000 * t,
                        "efficiency": base / t if kind == "weak" else base / (world * t),
                        "u_l2": ranks[0]["error"],
                        "u_l2_vs_one_process": abs(ranks[0]["error"] - single[0]["error"]),
                    }
                )
    return rows
