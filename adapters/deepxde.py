"""DeepXDE glue (PyTorch backend): route network calls and ``dde.grad`` through an operator.

``enable("mollifier", width=...)`` makes every DeepXDE network output the mollified field
u = g * eta, and makes ``dde.grad.jacobian``/``dde.grad.hessian`` (also inside Neumann,
Robin and operator boundary conditions, and nested for higher orders) return kernel
derivatives of u.  Requests the operator cannot serve go to DeepXDE's autodiff with a
one-time warning, or raise with ``strict=True``.  ``disable()`` restores DeepXDE exactly.

This module contains no numerics: it only translates DeepXDE's calling conventions.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import threading
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from .. import registry
from ..derivatives import DerivativeOperator, UnservableDerivative
from ..mollifier.precision import PrecisionWarning

__all__ = ["FallbackWarning", "active", "disable", "enable", "plain", "run_script"]


class FallbackWarning(UserWarning):
    """A derivative was computed by DeepXDE's autodiff instead of the active operator."""


class _State:
    def __init__(self, operator: DerivativeOperator, strict: bool):
        self.operator, self.strict = operator, strict
        self.warned: set[str] = set()


# The patches on DeepXDE are process-wide, but which operator (if any) they route to is per
# thread: a thread that did not call enable() sees plain DeepXDE.  States are keyed by a
# token held in thread-local storage, so a thread's state dies with the thread (thread ids
# are reused: keying by id would hand a dead thread's operator to a new one).
_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_originals: dict = {}
_lock = threading.Lock()
_local = threading.local()
# The raw network is the module with its output transform switched off for a moment; a plain
# thread calling the same module meanwhile must not see that: both hold this lock.
_transform_lock = threading.RLock()


class _Token:
    """One per thread that called enable(); only its thread-local storage holds it."""


def _token(create: bool = False) -> _Token | None:
    if create and getattr(_local, "token", None) is None:
        _local.token = _Token()
    return getattr(_local, "token", None)


def _current() -> _State | None:
    token = _token()
    return None if token is None else _states.get(token)


def _import_deepxde():
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde
    from deepxde import backend, config

    if backend.backend_name != "pytorch":
        raise RuntimeError(
            f"steadygrad's DeepXDE adapter needs the PyTorch backend (DDE_BACKEND=pytorch), "
            f"but DeepXDE runs on {backend.backend_name!r}"
        )
    if config.autodiff != "reverse":
        raise RuntimeError(
            "steadygrad's DeepXDE adapter supports dde.config.set_default_autodiff('reverse') only"
        )
    return deepxde


def active() -> DerivativeOperator | None:
    """The operator currently routed into DeepXDE for this thread, or None."""
    st = _current()
    return None if st is None else st.operator


def enable(
    derivatives: str | DerivativeOperator = "mollifier", *, strict: bool = False, **options: Any
) -> DerivativeOperator:
    """Route DeepXDE's network outputs and ``dde.grad`` through a steadygrad operator.

    Args:
        derivatives: operator name from the ``steadygrad.derivatives`` entry points
            (``"mollifier"``, ``"autodiff"``) or an operator instance.
        strict: raise instead of falling back to autodiff for unserved derivatives.
        **options: operator options, e.g. ``width=0.05, axes=(0,), mode="scattered"``
            (see :class:`steadygrad.mollifier.MollifierLayer`).

    Returns:
        The operator now in use.  Calling ``enable`` again replaces it.  The choice applies to
        the calling thread only; other threads keep DeepXDE's own behaviour.
    """
    dde = _import_deepxde()
    if isinstance(derivatives, DerivativeOperator):
        if options:
            raise TypeError("options are only accepted together with an operator name")
        operator = derivatives
    else:
        if derivatives == "mollifier":  # DeepXDE never reads its inputs' .grad
            options.setdefault("input_grad", "graph")
        cls = registry.load("steadygrad.derivatives", derivatives, kind=DerivativeOperator)
        cls.check_options(options)
        try:
            operator = cls(**options)
        except TypeError as err:
            raise TypeError(f"bad options for derivative backend {derivatives!r}: {err}") from None
    if not operator.complete:
        raise ValueError(
            f"{operator.describe()} leaves some points undefined (NaN): DeepXDE's losses need "
            f"every "
            "training point, so training would run on a NaN loss. Use boundary='extend'"
        )
    disable()
    with _lock:
        if not _originals:
            _install(dde)
        _states[_token(create=True)] = _State(operator, strict)
    return operator


@contextlib.contextmanager
def plain():
    """DeepXDE's own behaviour for this thread inside the block; the operator (and its
    ``strict`` flag) that was enabled comes back after it."""
    st = _current()
    disable()
    try:
        yield
    finally:
        if st is not None:
            enable(st.operator, strict=st.strict)


def _install(dde) -> None:
    from deepxde.nn.pytorch.nn import NN

    grad = dde.gradients
    _originals.update(
        compile=dde.Model.compile,
        module=grad,
        call=NN.__dict__.get("__call__"),
        jacobian=grad.jacobian,
        hessian=grad.hessian,
        clear=grad.clear,
    )
    NN.__call__ = _net_call
    dde.Model.compile = _compile
    grad.jacobian, grad.hessian, grad.clear = _jacobian, _hessian, _clear


def disable() -> None:
    """Stop routing this thread's DeepXDE calls; restore DeepXDE exactly once no thread uses it."""
    with _lock:
        token = _token()
        if token is not None:
            _states.pop(token, None)
        if len(_states) or not _originals:
            return
        from deepxde.nn.pytorch.nn import NN

        if _originals["call"] is None:
            del NN.__call__
        else:
            NN.__call__ = _originals["call"]
        import deepxde

        deepxde.Model.compile = _originals["compile"]
        grad = _originals["module"]
        grad.jacobian, grad.hessian, grad.clear = (
            _originals["jacobian"],
            _originals["hessian"],
            _originals["clear"],
        )
        _originals.clear()


def _warn_once(st: _State, key: str, message: str) -> None:
    if key not in st.warned:
        st.warned.add(key)
        warnings.warn(message, FallbackWarning, stacklevel=3)


def _net_call(self, *args, **kwargs):
    st = _current()
    inside = getattr(_local, "inside", False)
    if st is None or inside or kwargs or len(args) != 1 or not torch.is_tensor(args[0]):
        if inside:
            return torch.nn.Module.__call__(self, *args, **kwargs)
        with _transform_lock:  # another thread may be between raw()'s two assignments
            return torch.nn.Module.__call__(self, *args, **kwargs)
    x = args[0]
    transform = self._output_transform

    def raw(z: torch.Tensor) -> torch.Tensor:
        with _transform_lock:
            _local.inside = True
            self._output_transform = None
            try:
                return torch.nn.Module.__call__(self, z)
            finally:
                self._output_transform = transform
                _local.inside = False

    with warnings.catch_warnings():
        if st.strict:
            warnings.simplefilter("error", PrecisionWarning)
        y = st.operator.forward(raw, x, module=self)
    if transform is not None:
        if not st.operator.autodiff_compatible:
            raise ValueError(
                f"{st.operator.describe()} cannot be combined with an output transform (hard "
                f"constraint): "
                "derivatives of the transformed output need autodiff; use mode='lattice' or "
                "'scattered'"
            )
        y = st.operator.transform_output(x, y, transform)
    return y


def _compile(self, *args, **kwargs):
    """``Model.compile``: first give an automatic width the model's observations, and hold the
    operator's adaptive decisions for L-BFGS (released when Adam or another optimiser
    follows)."""
    st = _current()
    if st is not None and getattr(st.operator, "needs_observations", False):
        from deepxde.icbc import PointSetBC

        sets = [
            (bc.points, bc.values)
            for bc in getattr(self.data, "bcs", [])
            if isinstance(bc, PointSetBC)
        ]
        if not sets:
            raise ValueError(
                "width='auto' chooses the width from observed data (dde.icbc.PointSetBC), and "
                "this model has none: give the width in input units"
            )
        st.operator.observe(sets)
    if st is not None:  # L-BFGS's line search needs a smooth loss (MollifierLayer.hold)
        optimizer = args[0] if args else kwargs.get("optimizer")
        st.operator.hold(optimizer in ("L-BFGS", "L-BFGS-B"))
    return _originals["compile"](self, *args, **kwargs)


def _serve(st: _State, ys, xs, axis: int | tuple, component: int | None):
    try:
        with warnings.catch_warnings():
            if st.strict:
                warnings.simplefilter("error", PrecisionWarning)
            return st.operator.derivative(ys, xs, axis, component)
    except UnservableDerivative as err:
        if st.strict:
            raise
        _warn_once(st, f"unservable:{err}", f"steadygrad falls back to autodiff: {err}")
        return None


def _disconnected(ys: torch.Tensor, xs: torch.Tensor) -> bool:
    """True when autograd cannot reach ``xs`` from ``ys`` (asked of the graph itself, not read
    from an error message)."""
    if not (ys.requires_grad and xs.requires_grad):
        return True
    try:
        (grad,) = torch.autograd.grad(ys.sum(), xs, allow_unused=True, retain_graph=True)
    except RuntimeError:
        return True
    return grad is None


def _fallback(st: _State | None, name: str, *args, **kwargs):
    ys = args[0]
    if st is not None and st.operator.name != "autodiff" and not st.operator.owns(ys):
        if st.strict:
            raise UnservableDerivative(
                f"dde.grad.{name} on a tensor that is not a {st.operator.name} field (it was "
                f"sliced, "
                "transformed or computed from the output); strict mode forbids the autodiff "
                "fallback"
            )
        _warn_once(
            st,
            f"fallback:{name}",
            f"dde.grad.{name} on a tensor of shape {tuple(ys.shape)} that is not a "
            f"{st.operator.name} field (sliced, combined or computed from the output): "
            f"{st.operator.fallback_note()}",
        )
    try:
        return _originals[name](*args, **kwargs)
    except RuntimeError as err:
        if st is not None and _disconnected(ys, args[1]):
            why = (
                "its outputs are not connected to the inputs' autograd graph (the network is "
                "evaluated elsewhere, not at the inputs); use a mode that connects them, or a "
                "derivative the operator serves"
                if not st.operator.autodiff_compatible
                else f"this tensor of shape {tuple(ys.shape)} is not connected to the inputs' "
                f"autograd graph"
            )
            raise RuntimeError(
                f"autodiff fallback impossible with {st.operator.describe()}: {why}"
            ) from err
        raise


def _jacobian(ys, xs, i=None, j=None):
    """Drop-in for ``dde.grad.jacobian`` (same arguments and shapes)."""
    st = _current()
    if st is not None and st.operator.owns(ys) and ys.dim() == 2:
        dim_y, dim_x = ys.shape[1], xs.shape[1]
        if i is None and j is None and (dim_x > 1 or dim_y > 1):
            raise ValueError("i and j cannot be both None.")
        if i is None:
            if dim_y > 1:
                raise NotImplementedError(
                    "Reverse-mode autodiff doesn't support computing a column."
                )
            i = 0
        if not 0 <= i < dim_y:
            raise ValueError(f"i={i} is not valid.")
        if j is not None and not 0 <= j < dim_x:
            raise ValueError(f"j={j} is not valid.")
        comp = None if st.operator.single_component(ys) else i
        axes = range(dim_x) if j is None else [j]
        cols = [_serve(st, ys, xs, a, comp) for a in axes]
        if all(c is not None for c in cols):
            return cols[0] if len(cols) == 1 else torch.cat(cols, dim=1)
    elif st is not None and j is not None and i in (None, 0) and ys.dim() == 2:
        served = st.operator.product_derivative(ys, xs, j)  # e.g. d(a u_x)/dx
        if served is not None:
            return served
    return _fallback(st, "jacobian", ys, xs, i=i, j=j)


def _hessian(ys, xs, component=0, i=0, j=0):
    """Drop-in for ``dde.grad.hessian``: d^2 ys[:, component] / dx_i dx_j."""
    st = _current()
    if st is not None and st.operator.owns(ys) and ys.dim() == 2:
        if component >= ys.shape[1]:
            raise ValueError(
                f"The component of ys={component} cannot be larger than the "
                f"dimension={ys.shape[1]}."
            )
        for k in (i, j):
            if not 0 <= k < xs.shape[1]:
                raise ValueError(f"i={k} is not valid.")
        comp = None if st.operator.single_component(ys) else component
        second = _serve(st, ys, xs, (j, i), comp)
        if second is not None:
            return second
    return _fallback(st, "hessian", ys, xs, component=component, i=i, j=j)


def _clear():
    """Drop-in for ``dde.grad.clear``: DeepXDE's caches; steadygrad's live on each output."""
    _originals["clear"]()


def run_script(
    path: str,
    argv: Sequence[str] = (),
    derivatives: str = "mollifier",
    *,
    strict: bool = False,
    **options: Any,
) -> dict:
    """Run an unmodified DeepXDE script with ``derivatives`` enabled; returns its globals.

    Started by ``torchrun`` (``WORLD_SIZE`` in the environment), it trains data-parallel over
    the launched processes (``deepxde_distributed.launch``; docs/distributed.md).
    """
    from . import deepxde_distributed

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such script: {path}")
    launched = deepxde_distributed.launch(path, argv, (derivatives, strict, options))
    enable(derivatives, strict=strict, **options)
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        return runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
        disable()
        if launched:
            deepxde_distributed.finish()
