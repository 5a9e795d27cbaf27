"""Training point sets split across processes (data parallelism over ``torch.distributed``).

Every rank holds the same global point sets and the same parameters; each trains on its own
share of every set.  A loss term that is a mean over a set of N points,
L = (1/N) sum_n l_n, is the sum over ranks of the rank's local mean times n_r / N, so

* :func:`shard_rows` picks a rank's rows of a set: sorted along one axis and cut into
  contiguous runs, so a rank's points fill a slab (lattice and grid modes then evaluate only
  the lattice that slab needs);
* :func:`global_terms` turns the local means into the global ones: its value is the sum over
  ranks (what every rank reports and what L-BFGS's line search compares), its gradient is the
  rank's own share, so after ``backward()`` one :func:`all_reduce_gradients` gives every rank
  the gradient of the global loss, and every rank takes the same optimiser step;
* :func:`broadcast_array` and :func:`broadcast_parameters` make rank 0's points and initial
  parameters everyone's (unseeded sampling or initialisation differs between processes);
* :func:`agree` checks collectively that the ranks run the same problem;
* :func:`init_from_environment` starts the process group from ``torchrun``'s variables.

Host-independent: the glue for a host library lives in ``steadygrad.adapters``.
"""

from __future__ import annotations

import datetime
import math
import os

import numpy as np
import torch
import torch.distributed as dist

from .distributed import (
    all_reduce_gradients,
    broadcast_parameters,
    collective_device,
    global_sum,
    rank_and_world,
    split_rows,
)

__all__ = [
    "collective_timeout",
    "TORCHRUN_VARIABLES",
    "agree",
    "all_reduce_gradients",
    "broadcast_array",
    "broadcast_parameters",
    "global_terms",
    "init_from_environment",
    "rank_and_world",
    "shard_rows",
]

#: environment variable holding the collective timeout in seconds
TIMEOUT_VARIABLE = "STEADYGRAD_COLLECTIVE_TIMEOUT"
DEFAULT_COLLECTIVE_TIMEOUT = 600.0

#: what ``torchrun`` sets in every process it starts
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def collective_timeout(timeout_s: float | None = None) -> float:
    """Seconds a collective waits for a stalled rank before raising: ``timeout_s``, else
    ``STEADYGRAD_COLLECTIVE_TIMEOUT`` (``steadygrad run --collective-timeout``), else
    ``DEFAULT_COLLECTIVE_TIMEOUT``."""
    value = timeout_s
    if value is None:
        value = os.environ.get(TIMEOUT_VARIABLE, DEFAULT_COLLECTIVE_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(
            f"the collective timeout must be a positive number of seconds, got {value!r}"
            + (f" (from {TIMEOUT_VARIABLE})" if timeout_s is None else "")
        )
    return seconds


def init_from_environment(backend: str | None = None, timeout_s: float | None = None) -> bool:
    """Start the default process group from torchrun's environment variables.

    Returns False (and does nothing) when the process was not started by a launcher (no
    ``WORLD_SIZE``) or a group exists already.  Backend: NCCL when CUDA is available, else gloo.
    A collective that waits longer than :func:`collective_timeout` for another rank (stalled,
    stopped) raises instead of holding every rank.
    A partial launcher environment (``WORLD_SIZE`` without ``RANK`` or ``MASTER_ADDR``, e.g.
    exported by hand) raises a ``RuntimeError`` naming what is missing.
    """
    if dist.is_available() and dist.is_initialized():
        return False
    if "WORLD_SIZE" not in os.environ:
        return False
    missing = [v for v in TORCHRUN_VARIABLES if v not in os.environ and v != "LOCAL_RANK"]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} is set but {', '.join(missing)} "
            "is not: start the processes with `torchrun --nproc_per_node N -m steadygrad run "
            "script.py ...` (which sets all of them), or unset WORLD_SIZE for one process"
        )
    world = os.environ["WORLD_SIZE"]
    if not world.isdigit() or int(world) < 1:
        raise RuntimeError(f"WORLD_SIZE must be a positive integer, got {world!r}")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    timeout = datetime.timedelta(seconds=collective_timeout(timeout_s))
    dist.init_process_group(backend, timeout=timeout)
    return True


def shard_rows(points: np.ndarray, axis: int = 0, group=None, what: str = "a point set"):
    """Indices (n_r,) of this rank's rows of ``points`` (N, d): the rows sorted along ``axis``
    (stable), split into contiguous runs whose sizes differ by at most one.

    Every rank computes the same order, so the runs partition the set.  ``ValueError`` (naming
    ``what``) when the set has fewer points than there are ranks.
    """
    rank, world = rank_and_world(group)
    pts = np.asarray(points)
    order = np.argsort(pts[:, axis], kind="stable") if pts.ndim == 2 and len(pts) else None
    start, stop = split_rows(len(pts), world, f"{what} of {len(pts)} points")[rank]
    if order is None:
        return np.arange(start, stop)
    return order[start:stop]


def global_terms(local: torch.Tensor, group=None) -> torch.Tensor:
    """Per-term local shares (k,) -> a tensor whose value is their sum over the ranks and
    whose gradient is the local shares' own (one all-reduce of k numbers)."""
    total = global_sum(local, group)
    return local + (total - local).detach()


def broadcast_array(array, src: int = 0, group=None) -> np.ndarray | None:
    """Rank ``src``'s numpy array (or None) on every rank: shape and dtype, then the data."""
    rank, _ = rank_and_world(group)
    header = [None if array is None else (np.asarray(array).shape, np.asarray(array).dtype.str)]
    dist.broadcast_object_list(header, src=src, group=group)
    if header[0] is None:
        return None
    shape, dtype = header[0]
    if np.dtype(dtype).kind not in "fiub":  # object arrays etc.: pickled
        box = [array if rank == src else None]
        dist.broadcast_object_list(box, src=src, group=group)
        return box[0]
    data = np.ascontiguousarray(array) if rank == src else np.empty(shape, dtype=dtype)
    tensor = torch.from_numpy(data.reshape(-1).view(np.uint8)).to(collective_device(group))
    dist.broadcast(tensor, src=src, group=group)
    return tensor.cpu().numpy().view(np.dtype(dtype)).reshape(shape)


def agree(value, what: str, group=None) -> None:
    """ValueError on every rank unless every rank passes an equal ``value`` (any picklable)."""
    rank, world = rank_and_world(group)
    everyone: list = [None] * world
    dist.all_gather_object(everyone, value, group=group)
    for r, other in enumerate(everyone):
        if other != value:
            raise ValueError(
                f"rank {rank} and rank {r} disagree on {what}: {value!r} vs {other!r}; every "
                "process must run the same script with the same arguments and data"
            )
