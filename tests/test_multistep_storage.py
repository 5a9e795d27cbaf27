"""The three ways of storing the forward pass give the same gradients, and checkpointing
bounds memory.

Default: f's autograd graph is kept and autograd differentiates the recursion.
``recompute=True``: one state per node, the hand-written exact sweep re-evaluates f.
``checkpoint``: states only at segment starts, segments recomputed during the sweep.
The hand-written sweep is thus checked against autograd on every method, with interior,
off-grid (linear and cubic) outputs.
"""

import pytest
import steadygrad  # noqa: F401  (registers the methods)
import torch
from steadygrad.bench.measure import peak_memory
from torchdiffeq import odeint

METHODS = ("leapfrog", "ab2", "ab3", "ab4", "milne")
STORAGE = {
    "graph": {},
    "recompute": {"recompute": True},
    "checkpoint": {"checkpoint": True},
    "checkpoint-3": {"checkpoint": 3},
}


class Shared(torch.nn.Module):
    def __init__(self, width=8):
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        self.A = torch.nn.Parameter(torch.randn(width, 2, generator=gen, dtype=torch.float64))
        self.B = torch.nn.Parameter(torch.randn(2, width, generator=gen, dtype=torch.float64))

    def forward(self, t, y):
        return self.B @ torch.tanh(self.A @ y) * 0.5 - 0.1 * y


class PerStep(torch.nn.Module):
    """One weight per node (time-indexed) plus a shared matrix."""

    def __init__(self, N, h):
        super().__init__()
        self.h, self.N = h, N
        self.w = torch.nn.Parameter(torch.linspace(0.5, 1.5, N + 1, dtype=torch.float64))
        self.B = torch.nn.Parameter(torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64))

    def forward(self, t, y):
        n = min(int(round(float(t) / self.h)), self.N)
        return torch.tanh(self.w[n] * (self.B @ y))


def _gradients(f, method, options, t, h):
    y0 = torch.tensor([1.0, -0.5], dtype=torch.float64, requires_grad=True)
    f.zero_grad()
    ys = odeint(f, y0, t, method=method, options={"step_size": h, **options})
    weights = torch.linspace(1, 2, len(t), dtype=torch.float64)[:, None]
    (weights * ys.pow(2)).sum().backward()
    return torch.cat([y0.grad] + [p.grad.flatten() for p in f.parameters()])


@pytest.mark.parametrize("interp", ["linear", "cubic"])
@pytest.mark.parametrize("method", METHODS)
def test_storage_modes_agree_with_autograd(method, interp):
    t = torch.tensor([0.0, 0.3, 0.55, 0.8, 1.0], dtype=torch.float64)  # 0.55: off the grid
    h = 0.05
    grads = {
        name: _gradients(Shared(), method, {"interp": interp, **opts}, t, h)
        for name, opts in STORAGE.items()
    }
    ref = grads.pop("graph")
    for name, g in grads.items():
        assert torch.allclose(g, ref, rtol=1e-12, atol=1e-14), (name, (g - ref).abs().max())


@pytest.mark.parametrize("method", METHODS)
def test_time_indexed_parameters_same_with_and_without_checkpoints(method):
    N, h = 40, 0.025
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    grads = {name: _gradients(PerStep(N, h), method, opts, t, h) for name, opts in STORAGE.items()}
    ref = grads.pop("graph")
    for name, g in grads.items():
        assert torch.equal(g, ref) or torch.allclose(g, ref, rtol=1e-13, atol=1e-15), name


@pytest.mark.slow
def test_checkpointing_bounds_memory():
    """Peak heap of forward + backward at N = 400: sqrt(N) checkpoints need under half of the
    stored trajectory (each state 128 x 32 float32 = 16 KiB; measured 0.33 of it)."""
    torch.manual_seed(0)
    f = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32))
    x0 = torch.randn(128, 32)
    t = torch.tensor([0.0, 1.0])

    def peak(options):
        for _ in range(2):  # the first pass warms up one-off allocations
            f.zero_grad()
            with peak_memory("cpu") as mem:
                odeint(
                    lambda s, x: f(x),
                    x0,
                    t,
                    method="leapfrog",
                    options={"step_size": 1 / 400, "params": list(f.parameters()), **options},
                )[-1].pow(2).mean().backward()
        return mem["peak_mb"]

    stored, kept = peak({"recompute": True}), peak({"checkpoint": True})
    state_mb = 128 * 32 * 4 / 2**20
    assert stored > 350 * state_mb, stored  # one state per node ...
    assert kept < 0.45 * stored, (kept, stored)  # ... against 2 sqrt(N) + work space
