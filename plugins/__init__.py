"""steadygrad: derivatives you can trust in scientific ML.

* :mod:`steadygrad.mollifier` - Mollifier Layers: high-order spatial derivatives by
  convolution with kernel derivatives, exposed to DeepXDE via :mod:`steadygrad.deepxde`.
* :mod:`steadygrad.multistep` - linear multistep ODE solvers whose backward pass returns
  gradients consistent with the continuous adjoint; importing steadygrad registers them in
  ``torchdiffeq.odeint`` (``method="leapfrog"``, ``"ab2"`` ... ``"milne"``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import registry
from .mollifier import MollifierLayer

__all__ = ["MollifierLayer", "__version__", "registry"]


def _register_ode_solvers() -> None:
    import warnings

    try:
        from .adapters.torchdiffeq import register
    except ImportError as err:  # torchdiffeq missing or broken: keep the rest usable
        warnings.warn(
            f"steadygrad: multistep solvers not registered in torchdiffeq: {err}", RuntimeWarning
        )
        return
    register()


_register_ode_solvers()
