"""``chromatin_direct``: what derivatives of the chromatin data can give, without a network.

For every noise level and mollifier half-width (in pixels), lambda is computed from the
mollified frames exactly (Fourier space, ``chromatin.direct_estimate``) and kept to the
harmonics the PINN's lambda network can represent.  No training: the rows show the
bias (wide kernels smooth the 4th-order balance away) against the noise amplification (narrow
kernels), the ceiling that any mollified residual with a perfect fit of the data inherits.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WIDTHS_PX", "chromatin_direct"]

WIDTHS_PX = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
TIMES = (0.3, 0.35, 0.4, 0.45, 0.5)


def chromatin_direct(quick: bool, device: str, seed: int, noise=(0.0, 0.01, 0.05, 0.1)):
    """Rows (noise x width): correlation and relative error of the direct lambda estimate, and
    the derivative-free baseline phi / phi_e (same harmonics)."""
    from ..mollifier.kernels import make_kernel
    from .chromatin import PHI_E, chromatin_data, chromatin_rate, direct_estimate, lowpass
    from .pde import _param_scores

    m = 64
    kernel = make_kernel("polynomial")
    g = np.arange(m) / m
    lam = chromatin_rate(*np.meshgrid(g, g, indexing="ij"))
    rows = []
    for level in noise:
        _, frames = chromatin_data(m, TIMES, level, np.random.default_rng(seed))
        base = _param_scores(lowpass(np.mean([frames[t] for t in TIMES], 0) / PHI_E), lam)
        for width in WIDTHS_PX:
            est = direct_estimate(frames, width / m, kernel)
            rows.append(
                {
                    "problem": "chromatin_direct",
                    "variant": "direct",
                    "status": "ok",
                    "noise": level,
                    "width": width,
                    **_param_scores(est, lam),
                    **{f"baseline_{k}": v for k, v in base.items()},
                }
            )
    return rows
