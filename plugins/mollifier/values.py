"""Validation of numeric options given per axis (widths, spacings, origins) and of points."""

from __future__ import annotations

import math
import numbers

__all__ = ["check_points", "is_scalar", "per_axis", "real"]


def is_scalar(value) -> bool:
    """A real number, or a one-element tensor / 0-d array."""
    return isinstance(value, numbers.Real) or (
        hasattr(value, "shape") and math.prod(value.shape) == 1
    )


def real(value, what: str, positive: bool = True) -> float:
    """``value`` as a finite float (positive unless ``positive=False``); numpy and one-element
    tensor scalars are accepted, strings and booleans are not."""
    if getattr(value, "requires_grad", False):
        raise TypeError(
            f"{what} is a tensor that requires grad, but it is a fixed setting: no gradient "
            "would reach it (the kernels are built from its value). Pass a number; to tune it, "
            "compare a few values"
        )
    if hasattr(value, "shape") and math.prod(value.shape) == 1 and hasattr(value, "item"):
        value = value.item()
    kind = "a positive number" if positive else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be {kind} (or one per axis), got {value!r}")
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{what} must be {kind.replace('a ', 'a finite ', 1)}, got {value!r}")
    return float(value)


def per_axis(value, n: int, what: str, positive: bool = True, axes: str = "axis") -> tuple:
    """One finite float per axis from a number, 0-d tensor or sequence of them (``axes``
    names the axes in messages)."""
    if isinstance(value, str) or value is None:
        got = "the string " + repr(value) if isinstance(value, str) else "None"
        raise TypeError(f"{what} must be a number or a sequence of numbers, got {got}")
    try:
        vals = (value,) * n if is_scalar(value) else tuple(value)
    except TypeError:
        raise TypeError(
            f"{what} must be a number or a sequence of numbers, got {type(value).__name__}"
        ) from None
    if len(vals) != n:
        raise ValueError(f"{what} needs one value per {axes} ({n}), got {len(vals)}")
    return tuple(real(v, what, positive) for v in vals)


def check_points(x) -> None:
    """Refuse anything but a finite floating-point (N, d) tensor of points."""
    import torch

    if not torch.is_tensor(x) or x.dim() != 2:
        raise ValueError(
            f"inputs must be a (N, d) tensor, got {type(x).__name__} "
            f"{tuple(getattr(x, 'shape', ()))}"
        )
    if not x.is_floating_point():
        raise ValueError("inputs must be a floating-point tensor")
    if x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(dim=1).nonzero()[0])
        raise ValueError(
            f"inputs contain NaN/Inf (point {bad} = {x[bad].tolist()}); the mollifier needs finite "
            "coordinates"
        )
