"""``langevin``, ``langevin_ode``: the forcing lambda(t) of a Langevin path (inverse, in time)."""

from __future__ import annotations

import numpy as np

from ..reference import langevin_forcing, langevin_paths
from .common import Problem, Setup, deepxde, noisy, param_scores


def langevin(noise, quick, rng, sigma: float = 0.5) -> Setup:
    """du = (-gamma u + lambda(t)) dt + sigma dW on [0, 1], gamma = 5: recover the forcing
    lambda(t) from one Euler-Maruyama path (step 5e-5) observed at 101 times with measurement
    noise; residual u_t + gamma u - lambda, the mollifier acting on t.  The process noise makes
    the path rough: lambda is identifiable only up to the sigma dW kicks, which the smoothing
    (mollifier width, or the network's own) must average out."""
    dde = deepxde()
    gamma, n = 5.0, 101
    t_fine, u_fine = langevin_paths(langevin_forcing, gamma, sigma, 0.3, 1.0, 20000, rng)
    to = np.linspace(0, 1, n)[:, None]
    u_obs = np.interp(to[:, 0], t_fine, u_fine[0])[:, None]
    geom = dde.geometry.Interval(0, 1)
    obs = dde.icbc.PointSetBC(to, noisy(u_obs, noise, rng), component=0)

    def pde(x, y):
        return dde.grad.jacobian(y, x, i=0, j=0) + gamma * y[:, 0:1] - y[:, 1:2]

    data = dde.data.PDE(geom, pde, [obs], num_domain=0, num_boundary=0, anchors=to)
    net = dde.nn.FNN([1, 32, 32, 2], "tanh", "Glorot uniform")
    ts = np.linspace(0.05, 0.95, 181)[:, None]
    lam = langevin_forcing(ts[:, 0])

    def evaluate(m):
        return param_scores(m.predict(ts)[:, 1], lam)

    h = 1 / (n - 1)
    return Setup(data, net, evaluate, h, 4 * h, lr=3e-3)


def langevin_ode(noise, quick, rng) -> Setup:
    """``langevin`` without process noise (sigma = 0): only measurement noise."""
    return langevin(noise, quick, rng, sigma=0.0)


PROBLEMS = {
    "langevin": Problem(
        langevin,
        True,
        500,
        10000,
        limit="stochastic forward model (process noise): least squares is not its likelihood",
    ),
    "langevin_ode": Problem(
        langevin_ode,
        True,
        500,
        10000,
        limit="no differentiable reference written (Euler-Maruyama data)",
    ),
}
