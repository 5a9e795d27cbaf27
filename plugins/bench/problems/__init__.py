"""The PDE benchmark problems, one module each, behind one registry.

A module defines its builder(s) (``builder(noise, quick, rng) -> Setup``) and ``PROBLEMS``
({name: :class:`Problem`}: schedule, information limit, direct estimate); a new problem is one
module here and one line below.
"""

from . import (
    beam,
    burgers1d,
    cahn_hilliard,
    chromatin,
    diffusion_const,
    diffusion_reaction,
    heat2d,
    langevin,
    poisson1d,
)
from .common import VARIANTS, Problem, Setup

__all__ = ["PDE_PROBLEMS", "VARIANTS", "Problem", "Setup"]

PDE_PROBLEMS: dict[str, Problem] = {
    **poisson1d.PROBLEMS,
    **beam.PROBLEMS,
    **diffusion_const.PROBLEMS,
    **diffusion_reaction.PROBLEMS,
    **heat2d.PROBLEMS,
    **cahn_hilliard.PROBLEMS,
    **langevin.PROBLEMS,
    **chromatin.PROBLEMS,
    **burgers1d.PROBLEMS,
}
