"""The evaluation modes of a mollifier layer, one strategy per module behind one registry.

* ``scattered``: the network on the stencil around every point (any points, any axes);
* ``grid``: the points are lattice nodes; g once per node of their box, separable
  convolutions gathered back (the fastest on large lattices);
* ``lattice``: arbitrary points served from a background lattice by interpolation;
* ``auto``: whichever of these costs least for the points.

On the same points and spacing the three give the same numbers up to round-off (grid) or the
interpolation error (lattice).  A new mode is one module with a :class:`Mode` subclass and a
line in :data:`STRATEGIES`.
"""

from .auto import AutoMode
from .base import Call, Mode
from .box import BoxField
from .grid import GridField, GridMode
from .lattice import LatticeField, LatticeMode
from .plans import PlanCache
from .scattered import ScatteredField, ScatteredMode

__all__ = [
    "MODES",
    "STRATEGIES",
    "AutoMode",
    "BoxField",
    "Call",
    "GridField",
    "GridMode",
    "LatticeField",
    "LatticeMode",
    "Mode",
    "PlanCache",
    "ScatteredField",
    "ScatteredMode",
    "strategies",
]

#: name -> strategy class; auto takes the others
STRATEGIES = {"scattered": ScatteredMode, "grid": GridMode, "lattice": LatticeMode}
MODES = (*STRATEGIES, "auto")


def strategies() -> dict[str, Mode]:
    """One fresh instance of every mode (a layer's own: lattice mode learns per layer)."""
    out = {name: cls() for name, cls in STRATEGIES.items()}
    out["auto"] = AutoMode(dict(out))
    return out
