"""Plugin discovery through entry points (modelled on xarray's ``backends/plugins.py``).

Groups:
    ``steadygrad.derivatives``  name -> derivative operator class (``mollifier``, ``autodiff``)
    ``steadygrad.kernels``      name -> kernel class (``polynomial``, ``bump``, ``gaussian``)
    ``steadygrad.ode_solvers``  name -> multistep method class (``leapfrog``, ``ab2`` ... ``milne``)

Entry points are listed once and loaded lazily, on first use of a name.  Duplicate names
warn and keep the first one found (built-ins win); an entry point that cannot be loaded
warns, naming it, and is skipped - a broken third-party plugin never breaks the host.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from functools import cache, lru_cache
from typing import Any

import entrypoints

__all__ = ["GROUPS", "available", "load", "names", "refresh"]

GROUPS = ("steadygrad.derivatives", "steadygrad.kernels", "steadygrad.ode_solvers")


@lru_cache(maxsize=1)
def builtins() -> dict[str, dict[str, str]]:
    """steadygrad's own plugins, ``{group: {name: "module:attr"}}``.

    Declared once, as entry points in pyproject.toml: read from the installed distribution's
    metadata, or from pyproject.toml itself in a source checkout without metadata.
    """
    try:
        eps = importlib.metadata.distribution("steadygrad").entry_points
        found = {g: {ep.name: ep.value for ep in eps if ep.group == g} for g in GROUPS}
        if any(found.values()):
            return found
    except importlib.metadata.PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    table = tomllib.loads(pyproject.read_text())["project"]["entry-points"]
    return {g: dict(table.get(g, {})) for g in GROUPS}


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


@cache
def _specs(group: str) -> dict[str, _Spec]:
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; known: {GROUPS}")
    found: dict[str, _Spec] = {
        name: _Spec(name, target, "steadygrad (built-in)")
        for name, target in builtins()[group].items()
    }
    try:
        eps = entrypoints.get_group_all(group)
    except Exception as err:  # malformed metadata of some distribution
        warnings.warn(
            f"steadygrad: could not read entry points of group {group!r}: {err}", RuntimeWarning
        )
        eps = []
    for ep in eps:
        target = f"{ep.module_name}:{ep.object_name}" if ep.object_name else ep.module_name
        origin = getattr(ep.distro, "name", None) or "unknown distribution"
        if ep.name in found:
            if found[ep.name].target != target:
                warnings.warn(
                    f"steadygrad: found several entry points named {ep.name!r} in group {group!r} "
                    f"({found[ep.name].target} from {found[ep.name].origin}, and {target} from "
                    f"{origin}); "
                    f"using {found[ep.name].target}",
                    RuntimeWarning,
                )
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


def load(group: str, name: str, kind: type | None = None) -> Any:
    """Load plugin ``name`` of ``group``; ``ValueError`` if unknown or broken, ``TypeError`` if
    ``kind`` is given and the entry point does not load a subclass of it."""
    key = (group, name)
    if key in _loaded:
        return _check_kind(_loaded[key], kind, group, name)
    specs = _specs(group)
    if name not in specs:
        raise ValueError(
            f"no {group.split('.')[-1]} plugin named {name!r}; available: {sorted(specs)}"
        )
    spec = specs[name]
    try:
        obj = spec.load()
    except (Exception, SystemExit) as err:  # a module calling sys.exit/argparse at import
        if isinstance(err, SystemExit):
            err = RuntimeError(f"its module called sys.exit({err.code!r}) at import")
        warnings.warn(
            f"steadygrad: entry point {name!r} ({spec.target}, from {spec.origin}) in group "
            f"{group!r} "
            f"failed to load and is ignored: {type(err).__name__}: {err}",
            RuntimeWarning,
        )
        raise ValueError(f"plugin {name!r} of group {group!r} is broken: {err}") from err
    _loaded[key] = obj
    return _check_kind(obj, kind, group, name)


def _check_kind(obj: Any, kind: type | None, group: str, name: str) -> Any:
    if kind is not None and not (isinstance(obj, type) and issubclass(obj, kind)):
        spec = _specs(group).get(name)
        where = f"{spec.target}, from {spec.origin}" if spec else "?"
        raise TypeError(
            f"entry point {name!r} of group {group!r} ({where}) loads {obj!r}, which is not a "
            f"{kind.__module__}.{kind.__qualname__} subclass"
        )
    return obj
