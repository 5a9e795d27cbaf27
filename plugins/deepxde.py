"""``steadygrad.deepxde``: the one-line DeepXDE opt-in.

``steadygrad.deepxde.enable("mollifier", width=...)``.

An alias of :mod:`steadygrad.adapters.deepxde`, which holds the glue.
"""

from .adapters.deepxde import FallbackWarning, active, disable, enable, run_script
from .adapters.deepxde_distributed import distribute, is_main, quiet_followers
from .adapters.deepxde_inverse import LinearParameter, fit_observations, set_lbfgs_steps

__all__ = [
    "FallbackWarning",
    "LinearParameter",
    "active",
    "disable",
    "distribute",
    "enable",
    "fit_observations",
    "is_main",
    "quiet_followers",
    "run_script",
    "set_lbfgs_steps",
]
