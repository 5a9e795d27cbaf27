"""The information limit of each inverse benchmark's data (``steadygrad.inverse.limit``).

For every inverse problem with a differentiable reference, the PDE-constrained least-squares
estimate with the exact forward model (the reference discretisation, in torch), the parameter
in the PINN's basis and the nuisance unknowns free: the best any method can recover from the
same noisy observations.  Each returns a benchmark row (``variant: limit``) with the scores
the PINN rows carry; a fit that does not converge is flagged and carries no scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from .pde import _param_scores

__all__ = ["LIMITS", "NO_LIMIT", "limit_row"]

#: inverse problems without a differentiable reference, and why (their rows say so)
NO_LIMIT = {
    "diffusion_const": "no differentiable reference written (solve_bvp data)",
    "diffusion_reaction": "no differentiable reference written (solve_bvp data)",
    "langevin": "stochastic forward model (process noise): least squares is not its likelihood",
    "langevin_ode": "no differentiable reference written (Euler-Maruyama data)",
}


def _result(fit, scores: Callable[[dict], dict]) -> dict:
    """A limit row from a ``LimitFit``: scores only when it converged."""
    row = {
        "status": "ok" if fit.converged else "not converged",
        "limit_iterations": fit.iterations,
        "limit_s": fit.seconds,
        "final_loss": fit.loss,
        "chi2": fit.chi2,
    }
    if fit.converged:
        row.update(scores(fit.params))
    else:
        row["note"] = f"information-limit fit not converged: {fit.message}"
    return row


def chromatin_limit(design, noise: float, quick: bool, rng, max_iter: int = 3000) -> dict:
    """The chromatin design's limit: phi at the first frame (m x m, free, started from the
    noisy frame) and lambda = 0.5 + FourierBasis(H) c, fitted to all frames through the
    Fourier/SBDF2 solver on the pixel grid (dt = 2.5e-3; within 6e-4 of the 128^2 reference
    frames, far below 1% noise)."""
    from ..inverse import LBFGS, FourierBasis, information_limit
    from .chromatin import chromatin_data, chromatin_rate, chromatin_solve

    m, times = design.size(quick), design.frames()
    clean, noisy = chromatin_data(m, times, noise, rng)
    sigma = noise * max(np.abs(v).max() for v in clean.values())
    g = np.arange(m) / m
    Xe = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    B = FourierBasis(design.harmonics)(torch.as_tensor(Xe, dtype=torch.float64))
    observed = torch.as_tensor(np.stack([noisy[t] for t in times]))

    def forward(phi0, c):
        rate = (0.5 + B @ c).reshape(m, m)
        later = chromatin_solve(phi0, rate, times[0], times[1:], design.dt)
        return torch.cat([phi0[None], later])

    start = {"phi0": observed[0], "c": torch.zeros(B.shape[1], dtype=torch.float64)}
    fit = information_limit(forward, start, observed, sigma, LBFGS(max_iter))
    lam_true = chromatin_rate(Xe[:, 0], Xe[:, 1])
    return _result(fit, lambda p: _param_scores((0.5 + B @ p["c"]).numpy(), lam_true))


def heat2d_limit(noise: float, quick: bool, rng, max_iter: int = 60) -> dict:
    """heat2d's limit: lambda = 1 + LegendreBasis(8) c (the PINN's basis) fitted to the noisy
    lattice values of u through the finite-volume scheme that made the data (``fv_operator``)
    on 65 nodes per axis (the data lattices' nodes among them; within 5e-5 of the 129-node
    reference, 200x below 1% noise), with the adjoint sparse solve; no nuisance unknowns (the
    boundary values and the source are known, as they are to the PINN).  Gauss-Newton: L-BFGS
    stalls on the degree-8 coefficients (measured: chi2 0.91 at 5% noise, floor 0.72)."""
    from ..inverse import GaussNewton, LegendreBasis, information_limit
    from ..inverse.sparse import sparse_solve
    from .pde import HEAT2D_DEGREE, HEAT2D_SOURCE, _lattice2d, heat2d_observations
    from .reference import fv_operator, heat_conductivity

    n, m = (17 if quick else 33), 65
    _, u_obs, sigma = heat2d_observations(n, noise, rng)
    basis = LegendreBasis(HEAT2D_DEGREE)
    face_basis = []  # the basis at each face direction's points, in fv_operator's call order

    def record(*face):
        pts = np.stack([f.ravel() for f in face], -1)
        face_basis.append(basis(torch.as_tensor(pts, dtype=torch.float64)))
        return np.zeros_like(face[0])

    rows, cols, _, grids = fv_operator(record, m, 2)
    b = torch.full((grids[0].size,), -HEAT2D_SOURCE, dtype=torch.float64)
    every = (m - 1) // (n - 1)

    def forward(c):
        faces = iter(face_basis)
        _, _, vals, _ = fv_operator(lambda *f: (1 + next(faces) @ c).reshape(f[0].shape), m, 2)
        u = torch.nn.functional.pad(
            sparse_solve(rows, cols, vals, b).reshape(m - 2, m - 2), (1,) * 4
        )
        return u[::every, ::every].reshape(-1, 1)

    start = {"c": torch.zeros(basis.size, dtype=torch.float64)}
    fit = information_limit(forward, start, torch.as_tensor(u_obs), sigma, GaussNewton(max_iter))
    Xi = _lattice2d(0.15, 0.85, 29)
    B_i = basis(torch.as_tensor(Xi))
    lam_true = heat_conductivity(Xi[:, 0], Xi[:, 1])
    return _result(fit, lambda p: _param_scores((1 + B_i @ p["c"]).numpy(), lam_true))


class _SteadyState(torch.autograd.Function):
    """phi(k) of ``CahnHilliardFD`` (Newton, warm-started from the last solve), differentiable
    in k by the implicit function theorem: F(phi(k); k) = 0, dF/dk = -diag(phi), so
    dL/dk = phi * J^-T dL/dphi (J = dF/dphi at the solution; one transposed LU solve)."""

    @staticmethod
    def forward(ctx, k, fd, state):
        from scipy.sparse.linalg import splu

        kk = k.detach().numpy()
        phi = fd.solve(kk, phi=state.get("phi"))
        state["phi"] = phi
        ctx.lu, ctx.phi = splu(fd.jacobian(kk, phi)), phi
        return torch.as_tensor(phi)

    @staticmethod
    def backward(ctx, g):
        p = ctx.lu.solve(g.detach().numpy(), trans="T")
        return torch.as_tensor(ctx.phi * p), None, None


def cahn_hilliard_limit(noise: float, quick: bool, rng, max_iter: int = 60) -> dict:
    """cahn_hilliard's limit: k = K0 + LegendreBasis(8) c (the PINN's basis) fitted to the
    noisy lattice values of phi through the Newton finite-difference scheme that made the data
    (``CahnHilliardFD``) on 65 nodes per axis (the data lattices' among them; within 4.7e-4 of
    the 129-node reference, 0.04 of the noise at 1%), differentiated by the implicit function
    theorem; Gauss-Newton (Levenberg-Marquardt).  No nuisance unknowns (eps2, the source and
    the boundary conditions are known, as they are to the PINN)."""
    from ..inverse import GaussNewton, LegendreBasis, information_limit
    from .pde import CH_DEGREE, CH_EPS2, CH_K0, _lattice2d, cahn_hilliard_observations
    from .reference import CahnHilliardFD, ch_rate

    n, m = (17 if quick else 33), 65
    _, phi_obs, sigma, _ = cahn_hilliard_observations(n, noise, rng)
    fd, basis, state = CahnHilliardFD(m, CH_EPS2), LegendreBasis(CH_DEGREE), {}
    nodes = np.stack([a.ravel() for a in fd.interior], -1)
    B = basis(torch.as_tensor(nodes, dtype=torch.float64))
    every = (m - 1) // (n - 1)

    def forward(c):
        phi = _SteadyState.apply(CH_K0 + B @ c, fd, state).reshape(m - 2, m - 2)
        return torch.nn.functional.pad(phi, (1,) * 4)[::every, ::every].reshape(-1, 1)

    start = {"c": torch.zeros(basis.size, dtype=torch.float64)}
    fit = information_limit(
        forward, start, torch.as_tensor(phi_obs), sigma, GaussNewton(max_iter, 1e-8)
    )
    Xi = _lattice2d(0.15, 0.85, 29)
    B_i = basis(torch.as_tensor(Xi))
    k_true = ch_rate(Xi[:, 0], Xi[:, 1])
    return _result(fit, lambda p: _param_scores((CH_K0 + B_i @ p["c"]).numpy(), k_true))


def limit_row(name: str, noise: float, quick: bool, seed: int) -> dict:
    """The ``limit`` row of inverse problem ``name`` at one noise level (same data as the
    PINN rows: the problem's builder draws them from ``default_rng(seed)`` the same way)."""
    t0 = time.perf_counter()
    if name not in LIMITS:
        why = NO_LIMIT.get(name, "no differentiable reference")
        row = {"status": "no limit", "note": f"no information-limit row: {why}"}
    else:
        row = LIMITS[name](noise, quick, np.random.default_rng(seed))
    row.update(problem=name, variant="limit", noise=noise, case_s=time.perf_counter() - t0)
    return row


def _chromatin(design):
    return lambda noise, quick, rng: chromatin_limit(design, noise, quick, rng)


def _limits() -> dict[str, Callable]:
    from .pde import CHROMATIN, CHROMATIN_THIN

    return {
        "chromatin": _chromatin(CHROMATIN),
        "chromatin_thin": _chromatin(CHROMATIN_THIN),
        "heat2d": heat2d_limit,
        "cahn_hilliard": cahn_hilliard_limit,
    }


LIMITS: dict[str, Callable] = _limits()
