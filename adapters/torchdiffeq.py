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
import numbers
import warnings

import torch

from .. import registry

__all__ = ["MultistepSolver", "register"]

_OPTIONS = {
    "step_size",
    "correction",
    "start",
    "params",
    "interp",
    "perturb",
    "checkpoint",
    "recompute",
}
_DEFAULT_RTOL, _DEFAULT_ATOL = 1e-7, 1e-9


def _is_default(tol, default: float) -> bool:
    return bool(torch.all(torch.as_tensor(tol, dtype=torch.float64) == default))


def _step_size(value):
    if value is None:
        return None
    if torch.is_tensor(value) and value.requires_grad:
        raise ValueError(
            "options['step_size'] is a tensor that requires grad: the multistep methods do not "
            "differentiate with respect to the step size (the gradient would silently be "
            "missing); pass a plain number, or use method='rk4' for d/dh"
        )
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"options['step_size'] must be a real number, got {value!r}")
    return float(value)


def _start(value):
    from ..multistep.methods import STARTERS

    if value is not None and value not in STARTERS:
        raise ValueError(f"options['start'] must be one of {sorted(STARTERS)}, got {value!r}")
    return value


def _params(value):
    if value is None:
        return None
    if torch.is_tensor(value):
        return (value,)
    try:
        if isinstance(value, str):
            raise TypeError
        params = tuple(value)
        if not all(torch.is_tensor(p) for p in params):
            raise TypeError
    except TypeError:
        raise TypeError(
            f"options['params'] must be a tensor or a sequence of tensors (those func depends "
            f"on, e.g. list(net.parameters())), got {value!r}"
        ) from None
    return params


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
    """The quadrature mask of the augmented state (vjp_t and the parameter gradients) when
    odeint_adjoint's backward meets time-indexed parameters, else None.  The probe (three
    nodes, as odeint's backward uses) runs once per backward pass, on an interval of at least
    four steps."""
    found = _adjoint_state(solver)
    if found is None or not found[0]["adjoint_params"]:
        return None
    cells, shapes, sign, aug = found
    if not hasattr(aug, "_steadygrad_time_indexed"):
        from ..multistep.adjoint import Problem, maybe_time_indexed
        from ..multistep.grid import make_grid

        grid = make_grid((sign * t.detach()).sort().values, solver.step_size)
        if grid.steps < 4:  # too few nodes to tell; a longer interval will be probed
            return None
        ny = shapes[1].numel()
        problem = Problem(
            cells["func"], solver.method, grid.times, grid.h, "euler", cells["adjoint_params"]
        )
        problem.traj = [solver.y0[1 : 1 + ny].reshape(shapes[1]).detach()] * len(grid.times)
        aug._steadygrad_time_indexed = maybe_time_indexed(problem)
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
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ValueError(
                f"{name} is a fixed-step multistep method; unsupported option(s) "
                f"{sorted(unknown)} (adaptive-step options do not apply). Allowed: "
                f"{sorted(_OPTIONS)}"
            )
        if not (_is_default(rtol, _DEFAULT_RTOL) and _is_default(atol, _DEFAULT_ATOL)):
            raise ValueError(
                f"{name} is a fixed-step method: rtol/atol have no effect; control the "
                "accuracy with options={'step_size': h}"
            )
        correction = options.get("correction", True)
        if not isinstance(correction, bool):
            raise TypeError(f"options['correction'] must be True or False, got {correction!r}")
        perturb = options.get("perturb", False)
        if not isinstance(perturb, bool):
            raise TypeError(f"options['perturb'] must be True or False, got {perturb!r}")
        from ..multistep.grid import INTERPOLATIONS
        from ..multistep.methods import LinearMultistep

        self.method = registry.load("steadygrad.ode_solvers", name, kind=LinearMultistep)()
        self.y0, self.correction = y0, correction
        self.params = _params(options.get("params"))
        if self.params is None and isinstance(func, torch.nn.Module):
            self.params = tuple(func.parameters())
        self.func = _with_perturb(func) if perturb else func
        self.on_step = getattr(func, "callback_step", None)
        self.step_size = _step_size(options.get("step_size"))
        self.start = _start(options.get("start"))
        self.interp = options.get("interp", "linear")
        if self.interp not in INTERPOLATIONS:
            raise ValueError(
                f"options['interp'] must be one of {INTERPOLATIONS}, got {self.interp!r}"
            )
        self.checkpoint = options.get("checkpoint", False)
        self.recompute = options.get("recompute", False)

    def integrate(self, t: torch.Tensor) -> torch.Tensor:
        from ..multistep.solve import odeint_multistep

        quad = _time_indexed_adjoint(self, t) if self.correction else None
        if quad is not None:
            from ..multistep.quadrature import integrate_with_quadratures

            start = self.start or self.method.start
            return integrate_with_quadratures(
                self.func, self.y0, t, self.method, self.step_size, start, quad, self.on_step
            )

        try:
            return odeint_multistep(
                self.func,
                self.y0,
                t,
                self.method,
                step_size=self.step_size,
                correction=self.correction,
                start=self.start,
                params=self.params,
                interp=self.interp,
                checkpoint=self.checkpoint,
                recompute=self.recompute,
                on_step=self.on_step,
            )
        except ValueError as err:
            if "list them in params" in str(err):
                raise ValueError(f"{err} (options={{'params': [...]}})") from None
            raise

    def integrate_until_event(self, t0, event_fn):
        """Step until ``event_fn`` changes sign, then locate the event on the interpolant
        between the two nodes ('linear', or 'cubic' Hermite as ``interp`` says: torchdiffeq's
        fixed-grid convention); gradients are plain autograd through the steps."""
        from torchdiffeq._impl.event_handling import find_event

        from ..multistep.grid import between
        from ..multistep.integrate import integrate_until

        if self.step_size is None:
            raise ValueError(f"{self.method.name}: event handling needs options={{'step_size': h}}")
        t0 = t0.to(self.y0.abs().dtype)
        with torch.no_grad():
            sign0 = torch.sign(event_fn(t0, self.y0))

        def crossed(t, x):
            with torch.no_grad():
                return bool(torch.sign(event_fn(t, x)) != sign0)

        start = self.start or self.method.start
        (ta, xa), (tb, xb) = integrate_until(
            self.func,
            self.y0,
            t0,
            self.step_size,
            self.method,
            start,
            crossed,
            on_step=self.on_step,
        )

        interp = between(self.interp, ta, xa, tb, xb, self.func)
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
