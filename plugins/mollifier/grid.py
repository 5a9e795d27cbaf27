"""Grid mode: separable convolution of values sampled on a regular grid.

``values`` has shape (*batch, N_1, ..., N_d); the last d axes are the spatial grid with
spacings h_1..h_d.  Derivatives are computed as sum_k w_k g(x - k h) along each axis, which
``conv1d`` (a cross-correlation) evaluates with the flipped weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .stencil import Stencil

__all__ = ["BOUNDARIES", "convolve_axis", "convolve_separable", "grid_derivative", "valid_mask", "lattice_indices"]

BOUNDARIES = ("valid", "reflect", "replicate")


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def convolve_axis(values: torch.Tensor, weights: torch.Tensor, axis: int, pad: str | None) -> torch.Tensor:
    """Apply 1D weights (2K+1,) along ``axis`` (a convolution: sum_k w_k v[i - k]); ``pad`` None
    shrinks the axis by 2K."""
    K = (weights.numel() - 1) // 2
    moved = values.movedim(axis, -1)
    shape = moved.shape
    flat = moved.reshape(-1, 1, shape[-1])
    if pad is not None:
        flat = F.pad(flat, (K, K), mode=pad)
    out = F.conv1d(flat, weights.flip(0).view(1, 1, -1))
    return out.reshape(*shape[:-1], out.shape[-1]).movedim(-1, axis)


def _correlate_nd(values: torch.Tensor, kernels: Sequence[torch.Tensor], pad: str | None) -> torch.Tensor:
    """Separable cross-correlation over the last d <= 3 axes with conv{d}d (``kernels`` already
    flipped): no transposes or copies."""
    d = len(kernels)
    batch = values.shape[:-d]
    out = values.reshape(-1, 1, *values.shape[-d:])
    for i, w in enumerate(kernels):
        K = (w.numel() - 1) // 2
        if pad is not None:
            pads = [0, 0] * d
            pads[2 * (d - 1 - i):2 * (d - i)] = [K, K]  # F.pad lists the last axis first
            out = F.pad(out, pads, mode=pad)
        shape = [1] * d
        shape[i] = w.numel()
        out = _CONV[d](out, w.view(1, 1, *shape))
    return out.reshape(*batch, *out.shape[2:])


def convolve_separable(values: torch.Tensor, stencil: Stencil, orders: Sequence[int], pad: str | None) -> torch.Tensor:
    """Apply the stencil's 1D weights of per-axis ``orders`` along the last len(orders) axes."""
    d = len(orders)
    if d in _CONV:
        flipped = [stencil.weights_axis_tensor(i, n, values.dtype, values.device, flip=True)
                   for i, n in enumerate(orders)]
        return _correlate_nd(values, flipped, pad)
    out = values
    for i, n in enumerate(orders):
        out = convolve_axis(out, stencil.weights_axis_tensor(i, n, values.dtype, values.device), values.dim() - d + i, pad)
    return out


def valid_mask(shape: Sequence[int], half: Sequence[int], device=None) -> torch.Tensor:
    """Boolean mask (N_1, ..., N_d): True where the whole stencil lies inside the grid."""
    mask = torch.ones(tuple(shape), dtype=torch.bool, device=device)
    for i, (n, K) in enumerate(zip(shape, half)):
        idx = torch.arange(n, device=device)
        ok = (idx >= K) & (idx < n - K)
        mask &= ok.view(*([1] * i), n, *([1] * (len(shape) - i - 1)))
    return mask


def grid_derivative(values: torch.Tensor, stencil: Stencil, orders: Sequence[int],
                    boundary: str = "valid") -> tuple[torch.Tensor, torch.Tensor]:
    """Mollified derivative of gridded values.

    Args:
        values: tensor (*batch, N_1, ..., N_d), d = number of mollified axes of ``stencil``.
        stencil: separable stencil whose spacings equal the grid spacings.
        orders: derivative order per grid axis (0 = plain mollification).
        boundary: 'valid' (points whose stencil leaves the grid are NaN), 'reflect' or
            'replicate' (the grid is padded; those points are approximations).

    Returns:
        (derivative with the same shape as ``values``, mask of points with a full stencil).
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    d = len(stencil.axes)
    if values.dim() < d or len(orders) != d:
        raise ValueError(f"values must end with {d} grid axes and orders must have {d} entries")
    grid_shape = values.shape[-d:]
    for n, K, a in zip(grid_shape, stencil.half, stencil.axes):
        if n < 2 * K + 1 and boundary == "valid":
            raise ValueError(f"grid axis {a} has {n} points, fewer than the stencil's {2 * K + 1}")
        if boundary == "reflect" and n <= K:
            raise ValueError(f"grid axis {a} has {n} points; reflect padding needs more than {K}")
    out = convolve_separable(values, stencil, orders, None if boundary == "valid" else boundary)
    mask = valid_mask(grid_shape, stencil.half, values.device)
    if boundary == "valid":
        full = values.new_full(values.shape, float("nan"))
        index = tuple(slice(K, n - K) for n, K in zip(grid_shape, stencil.half))
        full[(Ellipsis, *index)] = out
        out = full
    return out, mask


def lattice_indices(x: torch.Tensor, spacing: Sequence[float]) -> torch.Tensor:
    """Integer lattice coordinates of points x (N, d) relative to their per-axis minimum.

    Raises ``ValueError`` naming the first offending point if x is not on a regular lattice.
    """
    h = torch.as_tensor(spacing, dtype=x.dtype, device=x.device)
    rel = (x - x.min(dim=0).values) / h
    idx = torch.round(rel)
    tol = 1e-6 if x.dtype == torch.float64 else 2e-3
    err = (rel - idx).abs()
    if bool((err > tol).any()):
        bad = int(err.max(dim=1).values.argmax())
        raise ValueError(
            f"grid mode needs inputs on a regular lattice with spacing {tuple(float(v) for v in spacing)}, "
            f"but point {bad} = {x[bad].tolist()} is off the lattice by {float(err[bad].max()):.3g} "
            "spacings; use mode='scattered' (or 'auto') for scattered points"
        )
    return idx.long()
