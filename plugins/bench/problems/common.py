"""What every PDE benchmark problem shares: the builder's result (:class:`Setup`), the problem's
entry (:class:`Problem`: builder, schedule, information limit, direct estimate) and the scores."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = [
    "DEFAULT_VARIANTS",
    "EXTRA",
    "VARIANTS",
    "Problem",
    "Setup",
    "deepxde",
    "lattice2d",
    "limit_result",
    "noisy",
    "param_scores",
    "rel",
    "values",
]

#: the trained variants (DeepXDE with each derivative backend; ``mollifier-auto``: the mode
#: ``mode='auto'`` picks, what a user meets; ``mollifier-space``: the same on the spatial
#: axes only, time left to the lattice's interpolant, for time-dependent problems, on request)
VARIANTS = (
    "autodiff",
    "mollifier-scattered",
    "mollifier-grid",
    "mollifier-auto",
    "mollifier-space",
)
#: rows beside them: the information limit (every inverse problem) and the network-free
#: direct estimate (problems whose data are full frames)
EXTRA = ("limit", "direct")
#: what runs without --variants
DEFAULT_VARIANTS = (*VARIANTS[:-1], "direct")


@dataclass
class Setup:
    """What a problem builder returns."""

    data: object
    net: object
    evaluate: Callable[[object], dict]
    spacing: float | tuple | None  # the training lattice's (None: sampled points)
    width: float | tuple
    variables: list = field(default_factory=list)
    lr: float = 1e-3
    loss_weights: list | None = None
    axes: tuple | None = None  # mollified input axes (default: all)
    baseline: dict = field(default_factory=dict)  # derivative-free scores, for comparison
    noise_std: float = 0.0  # the observations' noise standard deviation (known to the recipe)


def deepxde():
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    return dde


def noisy(u, noise, rng):
    return u + noise * np.abs(u).max() * rng.standard_normal(u.shape)


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def param_scores(pred, true) -> dict:
    """Relative L2 error and correlation of a recovered parameter field (flattened)."""
    pred, true = np.ravel(pred), np.ravel(true)
    return {"param_rel_err": rel(pred, true), "param_corr": float(np.corrcoef(pred, true)[0, 1])}


def values(param, X: np.ndarray) -> np.ndarray:
    """An eliminated parameter's recovered field at the points X (N, d), flattened."""
    import torch

    return param.values(torch.as_tensor(X)).detach().cpu().numpy().ravel()


def lattice2d(lo: float, hi: float, n: int):
    """(n*n, 2) nodes of an n x n lattice on [lo, hi]^2, C order (x index major)."""
    g = np.linspace(lo, hi, n)
    return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)


class Problem(NamedTuple):
    """A PDE benchmark: builder, whether it is inverse, and its training schedule (L-BFGS
    steps fitting the network to the observations alone, docs/inverse.md; then Adam steps, then
    L-BFGS steps, DeepXDE's usual recipe for inverse problems), quick and full."""

    builder: Callable
    inverse: bool
    adam_quick: int
    adam_full: int
    lbfgs_quick: int = 0
    lbfgs_full: int = 0
    #: variants not run (say why in docs/benchmarks.md); our own problems run the fixed modes
    skip: tuple = ("mollifier-auto",)
    fit_quick: int = 0  # L-BFGS steps of the observation fit (0: none)
    fit_full: int = 0
    #: the information limit: ``limit(noise, quick, rng)`` -> a row (``limit_result``), or why
    #: the problem has none (a string; inverse problems only)
    limit: Callable | str | None = None
    #: a network-free estimate from the data: ``direct(noise, quick, seed)`` -> rows
    direct: Callable | None = None
    dtype: str = "float64"  # DeepXDE's default float for the run
    #: record accuracy against training time in every run (else only with a budget)
    traced: bool = False
    #: the problem's own noise levels, used when --noise is not given (None: the bench's)
    levels: tuple | None = None


def limit_result(fit, scores: Callable[[dict], dict]) -> dict:
    """A limit row from a ``LimitFit``: scores only when it converged."""
    row = {
        "status": "ok" if fit.converged else "not converged",
        "limit_iterations": fit.iterations,
        "limit_s": fit.seconds,
        "final_loss": fit.loss,
        "chi2": fit.chi2,
    }
    if fit.converged:
        row.update(scores(fit.params))
    else:
        row["note"] = f"information-limit fit not converged: {fit.message}"
    return row
