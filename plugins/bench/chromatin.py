"""Reference solver of the time-dependent chromatin model (the ``chromatin`` benchmark's data).

The heterochromatin fraction phi(x, y, t) on the periodic unit square, with a known euchromatin
fraction phi_e and an unknown, spatially varying reaction rate lambda(x, y):

    dphi/dt = Lap(mu) + 2 (lambda phi_e - phi) + s,
    mu = -phi_e + f(phi) - l^2 Lap(phi),   f(phi) = phi (PHI_MAX - phi)(PHI_MAX - 2 phi),   (1)

PHI_MAX = 0.7, l = 0.03; s is a source used only by the manufactured-solution check.  With
phi_e constant, Lap(mu) = Lap f(phi) - l^2 Lap^2 phi.  The double well f drives phase
separation and the reaction arrests it: from phi = 0.35 + small noise, domains spanning
0.05-0.67 form by t = 0.5.

Discretisation: Fourier pseudo-spectral in space (m x m nodes x_i = i / m), SBDF2 in time
(second order): the stiff linear part -(l^2 |k|^4 + 2) phi implicit, Lap f(phi) + 2 lambda
phi_e + s extrapolated (2 N^n - N^(n-1)); the first step is IMEX Euler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "DOUBLE_WELL",
    "L_INTERFACE",
    "PHI_E",
    "PHI_MAX",
    "chromatin_data",
    "chromatin_frames",
    "chromatin_rate",
    "chromatin_solve",
    "direct_estimate",
    "double_well",
    "lowpass",
]

PHI_MAX, L_INTERFACE, PHI_E = 0.7, 0.03, 0.5
_BLOBS = ((0.3, 0.3, 0.35, 0.10), (0.7, 0.6, 0.40, 0.12), (0.35, 0.75, 0.25, 0.08))


def chromatin_rate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """lambda(x, y) = 0.5 + three periodic Gaussian blobs (peak values up to ~0.9)."""
    out = 0.5 + 0.0 * (x + y)
    for cx, cy, amp, s in _BLOBS:
        dx, dy = (x - cx + 0.5) % 1 - 0.5, (y - cy + 0.5) % 1 - 0.5
        out = out + amp * np.exp(-(dx**2 + dy**2) / (2 * s**2))
    return out


def double_well(phi):
    """f(phi) = phi (PHI_MAX - phi)(PHI_MAX - 2 phi) of equation (1) (numpy or torch)."""
    return phi * (PHI_MAX - phi) * (PHI_MAX - 2 * phi)


#: f's coefficients, lowest degree first: f(phi) = PHI_MAX^2 phi - 3 PHI_MAX phi^2 + 2 phi^3
DOUBLE_WELL = (0.0, PHI_MAX**2, -3 * PHI_MAX, 2.0)


def chromatin_frames(
    m: int = 128,
    dt: float = 1e-3,
    times: Sequence[float] = (0.3, 0.4, 0.5),
    phi_e: float = PHI_E,
    rate: Callable = chromatin_rate,
    phi0: np.ndarray | None = None,
    source: Callable | None = None,
    seed: int = 0,
) -> dict[float, np.ndarray]:
    """Integrate (1) from t = 0 and return phi at ``times`` (each a multiple of dt).

    Args:
        m: nodes per axis (spacing 1 / m, periodic).
        phi0: initial field (m, m); default 0.35 + 0.02 N(0, 1) (seeded).
        source: s(t, X, Y) of (1), for manufactured solutions (default none).

    Returns:
        {t: phi (m, m)}, axis 0 = x, node (i, j) at (i / m, j / m).
    """
    import torch

    xs = np.arange(m) / m
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    if phi0 is None:
        phi0 = 0.35 + 0.02 * np.random.default_rng(seed).standard_normal((m, m))
    src = None if source is None else (lambda t: torch.as_tensor(source(t, X, Y)))
    out = chromatin_solve(
        torch.as_tensor(phi0, dtype=torch.float64),
        torch.as_tensor(rate(X, Y), dtype=torch.float64),
        0.0,
        times,
        dt,
        phi_e,
        src,
    )
    return {t: v.numpy() for t, v in zip(times, out)}


def chromatin_solve(
    phi0, rate, t0: float, times: Sequence[float], dt: float, phi_e=PHI_E, source=None
):
    """Integrate (1) from phi(t0) = ``phi0`` (m, m) with lambda = ``rate`` (m, m) on the
    periodic m x m grid; returns phi at ``times`` (each t0 + a positive multiple of dt) as a
    tensor (len(times), m, m).  Torch, differentiable in ``phi0`` and ``rate`` (the
    information-limit fit's forward model).  ``source``: t -> s (m, m) of (1), or None."""
    import torch

    steps = {int(round((t - t0) / dt)): i for i, t in enumerate(times)}
    if any(abs(t0 + n * dt - times[i]) > 1e-9 or n < 1 for n, i in steps.items()):
        raise ValueError(
            f"times {tuple(times)} must be t0 = {t0} + positive multiples of dt = {dt}"
        )
    m = phi0.shape[0]
    k = 2 * np.pi * np.fft.fftfreq(m, 1.0 / m)
    k2 = torch.as_tensor(k[:, None] ** 2 + k[None, :] ** 2, dtype=phi0.dtype, device=phi0.device)
    linear = -(L_INTERFACE**2 * k2**2 + 2.0)
    production = torch.fft.fft2(2.0 * rate * phi_e)

    def explicit(ph, t):
        phi = torch.fft.ifft2(ph).real
        out = -k2 * torch.fft.fft2(double_well(phi)) + production
        return out if source is None else out + torch.fft.fft2(source(t))

    frames = [None] * len(times)
    prev = torch.fft.fft2(phi0)
    n_prev = explicit(prev, t0)
    cur = (prev + dt * n_prev) / (1 - dt * linear)
    if 1 in steps:
        frames[steps[1]] = torch.fft.ifft2(cur).real
    for n in range(2, max(steps) + 1):
        n_cur = explicit(cur, t0 + (n - 1) * dt)
        prev, cur = cur, (4 * cur - prev + 2 * dt * (2 * n_cur - n_prev)) / (3 - 2 * dt * linear)
        n_prev = n_cur
        if n in steps:
            frames[steps[n]] = torch.fft.ifft2(cur).real
    return torch.stack(frames)


@lru_cache(maxsize=8)
def _reference_frames(times: tuple, seed: int) -> dict:
    """The benchmark's 128^2 reference frames, solved once per (times, seed) and process (noise
    levels and variants share them; callers get copies)."""
    return chromatin_frames(128, 1e-3, times, seed=seed)


def chromatin_data(m: int, times: Sequence[float], noise: float, rng) -> tuple[dict, dict]:
    """Frames of the benchmark: (1) from 0.35 + noise (seeded by ``rng``) on 128^2 nodes,
    sampled on an m x m pixel grid (m divides 128) at ``times``, plus measurement noise of
    ``noise`` x max|phi| (Gaussian).  Returns ({t: clean (m, m)}, {t: noisy (m, m)})."""
    frames = _reference_frames(tuple(times), int(rng.integers(1 << 30)))
    clean = {t: frames[t][:: 128 // m, :: 128 // m].copy() for t in times}
    top = max(np.abs(v).max() for v in clean.values())
    noisy = {t: v + noise * top * rng.standard_normal(v.shape) for t, v in clean.items()}
    return clean, noisy


def direct_estimate(
    frames: dict[float, np.ndarray],
    width: float,
    kernel,
    harmonics: int | None = 3,
    phi_e: float = PHI_E,
    noise_variance: float = 0.0,
) -> np.ndarray:
    """lambda from (1) by differentiating the data directly, without a network: every frame is
    mollified by ``kernel`` at half-width ``width`` (input units; 0: none) on the periodic pixel
    grid (exactly, in Fourier space), phi_t is the central difference of the neighbouring
    frames, and lambda = (phi_t - Lap mu + 2 phi) / (2 phi_e) is averaged over the interior
    frames, then kept to Fourier harmonics <= ``harmonics`` per axis (the smoothness the
    PINN's lambda network has; None: all).

    The only nonlinear term, f(phi), is biased by the noise (E f(phi + e) = f(phi) +
    (6 phi - 3 PHI_MAX) var(e)): with ``noise_variance`` (the frames' white noise, per pixel)
    f is replaced by its unbiased counterpart at the mollified noise's variance
    (``steadygrad.inverse.unbiased_polynomial``), which leaves the estimate unbiased but for
    the mollifier's own smoothing.

    Args:
        frames: {t: phi (m, m)} at >= 3 equally spaced times.
        kernel: a ``steadygrad.mollifier`` kernel (its ``transfer`` is the Fourier transform).
        noise_variance: the frames' noise variance per pixel (0: no correction).

    Returns:
        lambda estimate (m, m).
    """
    from ..inverse import filtered_variance, unbiased_polynomial

    times = sorted(frames)
    if len(times) < 3:
        raise ValueError("direct_estimate needs at least three frames")
    m = frames[times[0]].shape[0]
    k = 2 * np.pi * np.fft.fftfreq(m, 1.0 / m)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    k2 = kx**2 + ky**2
    smooth = kernel.transfer(kx * width) * kernel.transfer(ky * width) if width > 0 else 1.0
    field = np.real(np.fft.ifft2(np.fft.fft2(np.stack([frames[t] for t in times])) * smooth))
    transfer = np.broadcast_to(smooth, k2.shape)  # 1.0 when unmollified
    well = unbiased_polynomial(DOUBLE_WELL, filtered_variance(transfer, noise_variance))
    # all interior frames at once: Lap mu = F^-1[-k^2 F f(phi) - L^2 k^4 F phi]
    p, dt = field[1:-1], np.diff(np.asarray(times, dtype=float))
    p_t = (field[2:] - field[:-2]) / (dt[1:] + dt[:-1])[:, None, None]
    f_hat = np.fft.fft2(np.polynomial.polynomial.polyval(p, well))
    lap_mu = np.real(np.fft.ifft2(-k2 * f_hat - L_INTERFACE**2 * k2**2 * np.fft.fft2(p)))
    out = np.mean((p_t - lap_mu + 2 * p) / (2 * phi_e), 0)
    return out if harmonics is None else lowpass(out, harmonics)


def lowpass(field: np.ndarray, harmonics: int = 3) -> np.ndarray:
    """Keep the periodic field's Fourier harmonics <= ``harmonics`` per axis (m, m)."""
    n = np.abs(np.fft.fftfreq(field.shape[0], 1.0 / field.shape[0]))
    keep = (n[:, None] <= harmonics) & (n[None, :] <= harmonics)
    return np.real(np.fft.ifft2(np.fft.fft2(field) * keep))
