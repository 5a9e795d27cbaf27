"""torchdiffeq glue: make steadygrad's multistep methods available to ``odeint`` by name.

After ``import steadygrad``::

    odeint(func, y0, t, method="leapfrog", options={"step_size": h})

Options (torchdiffeq's fixed-grid names where they exist): ``step_size`` (default
t[1] - t[0]), ``interp`` ('linear' or 'cubic', for output times off the grid), ``perturb``
(evaluate func just after each grid time, for functions with jumps there), ``correction``
(default True: adjoint-consistent gradients for time-indexed parameters; False: the exact
discrete gradient), ``start`` ('euler', 'rk2', 'rk4'), ``params`` (tensors func depends on;
default ``func.parameters()``), ``checkpoint`` (O(sqrt(N)) stored states) and ``recompute``
(one stored state per step instead of f's autograd graph).  This module only translates
torchdiffeq's solver protocol; the numerics live in :mod:`steadygrad.multistep`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import torch

from .. import registry

__all__ = ["MultistepSolver", "register"]

_DEFAULT_RTOL, _DEFAULT_ATOL = 1e-7, 1e-9


def _is_default(tol, default: float) -> bool:
    return bool(torch.all(torch.as_tensor(tol, dtype=torch.float64) == default))


def _with_perturb(func):
    """Evaluate a torchdiffeq-wrapped func just after each time (its ``perturb`` convention)."""
    from torchdiffeq._impl.misc import Perturb

    def perturbed(t, y):
        return func(t, y, perturb=Perturb.NEXT)

    perturbed.parameters = func.parameters
    return perturbed


def _layers(func) -> list:
    """``func`` and the ``base_func`` layers torchdiffeq wrapped around the innermost one."""
    layers = [func]
    while hasattr(layers[-1], "base_func") and len(layers) < 16:
        layers.append(layers[-1].base_func)
    return layers


def _adjoint_state(solver):
    """(closure cells, augmented-state shapes, time sign, the closure) when ``solver``
    integrates torchdiffeq's adjoint system (its ``augmented_dynamics`` closure inside
    ``base_func`` layers), else None.  Decreasing time arrives as -t through ``_ReverseFunc``
    layers (``mul == -1``); ``_TupleFunc`` knows the state's shapes."""
    layers = _layers(solver.func)
    inner, code = layers[-1], getattr(layers[-1], "__code__", None)
    shapes = next((f.shapes for f in layers if hasattr(f, "shapes")), None)
    if getattr(inner, "__name__", "") != "augmented_dynamics" or code is None or not shapes:
        return None
    cells = dict(zip(code.co_freevars, (c.cell_contents for c in inner.__closure__ or ())))
    if len(shapes) < 3 or not {"func", "adjoint_params"} <= cells.keys():
        return None
    sign = math.prod(-1.0 if getattr(f, "mul", 1.0) == -1.0 else 1.0 for f in layers)
    return cells, shapes, sign, inner


def _time_indexed_adjoint(solver, t: torch.Tensor):
    """The quadrature mask of the augmented state when odeint_adjoint's backward meets
    time-indexed parameters, else None (``multistep/quadrature.py``; decided once per
    backward pass and kept on the augmented-dynamics closure)."""
    found = _adjoint_state(solver)
    if found is None or not found[0]["adjoint_params"]:
        return None
    cells, shapes, sign, aug = found
    if not hasattr(aug, "_steadygrad_time_indexed"):
        from ..multistep.quadrature import has_time_indexed_parameters

        decided = has_time_indexed_parameters(
            cells["func"],
            cells["adjoint_params"],
            solver.y0[1 : 1 + shapes[1].numel()].reshape(shapes[1]),
            sign * t,
            solver.method,
            solver.options.step_size,
        )
        if decided is None:  # too few nodes to tell; a longer interval will be probed
            return None
        aug._steadygrad_time_indexed = decided
    if not aug._steadygrad_time_indexed:
        return None
    quad = torch.ones_like(solver.y0, dtype=torch.bool)
    quad[1 : 1 + 2 * shapes[1].numel()] = False  # y and its adjoint are integrated as usual
    return quad


class MultistepSolver:
    """torchdiffeq solver object for one of steadygrad's multistep methods."""

    method_name = ""  # set on the per-method subclasses made by register()
    _steadygrad = True

    @classmethod
    def valid_callbacks(cls) -> set:
        """torchdiffeq's fixed-grid callback: ``func.callback_step(t0, y0, dt)`` per step."""
        return {"callback_step"}

    def __init__(self, func, y0, rtol, atol, norm=None, **options):
        name = self.method_name
        if not (_is_default(rtol, _DEFAULT_RTOL) and _is_default(atol, _DEFAULT_ATOL)):
            raise ValueError(
                f"{name} is a fixed-step method: rtol/atol have no effect; control the "
                "accuracy with options={'step_size': h}"
            )
        from ..multistep.methods import LinearMultistep
        from ..multistep.options import SolveOptions

        try:
            opts = SolveOptions.from_mapping(options, on_step=getattr(func, "callback_step", None))
        except (TypeError, ValueError) as err:
            raise type(err)(f"{name}: {err}") from None
        if opts.params is None and isinstance(func, torch.nn.Module):
            opts = replace(opts, params=tuple(func.parameters()))
        self.method = registry.load("steadygrad.ode_solvers", name, kind=LinearMultistep)()
        self.y0, self.options = y0, opts
        self.func = _with_perturb(func) if opts.perturb else func

    def integrate(self, t: torch.Tensor) -> torch.Tensor:
        from ..multistep.solve import odeint_multistep

        opts = self.options
        quad = _time_indexed_adjoint(self, t) if opts.correction else None
        if quad is not None:
            from ..multistep.quadrature import integrate_with_quadratures

            start = opts.starter(self.method)
            return integrate_with_quadratures(
                self.func, self.y0, t, self.method, opts.step_size, start, quad, opts.on_step
            )
        from ..multistep.closures import HiddenParameterError

        try:
            return odeint_multistep(self.func, self.y0, t, self.method, opts)
        except HiddenParameterError as err:
            raise HiddenParameterError(f"{err} (options={{'params': [...]}})") from None

    def integrate_until_event(self, t0, event_fn):
        """Step until ``event_fn`` changes sign, then locate the event on the interpolant
        between the two nodes ('linear', or 'cubic' Hermite as ``interp`` says: torchdiffeq's
        fixed-grid convention); gradients are plain autograd through the steps."""
        from torchdiffeq._impl.event_handling import find_event

        from ..multistep.grid import between
        from ..multistep.integrate import integrate_until

        opts = self.options
        if opts.step_size is None:
            raise ValueError(f"{self.method.name}: event handling needs options={{'step_size': h}}")
        t0 = t0.to(self.y0.abs().dtype)
        with torch.no_grad():
            sign0 = torch.sign(event_fn(t0, self.y0))

        def crossed(t, x):
            with torch.no_grad():
                return bool(torch.sign(event_fn(t, x)) != sign0)

        start = opts.starter(self.method)
        (ta, xa), (tb, xb) = integrate_until(
            self.func, self.y0, t0, opts.step_size, self.method, start, crossed, 20000, opts.on_step
        )

        interp = between(opts.interp, ta, xa, tb, xb, self.func)
        event_t, y1 = find_event(interp, sign0, ta, tb, event_fn, float(_DEFAULT_ATOL))
        return event_t, torch.stack([self.y0, y1], dim=0)


def register() -> list[str]:
    """Add every ``steadygrad.ode_solvers`` entry point to torchdiffeq's solver table (lazily)."""
    try:
        from torchdiffeq._impl.odeint import SOLVERS
    except ImportError as err:
        warnings.warn(
            f"steadygrad: torchdiffeq solver table not found ({err}); multistep methods not "
            f"registered",
            RuntimeWarning,
        )
        return []
    added = []
    for name in registry.names("steadygrad.ode_solvers"):
        if name in SOLVERS and not getattr(SOLVERS[name], "_steadygrad", False):
            warnings.warn(
                f"steadygrad: torchdiffeq already has a solver named {name!r}; not replacing it",
                RuntimeWarning,
            )
            continue
        SOLVERS[name] = type(f"MultistepSolver[{name}]", (MultistepSolver,), {"method_name": name})
        added.append(name)
    return added
