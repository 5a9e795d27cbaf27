"""Peak memory of the corrected backward grows like the trajectory, not like the autograd graph.

Memory is the heap in use sampled after every tensor op on CPU (glibc mallinfo2) and the
caching allocator's max allocated on CUDA: op-exact, unlike a process RSS reading.
"""

import pytest
import steadygrad  # noqa: F401  (registers the solvers)
import torch
from steadygrad.bench.measure import peak_memory
from torchdiffeq import odeint, odeint_adjoint

BATCH, DIM, HIDDEN = 128, 32, 128
STATE_MB = BATCH * DIM * 4 / 2**20


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(DIM, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, DIM)
        )

    def forward(self, t, x):
        return self.net(x)


def _peak(solve, N, device):
    f = MLP().to(device=device, dtype=torch.float32)  # explicit: STATE_MB assumes 4-byte floats
    x0 = torch.randn(BATCH, DIM, device=device, dtype=torch.float32)
    t = torch.tensor([0.0, 1.0], device=device, dtype=torch.float32)
    for _ in range(2):  # the first pass warms up one-off allocations (libraries, op caches)
        f.zero_grad()
        with peak_memory(device.type) as mem:
            solve(f, x0, t, N)[-1].pow(2).mean().backward()
    assert all(p.grad is not None for p in f.parameters())
    return mem.get(
        "peak_requested_mb", mem["peak_mb"]
    )  # CUDA: bytes requested, not allocator blocks


SOLVES = {
    "leapfrog-corrected": lambda f, x0, t, N: odeint(
        f, x0, t, method="leapfrog", options={"step_size": 1 / N, "recompute": True}
    ),
    "leapfrog-graph": lambda f, x0, t, N: odeint(
        f, x0, t, method="leapfrog", options={"step_size": 1 / N}
    ),
    "rk4-autodiff": lambda f, x0, t, N: odeint(
        f, x0, t, method="rk4", options={"step_size": 1 / N}
    ),
    "rk4-odeint_adjoint": lambda f, x0, t, N: odeint_adjoint(
        f, x0, t, method="rk4", options={"step_size": 1 / N}
    ),
}


def test_cpu_peak_counts_live_tensor_bytes():
    def work():
        a = torch.ones(2**20, dtype=torch.float32)  # 4 MiB
        del a
        b = (
            torch.ones(2**21, dtype=torch.float32) * 2
        )  # 8 MiB + an 8 MiB temporary: the peak is 16, not the 20 MiB sum
        del b

    with peak_memory("cpu"):
        work()  # warm-up
    with peak_memory("cpu") as mem:
        work()
    assert 15.9 < mem["peak_mb"] < 16.5, mem


@pytest.mark.slow
def test_corrected_backward_memory_grows_like_trajectory(device):
    torch.manual_seed(0)
    slope = {}
    for name, solve in SOLVES.items():
        lo, hi = _peak(solve, 40, device), _peak(solve, 80, device)
        slope[name] = (hi - lo) / 40 / STATE_MB  # extra memory per step, in states
    # the corrected adjoint stores x_n once per step (plus O(1) work space) ...
    assert 0.5 < slope["leapfrog-corrected"] < 1.5, slope
    # ... autodiff through rk4 keeps 4 stages' activations (hidden width 4x the state) per step ...
    # (the default keeps f's graph: autodiff's memory per f-evaluation, a quarter of rk4's)
    assert 0.15 < slope["leapfrog-graph"] / slope["rk4-autodiff"] < 0.4, slope
    assert slope["rk4-autodiff"] > 10 * slope["leapfrog-corrected"], slope
    # ... and the continuous adjoint stores nothing per step
    assert abs(slope["rk4-odeint_adjoint"]) < 0.5, slope
