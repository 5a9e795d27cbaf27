"""``width="auto"``: the kernel half-width chosen from the observed data.

Rule (documented in docs/mollifier.md, "Automatic width"):

1. Spacing s_a per mollified axis: the given ``spacing``, else the median gap between the
   data's distinct coordinates (lattice data), else extent / N^(1/d).
2. Noise level: every observation is predicted from its K nearest neighbours (coordinates in
   units of s_a) by a local quadratic least-squares fit that leaves the point out; the
   residual r_i has variance sigma^2 (1 + l_i), l_i the prediction's leverage, so
   sigma_hat = 1.4826 median |r_i / sqrt(1 + l_i)| (a robust scale estimate).
3. Width: candidates eps = c s (c in CANDIDATES); the data are smoothed by the same kernel
   (normalised weights S_ij = eta_eps(x_i - x_j) / sum_j eta_eps(x_i - x_j)), and the
   candidate minimising Mallows' C_p / Stein's unbiased risk estimate

       SURE(eps) = mean_i (y_i - (S y)_i)^2 - sigma_hat^2 + 2 sigma_hat^2 mean_i S_ii      (1)

   (an unbiased estimate of the mean squared error of S y against the noise-free field) wins:
   the widest smoothing whose bias the noise does not yet hide.  Candidates are tried in
   increasing order and the search stops once SURE has risen twice past its minimum.
4. Floor: at least MIN_SPACINGS spacings (grid mode's resolution), and with
   ``precision='input'`` in float32 at least the precision rule's width for the highest
   derivative order (docs/mollifier.md, "Smallest safe width"; L = the data's length scale).

Rows (targets) are a random subset of at most ROWS observations, so the cost is that of a
few thousand kernel smoothings whatever N.
"""

from __future__ import annotations

import warnings

import numpy as np

from .kernels import Kernel

__all__ = [
    "CANDIDATES",
    "MIN_SPACINGS",
    "WidthChoice",
    "choose_width",
    "data_spacing",
    "estimate_noise",
    "is_auto",
    "WIDE",
    "WidthWarning",
    "check_extent",
]

CANDIDATES = (2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)
MIN_SPACINGS = 2.0
ROWS = 2000
#: float32, rtol 1e-3: the smallest safe width as a multiple of the length scale L, by order
#: (docs/mollifier.md, "Smallest safe width", polynomial kernel q = 8)
FLOAT32_SAFE = {1: 0.0015, 2: 0.087, 3: 0.37, 4: 0.78}


class WidthChoice(tuple):
    """(width per axis, report dict); the report holds sigma_hat, the SURE curve and why."""

    def __new__(cls, width: tuple, report: dict):
        return super().__new__(cls, (width, report))


def data_spacing(points: np.ndarray) -> np.ndarray:
    """Per-axis spacing of observation points (N, d): the median gap of distinct coordinates
    when the data lie on a lattice-like set, else extent / N^(1/d).  Raises ValueError for an
    axis along which all points coincide."""
    n, d = points.shape
    out = np.empty(d)
    for a in range(d):
        u = np.unique(points[:, a])
        gaps = np.diff(u)
        if 1 < u.size <= n / 2 and gaps.size:
            out[a] = np.median(gaps)
        elif u.size > 1:
            out[a] = np.ptp(points[:, a]) / max(n, 1) ** (1.0 / d)
        else:
            raise ValueError(
                f"the observation points all have the same coordinate along axis {a} "
                f"({u[0]!r}): they set no spacing to choose a width from; give the width "
                f"(or the spacing) explicitly"
            )
    return out


def _design(dz: np.ndarray) -> np.ndarray:
    """Quadratic design matrix [1, z, z_a z_b] for offsets dz (..., d)."""
    d = dz.shape[-1]
    cols = [np.ones(dz.shape[:-1]), *[dz[..., a] for a in range(d)]]
    cols += [dz[..., a] * dz[..., b] for a in range(d) for b in range(a, d)]
    return np.stack(cols, -1)


def estimate_noise(z: np.ndarray, y: np.ndarray, rows: np.ndarray) -> float:
    """sigma_hat of step 2 at the observations ``rows``; z (N, d) in spacing units, y (N,)."""
    from scipy.spatial import cKDTree

    d = z.shape[1]
    p = 1 + d + d * (d + 1) // 2
    k = min(len(z) - 1, 3 * p)
    if k <= p:
        raise ValueError(f"width='auto' needs more than {p + 1} observations to estimate the noise")
    _, nb = cKDTree(z).query(z[rows], k + 1)
    nb = nb[:, 1:]  # leave the point itself out
    A = _design(z[nb] - z[rows, None, :])  # (R, k, p), the target at the origin
    pinv = np.linalg.pinv(A)  # (R, p, k)
    coef = np.einsum("rpk,rk->rp", pinv, y[nb])
    leverage = np.einsum("rk,rk->r", pinv[:, 0, :], pinv[:, 0, :])
    resid = (y[rows] - coef[:, 0]) / np.sqrt(1 + leverage)
    return float(1.4826 * np.median(np.abs(resid)))


def _smoother(z, rows, kernel: Kernel, c: float):
    """Rows ``rows`` of the normalised smoother S at width c spacings (CSR, len(rows) x N)."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    pairs = cKDTree(z[rows]).sparse_distance_matrix(
        cKDTree(z), c, p=np.inf, output_type="coo_matrix"
    )
    i, j = pairs.row, pairs.col
    weights = np.prod(kernel.derivative((z[rows[i]] - z[j]) / c, 0), axis=1)
    S = sp.csr_matrix((weights, (i, j)), shape=(len(rows), len(z)))
    return sp.diags(1.0 / np.asarray(S.sum(1)).ravel()) @ S


def _smooth(z, y, rows, kernel: Kernel, c: float) -> np.ndarray:
    """(S y) at ``rows``: the data smoothed by the kernel at width c spacings."""
    return _smoother(z, rows, kernel, c) @ y


def _sure(z, y, rows, kernel: Kernel, c: float, sigma: float) -> tuple[float, float]:
    """(SURE (1), mean squared residual) of the kernel smoother at width c spacings."""
    S = _smoother(z, rows, kernel, c)
    diag = np.asarray(S[np.arange(len(rows)), rows]).ravel()
    mse = float(np.mean((y[rows] - S @ y) ** 2))
    return mse - sigma**2 + 2 * sigma**2 * float(diag.mean()), mse


def _length_scale(z: np.ndarray, y: np.ndarray, rows: np.ndarray) -> float:
    """L = std(y) / rms |grad y| from nearest-neighbour differences, in spacing units."""
    from scipy.spatial import cKDTree

    dist, nb = cKDTree(z).query(z[rows], 2)
    slope = np.abs(y[nb[:, 1]] - y[rows]) / np.maximum(dist[:, 1], 1e-300)
    return float(np.std(y) / max(np.sqrt(np.mean(slope**2)), 1e-300))


def choose_width(
    points,
    values,
    kernel: Kernel,
    spacing=None,
    order: int = 2,
    float32_input: bool = False,
    seed: int = 0,
) -> WidthChoice:
    """The half-width per axis chosen by the module's rule.

    Args:
        points: observation coordinates (N, d) on the mollified axes (array or tensor).
        values: observations (N,) or (N, m); columns are pooled after scaling each to unit std.
        kernel: the layer's kernel (its 1D profile smooths the data).
        spacing: per-axis spacing (default: from the data, step 1).
        order: the highest derivative order the residual needs (precision floor only).
        float32_input: apply the float32 precision floor (``precision='input'``).

    Returns:
        ``(width tuple, report)``; report keys: spacing, sigma, sure {c: value}, chosen_c,
        floor_c.
    """
    P = np.asarray(_numpy(points), dtype=float)
    Y = np.asarray(_numpy(values), dtype=float).reshape(len(P), -1)
    if P.ndim != 2 or len(P) == 0 or not np.isfinite(P).all() or not np.isfinite(Y).all():
        raise ValueError("width='auto' needs finite observations: points (N, d), values (N,)")
    s = (
        data_spacing(P)
        if spacing is None
        else np.broadcast_to(np.asarray(spacing, float), P.shape[1:])
    )
    z = P / s
    rows = np.random.default_rng(seed).permutation(len(P))[: min(ROWS, len(P))]
    scale = Y.std(0)
    Y = Y[:, scale > 0] / scale[scale > 0]
    if Y.shape[1] == 0:
        raise ValueError("width='auto': the observations are constant; give a width")
    sigmas = [estimate_noise(z, y, rows) for y in Y.T]
    floor = MIN_SPACINGS
    if float32_input and order >= 1:
        L = min(_length_scale(z, y, rows) for y in Y.T)
        floor = max(floor, FLOAT32_SAFE[min(order, 4)] * L)
    sure: dict = {}
    for c in (c for c in CANDIDATES if c >= floor):
        sure[c] = sum(_sure(z, y, rows, kernel, c, sg)[0] for y, sg in zip(Y.T, sigmas))
        if len(sure) >= 3 and min(sure, key=sure.get) < min(list(sure)[-2:]):
            break  # risen twice past the minimum: wider candidates only add bias (and cost)
    chosen = min(sure, key=sure.get) if sure else floor
    report = {
        "spacing": tuple(float(v) for v in s),
        "sigma": [float(v) * float(sc) for v, sc in zip(sigmas, scale[scale > 0])],
        "sure": sure,
        "chosen_c": float(chosen),
        "floor_c": float(floor),
    }
    return WidthChoice(tuple(float(chosen * v) for v in s), report)


def _numpy(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else a


def is_auto(width) -> bool:
    """Whether a width argument asks for the automatic choice."""
    return isinstance(width, str) and width == "auto"


#: a half-width above this fraction of the points' extent along an axis gets a warning
WIDE = 0.25


class WidthWarning(UserWarning):
    """The kernel half-width is large against the points' extent: u = g * eta is a heavy
    blur of the network's field, and its derivatives are not the field's."""


def check_extent(points, widths: tuple, axes: tuple) -> None:
    """Warn (:class:`WidthWarning`) where a half-width exceeds ``WIDE`` x the extent of
    ``points`` (N, d) along its mollified axis."""
    if len(points) < 2:
        return
    lo, hi = points.detach().aminmax(dim=0)
    extent = (hi - lo).tolist()
    over = [(a, w, extent[a]) for a, w in zip(axes, widths) if 0 < extent[a] < w / WIDE]
    if over:
        a, w, e = over[0]
        warnings.warn(
            f"width {w:g} is {w / e:.0%} of the points' extent {e:g} along axis {a}: the "
            f"mollified field u = g * eta blurs the network's over most of the domain, and its "
            f"derivatives differ from the field's (widths above {WIDE:.0%} of the extent are "
            "rarely meant). Use a width of a few point spacings",
            WidthWarning,
            stacklevel=4,
        )
