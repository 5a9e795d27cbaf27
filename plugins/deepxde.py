"""``steadygrad.deepxde``: the one-line DeepXDE opt-in.

``steadygrad.deepxde.enable("mollifier", width=...)``.

An alias of :mod:`steadygrad.adapters.deepxde`, which holds the glue.
"""

from .adapters.deepxde import FallbackWarning, active, disable, enable, run_script

__all__ = ["FallbackWarning", "active", "disable", "enable", "run_script"]
