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

:func:`information_limit` solves (1) in float64 with a solver chosen by argument
(:class:`LBFGS` for many unknowns, :class:`GaussNewton` for few);
:func:`linearised_covariance` evaluates (2).  Neither knows about any host library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .observations import check_noise

__all__ = ["GaussNewton", "LBFGS", "LimitFit", "information_limit", "linearised_covariance"]


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


def _check(observed: torch.Tensor, noise_std: float) -> float:
    """The misfit's scale s of (1); refuses a noise level the data cannot carry."""
    noise_std = check_noise(observed, noise_std, "noise_std")
    if noise_std > 0:
        return noise_std
    # without noise, measure the misfit in units of 1e-3 of the data's spread (or of 1)
    spread = float(observed.std()) if observed.numel() > 1 else 0.0
    return 1e-3 * spread if spread > 0 else 1.0


def _positive_int(max_iter) -> int:
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    return int(max_iter)


class _Objective:
    """J of (1) over a flat float64 vector of all unknowns (the solvers' view)."""

    def __init__(self, forward, unknowns: dict, observed: torch.Tensor, scale: float):
        self.forward, self.observed = forward, observed
        self.names = list(unknowns)
        self.shapes = [torch.as_tensor(v).shape for v in unknowns.values()]
        self.x0 = torch.cat(
            [torch.as_tensor(v).detach().double().reshape(-1) for v in unknowns.values()]
        )
        self.weight = 1.0 / (math.sqrt(observed.numel()) * scale)  # J = |weighted r|^2 / 2

    def unpack(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(x, [math.prod(s) for s in self.shapes])
        return {k: p.reshape(s) for k, p, s in zip(self.names, parts, self.shapes)}

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The weighted misfit (N,): J = |residual|^2 / 2."""
        pred = self.forward(**self.unpack(x))
        if pred.shape != self.observed.shape:
            raise ValueError(
                f"forward returned shape {tuple(pred.shape)}, observed has "
                f"{tuple(self.observed.shape)}"
            )
        return ((pred - self.observed) * self.weight).reshape(-1)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.residual(x) ** 2).sum()


class LBFGS:
    """L-BFGS (strong Wolfe), for many unknowns (an initial field on a pixel grid).

    Converged means: L-BFGS stopped on ``tolerance``, a restart from there (fresh curvature
    memory) lowered J by less than ``tolerance`` relative, and the gradient is below
    ``gradient`` times its starting norm.  L-BFGS can stall on ill-conditioned problems (its
    line search finds no decrease), and a stall is not a minimum: measured, the chromatin fits
    end at |g| = 2e-8..2e-5 |g0|, a stall in Rosenbrock's valley at ~1e-2.

    Args:
        max_iter: iterations at most (restarts included).
        tolerance: relative change of J (and step) below which it stops.
        chunk: iterations per L-BFGS call (the progress bar's step).
        gradient: the largest |grad J| / |grad J at the start| that counts as a minimum.
    """

    def __init__(
        self,
        max_iter: int = 3000,
        tolerance: float = 1e-10,
        chunk: int = 50,
        gradient: float = 1e-3,
    ):
        self.max_iter, self.tolerance = _positive_int(max_iter), float(tolerance)
        self.chunk = int(chunk)
        self.gradient = float(gradient)

    def solve(self, objective: _Objective, bar) -> tuple:
        """(x, iterations, converged, message)."""
        x = objective.x0.clone().requires_grad_()
        g0 = self._gradient_norm(objective, x)
        done, last = 0, math.inf
        while done < self.max_iter:  # run, then restart until a restart gains nothing
            taken, loss = self._run(objective, x, self.max_iter - done, bar)
            done += taken
            if not math.isfinite(loss):
                return x.detach(), done, False, "the misfit became non-finite"
            if taken == 0 or last - loss <= self.tolerance * abs(loss):
                ratio = self._gradient_norm(objective, x) / max(g0, 1e-300)
                if ratio <= self.gradient:
                    return x.detach(), done, True, "a restart no longer lowers the misfit"
                if taken == 0:
                    return x.detach(), done, False, f"L-BFGS stalls at |g| = {ratio:.1e} |g0|"
            last = loss
        return x.detach(), done, False, f"max_iter = {self.max_iter} reached first"

    @staticmethod
    def _gradient_norm(objective: _Objective, x: torch.Tensor) -> float:
        y = x.detach().clone().requires_grad_()
        objective.value(y).backward()
        return float(y.grad.norm())

    def _run(self, objective, x, budget: int, bar) -> tuple[int, float]:
        """One L-BFGS run until it stops or ``budget`` iterations; (iterations, final J)."""
        opt = torch.optim.LBFGS(
            [x],
            lr=1,
            max_iter=min(self.chunk, budget),
            tolerance_grad=0.0,
            tolerance_change=self.tolerance,
            history_size=50,
            line_search_fn="strong_wolfe",
        )

        def closure():
            opt.zero_grad()
            loss = objective.value(x)
            loss.backward()
            return loss

        taken = 0
        while taken < budget:
            opt.param_groups[0]["max_iter"] = min(self.chunk, budget - taken)
            before = opt.state[x].get("n_iter", 0)
            loss = float(opt.step(closure).detach())
            step = opt.state[x].get("n_iter", 0) - before
            taken += step
            bar.update(step)
            if not math.isfinite(loss) or step < opt.param_groups[0]["max_iter"]:
                break
        return taken, float(objective.value(x).detach())


class GaussNewton:
    """Gauss-Newton (scipy ``least_squares``: Levenberg-Marquardt 'lm', or 'trf') with the
    exact Jacobian by reverse-mode AD (one backward pass per observation), for few unknowns (a
    parameter in a basis of ~100 functions) where L-BFGS stalls on the ill-conditioned high
    orders.

    Converged means: scipy stopped on its tolerances (ftol = xtol = gtol = ``tolerance``).
    """

    def __init__(self, max_iter: int = 200, tolerance: float = 1e-10, method: str = "lm"):
        if method not in ("lm", "trf"):
            raise ValueError(f"method must be 'lm' (Levenberg-Marquardt) or 'trf', got {method!r}")
        self.max_iter, self.tolerance = _positive_int(max_iter), float(tolerance)
        self.method = method

    def solve(self, objective: _Objective, bar) -> tuple:
        from scipy.optimize import least_squares

        fun = lambda v: objective.residual(torch.as_tensor(v)).detach().numpy()  # noqa: E731

        def jac(v):
            bar.update(1)
            return torch.autograd.functional.jacobian(
                objective.residual, torch.as_tensor(v)
            ).numpy()

        res = least_squares(
            fun,
            objective.x0.numpy(),
            jac=jac,
            method=self.method,
            x_scale="jac",
            ftol=self.tolerance,
            xtol=self.tolerance,
            gtol=self.tolerance,
            max_nfev=self.max_iter,
        )
        ok = res.status > 0 and bool(np.isfinite(res.cost))
        message = res.message if res.status else f"max_iter = {self.max_iter} reached first"
        return torch.as_tensor(res.x), int(res.njev or res.nfev), ok, message


def information_limit(
    forward: Callable[..., torch.Tensor],
    unknowns: dict[str, torch.Tensor],
    observed: torch.Tensor,
    noise_std: float,
    solver: LBFGS | GaussNewton | None = None,
    progress: bool = False,
) -> LimitFit:
    """Minimise (1) over ``unknowns``: the data's information limit.

    Args:
        forward: ``forward(**unknowns)`` -> predicted observations, shape of ``observed``,
            differentiable in every unknown (float64).
        unknowns: starting values {name: tensor}; copied, never modified.  Put the parameter
            of interest and every nuisance unknown (an initial field, a boundary value) here.
        observed: the observations y (any shape).
        noise_std: their noise standard deviation s, in the units of y (0: noise-free).
        solver: :class:`LBFGS` (default; many unknowns) or :class:`GaussNewton` (few).
        progress: show a tqdm progress bar.

    Returns:
        :class:`LimitFit`; check ``converged`` before using ``params`` as a result.
    """
    from tqdm import tqdm

    if not isinstance(unknowns, dict) or not unknowns:
        raise ValueError("unknowns must be a non-empty dict {name: starting tensor}")
    solver = LBFGS() if solver is None else solver
    if not isinstance(solver, (LBFGS, GaussNewton)):
        raise TypeError(f"solver must be LBFGS() or GaussNewton(), got {solver!r}")
    observed = torch.as_tensor(observed, dtype=torch.float64)
    objective = _Objective(forward, unknowns, observed, _check(observed, noise_std))
    t0 = time.perf_counter()
    with tqdm(
        total=solver.max_iter, desc="information limit", unit="it", disable=not progress
    ) as bar:
        x, iterations, converged, message = solver.solve(objective, bar)
    with torch.no_grad():
        final = float(objective.value(x))
    return LimitFit(
        params=objective.unpack(x),
        loss=final,
        chi2=2 * final if noise_std > 0 else None,  # J of (1) is chi2 / 2
        converged=converged and math.isfinite(final),
        iterations=iterations,
        seconds=time.perf_counter() - t0,
        message=message,
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
