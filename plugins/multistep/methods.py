"""Explicit linear multistep methods, one small class per method behind one registry.

A k-step method advances   sum_{j=0}^{k} alpha_j x_{n+j} = h sum_{j=0}^{k-1} beta_j f_{n+j},
alpha_k = 1, with characteristic polynomials rho(z) = sum alpha_j z^j, sigma(z) = sum beta_j z^j.
The first k - 1 values come from a one-step ``start`` method.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AB2", "AB3", "AB4", "STARTERS", "Leapfrog", "LinearMultistep", "Milne"]

#: one-step starting procedures: name -> order
STARTERS = {"euler": 1, "rk2": 2, "rk4": 4}


class LinearMultistep:
    """Coefficients and derived quantities of an explicit linear multistep method."""

    name = "lmm"
    alpha: tuple = ()
    beta: tuple = ()
    order = 0
    start = "rk4"

    @property
    def k(self) -> int:
        """Number of steps."""
        return len(self.alpha) - 1

    @property
    def sigma1(self) -> float:
        """sigma(1) = sum beta_j (= rho'(1) for a consistent method)."""
        return float(sum(self.beta))

    @property
    def shift(self) -> float:
        """s = -sum_j beta_j (k - j) / sigma(1).

        The discrete adjoint's smooth mode is a_m ~ p(t_m + s h) / sigma(1): with it,
        q_n = sum_j beta_j a_{n+k-j} approximates the continuous adjoint p(t_n) to O(h^2).
        """
        return -sum(b * (self.k - j) for j, b in enumerate(self.beta)) / self.sigma1

    def parasitic_unit_roots(self) -> np.ndarray:
        """Roots of rho other than 1 that lie on the unit circle (weak stability)."""
        roots = np.roots(self.alpha[::-1])
        on_circle = np.abs(np.abs(roots) - 1.0) < 1e-9
        principal = np.abs(roots - 1.0) < 1e-9
        return roots[on_circle & ~principal]

    @property
    def weakly_stable(self) -> bool:
        """Whether rho has roots other than 1 on the unit circle (leapfrog, Milne)."""
        return len(self.parasitic_unit_roots()) > 0

    def __repr__(self) -> str:
        return f"{self.name}(k={self.k}, order={self.order}, start={self.start})"


class Leapfrog(LinearMultistep):
    """Explicit midpoint x_{n+2} = x_n + 2h f_{n+1}; order 2, weakly stable (root -1)."""

    name = "leapfrog"
    alpha = (-1.0, 0.0, 1.0)
    beta = (0.0, 2.0)
    order = 2
    start = "euler"


class AB2(LinearMultistep):
    """Adams-Bashforth 2: x_{n+2} = x_{n+1} + h (3/2 f_{n+1} - 1/2 f_n)."""

    name = "ab2"
    alpha = (0.0, -1.0, 1.0)
    beta = (-0.5, 1.5)
    order = 2
    start = "euler"


class AB3(LinearMultistep):
    """Adams-Bashforth 3."""

    name = "ab3"
    alpha = (0.0, 0.0, -1.0, 1.0)
    beta = (5 / 12, -16 / 12, 23 / 12)
    order = 3
    start = "rk4"


class AB4(LinearMultistep):
    """Adams-Bashforth 4."""

    name = "ab4"
    alpha = (0.0, 0.0, 0.0, -1.0, 1.0)
    beta = (-9 / 24, 37 / 24, -59 / 24, 55 / 24)
    order = 4
    start = "rk4"


class Milne(LinearMultistep):
    """Explicit Milne x_{n+4} = x_n + 4h/3 (2 f_{n+3} - f_{n+2} + 2 f_{n+1}).

    Order 4, weakly stable.
    """

    name = "milne"
    alpha = (-1.0, 0.0, 0.0, 0.0, 1.0)
    beta = (0.0, 8 / 3, -4 / 3, 8 / 3)
    order = 4
    start = "rk4"
