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
    heat2d_multiscale,
    heat_inverse,
    kuramoto_sivashinsky,
    langevin,
    ns2d_lid_driven,
    poisson1d,
    poisson2d_classic,
    poisson_inverse,
    wave1d,
)
from .common import VARIANTS, Problem, Setup

__all__ = ["PDE_PROBLEMS", "STANDARD", "VARIANTS", "Problem", "Setup"]

PDE_PROBLEMS: dict[str, Problem] = {
    **poisson1d.PROBLEMS,
    **beam.PROBLEMS,
    **diffusion_const.PROBLEMS,
    **diffusion_reaction.PROBLEMS,
    **heat2d.PROBLEMS,
    **cahn_hilliard.PROBLEMS,
    **langevin.PROBLEMS,
    **chromatin.PROBLEMS,
    # the field's standard problems (PINNacle's)
    **burgers1d.PROBLEMS,
    **poisson2d_classic.PROBLEMS,
    **heat2d_multiscale.PROBLEMS,
    **kuramoto_sivashinsky.PROBLEMS,
    **ns2d_lid_driven.PROBLEMS,
    **wave1d.PROBLEMS,
    **poisson_inverse.PROBLEMS,
    **heat_inverse.PROBLEMS,
}

#: ``steadygrad bench standard``: PINNacle's problems
STANDARD = [
    *burgers1d.PROBLEMS,
    *poisson2d_classic.PROBLEMS,
    *heat2d_multiscale.PROBLEMS,
    *kuramoto_sivashinsky.PROBLEMS,
    *ns2d_lid_driven.PROBLEMS,
    *wave1d.PROBLEMS,
    *poisson_inverse.PROBLEMS,
    *heat_inverse.PROBLEMS,
]
