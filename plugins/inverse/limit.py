"""How much of a parameter the data hold: the best estimate with the exact forward model.

Before training a PINN on an inverse problem, measure what the observations can give at all.
With a differentiable forward model F (parameters and nuisance unknowns, e.g. an initial
field, to predicted observations), the PDE-constrained least-squares estimate

    theta_hat = argmin_theta  J(theta),   J = |F(theta) - y|^2 / (2 N s^2)          (1)

(s: the noise standard deviation, N observations) is the maximum-likelihood estimate under
Gaussian noise.  A method whose parameter error is close to theta_hat's has reached the
information limit of the data; one that fails where theta_hat fails says nothing about
itself.  Near the optimum its covariance is the linearised (Cramer-Rao / Gauss-Newton)

    Cov(theta_hat) = s^2 (G^T G)^-1,   G = dF/dtheta                                (2)

:func:`information_limit` solves (1) with L-BFGS (strong Wolfe) in float64;
:func:`linearised_covariance` evaluates (2).  Neither knows about any host library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["LimitFit", "information_limit", "linearised_covariance"]


@dataclass
class LimitFit:
    """The result of :func:`information_limit`.

    Attributes:
        params: the fitted unknowns, {name: tensor} (detached, float64).
        loss: the final misfit J of (1) (dimensionless).
        chi2: |F - y|^2 / (N s^2): about (N - p) / N at the noise floor; None without noise.
        converged: L-BFGS stopped on its tolerance (not on ``max_iter``) at a finite loss.
        iterations: L-BFGS iterations taken.
        seconds: wall-clock time of the fit.
        message: why it stopped, in words.
    """

    params: dict[str, torch.Tensor]
    loss: float
    chi2: float | None
    converged: bool
    iterations: int
    seconds: float
    message: str = ""
    history: list[float] = field(default_factory=list)


def _check(observed: torch.Tensor, noise_std: float) -> float:
    """The misfit's scale s of (1); refuses a noise level the data cannot carry."""
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)):
        raise TypeError(
            f"noise_std must be a number (the noise standard deviation), got {noise_std!r}"
        )
    if not math.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be a finite non-negative number, got {noise_std!r}")
    if not torch.isfinite(observed).all():
        raise ValueError("observed holds NaN or infinite values: remove or mask them first")
    spread = float(observed.std()) if observed.numel() > 1 else 0.0
    if noise_std > spread:
        raise ValueError(
            f"noise_std = {noise_std:.4g} exceeds the data's spread (std {spread:.4g}): the "
            "observations would be mostly noise; check the units of noise_std (an absolute "
            "standard deviation, not a fraction)"
        )
    # without noise, measure the misfit in units of 1e-3 of the data's spread (or of 1)
    return noise_std if noise_std > 0 else (1e-3 * spread if spread > 0 else 1.0)


def information_limit(
    forward: Callable[..., torch.Tensor],
    unknowns: dict[str, torch.Tensor],
    observed: torch.Tensor,
    noise_std: float,
    max_iter: int = 2000,
    tolerance: float = 1e-10,
    chunk: int = 50,
    progress: bool = False,
) -> LimitFit:
    """Minimise (1) over ``unknowns`` with L-BFGS: the data's information limit.

    Args:
        forward: ``forward(**unknowns)`` -> predicted observations, shape of ``observed``,
            differentiable in every unknown (float64 recommended).
        unknowns: starting values {name: tensor}; copied, never modified.  Put the parameter
            of interest and every nuisance unknown (an initial field, a boundary value) here.
        observed: the observations y (any shape).
        noise_std: their noise standard deviation s, in the units of y (0: noise-free).
        max_iter: L-BFGS iterations at most; a fit that needs more is not converged.
        tolerance: stop when J or the step changes by less than this (J is O(1) at the
            noise floor, so this is relative).
        chunk: iterations per L-BFGS call (the progress bar's step).
        progress: show a tqdm progress bar.

    Returns:
        :class:`LimitFit`; check ``converged`` before using ``params`` as a result.
    """
    if not isinstance(unknowns, dict) or not unknowns:
        raise ValueError("unknowns must be a non-empty dict {name: starting tensor}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    observed = torch.as_tensor(observed, dtype=torch.float64)
    scale = _check(observed, noise_std)
    params = {
        k: torch.as_tensor(v).detach().clone().double().requires_grad_()
        for k, v in unknowns.items()
    }
    norm = 2 * observed.numel() * scale**2
    opt = torch.optim.LBFGS(
        list(params.values()),
        lr=1,
        max_iter=chunk,
        tolerance_grad=0.0,
        tolerance_change=tolerance,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        pred = forward(**params)
        if pred.shape != observed.shape:
            raise ValueError(
                f"forward returned shape {tuple(pred.shape)}, observed has {tuple(observed.shape)}"
            )
        loss = ((pred - observed) ** 2).sum() / norm
        loss.backward()
        return loss

    return _run(opt, closure, params, max_iter, chunk, progress, noise_std > 0)


def _run(opt, closure, params, max_iter: int, chunk: int, progress: bool, noisy: bool) -> LimitFit:
    """L-BFGS in chunks until it stops on its tolerance or ``max_iter`` is spent."""
    from tqdm import tqdm

    t0, history, done, message = time.perf_counter(), [], 0, ""
    bar = tqdm(total=max_iter, desc="information limit", unit="it", disable=not progress)
    converged = False
    while done < max_iter:
        opt.param_groups[0]["max_iter"] = min(chunk, max_iter - done)
        before = opt.state[opt._params[0]].get("n_iter", 0)
        loss = float(opt.step(closure).detach())
        taken = opt.state[opt._params[0]].get("n_iter", 0) - before
        done += taken
        bar.update(taken)
        history.append(loss)
        if not math.isfinite(loss):
            message = "the misfit became non-finite"
            break
        if taken < opt.param_groups[0]["max_iter"]:
            converged, message = True, "misfit and step changed less than the tolerance"
            break
    bar.close()
    if not converged and not message:
        message = f"max_iter = {max_iter} reached before the tolerance"
    final = float(closure().detach()) if math.isfinite(history[-1]) else history[-1]
    return LimitFit(
        params={k: v.detach() for k, v in params.items()},
        loss=final,
        chi2=2 * final if noisy else None,  # J of (1) is chi2 / 2
        converged=converged and math.isfinite(final),
        iterations=done,
        seconds=time.perf_counter() - t0,
        message=message,
        history=history,
    )


def linearised_covariance(
    forward: Callable[..., torch.Tensor],
    params: dict[str, torch.Tensor],
    noise_std: float,
    of: str,
) -> torch.Tensor:
    """Covariance (2) of the unknown ``of`` at ``params`` (all unknowns jointly estimated;
    the others are marginalised by the block inverse).  Shape (n, n), n = params[of].numel().

    The Jacobian is formed column by column with forward-mode AD: for small problems (a few
    thousand unknowns at most)."""
    if of not in params:
        raise ValueError(f"of = {of!r} is not among the unknowns {sorted(params)}")
    names = list(params)
    flat = [params[k].detach().double().reshape(-1) for k in names]
    sizes = [f.numel() for f in flat]

    def f(vec):
        parts = torch.split(vec, sizes)
        kw = {k: p.reshape(params[k].shape) for k, p in zip(names, parts)}
        return forward(**kw).reshape(-1)

    G = torch.func.jacfwd(f)(torch.cat(flat))
    cov = noise_std**2 * torch.linalg.pinv(G.T @ G, hermitian=True)
    start = sum(sizes[: names.index(of)])
    return cov[start : start + sizes[names.index(of)], start : start + sizes[names.index(of)]]
