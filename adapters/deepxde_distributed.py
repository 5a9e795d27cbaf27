"""DeepXDE glue for data-parallel training: ``torchrun ... -m steadygrad run script.py``.

``distribute()`` patches ``dde.Model.train`` so that every model of a ``dde.data.PDE`` (or
``TimePDE``) trains on all ranks of the process group at once:

* each rank trains on its share of every point set (boundary conditions, observations,
  PDE points; rank 0's points are broadcast first, again after DeepXDE resamples); a set with
  fewer points than ranks is kept whole on every rank;
* its loss terms are its shares of the global means; after ``backward()`` one all-reduce
  sums the gradients and the loss, so Adam and L-BFGS (whose line search compares losses)
  take the same step on every rank; other evaluations (DeepXDE's display of the training
  loss) all-reduce the terms (``steadygrad.data_parallel.global_terms``);
* rank 0's initial parameters are everyone's.

``quiet_followers()`` leaves printing, saving and plotting to rank 0.  The numerics (which
rows, how terms combine) live in ``steadygrad.data_parallel``; this module only maps them onto
DeepXDE's data layout (boundary-condition points first, then PDE points).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import threading
import warnings

import numpy as np
import torch

from ..data_parallel import (
    agree,
    all_reduce_gradients,
    broadcast_array,
    broadcast_parameters,
    global_terms,
    rank_and_world,
    shard_rows,
)

__all__ = ["distribute", "is_main", "quiet_followers"]

_patched: dict = {}
# set while an optimiser step evaluates its closure (whose loss is all-reduced afterwards);
# other evaluations (DeepXDE's display, with gradients on) all-reduce their loss terms
_stepping = threading.local()


def is_main(group=None) -> bool:
    """True on rank 0, or when no process group runs (use it to guard a script's own writes)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return True
    return rank_and_world(group)[0] == 0


def distribute(group=None) -> None:
    """Train every DeepXDE model data-parallel over ``group`` (default: the world).

    Needs an initialised process group (``torchrun`` +
    ``steadygrad.data_parallel.init_from_environment()``); idempotent.
    """
    rank_and_world(group)  # a clear error without a process group
    import deepxde as dde

    if "train" in _patched:
        return
    original = dde.Model.train
    _patched["train"] = original

    def train(self, *args, **kwargs):
        _attach(self, group)
        return original(self, *args, **kwargs)

    train.__doc__ = original.__doc__
    dde.Model.train = train


def undistribute() -> None:
    """Restore ``dde.Model.train`` (models already attached keep their sharded data)."""
    import deepxde as dde

    if "train" in _patched:
        dde.Model.train = _patched.pop("train")


def _attach(model, group) -> None:
    from deepxde.data import PDE

    if not isinstance(model.data, PDE):
        raise TypeError(
            f"distributed training supports dde.data.PDE and TimePDE, not "
            f"{type(model.data).__name__}: run this script as one process"
        )
    if getattr(model.data, "_steadygrad_eliminates", False):
        raise NotImplementedError(
            "a LinearParameter eliminated by least squares would be solved on each rank's "
            "points alone, not on all of them: train this script as one process"
        )
    if model.opt_name == "NNCG":
        raise NotImplementedError("distributed training does not support the NNCG optimiser")
    if model.opt is None:
        return  # not compiled: DeepXDE raises its own error
    if getattr(model.data, "_steadygrad_shards", None) is None:
        model.data._steadygrad_shards = _Shards(model.data, group)
    if not getattr(model, "_steadygrad_synced", False):
        tensors = [*model.net.parameters(), *model.net.buffers()]
        tensors += list(model.external_trainable_variables or [])
        broadcast_parameters(tensors, group=group)
        model._steadygrad_synced = True
    if not getattr(model.opt, "_steadygrad_reduces", False):
        _reduce_in_step(model.opt, group)


def _reduce_in_step(opt, group) -> None:
    """Every closure evaluation of ``opt.step`` ends with one all-reduce of the gradients."""
    step = opt.step
    params = [p for g in opt.param_groups for p in g["params"]]

    def reducing_step(closure=None):
        if closure is None:
            raise RuntimeError("distributed DeepXDE training steps with a closure")

        def reduced():  # the local share of the loss, made global with the gradients
            _stepping.active = True
            try:
                loss = closure()
            finally:
                _stepping.active = False
            return all_reduce_gradients(params, group, extra=loss)

        return step(reduced)

    opt.step = reducing_step
    opt._steadygrad_reduces = True


class _Shards:
    """One PDE data object's local rows, refreshed whenever DeepXDE makes new points.

    Blocks, in DeepXDE's order: one per boundary condition (``num_bcs``), then the PDE rows.
    """

    def __init__(self, data, group):
        self.data, self.group = data, group
        self.world = rank_and_world(group)[1]
        self.global_x = None
        self.next_batch, self.losses_train = data.train_next_batch, data.losses_train
        data.train_next_batch, data.losses_train = self._train_next_batch, self._losses_train

    def _train_next_batch(self, batch_size=None):
        x, y, aux = self.next_batch(batch_size)
        if x is not self.global_x:
            self._reshard(x, y, aux)
        return self.local

    def _reshard(self, x, y, aux) -> None:
        d = self.data
        if any(getattr(bc, "batch_size", None) is not None for bc in d.bcs):
            raise NotImplementedError(
                "distributed training does not split PointSetBC mini-batches (batch_size=...): "
                "pass batch_size=None"
            )
        counts = (len(x), [int(n) for n in d.num_bcs])
        agree(counts, "the training point counts (all, per boundary condition)", self.group)
        x, y, aux = (broadcast_array(a, group=self.group) for a in (x, y, aux))
        num_bcs = counts[1]  # equal on every rank (agreed above)
        bc_rows = sum(num_bcs)
        d.train_x, d.train_y, d.train_aux_vars, d.num_bcs = x, y, aux, num_bcs
        d.train_x_bc = x[:bc_rows]
        if d.pde is not None:
            d.train_x_all = x[bc_rows:]
        starts = np.cumsum([0, *num_bcs, len(x) - bc_rows])
        names = [f"the points of boundary condition {i}" for i in range(len(num_bcs))]
        self.rows, self.shares = [], []
        for (a, b), what in zip(zip(starts[:-1], starts[1:]), [*names, "the PDE points"]):
            whole = b - a < self.world  # too small to split: every rank keeps the whole set
            rows = np.arange(a, b) if whole else a + shard_rows(x[a:b], group=self.group, what=what)
            self.rows.append(rows)
            self.shares.append(1 / self.world if whole else len(rows) / (b - a))
        index = np.concatenate(self.rows)
        self.local = tuple(None if a is None else a[index] for a in (x, y, aux))
        self.local_num_bcs = [len(r) for r in self.rows[:-1]]
        self.values = [
            self._bc_values(bc, r - a, b - a)
            for bc, r, a, b in zip(d.bcs, self.rows, starts[:-1], starts[1:])
        ]
        self.global_x = x

    @staticmethod
    def _bc_values(bc, rows, count: int):
        """(global, local) observed values of a boundary condition that carries one per point
        (PointSetBC, PointSetOperatorBC), else None."""
        values = getattr(bc, "values", None)
        if values is None or np.ndim(values) == 0 or len(values) != count:
            return None
        return values, values[torch.as_tensor(rows, dtype=torch.long)]

    @contextlib.contextmanager
    def _local_view(self):
        d = self.data
        saved = d.train_x, d.num_bcs
        d.train_x, d.num_bcs = self.local[0], self.local_num_bcs
        for bc, v in zip(d.bcs, self.values):
            if v is not None:
                bc.values = v[1]
        try:
            yield
        finally:
            d.train_x, d.num_bcs = saved
            for bc, v in zip(d.bcs, self.values):
                if v is not None:
                    bc.values = v[0]

    def _losses_train(self, targets, outputs, loss_fn, inputs, model, aux=None):
        with self._local_view():
            terms = self.losses_train(targets, outputs, loss_fn, inputs, model, aux=aux)
        terms = terms if isinstance(terms, (list, tuple)) else [terms]
        pde_terms = len(terms) - len(self.data.bcs)
        shares = [self.shares[-1]] * pde_terms + self.shares[:-1]
        local = [t.reshape(()) * s for t, s in zip(terms, shares)]
        if getattr(_stepping, "active", False):  # inside a step: reduced with the gradients
            return local
        return list(global_terms(torch.stack(local), self.group).unbind())  # for display


def quiet_followers(group=None) -> None:
    """On ranks other than 0: no stdout, warnings or INFO logs, and DeepXDE's writers
    (``dde.saveplot``, ``Model.save``) and matplotlib's ``savefig``/``show`` do nothing.

    A script's own file writes (``open``, ``np.savetxt``) still run on every rank: guard them
    with :func:`is_main`.
    """
    if is_main(group):
        return
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process' lifetime
    warnings.simplefilter("ignore")
    logging.getLogger("steadygrad").setLevel(logging.WARNING)
    import deepxde as dde

    def nothing(*args, **kwargs):
        return None

    dde.saveplot = dde.utils.saveplot = nothing
    dde.Model.save = nothing
    try:
        import matplotlib.pyplot as plt

        plt.savefig = plt.show = nothing
        import matplotlib.figure

        matplotlib.figure.Figure.savefig = nothing
    except ImportError:
        pass


def launch(path: str, argv, settings) -> bool:
    """Set up a ``torchrun``-launched ``steadygrad run``: start the process group from the
    environment, check that every rank runs the same script, arguments and ``settings``,
    quiet the followers and distribute training.  False (nothing done) without a launcher."""
    from ..data_parallel import init_from_environment

    if not init_from_environment():
        return False
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    agree((os.path.basename(path), digest, list(argv), repr(settings)), "the script run")
    quiet_followers()
    distribute()
    return True


def finish() -> None:
    """End what :func:`launch` started (restore DeepXDE, close the process group)."""
    undistribute()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
