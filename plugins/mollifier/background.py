"""Lattice mode: the background lattice that serves arbitrary points.

The lattice covers the points' bounding box plus PAD nodes (at least NODES nodes per axis),
widened by the stencil half-width K on the mollified axes, so that the unpadded convolution
yields D^alpha u on every node the interpolation needs (the interpolation stencils shift
inwards at the ends).  Its axes are stored with the non-mollified axes first and the
mollified axes last: the convolution passes of grid mode then apply
unchanged to the last axes.  Mollified axes use the stencil spacing; the others a spacing
chosen by the layer (refined when the interpolation estimate asks for it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch

from .interpolate import LEFT, NODES, axis_weights

__all__ = [
    "MAX_NODES",
    "LatticePlan",
    "GatherInterpolation",
    "SparseInterpolation",
    "lattice_plan",
]

#: default cap on the lattice size (nodes) before anything is allocated
MAX_NODES = 4_000_000
#: lattice nodes beyond the points' extent on each side (before the stencil's K): 1 keeps the
#: one-sided interpolation stencils at the ends accurate (0 saves 2 nodes per axis but its
#: interpolation error at the ends was up to 9x the estimate; 1: 3.4x before SAFETY)
PAD = 1


@dataclass
class LatticePlan:
    """Where arbitrary points sit on a background lattice.

    Attributes:
        perm: input axes in lattice order (non-mollified first, then mollified).
        size: nodes per lattice axis of the evaluated box (lattice order).
        out: nodes per lattice axis after the convolution (the interpolation lattice).
        origin, spacing: box node k on lattice axis a is origin[a] + k spacing[a] (input units).
        first: node index of each point's first interpolation neighbour (N, D), lattice order,
            in the convolution output.
        local: position of each point relative to its neighbourhood's centre (N, D), float64,
            in spacings: in [-1/2, 1/2) inside, up to DEGREE / 2 near the ends.
        box: (prod(size), d) node coordinates in the points' dtype, input-column order.
    """

    perm: tuple
    size: tuple
    out: tuple
    origin: tuple
    spacing: tuple
    first: torch.Tensor
    local: torch.Tensor
    box: torch.Tensor
    _weights: dict = field(default_factory=dict, repr=False)

    def aligned(self) -> tuple:
        """Per lattice axis: whether every point sits on a lattice node (to 1e-9 spacings),
        where interpolation is exact (one host synchronisation, cached)."""
        if "aligned" not in self._weights:
            t = self.local + (NODES - 1) / 2
            off = (t - torch.round(t)).abs().amax(0) if len(t) else torch.zeros(t.shape[1])
            self._weights["aligned"] = tuple(bool(v < 1e-9) for v in off.tolist())
        return self._weights["aligned"]

    def box_in(self, dtype: torch.dtype) -> torch.Tensor:
        """Node coordinates computed in ``dtype`` (float64: exact nodes, not rounded ones;
        cached)."""
        if dtype == self.box.dtype:
            return self.box
        key = ("box", dtype)
        if key not in self._weights:
            self._weights[key] = _nodes(
                self.origin, self.spacing, self.size, self.perm, dtype, self.box.device
            )
        return self._weights[key]

    @cached_property
    def reach(self) -> float:
        """Largest distance of a point from its neighbourhood's centre (spacings)."""
        return float(self.local.abs().max()) if self.local.numel() else 0.5

    @cached_property
    def neighbours(self) -> torch.Tensor:
        """(N, NODES^D) flat indices (C order of ``out``) of every point's interpolation nodes."""
        D = len(self.out)
        strides = torch.empty(self.out, device="meta").stride()
        offsets = torch.arange(NODES, device=self.first.device)
        flat = torch.zeros(self.first.shape[0], *([1] * D), dtype=torch.long, device=offsets.device)
        for a in range(D):
            shape = [1] * D
            shape[a] = NODES
            flat = flat + (self.first[:, a].view(-1, *([1] * D)) + offsets.view(shape)) * strides[a]
        return flat.reshape(self.first.shape[0], -1)

    def weights(self, orders: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """(N, NODES^D) interpolation weights, with derivative ``orders`` per lattice axis (per
        input unit: the interpolant's derivative), matching :attr:`neighbours` (cached)."""
        key = (tuple(orders), dtype)
        if key not in self._weights:
            w = None
            for a, k in enumerate(orders):
                wa = axis_weights(self.local[:, a], k) / self.spacing[a] ** k  # (N, NODES)
                w = wa if w is None else (w[:, :, None] * wa[:, None, :]).reshape(len(wa), -1)
            self._weights[key] = w.to(dtype)
        return self._weights[key]

    def interpolation(self, orders: Sequence[int], dtype: torch.dtype):
        """The linear map from lattice values (T,) to the points (N, 1) with derivative
        ``orders`` per lattice axis, and its adjoint (cached): a sparse CSR product on the CPU
        (3-4x faster there: it reads 32-bit indices once per product), a gather of NODES^D
        values per point and a scatter-add on other devices (the path measured on GPUs)."""
        key = ("map", tuple(orders), dtype)
        if key not in self._weights:
            w = self.weights(orders, dtype)
            kind = SparseInterpolation if w.device.type == "cpu" else GatherInterpolation
            self._weights[key] = kind(self.neighbours, w, math.prod(self.out))
        return self._weights[key]


class GatherInterpolation:
    """values (T, k) -> (N, k): sum of weights (N, P) times values at neighbours (N, P, k)."""

    def __init__(self, neighbours: torch.Tensor, weights: torch.Tensor, numel: int):
        self.index, self.weights, self.numel = neighbours, weights, numel

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """(T, k) -> (N, k)."""
        if values.shape[1] == 1:  # one derivative: the gather and dot product measured on GPUs
            return torch.linalg.vecdot(torch.take(values[:, 0], self.index), self.weights)[:, None]
        return torch.einsum("npk,np->nk", values[self.index], self.weights)

    def adjoint(self, grad: torch.Tensor) -> torch.Tensor:
        """(N, k) -> (T, k): the transpose, a scatter-add."""
        k = grad.shape[1]
        flat = (grad[:, None, :] * self.weights[:, :, None]).reshape(-1, k)
        index = self.index.reshape(-1, 1).expand(-1, k)
        return grad.new_zeros(self.numel, k).scatter_add(0, index, flat)


class SparseInterpolation:
    """The same map as a sparse (N, T) CSR matrix and its transpose."""

    def __init__(self, neighbours: torch.Tensor, weights: torch.Tensor, numel: int):
        n, per = weights.shape
        # weights below 1e-14 of their row's largest are dropped: points on lattice nodes (or
        # on node lines) then read one node (or one line) instead of NODES^D
        keep = weights.abs() > 1e-14 * weights.abs().amax(1, keepdim=True)
        counts = keep.sum(1)
        # 32-bit indices read a third less memory per product (the product is memory-bound)
        itype = torch.int32 if max(numel, n * per) < 2**31 else torch.int64
        rows = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(itype)
        if weights.dtype in (torch.float16, torch.bfloat16):  # no sparse products in these
            weights = weights.float()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            self.matrix = torch.sparse_csr_tensor(
                rows, neighbours[keep].to(itype), weights[keep], (n, numel)
            )
            self.transpose = self.matrix.t().to_sparse_csr()

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """(T, k) -> (N, k)."""
        return (self.matrix @ values.to(self.matrix.dtype)).to(values.dtype)

    def adjoint(self, grad: torch.Tensor) -> torch.Tensor:
        """(N, k) -> (T, k)."""
        return (self.transpose @ grad.to(self.transpose.dtype)).to(grad.dtype)


def _nodes(origin, spacing, size, perm, dtype, device) -> torch.Tensor:
    coords = [
        o + h * torch.arange(n, device=device, dtype=dtype)
        for o, h, n in zip(origin, spacing, size)
    ]
    grid = torch.stack(torch.meshgrid(*coords, indexing="ij"), dim=-1).reshape(-1, len(coords))
    inverse = [perm.index(i) for i in range(len(perm))]
    return grid[:, inverse]


def _too_big(nodes: int, size: Sequence[int], max_nodes: int) -> ValueError:
    return ValueError(
        f"lattice mode would evaluate the network on {nodes:,} lattice nodes "
        f"({' x '.join(map(str, size))}), more than max_nodes={max_nodes:,}: the points span a "
        "box far larger than the kernel width. Use a larger width, fewer points per half-width "
        "(points=), mode='scattered', or raise max_nodes"
    )


def _interior(lo, hi, spacing) -> list:
    """Nodes per axis that reach from lo to past hi (before the NODES minimum)."""
    return [
        int(math.floor((b - a) / h * (1 + 1e-12))) + 2 + 2 * PAD for a, b, h in zip(lo, hi, spacing)
    ]


def plan_size(lo, hi, spacing, half) -> tuple[tuple, tuple]:
    """(box size, convolution-output size) per axis for extents [lo, hi] (lattice order)."""
    out = tuple(max(n, NODES) for n in _interior(lo, hi, spacing))
    return tuple(n + 2 * K for n, K in zip(out, half)), out


def lattice_plan(
    x: torch.Tensor,
    mollified: Sequence[int],
    spacing: Sequence[float],
    half: Sequence[int],
    divisions: Sequence[int] = (),
    max_nodes: int = MAX_NODES,
) -> LatticePlan:
    """Background lattice for points x (N, d), one host synchronisation.

    Args:
        mollified: the mollified input axes (their order gives the stencil's axis order).
        spacing: the stencil spacing per mollified axis (in ``mollified`` order).
        half: stencil half-length K per mollified axis (in ``mollified`` order).
        divisions: per non-mollified axis (input order), the number of lattice intervals
            across the points' extent.
        max_nodes: raise ``ValueError`` (before allocating) past this many nodes.
    """
    d = x.shape[1]
    free = tuple(a for a in range(d) if a not in mollified)
    if len(divisions) != len(free):
        raise ValueError(f"divisions needs one count per non-mollified axis ({len(free)})")
    perm = free + tuple(mollified)
    xd = x.detach().double()[:, list(perm)]
    K = [0] * len(free) + [int(k) for k in half]
    lo, hi = (v.tolist() for v in torch.stack([xd.min(0).values, xd.max(0).values]).cpu())
    h = [((b - a) or 1.0) / n for a, b, n in zip(lo, hi, divisions)] + [float(s) for s in spacing]
    size, out = plan_size(lo, hi, h, K)
    nodes = math.prod(size)
    if nodes > max_nodes:
        raise _too_big(nodes, size, max_nodes)
    shift = [PAD + (n - m + 1) // 2 for n, m in zip(out, _interior(lo, hi, h))]  # centred
    out_origin = [a - k * s for a, k, s in zip(lo, shift, h)]  # node 0 of the convolution output
    t = (xd - torch.as_tensor(out_origin, dtype=torch.float64, device=x.device)) / torch.as_tensor(
        h, dtype=torch.float64, device=x.device
    )
    cell = torch.floor(t)
    top = torch.as_tensor([n - NODES for n in out], device=x.device)
    first = (cell.long() - LEFT).clamp(min=torch.zeros_like(top), max=top)
    local = t - first - (NODES - 1) / 2
    origin = tuple(o - k * s for o, k, s in zip(out_origin, K, h))
    box = _nodes(origin, h, size, perm, x.dtype, x.device)
    return LatticePlan(perm, size, out, origin, tuple(h), first, local, box)
