"""``steadygrad run`` under a launcher: an unmodified DeepXDE script on 2 gloo processes equals
one process on the same global points (float64: losses, L-BFGS steps, parameters), including
point sets too small to split (1D boundary conditions of one point); the launcher's bad input.

The spawned runs are slow tests; the default run checks the same code in one process (a gloo
group of one) and the bad input."""

import os
import socket
import sys

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "deepxde_poisson2d.py")
# few points, resampled once during Adam: BC, observation and PDE sets all split; L-BFGS after
ARGS = ["--adam", "6", "--lbfgs", "6", "--domain", "60", "--resample", "4", "--float64"]
BACKENDS = {"autodiff": {}, "mollifier": dict(width=0.1, mode="scattered")}
# 1D, DeepXDE-style: two boundary conditions of one point each (kept whole on every rank)
SCRIPT_1D = """
import deepxde as dde
dde.config.set_random_seed(1)
dde.config.set_default_float("float64")
geom = dde.geometry.Interval(-1, 1)
bcs = [dde.icbc.DirichletBC(geom, lambda x: 0, lambda x, on: on and dde.utils.isclose(x[0], s))
       for s in (-1, 1)]
data = dde.data.PDE(geom, lambda x, y: dde.grad.hessian(y, x) + 1, bcs, num_domain=15,
                    num_boundary=2)
model = dde.Model(data, dde.nn.FNN([1, 16, 16, 1], "tanh", "Glorot uniform"))
model.compile("adam", lr=1e-3)
losshistory, train_state = model.train(iterations=5, display_every=1)
dde.optimizers.config.set_LBFGS_options(maxiter=4)
dde.optimizers.config.LBFGS_options["iter_per_step"] = 4
model.compile("L-BFGS")
losshistory, train_state = model.train()
error = 0.0
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launched(rank, world, port, out, derivatives, script=SCRIPT, args=ARGS, vary=False) -> None:
    """What torchrun does for one process, then ``steadygrad run``'s entry."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        DDE_BACKEND="pytorch",
    )
    torch.set_num_threads(1)
    args = [*args, "--seed", str(rank)] if vary else args
    try:
        _run(os.path.join(out, f"rank{rank}.pt"), derivatives, script, args)
    except ValueError as err:  # the bad-input case: recorded, not raised
        torch.save({"error": str(err)}, os.path.join(out, f"rank{rank}.pt"))


def _run(path, derivatives, script=SCRIPT, args=ARGS) -> None:
    from steadygrad.adapters.deepxde import run_script

    g = run_script(script, args, derivatives, **BACKENDS[derivatives])
    model = g["model"]
    torch.save(
        {
            "loss": np.array(g["losshistory"].loss_train, dtype=float),
            "steps": list(g["losshistory"].steps),
            "params": [p.detach().clone() for p in model.net.parameters()],
            "points": model.data.train_x.copy(),
            "error": float(g["error"]),
        },
        path,
    )


def _single(tmp_path, derivatives, script=SCRIPT, args=ARGS):
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_run, args=(str(tmp_path / "single.pt"), derivatives, script, args))
    p.start()
    p.join()
    assert p.exitcode == 0
    return torch.load(tmp_path / "single.pt", weights_only=False)


def _spawn(tmp_path, derivatives, script=SCRIPT, args=ARGS, vary=False):
    port = _free_port()
    mp.spawn(
        _launched,
        args=(2, port, str(tmp_path), derivatives, script, args, vary),
        nprocs=2,
        join=True,
    )
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("derivatives", list(BACKENDS))
@pytest.mark.parametrize("problem", ["poisson2d", "poisson1d"])
def test_two_processes_equal_one_process(tmp_path, derivatives, problem):
    script, args = SCRIPT, ARGS
    if problem == "poisson1d":
        script, args = str(tmp_path / "poisson1d.py"), []
        with open(script, "w") as f:
            f.write(SCRIPT_1D)
    ranks = _spawn(tmp_path, derivatives, script, args)
    one = _single(tmp_path, derivatives, script, args)
    for res in ranks:
        assert np.array_equal(res["points"], one["points"])  # resampled points: rank 0's
        assert res["steps"] == one["steps"]
        assert np.allclose(res["loss"], one["loss"], rtol=1e-9, atol=0), (res["loss"], one["loss"])
        diff = max(float((a - b).abs().max()) for a, b in zip(res["params"], one["params"]))
        assert diff <= 1e-9, diff
        assert abs(res["error"] - one["error"]) <= 1e-9
    # both ranks hold the same parameters exactly (the same steps from the same gradients)
    assert all(torch.equal(a, b) for a, b in zip(ranks[0]["params"], ranks[1]["params"]))


@pytest.mark.slow
def test_ranks_running_different_arguments_fail_on_every_rank(tmp_path):
    ranks = _spawn(tmp_path, "autodiff", vary=True)
    for res in ranks:
        assert "disagree on the script run" in res["error"], res


# ---- default run: the same code in one process (a gloo group of one), and bad input ----------
def _tiny(dde, seed=0, batch_size=None):
    dde.config.set_random_seed(seed)
    geom = dde.geometry.Rectangle([0, 0], [1, 1])
    pts = np.random.default_rng(seed).uniform(0.2, 0.8, (7, 2))
    bcs = [
        dde.icbc.DirichletBC(geom, lambda x: 0, lambda x, on: on),
        dde.icbc.PointSetBC(pts, pts[:, :1] * pts[:, 1:], batch_size=batch_size),
    ]

    def pde(x, y):
        return dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1) - 1

    data = dde.data.PDE(geom, pde, bcs, num_domain=20, num_boundary=8)
    model = dde.Model(data, dde.nn.FNN([2, 8, 8, 1], "tanh", "Glorot uniform"))
    model.compile("adam", lr=1e-2)
    return model


@pytest.fixture
def group_of_one(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    yield
    from steadygrad.adapters.deepxde_distributed import undistribute

    undistribute()
    dist.destroy_process_group()


def test_a_group_of_one_trains_exactly_like_plain_deepxde(group_of_one):
    import deepxde as dde
    from steadygrad.deepxde import distribute, is_main

    plain = _tiny(dde)
    plain.train(iterations=4, verbose=0)
    distribute()
    shared = _tiny(dde)
    shared.train(iterations=4, verbose=0)
    assert is_main()
    assert np.allclose(plain.losshistory.loss_train, shared.losshistory.loss_train, rtol=1e-6)
    for a, b in zip(plain.net.parameters(), shared.net.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    data = shared.data
    assert data.train_x.shape == plain.data.train_x.shape  # the global points stay global


def test_distributed_training_refuses_what_it_cannot_split(group_of_one):
    import deepxde as dde
    from steadygrad.deepxde import distribute

    distribute()
    with pytest.raises(NotImplementedError, match="batch_size=None"):
        _tiny(dde, batch_size=3).train(iterations=1, verbose=0)
    from steadygrad.deepxde import LinearParameter
    from steadygrad.inverse import FourierBasis

    model = _tiny(dde)
    LinearParameter(FourierBasis(1)).attach(model.data)
    with pytest.raises(NotImplementedError, match="LinearParameter.*one process"):
        model.train(iterations=1, verbose=0)
    data = dde.data.Function(dde.geometry.Interval(0, 1), np.sin, 8, 8)
    model = dde.Model(data, dde.nn.FNN([1, 4, 1], "tanh", "Glorot uniform"))
    model.compile("adam", lr=1e-3)
    with pytest.raises(TypeError, match="dde.data.PDE"):
        model.train(iterations=1, verbose=0)


def test_launcher_bad_input(monkeypatch):
    from steadygrad.data_parallel import init_from_environment
    from steadygrad.deepxde import distribute, is_main

    for var in ("RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="RANK, MASTER_ADDR, MASTER_PORT is not.*torchrun"):
        init_from_environment()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(RuntimeError, match="WORLD_SIZE must be a positive integer"):
        init_from_environment()
    monkeypatch.delenv("WORLD_SIZE")
    assert init_from_environment() is False  # not launched: one process, nothing to do
    with pytest.raises(RuntimeError, match="torchrun"):
        distribute()
    assert is_main()


@pytest.mark.slow
def test_torchrun_launches_an_unmodified_script_and_only_rank_0_prints(cli, tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    args = [torchrun, "--nproc_per_node", "2", "-m", "steadygrad", "run", SCRIPT]
    args += ["--width", "0.1", "--", "--adam", "5", "--lbfgs", "3", "--domain", "60"]
    res = cli(args, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("L2 relative error of u") == 1, res.stdout  # rank 0 only
    assert res.stdout.count("Training model...") == 2, res.stdout  # Adam, then L-BFGS


def test_data_parallel_helpers_in_a_group_of_one(group_of_one):
    from steadygrad.data_parallel import broadcast_array, global_terms, shard_rows

    pts = np.array([[0.5, 0.0], [0.1, 1.0], [0.9, 2.0], [0.1, 3.0]])
    assert shard_rows(pts).tolist() == [1, 3, 0, 2]  # sorted along axis 0, stable
    assert shard_rows(pts, axis=1).tolist() == [0, 1, 2, 3]
    local = torch.tensor([1.0, 2.0], requires_grad=True)
    out = global_terms(local)
    (out * torch.tensor([3.0, 5.0])).sum().backward()
    assert out.tolist() == [1.0, 2.0] and local.grad.tolist() == [3.0, 5.0]
    assert broadcast_array(None) is None
    assert np.array_equal(broadcast_array(pts.astype(np.float32)), pts.astype(np.float32))
    assert broadcast_array(np.array(["a", None], dtype=object)).tolist() == ["a", None]
