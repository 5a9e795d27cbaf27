"""Every benchmark of ``steadygrad bench`` by name: the trained PDE problems (``problems/``, one
module each) and the suites, each measuring one thing (a residual's cost, DeepXDE-style scripts,
scaling, neural ODEs).  A new suite is a function ``(quick, device, seed) -> rows`` and a line
in :data:`SUITES` (with its plot, if it has one); its rows' ``problem`` is its name, or
``"<name>:<case>"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from . import report
from .architectures import architectures
from .direct import chromatin_direct
from .ode import lotka_volterra, ode_memory, ode_speed, spiral_fit, time_weights
from .problems import PDE_PROBLEMS, STANDARD
from .residual import residual4
from .sampled import sampled
from .scaling import scaling

__all__ = [
    "ALL_PROBLEMS",
    "DEFAULT_PROBLEMS",
    "GROUPS",
    "SUITES",
    "Suite",
    "benchmark_of",
    "expand",
]


class Suite(NamedTuple):
    """A benchmark that is not a trained PDE problem: ``run(quick, device, seed)`` -> rows;
    ``plot(plt, ok_rows)`` -> a figure (or None) saved as ``plot_file``."""

    run: Callable[[bool, str, int], list[dict]]
    plot: Callable | None = None
    plot_file: str = ""


SUITES: dict[str, Suite] = {
    "chromatin_direct": Suite(
        chromatin_direct, report.plot_chromatin_direct, "widths_chromatin_direct.png"
    ),
    "residual4": Suite(residual4, report.plot_residual4, "residual4.png"),
    "sampled": Suite(sampled, report.plot_sampled, "sampled.png"),
    "architectures": Suite(architectures),
    "scaling": Suite(scaling),
    "ode_speed": Suite(ode_speed, report.plot_ode_speed, "ode_speed.png"),
    "time_weights": Suite(time_weights, report.plot_time_weights, "time_weights.png"),
    "ode_memory": Suite(ode_memory, report.plot_ode_memory, "ode_memory.png"),
    "spiral_fit": Suite(spiral_fit),
    "lotka_volterra": Suite(lotka_volterra),
}

#: every name ``steadygrad bench`` accepts, in the order a full run takes them
ALL_PROBLEMS = [*PDE_PROBLEMS, *SUITES]
#: names that stand for several problems
GROUPS = {"standard": STANDARD}
#: what ``steadygrad bench`` runs without names: all but the standard suite and the
#: architectures (their own commands, ``bench standard`` and ``bench architectures``: each
#: takes about as long as the rest together)
DEFAULT_PROBLEMS = [p for p in ALL_PROBLEMS if p not in (*STANDARD, "architectures")]


def expand(names, known=ALL_PROBLEMS) -> list[str]:
    """``names`` with each group replaced by its problems (duplicates dropped, order kept);
    a name neither in ``known`` nor a group raises ``ValueError`` listing both."""
    unknown = [n for n in names if n not in known and n not in GROUPS]
    if unknown:
        raise ValueError(
            f"unknown problem(s) {unknown}; choose from {known} or the group(s) {list(GROUPS)}"
        )
    return list(dict.fromkeys(p for n in names for p in GROUPS.get(n, [n])))


def benchmark_of(row: dict) -> str:
    """The benchmark a row belongs to (a suite's rows may be named ``"<suite>:<case>"``)."""
    return row["problem"].split(":")[0]
