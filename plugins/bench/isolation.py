"""Run one benchmark case isolated from process-global state that another case changed.

DeepXDE's ``set_default_float`` changes torch's default dtype for the whole process, PDE cases
on CUDA set torch's default device, and every case seeds the RNGs.  :func:`isolated` saves
those and restores them afterwards, so results do not depend on the order of problems.
"""

from __future__ import annotations

import contextlib
import random
import sys

import numpy as np
import torch

__all__ = ["error_row", "isolated"]


def _deepxde_state() -> dict | None:
    config = sys.modules.get("deepxde.config")
    if config is None:
        return None
    return {"real": config.real.precision, "seed": getattr(config, "random_seed", None)}


def _restore_deepxde(state: dict | None) -> None:
    if state is None:
        return
    import deepxde as dde

    dde.config.real.set_float64() if state["real"] == 64 else (
        dde.config.real.set_float16() if state["real"] == 16 else dde.config.real.set_float32()
    )
    dde.config.random_seed = state["seed"]


@contextlib.contextmanager
def isolated(seed: int):
    """Seed python, numpy and torch with ``seed``; restore dtype, device, threads, RNGs after."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    device = torch.get_default_device()
    rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    dde_state = _deepxde_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        _restore_deepxde(dde_state)
        torch.set_default_dtype(dtype)
        torch.set_default_device(device)
        torch.set_num_threads(threads)
        random.setstate(rng[0])
        np.random.set_state(rng[1])
        torch.set_rng_state(rng[2])
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def error_row(problem: str, variant, err: BaseException) -> dict:
    """The row recorded for a case that raised: its status and the error's first line."""
    first = (str(err).strip().splitlines() or [""])[0][:200]
    status = "oom" if isinstance(err, (MemoryError, torch.cuda.OutOfMemoryError)) else "error"
    return {
        "problem": problem,
        "variant": variant,
        "status": status,
        "error": f"{type(err).__name__}: {first}",
    }
