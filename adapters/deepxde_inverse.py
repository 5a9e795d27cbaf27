"""DeepXDE glue for the inverse recipe (docs/inverse.md).

* Eliminated parameters: DeepXDE evaluates the residual on every training point,
  boundary-condition points first, and its PDE loss takes the rows after them.
  ``LinearParameter.attach(data)`` tells the least-squares solve to use exactly those rows.
* ``fit_observations``: the recipe's first stage, the network fitted to the observations
  alone (a DeepXDE problem without the PDE), before the residual is brought in.

No numerics here.
"""

from __future__ import annotations

import numbers

import torch

from ..inverse.elimination import LinearParameter as _Numerics
from ..inverse.observations import check_noise
from . import deepxde as _glue

__all__ = ["LinearParameter", "fit_observations", "set_lbfgs_steps"]


class LinearParameter(_Numerics):
    """:class:`steadygrad.inverse.LinearParameter` for a DeepXDE residual function.

    Build it before the residual, use ``p = param(x)`` inside it and return
    ``param.eliminate(residual)``; after building the data, call ``param.attach(data)``.
    The coefficients are solved at every loss evaluation; nothing is added to the trainable
    variables.  ``param.values(x)`` evaluates the recovered field.
    """

    _data = None

    def attach(self, data) -> LinearParameter:
        """Solve over the rows of ``data``'s PDE loss (a ``dde.data.PDE`` or ``TimePDE``)."""
        if not hasattr(data, "num_bcs") or not hasattr(data, "pde"):
            raise TypeError(f"attach needs a dde.data.PDE (or TimePDE), got {type(data)!r}")
        self._data = data
        data._steadygrad_eliminates = True  # distributed training refuses it (a global solve)
        return self

    def eliminate(self, residual: torch.Tensor, skip: int | None = None) -> torch.Tensor:
        if skip is None:
            if self._data is None:
                raise RuntimeError(
                    "LinearParameter is not attached to the DeepXDE data: call "
                    "param.attach(data) after building dde.data.PDE, so the least-squares "
                    "solve uses the rows of the PDE loss (not the boundary points)"
                )
            skip = int(sum(self._data.num_bcs or ()))
        return super().eliminate(residual, skip)


def fit_observations(data, net, iterations: int = 3000, noise: float = 0.0):
    """Fit ``net`` to the observations of ``data`` alone: its ``PointSetBC`` conditions,
    without the PDE residual, by DeepXDE's L-BFGS (the recipe's first stage, docs/inverse.md).
    The plain network is trained whatever derivative backend is enabled (the fit needs no
    derivatives; the backend is restored afterwards), so every backend starts the residual
    stage from the same field.

    Args:
        data: the problem's ``dde.data.PDE`` or ``TimePDE``.
        net: its network (trained in place).
        iterations: L-BFGS steps (DeepXDE's ``set_LBFGS_options`` change; its loop may
            overshoot by part of one optimiser call).
        noise: the observations' noise standard deviation (their units), if known: the fit
            stops once the mean squared misfit reaches noise^2 (the discrepancy principle:
            fitting further fits the noise, which the residual stage would have to undo).

    Returns:
        The data-only ``dde.Model`` (``model.train_state.step``: the steps taken; its
        ``train_state.loss_train``: the misfit).
    """
    dde = _glue._import_deepxde()
    if not hasattr(data, "bcs") or not hasattr(data, "geom"):
        raise TypeError(f"fit_observations needs a dde.data.PDE (or TimePDE), got {type(data)!r}")
    observed = [bc for bc in data.bcs if isinstance(bc, dde.icbc.PointSetBC)]
    if not observed:
        raise ValueError(
            "fit_observations needs observations: the data has no dde.icbc.PointSetBC "
            "(an inverse problem observes its field through one)"
        )
    integral = isinstance(iterations, numbers.Integral) and not isinstance(iterations, bool)
    if not integral or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    values = torch.cat([torch.as_tensor(bc.values).reshape(-1) for bc in observed])
    noise = check_noise(values, noise, "noise")
    fit = dde.data.PDE(data.geom, None, observed, num_domain=0, num_boundary=0)
    callbacks = [_stalled(dde)] + ([_discrepancy(dde, noise, len(observed))] if noise else [])
    saved = dict(dde.optimizers.config.LBFGS_options)
    try:
        with _glue.plain():
            set_lbfgs_steps(int(iterations), 50 if noise > 0 else 1000)
            model = dde.Model(fit, net)
            model.compile("L-BFGS")
            model.train(verbose=0, callbacks=callbacks)
    finally:  # DeepXDE's L-BFGS options are global: later trainings get theirs back
        dde.optimizers.config.LBFGS_options.clear()
        dde.optimizers.config.LBFGS_options.update(saved)
    return model


def _stalled(dde):
    """A callback stopping DeepXDE's L-BFGS loop when a call made no iteration.  Torch's
    L-BFGS returns at once when the loss is already flat (e.g. 3 observations, fitted
    exactly), and DeepXDE's loop then calls it again forever."""

    class Stalled(dde.callbacks.Callback):
        last = -1

        def on_epoch_end(self):
            step = self.model.train_state.step
            if step == self.last:
                self.model.stop_training = True
            self.last = step

    return Stalled()


def _discrepancy(dde, noise: float, sets: int):
    """A callback stopping training once the mean of the observation sets' mean squared
    misfits is at most noise^2."""

    class Discrepancy(dde.callbacks.Callback):
        def on_epoch_end(self):  # DeepXDE's L-BFGS loop refreshed the losses just before
            if float(sum(self.model.train_state.loss_train)) <= sets * noise**2:
                self.model.stop_training = True

    return Discrepancy()


def set_lbfgs_steps(steps: int, per_call: int = 1000) -> None:
    """DeepXDE's L-BFGS for ``steps`` iterations, ``per_call`` of them per optimiser call
    (callbacks run between calls).  ``dde.optimizers.set_LBFGS_options(maxiter=...)`` alone
    leaves the per-call limit DeepXDE derived at import (1.15), so training stops early."""
    dde = _glue._import_deepxde()
    dde.optimizers.config.set_LBFGS_options(maxiter=steps)
    options = dde.optimizers.config.LBFGS_options
    options["iter_per_step"] = min(per_call, steps)
    options["fun_per_step"] = options["maxfun"] * options["iter_per_step"] // steps
