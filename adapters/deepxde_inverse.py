"""DeepXDE glue for eliminated parameters: which rows of a residual its PDE loss uses.

DeepXDE evaluates the residual on every training point, boundary-condition points first,
and its PDE loss takes the rows after them.  ``LinearParameter.attach(data)`` tells the
least-squares solve to use exactly those rows.  No numerics here.
"""

from __future__ import annotations

import torch

from ..inverse.elimination import LinearParameter as _Numerics

__all__ = ["LinearParameter"]


class LinearParameter(_Numerics):
    """:class:`steadygrad.inverse.LinearParameter` for a DeepXDE residual function.

    Build it before the residual, use ``p = param(x)`` inside it and return
    ``param.eliminate(residual)``; after building the data, call ``param.attach(data)``.
    The coefficients are solved at every loss evaluation; nothing is added to the trainable
    variables.  ``param.values(x)`` evaluates the recovered field.
    """

    _data = None

    def attach(self, data) -> LinearParameter:
        """Solve over the rows of ``data``'s PDE loss (a ``dde.data.PDE`` or ``TimePDE``)."""
        if not hasattr(data, "num_bcs") or not hasattr(data, "pde"):
            raise TypeError(f"attach needs a dde.data.PDE (or TimePDE), got {type(data)!r}")
        self._data = data
        data._steadygrad_eliminates = True  # distributed training refuses it (a global solve)
        return self

    def eliminate(self, residual: torch.Tensor, skip: int | None = None) -> torch.Tensor:
        if skip is None:
            if self._data is None:
                raise RuntimeError(
                    "LinearParameter is not attached to the DeepXDE data: call "
                    "param.attach(data) after building dde.data.PDE, so the least-squares "
                    "solve uses the rows of the PDE loss (not the boundary points)"
                )
            skip = int(sum(self._data.num_bcs or ()))
        return super().eliminate(residual, skip)
