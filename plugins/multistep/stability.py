"""A watch on the spurious mode of weakly stable methods (leapfrog, Milne), always on.

Their characteristic polynomial rho has roots other than 1 on the unit circle (leapfrog: -1;
Milne: -1 and +-i).  Each gives a parasitic mode x_n ~ z^n that the starter's error excites
and that grows wherever the dynamics are damped (for dy/dt = lambda y with Re lambda < 0 the
parasitic root of leapfrog has modulus exp(-h Re lambda) > 1), while the solution decays.

The fourth difference D4 x_n = x_n - 4 x_{n-1} + 6 x_{n-2} - 4 x_{n-3} + x_{n-4} sees a mode z^n
of amplitude p as |1 - 1/z|^4 p (16 p for z = -1, 4 p for z = +-i) and the smooth solution as
h^4 |x''''| only, so r_n = |D4 x_n| / (F |x_{n-2}|), F the smallest |1 - 1/z|^4, estimates
the parasitic amplitude relative to the solution.  A coarse step on a smooth solution keeps
r_n at a constant level; the parasitic mode makes it grow.  The monitor warns (once per call
site, :class:`StabilityWarning`) when r_n ends above THRESHOLD and GROWTH times its early
level, or above DOMINANT whatever its growth (the mode dominated from the first steps).
Cost: five vector operations per step on the device, one host sync per solve.
"""

from __future__ import annotations

import warnings
from collections import deque

import torch

from .methods import LinearMultistep

__all__ = ["DOMINANT", "GROWTH", "THRESHOLD", "StabilityMonitor", "StabilityWarning"]

#: relative size of the parasitic component that is reported
THRESHOLD = 1e-3
#: growth over the early level (first quarter of the solve) that marks it as parasitic
GROWTH = 10.0
#: a level that is reported even without growth (the mode dominated from the start)
DOMINANT = 0.1


class StabilityWarning(RuntimeWarning):
    """A weakly stable multistep method's parasitic mode grew during a solve."""


class StabilityMonitor:
    """Feed it the states x_0, x_1, ... of one solve with :meth:`see`, then :meth:`report`."""

    def __init__(self, method: LinearMultistep, steps: int):
        roots = method.parasitic_unit_roots()
        self.method, self.steps = method, steps
        self.factor = float(min(abs(1 - 1 / z) ** 4 for z in roots))
        self.window: deque = deque(maxlen=5)
        self.early = self.worst = None
        self.seen = 0

    @classmethod
    def watch(cls, method: LinearMultistep, steps: int) -> StabilityMonitor | None:
        """A monitor for weakly stable methods on solves long enough to tell, else None."""
        return cls(method, steps) if method.weakly_stable and steps >= 16 else None

    def see(self, x: torch.Tensor) -> None:
        w = self.window
        w.append(x.detach())
        self.seen += 1
        if len(w) < 5:
            return
        d4 = w[4] - 4 * w[3] + 6 * w[2] - 4 * w[1] + w[0]
        tiny = torch.finfo(x.dtype).tiny if x.is_floating_point() else 1e-30
        r = torch.linalg.vector_norm(d4) / (self.factor * torch.linalg.vector_norm(w[2]) + tiny)
        r = torch.nan_to_num(r, nan=float("inf"))  # overflow (inf - inf) is growth, not silence
        if self.seen <= max(5, self.steps // 4):
            self.early = r if self.early is None else torch.minimum(self.early, r)
        self.worst = r if self.worst is None else torch.maximum(self.worst, r)

    def report(self, h: float, t0: float, t1: float) -> None:
        """Warn if the parasitic mode grew.  The text names the method, step and interval but
        no measured number, so Python's default filter shows it once per call site (a
        training loop's 1 000 solves warn once); the sizes are on the warning object
        (``worst``, ``early``)."""
        if self.worst is None:
            return
        worst, early = float(self.worst), float(self.early)  # the one host sync
        if worst > THRESHOLD and (worst > GROWTH * early or worst > DOMINANT):
            warning = StabilityWarning(_message(self.method.name, self.steps, h, t0, t1))
            warning.worst, warning.early = worst, early
            warnings.warn(warning, stacklevel=4)


#: what to do, per weakly stable method (equation: the parasitic root of y' = lambda y)
_ADVICE = {
    "leapfrog": "its parasitic root -1 + h lambda grows like exp(|Re lambda| t) on damped "
    "dynamics whatever the step_size, so a smaller step does not help: use method='ab3' or "
    "'ab4' (strongly stable, the same cost per step)",
    "milne": "its parasitic root near -1 grows like exp(5 |Re lambda| t / 3) on damped "
    "dynamics whatever the step_size, so a smaller step does not help: use method='ab3' or "
    "'ab4' (strongly stable, the same cost per step)",
}


def _message(name: str, steps: int, h: float, t0: float, t1: float) -> str:
    advice = _ADVICE.get(
        name, "use a smaller step_size, or method='ab3' or 'ab4' (strongly stable)"
    )
    return (
        f"{name} on [{t0:g}, {t1:g}] with h = {h:g} ({steps} steps): its parasitic (spurious, "
        f"step-alternating) component grew, and the solution and its gradients carry it; "
        f"{advice}. For gradients of a dissipative model, the continuous adjoint of an "
        "explicit Runge-Kutta method is the other choice. (Shown once per call site; its "
        "sizes are the warning's .worst and .early.)"
    )
