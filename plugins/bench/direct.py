"""``chromatin_direct``: what derivatives of the chromatin data can give, without a network.

For every noise level and mollifier half-width (in pixels), lambda is computed from the
mollified frames exactly (Fourier space, ``chromatin.direct_estimate``) and kept to the
harmonics the PINN's lambda network can represent.  No training: the rows show the
bias (wide kernels smooth the 4th-order balance away) against the noise amplification (narrow
kernels), the ceiling that any mollified residual with a perfect fit of the data inherits.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BALANCE_PX", "WIDTHS_PX", "chromatin_direct", "direct_rows"]

WIDTHS_PX = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
TIMES = (0.3, 0.35, 0.4, 0.45, 0.5)


def chromatin_direct(quick: bool, device: str, seed: int, noise=None):
    """Rows (noise x width): correlation and relative error of the direct lambda estimate, and
    the derivative-free baseline phi / phi_e (same harmonics).  Noise levels 0, 1, 5, 10%
    (quick: 5%)."""
    noise = noise or ((0.05,) if quick else (0.0, 0.01, 0.05, 0.1))
    from ..mollifier.kernels import make_kernel
    from .chromatin import PHI_E, chromatin_data, chromatin_rate, direct_estimate, lowpass
    from .problems.common import param_scores as _param_scores

    m = 64
    kernel = make_kernel("polynomial")
    g = np.arange(m) / m
    lam = chromatin_rate(*np.meshgrid(g, g, indexing="ij"))
    rows = []
    for level in noise:
        _, frames = chromatin_data(m, TIMES, level, np.random.default_rng(seed))
        base = _param_scores(lowpass(np.mean([frames[t] for t in TIMES], 0) / PHI_E), lam)
        auto = _auto_width_px(frames, kernel)
        for width in (*WIDTHS_PX, "auto"):
            px = auto if width == "auto" else width
            rows.append(
                {
                    "problem": "chromatin_direct",
                    "variant": "direct",
                    "status": "ok",
                    "noise": level,
                    "width": width,
                    "width_h": px,
                    **_param_scores(direct_estimate(frames, px / m, kernel), lam),
                    **{f"baseline_{k}": v for k, v in base.items()},
                }
            )
    return rows


def _auto_width_px(frames: dict, kernel) -> float:
    """The width='auto' rule on the frames (pixels x frames, spacing 1 pixel x 1 frame)."""
    from ..mollifier.autowidth import choose_width

    times = sorted(frames)
    m = frames[times[0]].shape[0]
    idx = np.arange(m, dtype=float)
    X = np.stack(np.meshgrid(idx, idx, np.arange(len(times), dtype=float), indexing="ij"), -1)
    y = np.stack([frames[t] for t in times], -1)
    return choose_width(X.reshape(-1, 3), y.reshape(-1), kernel, spacing=1.0)[1]["chosen_c"]


#: the candidate widths of the balanced direct estimate (pixels, narrowest first)
BALANCE_PX = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)


def direct_rows(design, noise: float, quick: bool, seed: int) -> list[dict]:
    """A chromatin design's lambda from its noisy frames without a network (same data as the
    PINN and limit rows: ``default_rng(seed)``), three rows:

    * ``mollifier-direct``: the frames mollified at the width ``balance_width`` chooses from
      the data and the known noise level (no knowledge of lambda), the double well's noise bias
      removed (``direct_estimate(..., noise_variance=...)``);
    * ``uncorrected-direct``: the same without the correction (what it buys);
    * ``interpolant-direct``: width 0, the exact derivatives of the frames' trigonometric
      interpolant, uncorrected (what differentiating the data without a mollifier gives).

    Each carries a one-point ``trace`` (its seconds), so it is timed against the limit too.
    """
    import time

    from ..inverse import balance_width
    from ..mollifier.kernels import make_kernel
    from .chromatin import PHI_E, chromatin_data, chromatin_rate, direct_estimate
    from .problems.common import param_scores as _param_scores

    m, times = design.size(quick), design.frames()
    clean, frames = chromatin_data(m, times, noise, np.random.default_rng(seed))
    sigma = noise * max(np.abs(v).max() for v in clean.values())
    lam = chromatin_rate(*np.meshgrid(np.arange(m) / m, np.arange(m) / m, indexing="ij"))
    mean = np.mean([frames[t] for t in times], 0)
    base = _param_scores(mean / PHI_E, lam)  # as the PINN rows' baseline
    kernel = make_kernel("polynomial")

    def estimate(data, px):  # data: (frames, their noise variance per pixel)
        return direct_estimate(data[0], px / m, kernel, design.harmonics, noise_variance=data[1])

    def redraw(data, rng):  # a fresh draw on top: the variances add (uncorrected stays 0)
        noisier = {t: v + sigma * rng.standard_normal(v.shape) for t, v in data[0].items()}
        return noisier, data[1] + sigma**2 if data[1] else 0.0

    def balanced(variance):
        chosen = balance_width(BALANCE_PX, estimate, (frames, variance), redraw)
        return chosen.width, chosen.estimate, chosen.describe()

    recipes = {  # variant: () -> (width in pixels, estimate, note)
        "mollifier-direct": lambda: balanced(sigma**2),
        "uncorrected-direct": lambda: balanced(0.0),
        "interpolant-direct": lambda: (0.0, estimate((frames, 0.0), 0.0), "no mollifier"),
    }
    rows = []
    for variant, recipe in recipes.items():
        t0 = time.perf_counter()
        px, est, note = recipe()
        seconds = time.perf_counter() - t0
        scores = _param_scores(est, lam)
        rows.append(
            {
                "variant": variant,
                "status": "ok",
                "noise": noise,
                "width_h": px,
                **scores,
                "direct_s": seconds,
                "note": note,
                "trace": [{"s": seconds, "step": 0, "losses": [], **scores}],
                **{f"baseline_{k}": v for k, v in base.items()},
            }
        )
    return rows
