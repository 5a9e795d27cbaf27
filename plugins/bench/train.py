"""Training one PDE benchmark case through DeepXDE: Adam, then optionally L-BFGS, timed."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings

import numpy as np

from .isolation import error_row
from .measure import step_peak_memory
from .problems import PDE_PROBLEMS
from .problems.common import deepxde as _dde
from .variants import enable_variant, width_row

__all__ = ["run_pde_problem"]


@contextlib.contextmanager
def _scattered(sgd):
    """Evaluate off the training lattice: a grid-mode mollifier in scattered mode meanwhile
    (grid mode serves only lattice points; the other modes serve any points)."""
    layer = getattr(sgd.active(), "layer", None)
    mode = None if layer is None else layer.mode
    if mode == "grid":
        layer.mode = "scattered"
    try:
        yield
    finally:
        if mode == "grid":
            layer.mode = mode


def _trace_callback(dde, evaluate, budget: float | None, device: str):
    """A DeepXDE callback recording the parameter scores against training time (evaluation
    time excluded), at geometrically spaced times; stops training after ``budget`` seconds."""
    import torch

    class Trace(dde.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows, self.clock, self.next, self.mark = [], 0.0, 0.0, None
            self.budget = budget

        def _sample(self, fresh: bool = False):
            import steadygrad.deepxde as sgd

            if not fresh:  # DeepXDE updates the losses only when it reports
                self.model._test(verbose=0)
            losses = [float(v) for v in self.model.train_state.loss_train]
            with _scattered(sgd):
                scores = evaluate(self.model)
            self.rows.append(
                {"s": self.clock, "step": self.model.train_state.step, "losses": losses} | scores
            )
            self.next = max(1.25 * self.clock, self.clock + 0.5)

        def on_train_begin(self):
            if not self.rows and self.clock > 0:  # after the observation fit: its estimate
                self._sample(fresh=True)  # train() evaluated the losses just before
            self.mark = time.perf_counter()

        def on_train_end(self):  # each stage's (Adam's, L-BFGS's) last state, once
            if not self.rows or self.rows[-1]["step"] != self.model.train_state.step:
                self._sample()

        def on_epoch_end(self):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            self.clock += time.perf_counter() - self.mark
            over = budget is not None and self.clock >= budget
            if self.clock >= self.next or over:
                self._sample()
            self.model.stop_training = over
            self.mark = time.perf_counter()

    return Trace()


@contextlib.contextmanager
def _noted_warnings(notes: dict):
    """Inside, the derivative backend's fallback and precision warnings become notes of the
    row (``fallback``, ``precision``: the first message of each); others pass on."""
    from steadygrad.deepxde import FallbackWarning
    from steadygrad.mollifier import PrecisionWarning

    kinds = {FallbackWarning: "fallback", PrecisionWarning: "precision"}
    with warnings.catch_warnings(record=True) as caught:
        for category in kinds:
            warnings.simplefilter("always", category)
        yield
    for w in caught:
        kind = next((k for c, k in kinds.items() if issubclass(w.category, c)), None)
        if kind is None:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            notes.setdefault(kind, str(w.message))


def _adam(model, setup, iterations: int, device: str, trace=None) -> tuple[float, dict]:
    """Adam steps: (training seconds, peak memory of one more step)."""
    import torch

    model.compile(
        "adam",
        lr=setup.lr,
        external_trainable_variables=setup.variables or None,
        loss_weights=setup.loss_weights,
    )
    t0, clock0 = time.perf_counter(), 0.0 if trace is None else trace.clock
    model.train(
        iterations=iterations,
        display_every=max(iterations, 1),
        verbose=0,
        callbacks=None if trace is None else [trace],
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0 if trace is None else trace.clock - clock0
    # memory of one more step: per-op CPU sampling is too slow for the whole run (after the
    # Adam steps the caches are allocated: one sampled step suffices)
    mem = step_peak_memory(
        lambda: model.train(iterations=1, display_every=1, verbose=0), device, warmed=iterations > 0
    )
    return seconds, mem


def _fit(sgd, setup, steps: int) -> dict:
    """The recipe's observation fit (``fit_observations``), timed; {} without one."""
    if not steps:
        return {}
    t0 = time.perf_counter()
    fit = sgd.fit_observations(setup.data, setup.net, steps, noise=setup.noise_std)
    return {
        "fit_s": time.perf_counter() - t0,
        "fit_steps": int(fit.train_state.step),
        "fit_mse": float(sum(fit.train_state.loss_train)),
    }


def _lbfgs(dde, model, setup, steps: int, trace=None) -> dict:
    """L-BFGS refinement; DeepXDE derives its per-call step limit at import only: set it here.
    With a ``trace``, 50 iterations per call, so the trace samples during L-BFGS too."""
    import steadygrad.deepxde as sgd

    sgd.set_lbfgs_steps(steps, 50 if trace is not None else 1000)
    model.compile(
        "L-BFGS",
        external_trainable_variables=setup.variables or None,
        loss_weights=setup.loss_weights,
    )
    t1, step0 = time.perf_counter(), model.train_state.step
    model.train(
        display_every=max(steps, 1), verbose=0, callbacks=None if trace is None else [trace]
    )
    return {"lbfgs_steps": model.train_state.step - step0, "lbfgs_s": time.perf_counter() - t1}


def _schedule(problem, quick, iterations, lbfgs, budget) -> tuple[int, int]:
    """(Adam steps, L-BFGS steps).  With a budget: the problem's recipe until the budget ends,
    i.e. its Adam steps, then L-BFGS (when the recipe has it) until the budget is spent; a
    problem without L-BFGS trains Adam for the whole budget."""
    adam = iterations or (problem.adam_quick if quick else problem.adam_full)
    if lbfgs is None:
        lbfgs = problem.lbfgs_quick if quick else problem.lbfgs_full
    if budget is not None:
        adam, lbfgs = (adam, 10**7) if lbfgs else (10**9, 0)
    return adam, lbfgs


#: parameter errors whose time to reach the rows report (``s_to_<pct>``)
TARGETS = (0.2, 0.1, 0.05)
#: the multiple of the information limit's error whose time the rows report (``s_to_limit``)
LIMIT_FACTOR = 1.25


def score_key(row: dict) -> str:
    """The error a row is judged by: its parameter's (inverse problems), else its solution's."""
    return "param_rel_err" if "param_rel_err" in row else "u_l2"


def first_reach(trace: list[dict], key: str, bound: float) -> float | None:
    """The training seconds of the first trace sample whose ``key`` is <= ``bound`` (None:
    never within the run)."""
    return next((p["s"] for p in trace if p.get(key, np.inf) <= bound), None)


def time_to_targets(trace: list[dict]) -> dict:
    """Training seconds at which the error (``score_key``: the parameter's, else the
    solution's) first reached each target (None: never within the run), e.g.
    ``{"s_to_10pct": 41.2}``."""
    out = {}
    key = score_key(trace[0]) if trace else "param_rel_err"
    for target in TARGETS:
        out[f"s_to_{round(100 * target)}pct"] = first_reach(trace, key, target)
    return out


def _budget_note(trace, adam: int, lbfgs: int, fit_s: float = 0.0) -> dict:
    """Say so when the budget ended before the Adam stage finished (L-BFGS never ran)."""
    last = trace.rows[-1]["step"]
    if not lbfgs or last >= adam:
        return {}
    fit_note = f" (the observation fit took {fit_s:.0f} s of it)" if fit_s else ""
    note = (
        f"budget {trace.budget:g} s ended in the Adam stage after {last} of {adam} steps"
        f"{fit_note}; L-BFGS not reached: raise --budget or lower --iterations"
    )
    print(f"steadygrad bench: {note}", file=sys.stderr)
    return {"note": note}


def run_pde_problem(
    name: str,
    variant: str,
    noise: float,
    quick: bool,
    seed: int,
    device: str,
    iterations: int | None = None,
    lbfgs: int | None = None,
    budget: float | None = None,
    scale: float | str = 1.0,
) -> dict:
    """Train one problem with one derivative variant; returns a result row.

    ``iterations`` / ``lbfgs`` override the problem's Adam / L-BFGS step counts.  Time per step
    and peak memory are those of the Adam steps; L-BFGS (several evaluations per step) refines
    the solution.  ``budget`` (seconds): train the problem's recipe (Adam steps, then L-BFGS
    when it has any) until this much training time is spent, and record ``trace``, the
    parameter scores against training time.
    ``scale`` multiplies the problem's mollifier width ('auto': chosen from the data).
    """
    import steadygrad.deepxde as sgd
    import torch

    dde = _dde()
    problem = PDE_PROBLEMS[name]
    iterations, lbfgs = _schedule(problem, quick, iterations, lbfgs, budget)
    dde.config.set_default_float(problem.dtype)
    dde.config.set_random_seed(seed)
    if device.startswith("cuda"):
        torch.set_default_device(device)
    notes = {}
    try:
        with _noted_warnings(notes):
            row, iterations = _train(
                sgd,
                dde,
                problem,
                variant,
                noise,
                quick,
                seed,
                device,
                iterations,
                lbfgs,
                budget,
                scale,
            )
        row.update(notes)
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


def _train(
    sgd, dde, problem, variant, noise, quick, seed, device, iterations, lbfgs, budget, scale
) -> tuple[dict, int]:
    """``run_pde_problem``'s training and scoring: (the row's results, Adam steps taken)."""
    setup = problem.builder(noise, quick, np.random.default_rng(seed))
    enable_variant(sgd, variant, setup, scale)
    fitted = _fit(sgd, setup, problem.fit_quick if quick else problem.fit_full)
    model = dde.Model(setup.data, setup.net)
    traced = budget is not None or problem.traced
    trace = _trace_callback(dde, setup.evaluate, budget, device) if traced else None
    if trace is not None:
        trace.clock = trace.next = fitted.get("fit_s", 0.0)  # the fit is training time too
    seconds, mem = _adam(model, setup, iterations, device, trace)
    extra_trace = {}
    if trace is not None and budget is not None:
        extra_trace = {
            "budget_s": budget,
            **_budget_note(trace, iterations, lbfgs, fitted.get("fit_s", 0.0)),
        }
        iterations = min(iterations, trace.rows[-1]["step"])
        lbfgs = lbfgs if trace.clock < budget else 0
    widths = width_row(sgd, setup, variant, scale)
    extra = _lbfgs(dde, model, setup, lbfgs, trace) if lbfgs else {}
    if trace is not None:
        extra_trace.update(time_to_targets(trace.rows), trace=trace.rows)
    losses = model.train_state.loss_train
    extra["final_loss"] = None if losses is None else float(np.sum(losses))
    with _scattered(sgd):  # same field off the training points: scattered mode
        scores = setup.evaluate(model)
    row = {
        "status": "ok",
        "dtype": problem.dtype,
        "ms_per_step": 1000 * seconds / iterations,
        **mem,
        **extra,
        **widths,
        **scores,
        **setup.baseline,
        **extra_trace,
        **fitted,
    }
    return row, iterations
