"""3D inverse heat problem on a lattice split across processes (distributed grid mode).

Recover the conductivity k(x, y, z) in div(k grad u) = -1 on the unit cube (u = 0 on the
boundary) from u measured on an n^3 lattice of interior nodes.  The reference data come from
steadygrad's own finite-volume solver.  One network outputs (u, s) with k = exp(s); both are
mollified (grid mode) and the residual k (Lap u + grad s . grad u) + 1 uses their kernel
derivatives.  Each process evaluates only its slab of the lattice (plus the kernel's margin);
parameter gradients are summed over the processes.  Adam, then L-BFGS (every rank holds the
same summed gradients, so the ranks take identical steps).

    torchrun --nproc_per_node 2 examples/heat3d_distributed.py      # 2 processes
    torchrun --nproc_per_node 1 examples/heat3d_distributed.py      # the same, 1 process
    python examples/heat3d_distributed.py --adam 50 --lbfgs 0       # 1 process, no torchrun

Prints the loss, the relative L2 error of k on the lattice (and that of the constant guess
k = 1, for scale), and the time per Adam step.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.distributed as dist
from steadygrad.bench.reference import heat_fv
from steadygrad.distributed import ShardedLattice, all_reduce_gradients, global_sum
from steadygrad.mollifier import MollifierLayer


def conductivity(x, y, z):
    """k = 1 + exp(-|x - c|^2 / 0.1), c = (0.5, 0.5, 0.5)."""
    return 1 + np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2 + (z - 0.5) ** 2) / 0.1)


class Fields(torch.nn.Module):
    """(u, s) at points (N, 3): u by an MLP scaled to the data, s = log k by a smaller one."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale
        self.u = torch.nn.Sequential(
            torch.nn.Linear(3, 48),
            torch.nn.Tanh(),
            torch.nn.Linear(48, 48),
            torch.nn.Tanh(),
            torch.nn.Linear(48, 1),
        )
        self.s = torch.nn.Sequential(
            torch.nn.Linear(3, 24), torch.nn.Tanh(), torch.nn.Linear(24, 1)
        )

    def forward(self, x):
        return torch.cat([self.u(x) * self.scale, self.s(x)], 1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=15, help="interior lattice nodes per axis")
    p.add_argument("--adam", type=int, default=3000, help="Adam steps")
    p.add_argument("--lbfgs", type=int, default=1500, help="L-BFGS iterations after Adam")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if "RANK" not in os.environ:  # plain `python`: a process group of one
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29531", RANK="0", WORLD_SIZE="1")
    dist.init_process_group("gloo")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.get_world_size()))
    try:
        return train(args)
    finally:
        dist.destroy_process_group()


def train(args) -> dict:
    m = args.size + 2
    h = 1.0 / (m - 1)
    u_ref = heat_fv(conductivity, lambda *c: np.ones_like(c[0]), m, 3)[1:-1, 1:-1, 1:-1]
    lattice = ShardedLattice((args.size,) * 3, h, origin=h)
    X = lattice.points()
    u_data = torch.as_tensor(lattice.local(u_ref.reshape(-1, 1)))
    k_true = conductivity(*X.T.numpy())
    torch.manual_seed(args.seed)  # same initial weights on every rank
    scale = float(np.abs(u_ref).max())
    net = Fields(scale).double()
    layer = MollifierLayer(net, width=2 * h, spacing=h, mode="grid")

    def closure():
        """Global loss; every rank holds the summed gradients afterwards."""
        opt.zero_grad()
        loss = local_loss(layer, X, u_data, scale) / lattice.global_count
        loss.backward()
        all_reduce_gradients(net.parameters())
        return global_sum(loss)

    t0 = time.perf_counter()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(args.adam):
        opt.step(closure)
    seconds = (time.perf_counter() - t0) / max(args.adam, 1)
    if args.lbfgs:  # identical gradients on every rank, so identical line searches
        opt = torch.optim.LBFGS(
            net.parameters(),
            max_iter=args.lbfgs,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
        opt.step(closure)
    loss = closure()
    with torch.no_grad():
        k = torch.exp(layer(X)[:, 1]).numpy()
    sq = global_sum(
        torch.tensor([((k - k_true) ** 2).sum(), (k_true**2).sum(), ((1 - k_true) ** 2).sum()])
    )
    result = {
        "processes": lattice.world,
        "loss": float(loss),
        "k_rel_err": float((sq[0] / sq[1]).sqrt()),
        "k_rel_err_of_k=1": float((sq[2] / sq[1]).sqrt()),
        "adam_ms_per_step": 1000 * seconds,
    }
    if lattice.rank == 0:
        print(" ".join(f"{key}={value:.4g}" for key, value in result.items()), flush=True)
    return result


def local_loss(layer, X, u_data, scale) -> torch.Tensor:
    """Sum over this rank's nodes of the squared residual and the scaled data misfit."""
    out = layer(X)
    d = layer.derivative
    unit = [tuple(int(j == i) for j in range(3)) for i in range(3)]
    lap = sum(d(out, tuple(2 * a for a in e), 0) for e in unit)
    grad_dot = sum(d(out, e, 0) * d(out, e, 1) for e in unit)  # grad u . grad s
    k = torch.exp(d(out, (0, 0, 0), 1))
    residual = k * (lap + grad_dot) + 1  # div(k grad u) + 1 with k = exp(s)
    misfit = (d(out, (0, 0, 0), 0) - u_data) / scale
    return (residual**2).sum() + (misfit**2).sum()


if __name__ == "__main__":
    main()
