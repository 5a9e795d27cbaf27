"""Training one PDE benchmark case through DeepXDE: Adam, then optionally L-BFGS, timed."""

from __future__ import annotations

import time

import numpy as np

from .isolation import error_row
from .measure import step_peak_memory
from .pde import PDE_PROBLEMS, _dde

__all__ = ["run_pde_problem"]


def _enable(sgd, variant: str, setup) -> None:
    """Route DeepXDE through the variant's derivative backend."""
    if variant == "autodiff":
        sgd.enable("autodiff")
    else:
        mode = variant.split("-")[1]
        sgd.enable("mollifier", width=setup.width, spacing=setup.spacing, mode=mode, strict=True)


def _adam(model, setup, iterations: int, device: str) -> tuple[float, dict]:
    """Adam steps: (seconds, peak memory of one more step)."""
    import torch

    model.compile(
        "adam",
        lr=setup.lr,
        external_trainable_variables=setup.variables or None,
        loss_weights=setup.loss_weights,
    )
    t0 = time.perf_counter()
    model.train(iterations=iterations, display_every=max(iterations, 1), verbose=0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    # memory of one more step: per-op CPU sampling is too slow for the whole run
    mem = step_peak_memory(lambda: model.train(iterations=1, display_every=1, verbose=0), device)
    return seconds, mem


def _lbfgs(dde, model, setup, steps: int) -> dict:
    """L-BFGS refinement; DeepXDE derives its per-call step limit at import only: set it here."""
    dde.optimizers.config.set_LBFGS_options(maxiter=steps)
    opts = dde.optimizers.config.LBFGS_options
    opts["iter_per_step"] = min(1000, steps)
    opts["fun_per_step"] = opts["maxfun"] * opts["iter_per_step"] // steps
    model.compile(
        "L-BFGS",
        external_trainable_variables=setup.variables or None,
        loss_weights=setup.loss_weights,
    )
    t1, step0 = time.perf_counter(), model.train_state.step
    model.train(display_every=max(steps, 1), verbose=0)
    return {"lbfgs_steps": model.train_state.step - step0, "lbfgs_s": time.perf_counter() - t1}


def run_pde_problem(
    name: str,
    variant: str,
    noise: float,
    quick: bool,
    seed: int,
    device: str,
    iterations: int | None = None,
    lbfgs: int | None = None,
) -> dict:
    """Train one problem with one derivative variant; returns a result row.

    ``iterations`` / ``lbfgs`` override the problem's Adam / L-BFGS step counts.  Time per step
    and peak memory are those of the Adam steps; L-BFGS (several evaluations per step) only
    refines the solution.
    """
    import steadygrad.deepxde as sgd
    import torch

    dde = _dde()
    problem = PDE_PROBLEMS[name]
    iterations = iterations or (problem.adam_quick if quick else problem.adam_full)
    lbfgs = (problem.lbfgs_quick if quick else problem.lbfgs_full) if lbfgs is None else lbfgs
    dde.config.set_default_float("float64")
    dde.config.set_random_seed(seed)
    if device.startswith("cuda"):
        torch.set_default_device(device)
    try:
        setup = problem.builder(noise, quick, np.random.default_rng(seed))
        _enable(sgd, variant, setup)
        model = dde.Model(setup.data, setup.net)
        seconds, mem = _adam(model, setup, iterations, device)
        extra = _lbfgs(dde, model, setup, lbfgs) if lbfgs else {}
        losses = model.train_state.loss_train
        extra["final_loss"] = None if losses is None else float(np.sum(losses))
        if variant == "mollifier-grid":  # same field off the lattice: evaluate in scattered mode
            sgd.enable("mollifier", width=setup.width, spacing=setup.spacing, mode="scattered")
        row = {
            "status": "ok",
            "ms_per_step": 1000 * seconds / iterations,
            **mem,
            **extra,
            **setup.evaluate(model),
        }
    except (torch.cuda.OutOfMemoryError, MemoryError) as err:
        row = error_row(name, variant, err)
    finally:
        sgd.disable()
        if device.startswith("cuda"):
            torch.set_default_device("cpu")
    row.update(
        problem=name,
        variant=variant,
        noise=noise if problem.inverse else None,
        iterations=iterations,
    )
    return row
