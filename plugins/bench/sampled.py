"""``sampled``: DeepXDE-style scripts on DeepXDE's own sampled training points (not lattices).

The problems (``sampled_cases.py``) cover what DeepXDE's examples do: 1D Dirichlet, Neumann and
Robin conditions, the 4th-order beam, an inverse field, 1D + t diffusion, Burgers and heat
(time not mollified), 2D Poisson, Laplace in polar coordinates behind a feature transform,
Helmholtz behind a hard-constraint output transform (and with a soft condition), the
4th-order plate, 3D Poisson.  Each
trains with DeepXDE's default float32, Adam at lr 1e-3, from the same seed and the same
initial weights for every variant:

* ``autodiff``: DeepXDE's own nested autodiff;
* ``mollifier@5%`` and ``mollifier@2.5%``: the mollifier in its default mode, density and
  precision, half-width 5% and 2.5% of each mollified axis' extent.

The variants train interleaved, chunk by chunk, in one process, so their time per step is
measured under the same load; every row carries the L2 relative error against the exact
solution (the median of the errors after the last three of five chunks, see ``_rows``) and
both ratios to autodiff (time and error).
"""

from __future__ import annotations

import statistics
import time

import torch

from .measure import spread, step_peak_memory
from .problems.common import deepxde as _dde
from .problems.common import rel as _rel
from .sampled_cases import SAMPLED, Case

__all__ = ["SAMPLED", "WIDTHS", "case_rows", "sampled"]

#: mollifier half-widths, as fractions of each mollified axis' extent
WIDTHS = (0.05, 0.025)


def _variants(case: Case) -> dict:
    """variant name -> operator options (None: autodiff)."""
    out: dict = {"autodiff": None}
    for fraction in case.widths or WIDTHS:
        widths = tuple(fraction * e for e in case.extent)
        width = widths[0] if len(widths) == 1 else widths
        out[f"mollifier@{100 * fraction:g}%"] = dict(width=width, axes=case.axes)
    return out


def _models(dde, sgd, case: Case, seed: int) -> dict:
    """variant -> (model, operator): the same data points and initial weights for all."""
    dde.config.set_random_seed(seed)
    data, _ = case.data(dde)
    models = {}
    for variant, options in _variants(case).items():
        dde.config.set_random_seed(seed)
        _, net = case.data(dde)
        op = sgd.enable("autodiff") if options is None else sgd.enable("mollifier", **options)
        model = dde.Model(data, net)
        model.compile("adam", lr=1e-3)
        models[variant] = (model, op)
    return models


def _train_interleaved(sgd, models: dict, chunks: int, chunk: int, error) -> tuple:
    """(median seconds per step, errors after each chunk) of each variant, the variants
    alternating chunk by chunk; ``error(model)`` is evaluated between chunks, untimed."""
    times: dict = {v: [] for v in models}
    errors: dict = {v: [] for v in models}
    for _ in range(chunks):
        for variant, (model, op) in models.items():
            sgd.enable(op)
            t0 = time.perf_counter()
            model.train(iterations=chunk, display_every=chunk, verbose=0)
            times[variant].append((time.perf_counter() - t0) / chunk)
            errors[variant].append(error(model))
    return {v: (statistics.median(t), spread(t)) for v, t in times.items()}, errors


def sampled(quick: bool, device: str, seed: int, names=None, dtypes=None) -> list[dict]:
    """Rows per problem, seed and variant: ms per step, peak memory, L2 error, the mode and
    density chosen, and the ratios to autodiff.  Quick: float32, 2 chunks of 10 steps, the
    ``quick`` problems; full: every problem at its own step count in 5 chunks, its seeds."""
    import steadygrad.deepxde as sgd

    dde = _dde()
    dtypes = dtypes or ("float32",)
    rows = []
    if device.startswith("cuda"):
        torch.set_default_device(device)  # DeepXDE creates its tensors on the default device
    for dtype in dtypes:
        dde.config.set_default_float(dtype)
        for name in names or [n for n, c in SAMPLED.items() if c.quick or not quick]:
            case = SAMPLED[name]
            chunks, chunk = (2, 10) if quick else (5, case.steps // 5)
            for s in range(seed, seed + (1 if quick else case.seeds)):
                rows += case_rows(dde, sgd, case, name, s, (chunks, chunk), device)
    torch.set_default_device("cpu")
    return rows


def case_rows(dde, sgd, case: Case, name: str, seed: int, chunks: tuple, device: str) -> list:
    """One case at one seed: its variants trained interleaved in ``chunks`` = (count, steps),
    a row each (``problem``: ``sampled:<name>``)."""
    try:
        models = _models(dde, sgd, case, seed)
        error = _error(case, next(iter(models.values()))[0])
        timed = _train_interleaved(sgd, models, *chunks, error)
        return _rows(sgd, name, models, timed, device, chunks[0] * chunks[1], seed)
    finally:
        sgd.disable()


def _error(case: Case, model):
    """model -> L2 relative error of the scored outputs on 4 000 Hammersley points."""
    test = model.data.geom.random_points(4000, random="Hammersley")
    exact = case.exact(test)[:, list(case.score)]
    return lambda m: _rel(m.predict(test)[:, list(case.score)], exact)


def _rows(sgd, name, models, timed, device, steps, seed) -> list[dict]:
    """One row per variant.  ``u_l2`` is the median of the errors after the last three chunks:
    Adam at a fixed rate keeps oscillating near convergence, and the error at one step varies
    by 10x and more between runs that differ only in float32 rounding (measured), so a single
    final value would compare luck."""
    per_step, errors = timed
    rows = []
    for variant, (model, op) in models.items():
        sgd.enable(op)
        mem = step_peak_memory(lambda m=model: m.train(iterations=1, verbose=0), device)
        layer = getattr(op, "layer", None)
        rows.append(
            {
                "problem": f"sampled:{name}",
                "variant": variant,
                "status": "ok",
                "seed": seed,
                "mode": getattr(layer, "last_mode", None),
                "density": None if layer is None else layer.density(),
                "dtype": str(torch.get_default_dtype()).replace("torch.", ""),
                "points": int(len(model.data.train_x)),
                "iterations": steps,
                "ms_per_step": 1000 * per_step[variant][0],
                "ms_spread": per_step[variant][1],
                "vs_autodiff": per_step[variant][0] / per_step["autodiff"][0],
                **mem,
                "u_l2": statistics.median(errors[variant][-3:]),
                "u_l2_final": errors[variant][-1],
            }
        )
    base = rows[0]["u_l2"]
    for row in rows:
        row["err_vs_autodiff"] = row["u_l2"] / base if base > 0 else float("nan")
    return rows
