"""DeepXDE glue (PyTorch backend): route network calls and ``dde.grad`` through an operator.

``enable("mollifier", width=...)`` makes every DeepXDE network output the mollified field
u = g * eta, and makes ``dde.grad.jacobian``/``dde.grad.hessian`` (also inside Neumann,
Robin and operator boundary conditions, and nested for higher orders) return kernel
derivatives of u.  Requests the operator cannot serve go to DeepXDE's autodiff with a
one-time warning, or raise with ``strict=True``.  ``disable()`` restores DeepXDE exactly.

This module contains no numerics: it only translates DeepXDE's calling conventions.
"""
from __future__ import annotations

import os
import runpy
import sys
import threading
import warnings
from typing import Any, Sequence

import torch

from .. import registry
from ..derivatives import DerivativeOperator
from ..mollifier.layer import UnservableDerivative, field_of

__all__ = ["enable", "disable", "active", "run_script", "FallbackWarning"]


class FallbackWarning(UserWarning):
    """A derivative was computed by DeepXDE's autodiff instead of the active operator."""


class _State:
    def __init__(self, operator: DerivativeOperator, strict: bool, dde_module, originals: dict):
        self.operator, self.strict, self.dde, self.originals = operator, strict, dde_module, originals
        self.warned: set[str] = set()


_state: _State | None = None
_local = threading.local()


def _import_deepxde():
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde
    from deepxde import backend, config

    if backend.backend_name != "pytorch":
        raise RuntimeError(f"steadygrad's DeepXDE adapter needs the PyTorch backend (DDE_BACKEND=pytorch), "
                           f"but DeepXDE runs on {backend.backend_name!r}")
    if config.autodiff != "reverse":
        raise RuntimeError("steadygrad's DeepXDE adapter supports dde.config.set_default_autodiff('reverse') only")
    return deepxde


def active() -> DerivativeOperator | None:
    """The operator currently routed into DeepXDE, or None."""
    return None if _state is None else _state.operator


def enable(derivatives: str | DerivativeOperator = "mollifier", *, strict: bool = False,
           **options: Any) -> DerivativeOperator:
    """Route DeepXDE's network outputs and ``dde.grad`` through a steadygrad operator.

    Args:
        derivatives: operator name from the ``steadygrad.derivatives`` entry points
            (``"mollifier"``, ``"autodiff"``) or an operator instance.
        strict: raise instead of falling back to autodiff for unserved derivatives.
        **options: operator options, e.g. ``width=0.05, axes=(0,), mode="scattered"``
            (see :class:`steadygrad.mollifier.MollifierLayer`).

    Returns:
        The operator now in use.  Calling ``enable`` again replaces it.
    """
    global _state
    dde = _import_deepxde()
    if isinstance(derivatives, DerivativeOperator):
        if options:
            raise TypeError("options are only accepted together with an operator name")
        operator = derivatives
    else:
        cls = registry.load("steadygrad.derivatives", derivatives)
        try:
            operator = cls(**options)
        except TypeError as err:
            raise TypeError(f"bad options for derivative backend {derivatives!r}: {err}") from None
    disable()
    from deepxde.nn.pytorch.nn import NN

    grad = dde.gradients
    originals = {
        "call": NN.__dict__.get("__call__"),
        "jacobian": grad.jacobian,
        "hessian": grad.hessian,
        "clear": grad.clear,
    }
    _state = _State(operator, strict, dde, originals)
    NN.__call__ = _net_call
    grad.jacobian = _jacobian
    grad.hessian = _hessian
    grad.clear = _clear
    return operator


def disable() -> None:
    """Restore DeepXDE's own network call and gradient functions."""
    global _state
    if _state is None:
        return
    from deepxde.nn.pytorch.nn import NN

    st, grad = _state, _state.dde.gradients
    if st.originals["call"] is None:
        del NN.__call__
    else:
        NN.__call__ = st.originals["call"]
    grad.jacobian, grad.hessian, grad.clear = st.originals["jacobian"], st.originals["hessian"], st.originals["clear"]
    _state = None


def _warn_once(key: str, message: str) -> None:
    st = _state
    if st is not None and key not in st.warned:
        st.warned.add(key)
        warnings.warn(message, FallbackWarning, stacklevel=3)


def _net_call(self, *args, **kwargs):
    st = _state
    if st is None or getattr(_local, "inside", False) or kwargs or len(args) != 1 or not torch.is_tensor(args[0]):
        return torch.nn.Module.__call__(self, *args, **kwargs)
    x = args[0]
    transform = self._output_transform

    def raw(z: torch.Tensor) -> torch.Tensor:
        _local.inside = True
        self._output_transform = None
        try:
            return torch.nn.Module.__call__(self, z)
        finally:
            self._output_transform = transform
            _local.inside = False

    y = st.operator.forward(raw, x)
    if transform is not None:
        if not st.operator.autodiff_compatible:
            raise ValueError(
                f"{st.operator.describe()} cannot be combined with an output transform (hard constraint): "
                "derivatives of the transformed output need autodiff; use mode='scattered'")
        _warn_once("transform", "net.apply_output_transform: the transform is applied to the mollified "
                   "field and derivatives of the result use autodiff (slower)")
        y = transform(x, y)
    return y


def _serve(ys, xs, axis: int, component: int | None):
    st = _state
    try:
        return st.operator.derivative(ys, xs, axis, component)
    except UnservableDerivative as err:
        if st.strict:
            raise
        _warn_once(f"unservable:{err}", f"steadygrad falls back to autodiff: {err}")
        return None


def _fallback(name: str, *args, **kwargs):
    st = _state
    ys = args[0]
    if st.operator.name != "autodiff" and field_of(ys) is None:
        if st.strict:
            raise UnservableDerivative(
                f"dde.grad.{name} on a tensor that is not a {st.operator.name} field (it was sliced, "
                "transformed or computed from the output); strict mode forbids the autodiff fallback")
        _warn_once(f"fallback:{name}", f"dde.grad.{name} on a tensor of shape {tuple(ys.shape)} that is not a "
                   f"{st.operator.name} field (sliced, transformed or computed from the output): using autodiff")
    try:
        return st.originals[name](*args, **kwargs)
    except RuntimeError as err:
        if "not have been used in the graph" in str(err) or "does not require grad" in str(err):
            raise RuntimeError(f"autodiff fallback impossible with {st.operator.describe()}: grid-mode outputs are "
                               "not connected to the inputs' autograd graph; use mode='scattered'") from err
        raise


def _jacobian(ys, xs, i=None, j=None):
    """Drop-in for ``dde.grad.jacobian`` (same arguments and shapes)."""
    if field_of(ys) is not None and ys.dim() == 2:
        dim_y, dim_x = ys.shape[1], xs.shape[1]
        if i is None and j is None and (dim_x > 1 or dim_y > 1):
            raise ValueError("i and j cannot be both None.")
        if i is None:
            if dim_y > 1:
                raise NotImplementedError("Reverse-mode autodiff doesn't support computing a column.")
            i = 0
        if not 0 <= i < dim_y:
            raise ValueError("i={} is not valid.".format(i))
        if j is not None and not 0 <= j < dim_x:
            raise ValueError("j={} is not valid.".format(j))
        comp = None if field_of(ys)[1] is not None else i
        axes = range(dim_x) if j is None else [j]
        cols = [_serve(ys, xs, a, comp) for a in axes]
        if all(c is not None for c in cols):
            return cols[0] if len(cols) == 1 else torch.cat(cols, dim=1)
    return _fallback("jacobian", ys, xs, i=i, j=j)


def _hessian(ys, xs, component=0, i=0, j=0):
    """Drop-in for ``dde.grad.hessian``: d^2 ys[:, component] / dx_i dx_j."""
    if field_of(ys) is not None and ys.dim() == 2:
        if component >= ys.shape[1]:
            raise ValueError("The component of ys={} cannot be larger than the dimension={}.".format(
                component, ys.shape[1]))
        for k in (i, j):
            if not 0 <= k < xs.shape[1]:
                raise ValueError("i={} is not valid.".format(k))
        comp = None if field_of(ys)[1] is not None else component
        first = _serve(ys, xs, j, comp)
        second = None if first is None else _serve(first, xs, i, None)
        if second is not None:
            return second
    return _fallback("hessian", ys, xs, component=component, i=i, j=j)


def _clear():
    """Drop-in for ``dde.grad.clear``: DeepXDE's caches; steadygrad's live on each output."""
    _state.originals["clear"]()


def run_script(path: str, argv: Sequence[str] = (), derivatives: str = "mollifier", *,
               strict: bool = False, **options: Any) -> dict:
    """Run an unmodified DeepXDE script with ``derivatives`` enabled; returns its globals."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such script: {path}")
    enable(derivatives, strict=strict, **options)
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        return runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
        disable()
