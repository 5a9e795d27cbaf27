"""Choosing a smoothing width from the data and their known noise level: the
Goldenshluger-Lepski balance of bias and noise.

An estimate computed from noisy data through a smoothing of width w (e.g. a parameter field
from mollified derivatives of measured frames) errs by a bias that grows with w and a noise
part that shrinks with it.  Neither is known, but both can be bounded from the data:

* the noise part s(w): the RMS change of the estimate when the data get a fresh draw of their
  own noise level (a parametric bootstrap: it sees the noise's systematic effects too, e.g. the
  positive mean of squared noise gradients in a nonlinear term, which a split of the data into
  halves cannot see);
* the bias B(w)^2 = max over narrower widths w' of
  (|est(w) - est(w')|^2 - kappa^2 (n(w, w') + 2 d(w, w')))_+, with n the bootstrap's mean
  squared change of est(w) - est(w') and d its standard deviation over the draws: how far
  est(w) lies from narrower estimates beyond what their noise (and its scatter) explains.

The width minimising B(w)^2 + kappa^2 s(w)^2 is chosen: the comparison of Goldenshluger &
Lepski ("Bandwidth selection in kernel density estimation: oracle inequalities and adaptive
minimax optimality", Ann. Statist. 39, 2011) taken in squared norms, with the bootstrap as the
majorant.  Their linear form (|est(w) - est(w')| - kappa s(w')) chose widths up to 4.6x the
best candidate's error on an exact second derivative (``tests/test_widths.py``'s problem);
this one stays within 1.73x over that problem and the chromatin frames (docs/inverse.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["WidthBalance", "balance_width"]


@dataclass(frozen=True)
class WidthBalance:
    """The chosen width and what chose it (per candidate width, in the given order).

    Attributes:
        width: the chosen width; ``index`` its position among the candidates.
        estimate: the estimate at that width (the caller's array).
        spread: s(w), the RMS change of the estimate under a fresh draw of the noise.
        bias: B(w), the bias bound.
    """

    width: float
    index: int
    estimate: np.ndarray
    spread: tuple[float, ...]
    bias: tuple[float, ...]

    def describe(self) -> str:
        return (
            f"width {self.width:g} (candidate {self.index + 1} of {len(self.spread)}): bias bound "
            f"{self.bias[self.index]:.3g}, noise spread {self.spread[self.index]:.3g}"
        )


def _check(widths: Sequence[float], draws: int, kappa: float) -> tuple[float, ...]:
    widths = tuple(float(w) for w in widths)
    if len(widths) < 2 or any(not math.isfinite(w) or w < 0 for w in widths):
        raise ValueError(f"widths must be two or more finite widths >= 0, got {widths}")
    if any(b <= a for a, b in zip(widths, widths[1:])):
        raise ValueError(f"widths must increase (narrowest first), got {widths}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise ValueError(f"draws must be an integer >= 2 (their scatter is used), got {draws!r}")
    if not (math.isfinite(kappa) and kappa > 0):
        raise ValueError(f"kappa must be a positive number, got {kappa!r}")
    return widths


def balance_width(
    widths: Sequence[float],
    estimate: Callable[[object, float], np.ndarray],
    data: object,
    redraw: Callable[[object, np.random.Generator], object],
    draws: int = 4,
    kappa: float = 1.0,
    rng: np.random.Generator | None = None,
) -> WidthBalance:
    """The width among ``widths`` that balances the estimate's bias and noise.

    Args:
        widths: candidate widths, increasing (the narrowest first; 0 allowed: no smoothing).
        estimate: ``estimate(data, width)`` -> the estimate (an array of any shape).
        data: the observations (whatever ``estimate`` and ``redraw`` take).
        redraw: ``redraw(data, rng)`` -> the data plus a fresh draw of their noise (the known
            level; e.g. ``data + sigma * rng.standard_normal(data.shape)``).
        draws: bootstrap draws per width.
        kappa: the majorant's factor on the noise terms (1: the bootstrap taken as it is).
        rng: the bootstrap's generator (default: seeded 0, so the choice is reproducible).

    Returns:
        A :class:`WidthBalance`.  With noise-free data every spread is 0 and the narrowest
        width wins.
    """
    widths = _check(widths, draws, kappa)
    rng = np.random.default_rng(0) if rng is None else rng
    noisy = [redraw(data, rng) for _ in range(draws)]
    first = [np.asarray(estimate(data, w), dtype=float) for w in widths]
    est = np.stack([e.ravel() for e in first])
    if not np.all(np.isfinite(est)):
        raise ValueError("the estimate is not finite at some width; check the data and widths")
    # the change of every width's estimate under each fresh noise draw (draws, widths, size)
    moved = (
        np.stack(
            [
                np.stack([np.asarray(estimate(d, w), dtype=float).ravel() for w in widths])
                for d in noisy
            ]
        )
        - est[None]
    )
    spread = np.sqrt(np.mean(moved**2, axis=(0, 2)))
    bias = [0.0] * len(widths)
    for j in range(1, len(widths)):
        # |est_j - est_i|^2 = (bias_j - bias_i)^2 + |noise_j - noise_i|^2 in expectation; the
        # bootstrap measures the second term (its mean over the draws) and how much one draw of
        # it scatters (their standard deviation), which the data's own draw does as well: a gap
        # counts as bias only beyond twice that scatter
        gap = np.mean((est[j] - est[:j]) ** 2, axis=1)
        per_draw = np.mean((moved[:, j : j + 1] - moved[:, :j]) ** 2, axis=2)  # (draws, j)
        excess = gap - kappa**2 * (per_draw.mean(0) + 2 * per_draw.std(0, ddof=1))
        bias[j] = float(np.sqrt(max(np.max(excess), 0.0)))
    risk = [b**2 + (kappa * s) ** 2 for b, s in zip(bias, spread)]
    best = int(np.argmin(risk))
    return WidthBalance(widths[best], best, first[best], tuple(map(float, spread)), tuple(bias))
