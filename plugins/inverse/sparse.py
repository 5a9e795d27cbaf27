"""A differentiable sparse linear solve: x = A^-1 b with A given by its nonzeros.

Forward: scipy's sparse LU.  Backward (the adjoint method): with g = dL/dx,

    dL/db = A^-T g,    dL/dA_ij = -(A^-T g)_i x_j                                     (1)

so one transposed solve with the same factorisation gives both gradients.  Used by the
information-limit fits whose reference discretisation is a sparse system (a finite-volume
diffusion operator whose coefficients depend on the unknown parameter).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["sparse_solve"]


class _SparseSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, b, rows, cols, n):
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        A = sp.csc_matrix((values.detach().cpu().numpy(), (rows, cols)), shape=(n, n))
        lu = splu(A)
        x = torch.as_tensor(lu.solve(b.detach().cpu().numpy()), dtype=b.dtype, device=b.device)
        ctx.lu, ctx.rows, ctx.cols = lu, rows, cols
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        adj = torch.as_tensor(ctx.lu.solve(g.detach().cpu().numpy(), trans="T"), dtype=g.dtype)
        adj = adj.to(g.device)
        return -adj[ctx.rows] * x[ctx.cols], adj, None, None, None  # equation (1)


def sparse_solve(
    rows: np.ndarray, cols: np.ndarray, values: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """Solve A x = b for A (n, n) with nonzeros ``values`` at (``rows``, ``cols``) (duplicate
    positions are summed); differentiable in ``values`` and ``b``.  b: (n,); returns x (n,)."""
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    if values.shape != rows.shape or rows.shape != cols.shape:
        raise ValueError(
            f"rows, cols and values must have one entry per nonzero, got {rows.shape}, "
            f"{cols.shape}, {tuple(values.shape)}"
        )
    if b.dim() != 1:
        raise ValueError(f"b must be a vector (n,), got shape {tuple(b.shape)}")
    return _SparseSolve.apply(values, b, torch.as_tensor(rows), torch.as_tensor(cols), b.numel())
