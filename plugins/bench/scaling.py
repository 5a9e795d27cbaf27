"""``scaling``: weak and strong scaling of a distributed grid-mode residual step (gloo, CPU).

One training step of a 3D Laplacian residual (MLP 3-64-64-1, float64, width 2 spacings) on a
lattice split by rows over 1 and 2 processes (``steadygrad.distributed``), one thread each.

* weak: every rank keeps the same slab, the lattice grows with the ranks;
  efficiency = t(1) / t(N);
* strong: the lattice is fixed, the slabs shrink; efficiency = t(1) / (N t(N)).

Each row carries the loss's relative difference from one process on the same lattice (the
accuracy of the split) and the peak memory per rank.  ``scaling_script.py`` adds the rows of a
DeepXDE-style script trained data-parallel.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import torch

from .scaling_script import script_scaling

__all__ = ["scaling"]

H = 0.02


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 1),
    ).double()


def _step(layer, net, X, count):
    from ..distributed import all_reduce_gradients

    net.zero_grad()
    u = layer(X)
    lap = sum(layer.derivative(u, tuple(2 * (j == i) for j in range(3))) for i in range(3))
    loss = ((lap + 1) ** 2).sum() / count
    loss.backward()
    all_reduce_gradients(net.parameters())
    return loss.detach()


def _worker(rank: int, world: int, init: str, out: str, shape, steps: int, seed: int) -> None:
    import torch.distributed as dist

    from ..distributed import ShardedLattice, global_sum
    from ..mollifier import MollifierLayer
    from .measure import peak_memory

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        lattice = ShardedLattice(shape, H)
        X = lattice.points()
        net = _net(seed)
        layer = MollifierLayer(net, width=2 * H, spacing=H, mode="grid")
        loss = _step(layer, net, X, lattice.global_count)
        times = []
        for _ in range(steps):
            dist.barrier()
            t0 = time.perf_counter()
            _step(layer, net, X, lattice.global_count)
            times.append(time.perf_counter() - t0)
        with peak_memory("cpu", "polled") as mem:
            _step(layer, net, X, lattice.global_count)
        result = {
            "rank": rank,
            "loss": float(global_sum(loss)),
            "seconds": statistics.median(times),
            "peak_mb": mem["peak_mb"],
            "nodes": X.shape[0],
        }
        torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _run(world: int, shape, steps: int, seed: int) -> list[dict]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        init = os.path.join(tmp, "init")
        mp.spawn(_worker, args=(world, init, tmp, shape, steps, seed), nprocs=world, join=True)
        return [torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(world)]


def scaling(quick: bool, device: str, seed: int, worlds=(1, 2)) -> list[dict]:
    """Rows per kind (weak/strong; quick: strong only) and process count: ms per step (slowest
    rank), efficiency, peak memory per rank, nodes per rank, loss difference from one process."""
    if device != "cpu":
        raise ValueError("scaling runs on CPU processes (gloo); one GPU cannot host 2 NCCL ranks")
    slab = (12, 24, 24) if quick else (24, 48, 48)
    steps = 5 if quick else 20
    rows = []
    for kind in ("strong",) if quick else ("weak", "strong"):
        base = None
        for world in worlds:
            rows_n = slab[0] * (world if kind == "weak" else max(worlds))
            shape = (rows_n, *slab[1:])
            ranks = _run(world, shape, steps, seed)
            single = _run(1, shape, 1, seed)[0] if world > 1 else ranks[0]
            t = max(r["seconds"] for r in ranks)
            base = t if base is None else base
            rows.append(
                {
                    "problem": "scaling",
                    "variant": kind,
                    "status": "ok",
                    "processes": world,
                    "threads_per_process": 1,
                    "lattice": "x".join(map(str, shape)),
                    "nodes_per_rank": max(r["nodes"] for r in ranks),
                    "ms_per_step": 1000 * t,
                    "efficiency": base / t if kind == "weak" else base / (world * t),
                    "peak_mb_per_rank": max(r["peak_mb"] for r in ranks),
                    "loss_rel_diff": abs(ranks[0]["loss"] - single["loss"]) / abs(single["loss"]),
                }
            )
    return rows + script_scaling(quick, seed, worlds)
