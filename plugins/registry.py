"""Plugin discovery through entry points (modelled on xarray's ``backends/plugins.py``).

Groups:
    ``steadygrad.derivatives``  name -> derivative operator class (``mollifier``, ``autodiff``)
    ``steadygrad.kernels``      name -> mollifier kernel class (``polynomial``, ``bump``, ``gaussian``)
    ``steadygrad.ode_solvers``  name -> multistep method class (``leapfrog``, ``ab2`` ... ``milne``)

Entry points are listed once and loaded lazily, on first use of a name.  Duplicate names
warn and keep the first one found (built-ins win); an entry point that cannot be loaded
warns, naming it, and is skipped - a broken third-party plugin never breaks the host.
"""
from __future__ import annotations

import importlib
import warnings
from functools import lru_cache
from typing import Any

import entrypoints

__all__ = ["GROUPS", "available", "load", "names", "refresh"]

#: Built-in plugins, used when package metadata is unavailable (e.g. a source checkout on sys.path).
BUILTINS: dict[str, dict[str, str]] = {
    "steadygrad.derivatives": {
        "mollifier": "steadygrad.derivatives:MollifierOperator",
        "autodiff": "steadygrad.derivatives:AutodiffOperator",
    },
    "steadygrad.kernels": {
        "polynomial": "steadygrad.mollifier.kernels:PolynomialKernel",
        "bump": "steadygrad.mollifier.kernels:BumpKernel",
        "gaussian": "steadygrad.mollifier.kernels:GaussianKernel",
    },
    "steadygrad.ode_solvers": {
        "leapfrog": "steadygrad.multistep.methods:Leapfrog",
        "ab2": "steadygrad.multistep.methods:AB2",
        "ab3": "steadygrad.multistep.methods:AB3",
        "ab4": "steadygrad.multistep.methods:AB4",
        "milne": "steadygrad.multistep.methods:Milne",
    },
}
GROUPS = tuple(BUILTINS)


class _Spec:
    """A lazily loaded plugin reference ``module:attr`` with the distribution it came from."""

    def __init__(self, name: str, target: str, origin: str, loader=None):
        self.name, self.target, self.origin, self._loader = name, target, origin, loader

    def load(self) -> Any:
        if self._loader is not None:
            return self._loader()
        module, _, attr = self.target.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
        return obj


@lru_cache(maxsize=None)
def _specs(group: str) -> dict[str, _Spec]:
    if group not in BUILTINS:
        raise ValueError(f"unknown plugin group {group!r}; known: {GROUPS}")
    found: dict[str, _Spec] = {name: _Spec(name, target, "steadygrad (built-in)")
                                for name, target in BUILTINS[group].items()}
    try:
        eps = entrypoints.get_group_all(group)
    except Exception as err:  # malformed metadata of some distribution
        warnings.warn(f"steadygrad: could not read entry points of group {group!r}: {err}", RuntimeWarning)
        eps = []
    for ep in eps:
        target = f"{ep.module_name}:{ep.object_name}" if ep.object_name else ep.module_name
        origin = getattr(ep.distro, "name", None) or "unknown distribution"
        if ep.name in found:
            if found[ep.name].target != target:
                warnings.warn(
                    f"steadygrad: found several entry points named {ep.name!r} in group {group!r} "
                    f"({found[ep.name].target} from {found[ep.name].origin}, and {target} from {origin}); "
                    f"using {found[ep.name].target}", RuntimeWarning)
            continue
        found[ep.name] = _Spec(ep.name, target, origin, loader=ep.load)
    return found


def refresh() -> None:
    """Forget discovered entry points and loaded plugins (after installing a plugin)."""
    _specs.cache_clear()
    _loaded.clear()


_loaded: dict[tuple[str, str], Any] = {}


def available(group: str) -> dict[str, Any]:
    """Names and loaded objects of every *loadable* plugin in ``group`` (broken ones warn)."""
    out = {}
    for name in _specs(group):
        try:
            out[name] = load(group, name)
        except ValueError:
            continue
    return out


def names(group: str) -> list[str]:
    """Registered names in ``group`` without loading anything."""
    return list(_specs(group))


def load(group: str, name: str) -> Any:
    """Load plugin ``name`` of ``group``; ``ValueError`` if unknown or broken."""
    key = (group, name)
    if key in _loaded:
        return _loaded[key]
    specs = _specs(group)
    if name not in specs:
        raise ValueError(f"no {group.split('.')[-1]} plugin named {name!r}; available: {sorted(specs)}")
    spec = specs[name]
    try:
        obj = spec.load()
    except Exception as err:
        warnings.warn(
            f"steadygrad: entry point {name!r} ({spec.target}, from {spec.origin}) in group {group!r} "
            f"failed to load and is ignored: {type(err).__name__}: {err}", RuntimeWarning)
        raise ValueError(f"plugin {name!r} of group {group!r} is broken: {err}") from err
    _loaded[key] = obj
    return obj
