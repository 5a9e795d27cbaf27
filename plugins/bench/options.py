"""The options of ``steadygrad bench``, declared once: :class:`BenchOptions`.

``run_benchmarks``' keywords, ``steadygrad bench``'s flags and the command line recorded with
every result are all read from here; each option is validated once, before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

from ..declared import Declared, option
from .problems.common import DEFAULT_VARIANTS, EXTRA, VARIANTS

__all__ = ["BenchOptions"]


def _names(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)


def _levels(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x)


def _factors(text: str) -> tuple[float | str, ...]:
    return tuple(x if x == "auto" else float(x) for x in text.split(",") if x)


for _parse, _what in ((_names, "names"), (_levels, "levels"), (_factors, "factors")):
    _parse.__name__ = _what  # argparse names it in its errors: "invalid levels value"


def _count(value, name: str, low: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"--{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"--{name} must be >= {low}, got {value!r}")


def _positive(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class BenchOptions(Declared):
    """How ``steadygrad bench`` runs its problems (the problems themselves are named apart).

    Build with :meth:`create` (unknown names raise, naming the allowed ones).
    """

    OWNER = "steadygrad bench"

    device: str = option("cpu", "cpu or cuda[:N]")
    quick: bool = option(False, "small sizes: a few minutes on a 2-core CPU", bool)
    jobs: int | None = option(
        None,
        "train the PDE cases in this many processes (1 thread each); their times then include "
        "contention, so compare variants within one problem. Other problems run serially after. "
        "Default: 2 for a --quick run of more than 4 PDE cases on 2+ CPUs (the smoke run "
        "stays under 10 minutes), else 1",
        int,
    )
    noise: tuple[float, ...] | None = option(
        None,
        "noise levels for the inverse problems, e.g. 0,0.01,0.05,0.1 (default: 0.05 with "
        "--quick, else 0,0.01,0.05,0.1)",
        _levels,
    )
    iterations: int | None = option(
        None, "Adam steps for every PDE problem (default: per problem)", int
    )
    lbfgs: int | None = option(
        None, "L-BFGS steps after Adam for every PDE problem (default: per problem)", int
    )
    variants: tuple[str, ...] | None = option(
        None,
        f"PDE variants to run (default: {','.join(DEFAULT_VARIANTS)}; choose from "
        f"{','.join((*VARIANTS, *EXTRA))}); every inverse problem also gets its "
        "information-limit row ('limit' alone: only those)",
        _names,
    )
    budget: float | None = option(
        None,
        "training seconds per PDE case (Adam steps, then L-BFGS until the budget), recording "
        "accuracy against time (time-to-accuracy plots)",
        float,
    )
    widths: tuple[float | str, ...] = option(
        (1.0,),
        "factors of each problem's mollifier width, or 'auto' (noise x width sweep and "
        "heat-map); default 1",
        _factors,
    )
    seed: int = option(0, "seed of the data, the networks and the noise", int)
    reference: str | None = option(
        None,
        "a PINNacle ref/ folder: the standard problems read their reference solutions (and "
        "heat_inverse its observation points) from it instead of steadygrad's own",
    )
    out: str = option("bench-results", "output folder for the table, JSON and plots")
    dry_run: bool = option(False, "validate the options and list the cases; run nothing", bool)

    def __post_init__(self):
        widths = self.widths
        widths = (widths,) if isinstance(widths, (numbers.Real, str)) else tuple(widths)
        if not widths or any(w != "auto" and not _positive(w) for w in widths):
            raise ValueError(f"--widths must be positive factors or 'auto', got {widths!r}")
        if self.budget is not None and not (_positive(self.budget) and math.isfinite(self.budget)):
            raise ValueError(
                f"--budget must be a positive finite number of seconds, got {self.budget!r}"
            )
        variants = tuple(DEFAULT_VARIANTS if self.variants is None else self.variants)
        if not variants:
            raise ValueError(f"--variants names no variant; choose from {list(DEFAULT_VARIANTS)}")
        if set(variants) - {*VARIANTS, *EXTRA}:
            raise ValueError(
                f"unknown variant(s) {sorted(set(variants) - {*VARIANTS, *EXTRA})}; choose from "
                f"{[*VARIANTS, *EXTRA]} (inverse problems always get their 'limit' row)"
            )
        _count(self.jobs, "jobs", 1)
        _count(self.iterations, "iterations", 1)
        _count(self.lbfgs, "lbfgs", 0)
        _count(self.seed, "seed", 0)
        noise = self.noise
        if noise is not None:
            noise = (noise,) if isinstance(noise, numbers.Real) else tuple(noise)
            if any(not 0 <= x < 1 for x in noise):
                raise ValueError(f"--noise levels must lie in [0, 1), got {noise}")
        self._check_device()
        self._check_out()
        if self.reference is not None and not os.path.isdir(self.reference):
            raise ValueError(f"--reference {self.reference!r} is not a folder")
        for name, value in (("widths", widths), ("variants", variants), ("noise", noise)):
            object.__setattr__(self, name, value)

    def _check_device(self) -> None:
        device = self.device
        if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
            raise ValueError(f"--device must be cpu or cuda[:N], got {device!r}")
        if device.startswith("cuda") and not self.dry_run:
            import torch

            if not torch.cuda.is_available():
                raise ValueError("--device cuda requested but no CUDA device is available")

    def _check_out(self) -> None:
        out = self.out
        if os.path.exists(out) and not os.path.isdir(out):
            raise ValueError(f"--out {out!r} is a file; name a folder")
        parent = os.path.dirname(os.path.abspath(out))
        if not self.dry_run and not os.access(out if os.path.isdir(out) else parent, os.W_OK):
            raise ValueError(f"--out {out!r} is not writable")

    def workers(self, pde_cases: int) -> int:
        """Processes for ``pde_cases`` PDE cases: ``jobs``, or its default (see its help)."""
        if self.jobs is not None:
            return self.jobs
        many = self.quick and pde_cases > 4 and (os.cpu_count() or 1) >= 2
        return 2 if many else 1

    @property
    def levels(self) -> tuple[float, ...]:
        """The noise levels run: ``noise``, or the default for ``quick``."""
        if self.noise is not None:
            return self.noise
        return (0.05,) if self.quick else (0.0, 0.01, 0.05, 0.1)

    def flags(self) -> str:
        """The command-line flags that reproduce this run (those not at their defaults, with
        the device always), generated from the declaration.  The noise levels appear when
        given: without them each inverse problem runs its own default (its rows say which)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        defaults["variants"] = DEFAULT_VARIANTS
        words = [f"--device {self.device}"]
        for name in self.names():
            value = getattr(self, name)
            if name in ("device", "out", "dry_run") or value == defaults[name]:
                continue
            flag = "--" + name.replace("_", "-")
            words.append(flag if value is True else f"{flag} {_text(value)}")
        return " " + " ".join(words)


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
