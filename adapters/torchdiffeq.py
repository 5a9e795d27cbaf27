"""torchdiffeq glue: make steadygrad's multistep methods available to ``odeint`` by name.

After ``import steadygrad``::

    odeint(func, y0, t, method="leapfrog", options={"step_size": h})

Options: ``step_size`` (default t[1] - t[0]), ``correction`` (default True: gradients
consistent with the continuous adjoint; False: exact autodiff of the recursion), ``start``
('euler', 'rk2', 'rk4'), ``params`` (tensors func depends on; default ``func.parameters()``).
This module only translates torchdiffeq's solver protocol; the numerics live in
:mod:`steadygrad.multistep`.
"""
from __future__ import annotations

import inspect
import warnings

import torch

from .. import registry

__all__ = ["register", "MultistepSolver"]

_OPTIONS = {"step_size", "correction", "start", "params", "allow_adjoint"}
_DEFAULT_RTOL, _DEFAULT_ATOL = 1e-7, 1e-9


def _inside_odeint_adjoint() -> bool:
    frame = inspect.currentframe()
    while frame is not None:
        if "OdeintAdjointMethod" in getattr(frame.f_code, "co_qualname", ""):
            return True
        frame = frame.f_back
    return False


def _is_default(tol, default: float) -> bool:
    return bool(torch.all(torch.as_tensor(tol, dtype=torch.float64) == default))


class MultistepSolver:
    """torchdiffeq solver object for one of steadygrad's multistep methods."""

    method_name = ""  # set on the per-method subclasses made by register()
    _steadygrad = True

    @classmethod
    def valid_callbacks(cls) -> set:
        return set()

    def __init__(self, func, y0, rtol, atol, norm=None, **options):
        method_name = self.method_name
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ValueError(f"{method_name} is a fixed-step multistep method; unsupported option(s) "
                             f"{sorted(unknown)} (adaptive-step options do not apply). Allowed: {sorted(_OPTIONS)}")
        if not (_is_default(rtol, _DEFAULT_RTOL) and _is_default(atol, _DEFAULT_ATOL)):
            raise ValueError(f"{method_name} is a fixed-step method: rtol/atol have no effect; control the "
                             "accuracy with options={'step_size': h}")
        if _inside_odeint_adjoint() and not options.get("allow_adjoint", False):
            raise ValueError(
                f"method={method_name!r} inside odeint_adjoint: odeint_adjoint would integrate the continuous "
                "adjoint backward on its own reversed grid, which silently differs from the forward "
                "discretisation (and evaluates time-indexed weights at other times). Use odeint(..., "
                f"method={method_name!r}): its backward pass already returns adjoint-consistent gradients with "
                "O(steps) memory. Pass options={'allow_adjoint': True} (and adjoint_options) to force it.")
        self.func, self.y0 = func, y0
        self.method = registry.load("steadygrad.ode_solvers", method_name)()
        self.step_size = options.get("step_size")
        self.correction = bool(options.get("correction", True))
        self.start = options.get("start")
        self.params = options.get("params")

    def integrate(self, t: torch.Tensor) -> torch.Tensor:
        from ..multistep.solve import odeint_multistep

        return odeint_multistep(self.func, self.y0, t, self.method, step_size=self.step_size,
                                correction=self.correction, start=self.start, params=self.params)

    def integrate_until_event(self, t0, event_fn):
        raise NotImplementedError(f"{self.method.name}: event handling is not supported by fixed-step multistep methods")


def register() -> list[str]:
    """Add every ``steadygrad.ode_solvers`` entry point to torchdiffeq's solver table (lazily)."""
    try:
        from torchdiffeq._impl.odeint import SOLVERS
    except ImportError as err:
        warnings.warn(f"steadygrad: torchdiffeq solver table not found ({err}); multistep methods not registered",
                      RuntimeWarning)
        return []
    added = []
    for name in registry.names("steadygrad.ode_solvers"):
        if name in SOLVERS and not getattr(SOLVERS[name], "_steadygrad", False):
            warnings.warn(f"steadygrad: torchdiffeq already has a solver named {name!r}; not replacing it",
                          RuntimeWarning)
            continue
        SOLVERS[name] = type(f"MultistepSolver[{name}]", (MultistepSolver,), {"method_name": name})
        added.append(name)
    return added
