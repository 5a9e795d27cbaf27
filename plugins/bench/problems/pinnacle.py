"""What the PINNacle problems share (Hao et al., "PINNacle: A Comprehensive Benchmark of
Physics-Informed Neural Networks for Solving PDEs", NeurIPS 2024): network and point counts, the
mollifier width (5% of each axis's extent), float32, their published errors, and reading a
PINNacle reference file in place of our own reference when the user names a folder.

Each problem is written here from its equations; the references are our own solvers (or the
exact solution), checked in ``tests/test_reference.py``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .common import Problem, Setup, rel

__all__ = [
    "PUBLISHED",
    "Points",
    "forward_setup",
    "network",
    "pinnacle_problem",
    "reference_dir",
    "reference_file",
    "sampled_data",
    "width",
]

#: PINNacle's network: 5 hidden layers of 100 tanh units; --quick: 3 of 64
FULL_NET, QUICK_NET = (5, 100), (3, 64)
#: PINNacle's schedule: 20 000 Adam steps at lr 1e-3, float32
FULL_STEPS = 20000


class Published(NamedTuple):
    """PINNacle's Table 3 (mean L2RE of 3 runs, 20 000 Adam steps): the vanilla PINN's, where
    a second source confirmed it (else None), and the best method's."""

    case: str
    vanilla: float | None
    best: float
    best_method: str


PUBLISHED = {
    "burgers1d": Published("Burgers1d-C", 1.45e-2, 1.45e-2, "PINN"),
    "poisson2d_classic": Published("Poisson2d-C", None, 1.23e-2, "PINN-NTK"),
    "heat2d_multiscale": Published("Heat2d-MS", 6.21e-2, 6.21e-2, "PINN"),
    "kuramoto_sivashinsky": Published("KS", None, 9.57e-1, "PINN-NTK"),
    "ns2d_lid_driven": Published("NS2d-C", 4.70e-2, 3.60e-2, "LAAF"),
    "wave1d": Published("Wave1d-C", None, 9.79e-2, "PINN-NTK"),
    "poisson_inverse": Published("PInv", None, 2.45e-2, "vPINN"),
    "heat_inverse": Published("HInv", 1.57, 5.26e-2, "PINN-w"),
}


class Points(NamedTuple):
    """Training points: domain, boundary and initial (time-dependent problems)."""

    domain: int
    boundary: int
    initial: int = 0


def network(dde, inputs: int, outputs: int, quick: bool):
    """PINNacle's tanh MLP (Glorot normal), or the --quick one."""
    depth, units = QUICK_NET if quick else FULL_NET
    return dde.nn.FNN([inputs, *[units] * depth, outputs], "tanh", "Glorot normal")


def sampled_data(dde, geom, pde, conditions: list, points: Points):
    """DeepXDE's data on sampled points: ``TimePDE`` when ``points`` has initial ones."""
    counts = dict(num_domain=points.domain, num_boundary=points.boundary)
    if points.initial:
        return dde.data.TimePDE(geom, pde, conditions, num_initial=points.initial, **counts)
    return dde.data.PDE(geom, pde, conditions, **counts)


def forward_setup(dde, data, quick: bool, X: np.ndarray, exact: np.ndarray, extents) -> Setup:
    """A forward problem's Setup: PINNacle's network (one output), scored by the L2RE of u
    at ``X`` against ``exact``, the mollifier at 5% of each of ``extents``."""
    net = network(dde, X.shape[1], 1, quick)
    return Setup(data, net, lambda m: {"u_l2": rel(m.predict(X), exact)}, None, width(*extents))


def width(*extents: float) -> tuple[float, ...]:
    """The mollifier's half-width on each axis: 5% of that axis's extent."""
    return tuple(0.05 * e for e in extents)


_REFERENCE_DIR: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "steadygrad_pinnacle_reference", default=None
)


@contextlib.contextmanager
def reference_dir(path: str | None):
    """Inside: the PINNacle problems read their references from ``path`` (PINNacle's ref/
    folder) where they have a file there; None: our own references."""
    if path is not None and not os.path.isdir(path):
        raise FileNotFoundError(f"the PINNacle reference folder {path!r} does not exist")
    token = _REFERENCE_DIR.set(path)
    try:
        yield
    finally:
        _REFERENCE_DIR.reset(token)


def reference_file(problem: str, filename: str, inputs: int) -> np.ndarray | None:
    """PINNacle's reference ``filename`` as rows (inputs..., outputs...), or None when no
    reference folder is set.  COMSOL's time-series layout (a column per output time, named
    '@ t=...') is unrolled to one row per point and time."""
    folder = _REFERENCE_DIR.get()
    if folder is None:
        return None
    path = os.path.join(folder, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{problem}: the reference folder {folder!r} has no {filename} (PINNacle's "
            f"ref/{filename}); remove --reference to use steadygrad's own reference"
        )
    data = np.loadtxt(path, comments="%", ndmin=2)
    with open(path) as f:
        times = [re.findall(r"t=([-+0-9.eE]+)", line) for line in f if line.startswith("%")]
    times = next((t for t in reversed(times) if len(t) == data.shape[1] - inputs + 1), None)
    if times is None:
        return data
    t = np.array([float(v) for v in times])
    space = np.repeat(data[:, : inputs - 1], t.size, axis=0)
    return np.column_stack([space, np.tile(t, data.shape[0]), data[:, inputs - 1 :].ravel()])


def pinnacle_problem(
    builder: Callable, adam_quick: int, inverse: bool = False, limit: str | Callable | None = None
) -> Problem:
    """A PINNacle problem's entry: Adam only (PINNacle's vanilla recipe, 20 000 steps full),
    float32, accuracy traced against time, and the variants a user meets: DeepXDE's autodiff
    and the mollifier in ``mode='auto'``; an inverse one at PINNacle's noise unless --noise
    says otherwise."""
    return Problem(
        builder,
        inverse,
        adam_quick,
        FULL_STEPS,
        skip=("mollifier-scattered", "mollifier-grid"),
        limit=limit,
        dtype="float32",
        traced=True,
        levels=(0.1,) if inverse else None,  # PINNacle's noise: standard deviation 0.1
    )
