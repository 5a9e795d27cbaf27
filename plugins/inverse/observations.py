"""Checks on observations and their stated noise, shared by every inverse entry point.

A noise level is a standard deviation in the data's units.  One larger than the data's own
spread means the observations are mostly noise (or the level was given as a fraction); a
non-finite observation poisons every least-squares fit.  Both are refused, naming the input.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_noise"]


def check_noise(observed, noise, name: str = "noise") -> float:
    """``noise`` as a float after checking it against the observations ``observed``.

    Args:
        observed: the observed values (array-like or tensor, any shape).
        noise: their noise standard deviation (same units); numpy scalars are accepted.
        name: the argument's name in messages.

    Raises:
        TypeError: ``noise`` is not a real number.
        ValueError: ``noise`` is negative or not finite, ``observed`` holds NaN/inf, or
            ``noise`` exceeds the observations' standard deviation.
    """
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"{name} must be a number (the noise standard deviation), got {noise!r}")
    noise = float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {noise!r}")
    values = _numpy(observed)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise ValueError(
            f"the observations hold {bad} NaN or infinite value(s) of {values.size}: remove or "
            "mask them first"
        )
    spread = float(values.std(ddof=1)) if values.size > 1 else 0.0
    if noise > spread:
        raise ValueError(
            f"{name} = {noise:.4g} exceeds the data's spread (std {spread:.4g}): the "
            f"observations would be mostly noise; check the units of {name} (an absolute "
            "standard deviation, not a fraction)"
        )
    return noise


def _numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1)
