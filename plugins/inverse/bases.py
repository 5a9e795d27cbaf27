"""Tensor-product linear bases on a box, for a parameter field p(x) = sum_i c_i B_i(x).

Each basis maps points x (N, d) to the basis values (N, n) and their exact derivatives along
one input axis, in the dtype and device of x.  Only the axes named in ``axes`` enter; p is
constant along the others (a rate that does not depend on time, say).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

__all__ = ["Basis", "FourierBasis", "LegendreBasis"]


class Basis:
    """A tensor product of one 1D family per axis: B_(k1..km)(x) = prod_a f_ka(x_a)."""

    def __init__(self, size: int, axes: Sequence[int]):
        axes = tuple(int(a) for a in axes)
        if not axes or any(a < 0 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"axes must be distinct non-negative input axes, got {axes}")
        self.axes, self.size_1d = axes, int(size)
        self.size = self.size_1d ** len(axes)

    def family(self, s: torch.Tensor, order: int) -> torch.Tensor:
        """The 1D family (order 0) or its first derivative (order 1) at s (N,): (N, size_1d)."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, derivative: int | None = None) -> torch.Tensor:
        """B(x) (N, size), or the first derivative dB/dx_a when ``derivative`` = a."""
        if x.dim() != 2 or x.shape[1] <= max(self.axes):
            raise ValueError(
                f"points must be (N, d) with d > {max(self.axes)} (the basis uses axes "
                f"{self.axes}); got shape {tuple(x.shape)}"
            )
        if derivative is not None and derivative not in self.axes:  # p is constant along it
            return x.new_zeros(x.shape[0], self.size)
        out = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        for a in self.axes:
            s, scale = self.coordinate(x[:, a], a)
            f = self.family(s, 1) * scale if a == derivative else self.family(s, 0)
            out = (out[:, :, None] * f[:, None, :]).reshape(x.shape[0], -1)
        return out

    def coordinate(self, xa: torch.Tensor, axis: int) -> tuple[torch.Tensor, float]:
        """The family's coordinate s(x_a) and ds/dx_a (identity by default)."""
        return xa, 1.0

    def indices(self) -> list[tuple[int, ...]]:
        """The 1D indices (k1, ..., km) of each column, in column order."""
        return list(itertools.product(range(self.size_1d), repeat=len(self.axes)))


class FourierBasis(Basis):
    """Periodic harmonics up to ``harmonics`` per axis on [0, period): 1, cos(2 pi k x / L),
    sin(2 pi k x / L), k = 1..K; (2K + 1)^m columns."""

    def __init__(self, harmonics: int = 3, axes: Sequence[int] = (0, 1), period: float = 1.0):
        if int(harmonics) != harmonics or harmonics < 0:
            raise ValueError(f"harmonics must be a non-negative integer, got {harmonics!r}")
        if not period > 0:
            raise ValueError(f"period must be positive, got {period!r}")
        super().__init__(2 * int(harmonics) + 1, axes)
        self.harmonics, self.period = int(harmonics), float(period)

    def family(self, s, order):
        k = torch.arange(1, self.harmonics + 1, dtype=s.dtype, device=s.device)
        w = 2 * math.pi * k / self.period
        a = w * s[:, None]
        # d/ds cos(w s) = w cos(w s + pi / 2), likewise sin
        cos, sin = torch.cos(a + order * math.pi / 2), torch.sin(a + order * math.pi / 2)
        one = torch.full_like(s[:, None], 1.0 if order == 0 else 0.0)
        return torch.cat([one, w**order * cos, w**order * sin], 1)


class LegendreBasis(Basis):
    """Legendre polynomials P_0..P_degree per axis on [lo, hi] (mapped to [-1, 1]);
    (degree + 1)^m columns.  Well conditioned on the box, unlike monomials."""

    def __init__(
        self,
        degree: int = 8,
        axes: Sequence[int] = (0, 1),
        lo: float | Sequence[float] = 0.0,
        hi: float | Sequence[float] = 1.0,
    ):
        if int(degree) != degree or degree < 0:
            raise ValueError(f"degree must be a non-negative integer, got {degree!r}")
        super().__init__(int(degree) + 1, axes)
        n = len(self.axes)
        self.lo = tuple(float(v) for v in (lo if isinstance(lo, Sequence) else [lo] * n))
        self.hi = tuple(float(v) for v in (hi if isinstance(hi, Sequence) else [hi] * n))
        if len(self.lo) != n or len(self.hi) != n or any(h <= a for a, h in zip(self.lo, self.hi)):
            raise ValueError(f"need lo < hi for each of the {n} axes, got {lo!r}, {hi!r}")
        self._box = dict(zip(self.axes, zip(self.lo, self.hi)))

    def coordinate(self, xa, axis):
        lo, hi = self._box[axis]
        return 2 * (xa - lo) / (hi - lo) - 1, 2 / (hi - lo)

    def family(self, s, order):
        p = [torch.ones_like(s), s]  # Bonnet: (n+1) P_{n+1} = (2n+1) s P_n - n P_{n-1}
        for n in range(1, self.size_1d - 1):
            p.append(((2 * n + 1) * s * p[n] - n * p[n - 1]) / (n + 1))
        p = p[: self.size_1d]
        if order == 0:
            return torch.stack(p, 1)
        dp = [torch.zeros_like(s), torch.ones_like(s)]  # P'_{n+1} = P'_{n-1} + (2n+1) P_n
        for n in range(1, self.size_1d - 1):
            dp.append(dp[n - 1] + (2 * n + 1) * p[n])
        return torch.stack(dp[: self.size_1d], 1)
