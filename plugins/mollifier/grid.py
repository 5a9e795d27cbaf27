"""Grid mode: separable convolution of values sampled on a regular grid.

``values`` has shape (*batch, N_1, ..., N_d); the last d axes are the spatial grid with
spacings h_1..h_d.  Derivatives are sum_k w_k g(x - k h) along each axis.  An unpadded pass
along an axis of length L <= ``MATMUL_MAX_LENGTH`` is one matrix product with the banded
(L - 2K, L) stencil matrix (few large kernels, full float32 precision); longer or padded axes
use ``conv{d}d`` (a cross-correlation, hence the flipped weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .stencil import Stencil

__all__ = [
    "BOUNDARIES",
    "MATMUL_MAX_LENGTH",
    "GridPlan",
    "axis_pass",
    "convolve_separable",
    "grid_derivative",
    "grid_plan",
    "lattice_spacing",
    "valid_mask",
]

BOUNDARIES = ("valid", "reflect", "replicate")
MATMUL_MAX_LENGTH = 2048

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _conv_pass(
    values: torch.Tensor, flipped: torch.Tensor, i: int, d: int, pad: str | None
) -> torch.Tensor:
    """Cross-correlate grid axis i of the last d axes with ``flipped`` weights: conv{d}d on a
    (B, 1, *grid) view (no transposes) for d <= 3, conv1d on a moved axis otherwise."""
    K = (flipped.numel() - 1) // 2
    batch = values.shape[:-d]
    if d not in _CONV:  # rare: more than 3 mollified axes
        moved = values.movedim(values.dim() - d + i, -1)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        if pad is not None:
            flat = F.pad(flat, (K, K), mode=pad)
        out = F.conv1d(flat, flipped.view(1, 1, -1))
        return out.reshape(*moved.shape[:-1], out.shape[-1]).movedim(-1, values.dim() - d + i)
    out = values.reshape(-1, 1, *values.shape[-d:])
    if pad is not None:
        pads = [0, 0] * d
        pads[2 * (d - 1 - i) : 2 * (d - i)] = [K, K]  # F.pad lists the last axis first
        out = F.pad(out, pads, mode=pad)
    shape = [1] * d
    shape[i] = flipped.numel()
    out = _CONV[d](out, flipped.view(1, 1, *shape))
    return out.reshape(*batch, *out.shape[2:])


def axis_pass(
    values: torch.Tensor, stencil: Stencil, i: int, order: int, d: int, pad: str | None
) -> torch.Tensor:
    """Apply the stencil's 1D weights of ``order`` along grid axis i (of the last d axes).

    ``pad`` None shrinks the axis by 2K; 'reflect'/'replicate' pad it first.
    """
    axis = values.dim() - d + i
    L = values.shape[axis]
    if pad is None and L <= MATMUL_MAX_LENGTH:
        band = stencil.band_matrix(i, order, L, values.dtype, values.device)  # (L - 2K, L)
        pre, post = values.shape[:axis], values.shape[axis + 1 :]
        if not post:
            return (values.reshape(-1, L) @ band.T).reshape(*pre, band.shape[0])
        if pre.numel() == 1:  # a plain 2-D product: fewer ops than a broadcast batched one
            return (band @ values.reshape(L, -1)).reshape(*pre, band.shape[0], *post)
        out = band @ values.reshape(-1, L, post.numel())
        return out.reshape(*pre, band.shape[0], *post)
    return _conv_pass(
        values,
        stencil.weights_axis_tensor(i, order, values.dtype, values.device, flip=True),
        i,
        d,
        pad,
    )


def convolve_separable(
    values: torch.Tensor, stencil: Stencil, orders: Sequence[int], pad: str | None
) -> torch.Tensor:
    """Apply the stencil's 1D weights of per-axis ``orders`` along the last len(orders) axes."""
    out = values
    for i, n in enumerate(orders):
        out = axis_pass(out, stencil, i, n, len(orders), pad)
    return out


def valid_mask(shape: Sequence[int], half: Sequence[int], device=None) -> torch.Tensor:
    """Boolean mask (N_1, ..., N_d): True where the whole stencil lies inside the grid."""
    mask = torch.ones(tuple(shape), dtype=torch.bool, device=device)
    for i, (n, K) in enumerate(zip(shape, half)):
        idx = torch.arange(n, device=device)
        ok = (idx >= K) & (idx < n - K)
        mask &= ok.view(*([1] * i), n, *([1] * (len(shape) - i - 1)))
    return mask


def grid_derivative(
    values: torch.Tensor, stencil: Stencil, orders: Sequence[int], boundary: str = "valid"
) -> tuple[torch.Tensor, torch.Tensor]:
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


@dataclass
class GridPlan:
    """Where points (N, d) sit on a lattice, and the box of nodes grid mode evaluates.

    Attributes:
        index: (N, d) integer lattice coordinates relative to the points' per-axis minimum.
        size: nodes per axis of the evaluated box.
        box: (prod(size), d) coordinates of the box nodes, C order.
        flat: (N,) positions of the points in the flattened convolution output, or None when
            the points are exactly that output in C order (the gather is then a reshape).
        inside: (N,) bool, points whose full stencil lies in the box ('valid' only), else None.
        origin, spacing, first: box node k on axis i is origin[i] + (first[i] + k) spacing[i].
    """

    index: torch.Tensor
    size: tuple
    box: torch.Tensor
    flat: torch.Tensor | None
    inside: torch.Tensor | None
    origin: tuple = ()
    spacing: tuple = ()
    first: tuple = ()

    def box_in(self, dtype: torch.dtype) -> torch.Tensor:
        """The box nodes computed in ``dtype`` (float64: exact lattice nodes, not float32-rounded
        ones, whose rounding noise the derivative stencils would amplify)."""
        if dtype == self.box.dtype:
            return self.box
        coords = [
            o + h * torch.arange(f, f + n, device=self.box.device, dtype=dtype)
            for o, h, f, n in zip(self.origin, self.spacing, self.first, self.size)
        ]
        return torch.stack(torch.meshgrid(*coords, indexing="ij"), dim=-1).reshape(-1, len(coords))


def lattice_spacing(coords: torch.Tensor) -> float:
    """Lattice spacing of 1-D coordinates: the span over the number of steps of the smallest gap
    (in float64, so that a float32 lattice's rounded gaps do not accumulate over its length)."""
    u = torch.unique(coords.detach().double())
    if u.numel() < 2:
        raise ValueError(
            "grid mode needs at least two distinct coordinates per axis to infer the spacing; "
            "pass spacing="
        )
    gap = float((u[1:] - u[:-1]).min())
    span = float(u[-1] - u[0])
    return span / max(round(span / gap), 1)


def _off_lattice_error(x, err, spacing) -> ValueError:
    bad = int(err.max(dim=1).values.argmax())
    return ValueError(
        "grid mode needs inputs on a regular lattice with spacing "
        f"{tuple(float(v) for v in spacing)}, but point {bad} = {x[bad].tolist()} is off the "
        f"lattice by {float(err[bad].max()):.3g} spacings; use mode='scattered' (or 'auto') for "
        "scattered points"
    )


def _valid_gather(index, size, half, flat, device):
    """'valid' boundary: (positions in the shrunk convolution output, points inside it)."""
    shifted = index - torch.as_tensor(half, device=device)
    out_shape = torch.as_tensor([n - 2 * K for n, K in zip(size, half)], device=device)
    inside = ((shifted >= 0) & (shifted < out_shape)).all(dim=1)
    shrunk = [max(n - 2 * K, 1) for n, K in zip(size, half)]
    out_strides = torch.as_tensor(torch.empty(shrunk, device="meta").stride(), device=device)
    return torch.where(inside, (shifted * out_strides).sum(dim=1), torch.zeros_like(flat)), inside


def grid_plan(
    x: torch.Tensor,
    spacing: Sequence[float],
    half: Sequence[int],
    boundary: str,
    max_nodes: int | None = None,
) -> GridPlan | None:
    """Lattice analysis of points x (N, d) for grid mode, with one host synchronisation.

    ``boundary`` 'extend' grows the box by the stencil half-widths ``half`` (every point gets
    its full stencil); the other boundaries evaluate the points' bounding box only.  Returns
    None if the box would have more than ``max_nodes`` nodes.  Raises ``ValueError`` naming
    the first offending point if x is not on a regular lattice.
    """
    x = x.detach()
    d = x.shape[1]
    h = torch.as_tensor(spacing, dtype=x.dtype, device=x.device)
    origin = x.min(dim=0).values
    rel = (x - origin) / h
    rounded = torch.round(rel)
    err = (rel - rounded).abs()
    index = rounded.long()
    top = index.max(dim=0).values
    # C-order positions in the bounding box: if they are 0..N-1 the gather is the identity
    strides = torch.flip(torch.cumprod(torch.flip(top + 1, (0,)), 0), (0,))
    strides = torch.cat([strides[1:], strides.new_ones(1)])
    flat = (index * strides).sum(dim=1)
    identity = (flat == torch.arange(len(x), device=x.device)).all()
    parts = [err.max(), *top, identity, x.abs().max(), *origin]  # one sync for all of them
    summary = torch.stack([p.double() for p in parts]).tolist()
    worst, bounds, is_identity = (
        summary[0],
        [int(t) + 1 for t in summary[1 : 1 + d]],
        summary[1 + d],
    )
    scale, origin_values = summary[2 + d], summary[3 + d :]
    # rounding of the coordinates in their dtype, in spacings (a float32 lattice is a lattice)
    floor = 1e-6 if x.dtype == torch.float64 else 2e-3
    if worst > max(floor, 16 * torch.finfo(x.dtype).eps * scale / min(spacing)):
        raise _off_lattice_error(x, err, spacing)
    first = tuple(-K if boundary == "extend" else 0 for K in half)
    size = tuple(n - 2 * f for n, f in zip(bounds, first))
    if max_nodes is not None and math.prod(size) > max_nodes:
        return None
    coords = [
        origin[i] + spacing[i] * torch.arange(f, f + n, device=x.device, dtype=x.dtype)
        for i, (f, n) in enumerate(zip(first, size))
    ]
    box = torch.stack(torch.meshgrid(*coords, indexing="ij"), dim=-1).reshape(-1, d)
    inside = None
    if boundary == "valid":  # the convolution output is the box shrunk by K per side
        flat, inside = _valid_gather(index, size, half, flat, x.device)
    elif is_identity == 1.0 and len(x) == math.prod(bounds):
        flat = None
    spacings = tuple(float(v) for v in spacing)
    return GridPlan(index, size, box, flat, inside, tuple(origin_values), spacings, first)
