"""Distributed grid mode (gloo, 2 spawned processes) against one process on the same lattice."""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from steadygrad.distributed import ShardedLattice, all_reduce_gradients, global_sum, split_rows
from steadygrad.mollifier import MollifierLayer

H = 0.1
CASES = {"uneven": (7, 6, 5), "thin": (3, 6, 5)}  # 4+3 rows; 2+1 rows (one row < halo K=2)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    ).double()


def _loss(net, X, count):
    layer = MollifierLayer(net, width=2 * H, spacing=H, mode="grid")
    u = layer(X)
    lap = sum(layer.derivative(u, tuple(2 * (j == i) for j in range(3))) for i in range(3))
    r = lap + torch.sin(X[:, :1]) * X[:, 1:2] - layer.derivative(u, (0, 0, 4)) * 1e-3
    return (r**2).sum() / count


def _worker(rank, world, path, out):
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    try:
        result = {}
        for name, shape in CASES.items():
            lattice = ShardedLattice(shape, H, origin=(0.0, -0.2, 0.3))
            net = _net()
            loss = _loss(net, lattice.points().requires_grad_(), lattice.global_count)
            loss.backward()
            all_reduce_gradients(net.parameters())
            result[name] = (global_sum(loss), [p.grad.clone() for p in net.parameters()])
        try:
            ShardedLattice((7 + rank, 6, 5), H)
        except ValueError as err:
            result["mismatch"] = str(err)
        torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _single(shape):
    g = [torch.arange(n, dtype=torch.float64) * H + o for n, o in zip(shape, (0.0, -0.2, 0.3))]
    X = torch.stack(torch.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3).requires_grad_()
    net = _net()
    loss = _loss(net, X, X.shape[0])
    loss.backward()
    return loss.detach(), [p.grad for p in net.parameters()]


def test_two_gloo_processes_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, shape in CASES.items():
        loss, grads = _single(shape)
        for res in results:
            dloss = abs(float(res[name][0] - loss))
            dgrad = max(float((a - b).abs().max()) for a, b in zip(res[name][1], grads))
            assert dloss <= 1e-10 * abs(float(loss)) and dgrad <= 1e-10, (name, dloss, dgrad)
    for res in results:
        assert "different lattices" in res["mismatch"]


def test_bad_input_without_a_process_group_and_too_many_ranks():
    with pytest.raises(RuntimeError, match="torchrun"):
        ShardedLattice((4, 4), 0.1)
    with pytest.raises(RuntimeError, match="torchrun"):  # numpy scalars are numbers
        ShardedLattice((4, 4), np.float32(0.1))
    for bad in ("0.1", None, object()):
        with pytest.raises(TypeError, match="spacing must be a number or a sequence"):
            ShardedLattice((4, 4), bad)
    with pytest.raises(ValueError, match="at most 3 processes"):
        split_rows(3, 4)
    assert split_rows(7, 2) == [(0, 4), (4, 7)]


def _ode_worker(rank, world, path, out):
    """DDP over a neural ODE solved by a multistep method with the corrected backward."""
    import steadygrad  # noqa: F401 - registers the methods
    from torch.nn.parallel import DistributedDataParallel
    from torchdiffeq import odeint

    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    try:
        func = _ode_func()
        ddp = DistributedDataParallel(func)
        loss = _ode_loss(ddp, _ode_batch()[rank], odeint)
        loss.backward()
        torch.save([p.grad.clone() for p in func.parameters()], os.path.join(out, f"ode{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _ode_func():
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
    ).double()


def _ode_batch():
    torch.manual_seed(4)
    return torch.randn(2, 5, 2, dtype=torch.float64)  # one batch of 5 states per rank


def _ode_loss(func, y0, odeint):
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    options = {"step_size": 0.05, "params": list(func.parameters())}
    ys = odeint(lambda t, y: func(y), y0, t, method="leapfrog", options=options)
    return ys.pow(2).mean()


def test_ddp_neural_ode_with_corrected_multistep_gradients(tmp_path):
    import steadygrad  # noqa: F401
    from torchdiffeq import odeint

    mp.spawn(_ode_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"ode{r}.pt") for r in range(2)]
    func = _ode_func()
    for y0 in _ode_batch():  # DDP averages: the mean of the per-batch gradients
        _ode_loss(func, y0, odeint).div(2).backward()
    for a, b in zip(ranks[0], ranks[1]):
        assert torch.equal(a, b)  # identical on both ranks
    for a, ref in zip(ranks[0], func.parameters()):
        assert torch.allclose(a, ref.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_example_under_torchrun_two_processes_matches_one(tmp_path):
    import re
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "..", "examples", "heat3d_distributed.py")
    losses = []
    for n in (1, 2):
        launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n)]
        launch += ["--master-port", str(29540 + n), script]
        res = subprocess.run(
            [*launch, "--adam", "10", "--lbfgs", "2", "--size", "7"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr[-3000:]
        found = re.search(r"processes=(\d) loss=(\S+) k_rel_err=(\S+)", res.stdout)
        assert found and found.group(1) == str(n), res.stdout
        losses.append((float(found.group(2)), float(found.group(3))))
    assert abs(losses[0][0] - losses[1][0]) <= 1e-8 * losses[0][0], losses
    assert abs(losses[0][1] - losses[1][1]) <= 1e-6, losses
