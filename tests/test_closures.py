"""torchdiffeq's idioms written as closures, with no ``params`` option: ode_demo's network on
y^3, a latent ODE (encoder outside func, a captured tensor inside), and a CNF whose func takes
the exact trace by autograd.  Each loss reads every output time; each gradient is checked
against rk4's at the same step (both 4th order: they agree to O(h^4)), on the default path
and on the stored-state sweeps (recompute, checkpoint), whose forward pass finds the
closures at every step."""

import pytest
import steadygrad  # noqa: F401  (registers the methods in torchdiffeq)
import torch
from torchdiffeq import odeint

H, T = 0.01, torch.linspace(0, 1, 11, dtype=torch.float64)


def _mlp(n_in: int, n_out: int, width: int = 16) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, width), torch.nn.Tanh(), torch.nn.Linear(width, n_out)
    ).double()


def _ode_demo():
    net = _mlp(2, 2)
    y0 = torch.tensor([[2.0, 0.0], [1.0, 0.5]], dtype=torch.float64)
    return (lambda t, y: net(y**3)), (lambda: y0), (lambda ys: ys.pow(2).mean()), net.parameters()


def _latent():
    encoder, dynamics, decoder = _mlp(3, 2), _mlp(2, 2), _mlp(2, 3)
    W = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)  # captured, not a module's
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    params = [*encoder.parameters(), *dynamics.parameters(), W]
    return (
        (lambda t, z: dynamics(z) - W * z),
        (lambda: encoder(x)),  # z0: a non-leaf computed outside func
        (lambda zs: (decoder(zs) - x).pow(2).mean()),
        params,
    )


def _cnf():
    net = _mlp(3, 2)  # (z, t) -> dz/dt

    def func(t, state):  # state = (z, log p); d log p / dt = -trace(d f / d z)
        with torch.enable_grad():
            z = state[:, :2].requires_grad_(True) if not state.requires_grad else state[:, :2]
            dz = net(torch.cat([z, t.expand(len(z), 1)], 1))
            trace = sum(
                torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0][:, i] for i in range(2)
            )
        return torch.cat([dz, -trace[:, None]], 1)

    z0 = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y0 = torch.cat([z0, torch.zeros(5, 1, dtype=torch.float64)], 1)
    return (
        func,
        (lambda: y0),
        (lambda ys: ys[..., :2].pow(2).mean() + ys[..., 2].mean()),
        (net.parameters()),
    )


@pytest.mark.parametrize("case", [_ode_demo, _latent, _cnf], ids=["ode_demo", "latent", "cnf"])
def test_closure_gradients_match_rk4(case):
    func, y0, loss, params = case()
    params = list(params)

    def grads(method, **options):
        ys = odeint(func, y0(), T, method=method, options={"step_size": H, **options})
        return torch.autograd.grad(loss(ys), params)

    ref = torch.cat([g.flatten() for g in grads("rk4")])
    cases = [("ab4", {}), ("ab4", {"recompute": True}), ("ab4", {"checkpoint": True})]
    for method, options in cases + [("leapfrog", {})]:
        got = torch.cat([g.flatten() for g in grads(method, **options)])
        tol = 1e-6 if method == "ab4" else 2e-2  # leapfrog is 2nd order
        assert float((got - ref).norm() / ref.norm()) < tol, (method, options)
