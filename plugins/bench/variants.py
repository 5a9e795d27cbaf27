"""A benchmark variant as derivative-backend options: mode, width (scaled or 'auto') and
the lattice it needs."""

from __future__ import annotations

import math

__all__ = ["enable_variant", "width_row"]


def enable_variant(sgd, variant: str, setup, scale: float | str = 1.0) -> None:
    """Route DeepXDE through the variant's derivative backend."""
    if variant == "autodiff":
        sgd.enable("autodiff")
    elif variant == "mollifier-space":
        axes = _spatial_axes(setup)
        width = _scaled(setup.width, scale)
        if width != "auto":  # the problem's width per input axis, time's (the last) dropped
            width = _tuple(width, axes + (0,))[: len(axes)]
        sgd.enable("mollifier", width=width, axes=axes, mode="auto")
    else:
        mode, width, spacing = variant.split("-")[1], _scaled(setup.width, scale), setup.spacing
        if mode == "grid" and (setup.axes is not None or _below_two(width, spacing)):
            # grid mode needs every axis mollified, at >= 2 lattice spacings; lattice mode is
            # grid mode on a background lattice, here of spacing h / ceil(2 h / width)
            mode, spacing = "lattice", _finer(width, spacing)
        # not strict: a derivative the mollifier cannot serve falls back to autodiff, and the
        # row says so (``fallback``); it never claims a mollifier time it did not measure
        sgd.enable("mollifier", width=width, spacing=spacing, axes=setup.axes, mode=mode)


def _spatial_axes(setup) -> tuple:
    """The spatial input axes of a time-dependent DeepXDE problem (time is the last input)."""
    geom = getattr(setup.data, "geom", None)
    if not hasattr(geom, "timedomain"):
        raise ValueError("mollifier-space leaves time unmollified: it needs a TimePDE problem")
    return tuple(range(geom.dim - 1))


def _below_two(width, spacing) -> bool:
    if width == "auto":
        return False
    return any(w < 2 * s - 1e-12 for w, s in zip(_tuple(width, spacing), _tuple(spacing, spacing)))


def _finer(width, spacing):
    if width == "auto":
        return spacing
    # an integer subdivision of the data spacing keeps the training points on lattice nodes
    out = tuple(
        s / math.ceil(2 * s / w - 1e-9)
        for w, s in zip(_tuple(width, spacing), _tuple(spacing, spacing))
    )
    return out if isinstance(spacing, tuple) else out[0]


def _tuple(v, like) -> tuple:
    n = len(like) if isinstance(like, tuple) else 1
    return v if isinstance(v, tuple) else (v,) * n


def _scaled(width, scale: float | str):
    """The problem's width times ``scale``, or 'auto'."""
    if scale == "auto":
        return "auto"
    return tuple(scale * w for w in width) if isinstance(width, tuple) else scale * width


def width_row(sgd, setup, variant: str, scale) -> dict:
    """``width`` (the factor, or 'auto') and ``width_h`` (the width used, in spacings of the
    first mollified axis; none on sampled points) of a mollifier variant; empty for
    autodiff."""
    if variant == "autodiff":
        return {}
    op = sgd.active()
    width = op.layer.width
    first = lambda v: v[0] if isinstance(v, tuple) else v  # noqa: E731
    row = {"width": scale if scale == "auto" else float(scale)}
    if setup.spacing is not None:
        row["width_h"] = first(width) / first(setup.spacing)
    return row
