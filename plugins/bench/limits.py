"""The information-limit row of each inverse benchmark (``steadygrad.inverse.limit``).

For every inverse problem with a differentiable reference, the PDE-constrained least-squares
estimate with the exact forward model (the reference discretisation, in torch), the parameter
in the PINN's basis and the nuisance unknowns free: the best any method can recover from the
same noisy observations.  Each problem declares its own (``Problem.limit``: the fit, or why it
has none); a fit that does not converge is flagged and carries no scores.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["limit_row"]


def limit_row(name: str, noise: float, quick: bool, seed: int) -> dict:
    """The ``limit`` row of inverse problem ``name`` at one noise level (same data as the
    PINN rows: the problem's builder draws them from ``default_rng(seed)`` the same way)."""
    from .problems import PDE_PROBLEMS

    t0 = time.perf_counter()
    limit = PDE_PROBLEMS[name].limit
    if not callable(limit):
        why = limit or "no differentiable reference"
        row = {"status": "no limit", "note": f"no information-limit row: {why}"}
    else:
        row = limit(noise, quick, np.random.default_rng(seed))
    row.update(problem=name, variant="limit", noise=noise, case_s=time.perf_counter() - t0)
    return row
