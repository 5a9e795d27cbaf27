"""Grid mode split across processes with ``torch.distributed`` (domain decomposition).

A global lattice of n_0 x n_1 x ... nodes is cut into contiguous slabs along its leading axis,
one per rank (sizes differ by at most one).  Each rank evaluates the network on its own slab
only: grid mode with ``boundary='extend'`` already evaluates g on a margin of K nodes around
the points it is given, so a slab's margin *is* the halo, and no values are exchanged.  The
derivatives a rank computes for its nodes are therefore exactly those of grid mode on the whole
lattice (to round-off).  What needs communication is the reduction: losses are sums over the
rank's nodes divided by the global node count, and parameter gradients are summed over ranks
by :func:`all_reduce_gradients` (one flat all-reduce per call; see docs/distributed.md for
why not ``DistributedDataParallel``).

Works with any backend of ``torch.distributed``: gloo with CPU tensors, NCCL with CUDA tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist

from .mollifier.values import per_axis

__all__ = [
    "ShardedLattice",
    "all_reduce_gradients",
    "broadcast_parameters",
    "collective_device",
    "global_sum",
    "rank_and_world",
    "split_rows",
]


def split_rows(n: int, world: int, what: str | None = None) -> list[tuple[int, int]]:
    """Contiguous [start, stop) row ranges of ``n`` rows over ``world`` ranks, sizes within 1.

    ``what`` names the rows in the error raised when there are fewer rows than ranks.
    """
    if isinstance(world, bool) or not isinstance(world, int) or world < 1:
        raise ValueError(f"the number of processes must be a positive integer, got {world!r}")
    if world > n:
        what = what or f"a lattice with {n} rows along its leading axis"
        raise ValueError(
            f"{what} cannot be split over {world} processes (each needs at least one row); "
            f"use at most {n} processes"
        )
    base, extra = divmod(n, world)
    bounds, start = [], 0
    for r in range(world):
        stop = start + base + (r < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def rank_and_world(group=None) -> tuple[int, int]:
    """(rank, world size) of the process group; RuntimeError naming torchrun if there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "no torch.distributed process group: launch with `torchrun --nproc_per_node N "
            "script.py` and call torch.distributed.init_process_group() first (backend 'gloo' "
            "for CPU tensors, 'nccl' for CUDA)"
        )
    return dist.get_rank(group), dist.get_world_size(group)


def collective_device(group=None) -> torch.device:
    """Where the group's collectives take their tensors: this rank's GPU under NCCL, else CPU."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class ShardedLattice:
    """A regular lattice of nodes ``origin + k * spacing`` split by rows across ranks.

    Args:
        shape: nodes per axis (n_0, ..., n_{d-1}); the split is along axis 0.
        spacing: node spacing per axis (one number or one per axis).
        origin: coordinates of node (0, ..., 0).
        group: process group (default: the world).

    Every rank must build the same lattice; :meth:`check` verifies that collectively.
    """

    def __init__(
        self,
        shape: Sequence[int],
        spacing: float | Sequence[float],
        origin: float | Sequence[float] = 0.0,
        group=None,
    ):
        self.shape = tuple(int(n) for n in shape)
        d = len(self.shape)
        if d == 0 or min(self.shape) < 1:
            raise ValueError(f"shape must hold a positive node count per axis, got {shape}")
        self.spacing = per_axis(spacing, d, "spacing")
        self.origin = per_axis(origin, d, "origin", positive=False)
        self.group = group
        self.rank, self.world = rank_and_world(group)
        self.rows = split_rows(self.shape[0], self.world)[self.rank]
        self.check()

    @property
    def global_count(self) -> int:
        """Number of lattice nodes over all ranks."""
        return math.prod(self.shape)

    @property
    def local_shape(self) -> tuple:
        """Nodes per axis of this rank's slab."""
        return (self.rows[1] - self.rows[0], *self.shape[1:])

    def check(self) -> None:
        """Raise ``ValueError`` on every rank if the ranks were given different lattices."""
        mine = torch.tensor([*self.shape, *self.spacing, *self.origin], dtype=torch.float64)
        device = collective_device(self.group)
        everyone = [torch.empty_like(mine, device=device) for _ in range(self.world)]
        dist.all_gather(everyone, mine.to(device), group=self.group)
        for r, other in enumerate(everyone):
            if other.shape != mine.shape or not torch.equal(other.cpu(), mine):
                raise ValueError(
                    f"rank {self.rank} and rank {r} were given different lattices "
                    f"({mine.tolist()} vs {other.cpu().tolist()}: shape, spacing, origin); "
                    "every rank must build the same ShardedLattice"
                )

    def points(self, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
        """This rank's nodes (n_local, d) in C order (leading axis slowest)."""
        axes = [
            o + h * torch.arange(a, b, dtype=torch.float64, device=device)
            for o, h, (a, b) in zip(self.origin, self.spacing, self._ranges())
        ]
        grid = torch.meshgrid(*axes, indexing="ij")
        return torch.stack(grid, dim=-1).reshape(-1, len(axes)).to(dtype)

    def local(self, values):
        """This rank's rows of a global array/tensor whose leading axes are the lattice's
        (``shape`` or flattened in C order)."""
        a, b = self.rows
        if tuple(values.shape[: len(self.shape)]) == self.shape:
            return values[a:b].reshape(-1, *values.shape[len(self.shape) :])
        per_row = math.prod(self.shape[1:])
        if values.shape[0] != self.global_count:
            raise ValueError(
                f"values of shape {tuple(values.shape)} match neither the lattice {self.shape} "
                f"nor its {self.global_count} nodes"
            )
        return values[a * per_row : b * per_row]

    def _ranges(self):
        return [self.rows, *((0, n) for n in self.shape[1:])]


def all_reduce_gradients(
    parameters: Iterable[torch.Tensor], group=None, extra: torch.Tensor | None = None
) -> torch.Tensor | None:
    """Sum ``.grad`` of ``parameters`` over the ranks (in place), in one flat all-reduce.

    Parameters without a gradient on this rank count as zero gradients, so every rank joins
    the same collective.  Call it after ``backward()`` and before the optimiser step.
    ``extra`` (e.g. the loss) rides along in the same collective; its sum is returned.
    """
    params = [p for p in parameters if p.requires_grad]
    if not params and extra is None:
        return None
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    parts = [p.grad.reshape(-1) for p in params]
    if extra is not None:
        like = parts[0] if parts else extra
        parts.append(extra.detach().reshape(-1).to(like.device, like.dtype))
    flat = torch.cat(parts)
    dist.all_reduce(flat, group=group)
    offset = _copy_from_flat(flat, [p.grad for p in params])
    if extra is None:
        return None
    return flat[offset:].reshape(extra.shape).to(extra.dtype)


@torch.no_grad()
def broadcast_parameters(tensors: Iterable[torch.Tensor], src: int = 0, group=None) -> None:
    """Copy rank ``src``'s values of ``tensors`` (parameters, buffers) into every rank's, in
    one flat broadcast."""
    tensors = [t for t in tensors if t is not None]
    if not tensors:
        return
    device = collective_device(group)
    flat = torch.cat([t.detach().reshape(-1).to(device, torch.float64) for t in tensors])
    dist.broadcast(flat, src=src, group=group)
    _copy_from_flat(flat, tensors)


def _copy_from_flat(flat: torch.Tensor, targets: Sequence[torch.Tensor]) -> int:
    """Copy consecutive slices of ``flat`` into ``targets`` (in place); the offset after them."""
    offset = 0
    for t in targets:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t))
        offset += n
    return offset


def global_sum(value: torch.Tensor, group=None) -> torch.Tensor:
    """Sum of a (detached) tensor over the ranks, e.g. the total loss for reporting."""
    out = value.detach().clone()
    dist.all_reduce(out, group=group)
    return out
