"""``steadygrad.deepxde``: the one-line DeepXDE opt-in.

``steadygrad.deepxde.enable("mollifier", width=...)``.

An alias of :mod:`steadygrad.adapters.deepxde`, which holds the glue.
"""

from .adapters.deepxde import FallbackWarning, active, disable, enable, run_script
from .adapters.deepxde_distributed import distribute, is_main, quiet_followers
from .adapters.deepxde_inverse import LinearParameter

__all__ = [
    "FallbackWarning",
    "LinearParameter",
    "active",
    "disable",
    "distribute",
    "enable",
    "is_main",
    "quiet_followers",
    "run_script",
]
