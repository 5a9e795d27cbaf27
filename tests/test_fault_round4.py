"""The fourth bad-input and fault round (issue 32): each item silent-wrong, unclear, a crash
or a hang before; each test failed on the code before its fix."""

import math
import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import steadygrad  # noqa: F401 - registers the multistep methods
import torch
from torchdiffeq import odeint

os.environ.setdefault("DDE_BACKEND", "pytorch")


# ---- ODE ---------------------------------------------------------------------------------


def _switched(W):
    """y' = -y, times W for 0.25 < t < 0.35 only (a closure used mid-interval)."""
    return lambda t, y: -y * (W if 0.25 < float(t) < 0.35 else 1.0)


MEMORY = [{}, {"recompute": True}, {"checkpoint": True}]


@pytest.mark.parametrize("memory", MEMORY, ids=["default", "recompute", "checkpoint"])
def test_closure_used_mid_interval_gets_its_gradient(memory):
    """Every path finds a closure used only between the probe times (the memory modes in
    their forward pass, at every step): W's gradient against central differences (float64),
    with y0 requiring grad or not, and with t requiring grad (the sweeps' path)."""
    W = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)

    def loss(w, y0, t=t):
        opts = {"step_size": 0.01, **memory}
        return odeint(_switched(w), y0, t, method="ab2", options=opts).sum()

    one = torch.ones(1, dtype=torch.float64)
    fd = (loss(2 + 1e-6, one) - loss(2 - 1e-6, one)) / 2e-6
    for y0, tt in ((one.clone().requires_grad_(), t), (one, t), (one, t.clone().requires_grad_())):
        W.grad = None
        loss(W, y0, tt).backward()
        assert float(W.grad) == pytest.approx(float(fd), rel=1e-6)


def test_closure_met_only_in_the_backward_sweep_is_refused():
    """The safety net: a func that starts using W after its forward pass (here: after 150
    calls) is refused in the backward sweep, naming the time, instead of a missing gradient."""
    W = torch.tensor(2.0, requires_grad=True)
    calls = [0]

    def func(t, y):
        calls[0] += 1
        return -y * (W if calls[0] > 150 else 1.0)

    from steadygrad.multistep import HiddenParameterError

    y0 = torch.tensor([1.0]).requires_grad_()
    out = odeint(
        func,
        y0,
        torch.linspace(0, 1, 11),
        method="ab2",
        options={"step_size": 0.01, "recompute": True},
    )
    with pytest.raises(HiddenParameterError, match=r"t = "):
        out.sum().backward()
    assert W.grad is None


def test_step_longer_than_the_interval_is_refused():
    with pytest.raises(ValueError, match="longer than the whole interval"):
        odeint(
            lambda t, y: -y,
            torch.tensor([1.0, 2.0]),
            torch.tensor([0.0, 1.0]),
            method="ab4",
            options={"step_size": 5.0},
        )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_states_accumulate_in_float32(dtype):
    y0 = torch.tensor([10.0], dtype=dtype)
    out = odeint(
        lambda t, y: -0.1 * y,
        y0,
        torch.tensor([0.0, 10.0]),
        method="ab3",
        options={"step_size": 0.01},
    )
    assert out.dtype == dtype
    assert float(out[-1]) == pytest.approx(10 * math.exp(-1), rel=2e-2)


def test_half_precision_gradient_flows():
    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2).half()

        def forward(self, t, y):
            return self.lin(y)

    func = Field()
    y0 = torch.ones(2, dtype=torch.float16, requires_grad=True)
    for opts in ({}, {"recompute": True}):
        func.zero_grad()
        y0.grad = None
        out = odeint(
            func, y0, torch.linspace(0, 1, 5), method="ab2", options={"step_size": 0.05, **opts}
        )
        out.float().sum().backward()
        assert y0.grad is not None and func.lin.weight.grad is not None
        assert bool(torch.isfinite(func.lin.weight.grad).all())


@pytest.mark.parametrize("h", [1e-300, 1e-12])
def test_absurdly_small_step_is_refused_naming_the_steps(h):
    with pytest.raises(ValueError, match="steps, more than MAX_STEPS"):
        odeint(
            lambda t, y: -y,
            torch.tensor([1.0]),
            torch.tensor([0.0, 1.0]),
            method="ab2",
            options={"step_size": h},
        )


def test_complex_state_is_named():
    with pytest.raises(ValueError, match="complex.*real states only"):
        odeint(lambda t, y: -y, torch.tensor([1.0 + 1j]), torch.tensor([0.0, 1.0]), method="ab2")


def test_leapfrog_overflow_warns_and_says_a_smaller_step_will_not_do():
    from steadygrad.multistep.stability import StabilityWarning

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(FloatingPointError, match="whatever the step size.*ab3"):
            odeint(
                lambda t, y: -5 * y,
                torch.tensor([1.0]),
                torch.linspace(0, 20, 2),
                method="leapfrog",
                options={"step_size": 0.01},
            )
    assert any(issubclass(w.category, StabilityWarning) for w in seen)


# ---- fit_observations --------------------------------------------------------------------


def _observed(n=20, values=None):
    import deepxde as dde

    geom = dde.geometry.Interval(0, 1)
    x = np.linspace(0, 1, n)[:, None]
    y = np.sin(3 * x) if values is None else values(x)
    data = dde.data.PDE(geom, lambda x, u: u, [dde.icbc.PointSetBC(x, y)], num_domain=10)
    return data, dde.nn.FNN([1, 16, 1], "tanh", "Glorot normal"), y


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_refuses_non_finite_observations(bad):
    from steadygrad.deepxde import fit_observations

    def values(x):
        y = np.sin(3 * x)
        y[3] = bad
        return y

    data, net, _ = _observed(values=values)
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        fit_observations(data, net, iterations=5)
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())


def test_fit_leaves_deepxde_lbfgs_options_as_they_were():
    import deepxde as dde
    from steadygrad.deepxde import fit_observations

    before = dict(dde.optimizers.config.LBFGS_options)
    data, net, _ = _observed()
    fit_observations(data, net, iterations=7)
    assert dde.optimizers.config.LBFGS_options == before


@pytest.mark.parametrize("noise", [5.0, float("inf"), -0.1])
def test_fit_refuses_noise_beyond_the_data(noise):
    from steadygrad.deepxde import fit_observations

    data, net, y = _observed()
    with pytest.raises(ValueError, match="noise"):
        fit_observations(data, net, iterations=5, noise=noise)


def test_fit_accepts_numpy_scalars():
    from steadygrad.deepxde import fit_observations

    data, net, _ = _observed()
    model = fit_observations(data, net, iterations=np.int64(10), noise=np.float32(0.01))
    assert model.train_state.step >= 1


def test_fit_returns_when_lbfgs_cannot_move():
    """A flat loss from the start (zero network, zero observations): torch's L-BFGS returns
    without an iteration and plain DeepXDE calls it forever.  Run in a daemon thread, so that
    the old behaviour fails the test instead of hanging the suite."""
    import deepxde as dde
    from steadygrad.deepxde import fit_observations

    x = np.linspace(0, 1, 3)[:, None]
    bc = dde.icbc.PointSetBC(x, 0 * x)
    data = dde.data.PDE(dde.geometry.Interval(0, 1), None, [bc], num_domain=0, num_boundary=0)
    net = dde.nn.FNN([1, 8, 1], "tanh", "zeros")
    done = []
    worker = threading.Thread(target=lambda: done.append(fit_observations(data, net)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done and done[0].train_state.step == 0


# ---- threads, widths, options ------------------------------------------------------------


def test_a_dead_threads_enable_does_not_leak():
    import deepxde as dde
    from steadygrad.deepxde import active, disable, enable

    original = dde.gradients.jacobian
    worker = threading.Thread(target=lambda: enable("mollifier", width=0.1))
    worker.start()
    worker.join()
    seen = []
    for _ in range(20):
        th = threading.Thread(target=lambda: seen.append(active()))
        th.start()
        th.join()
    assert seen == [None] * 20
    disable()
    assert dde.gradients.jacobian is original


def test_trainable_width_is_refused():
    from steadygrad.mollifier import MollifierLayer

    with pytest.raises(TypeError, match="requires grad.*fixed setting"):
        MollifierLayer(torch.nn.Linear(1, 1), torch.nn.Parameter(torch.tensor(0.1)))


def test_width_comparable_to_the_domain_warns():
    from steadygrad.mollifier import MollifierLayer
    from steadygrad.mollifier.autowidth import WidthWarning

    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.linspace(0, 1, 50)[:, None]
    with pytest.warns(WidthWarning, match="200% of the points' extent"):
        MollifierLayer(net, 2.0)(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WidthWarning)
        MollifierLayer(net, 0.05)(x)


def test_auto_width_from_too_few_points_warns():
    from steadygrad.mollifier import MollifierLayer
    from steadygrad.mollifier.autowidth import WidthWarning

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    P = torch.rand(8, 2)
    layer = MollifierLayer(net, "auto")
    layer.choose_width(P, torch.sin(3 * P[:, 0]) + 0.01 * torch.randn(8))
    with pytest.warns(WidthWarning, match="extent"):
        layer(P)


def test_misspelt_option_is_named():
    from steadygrad.deepxde import enable

    with pytest.raises(TypeError, match="'widht' \\(did you mean 'width'\\?\\)"):
        enable("mollifier", widht=0.1)


def test_run_passes_the_scripts_own_prefix_options(tmp_path, capsys):
    from steadygrad.cli import main

    script = tmp_path / "s.py"
    script.write_text("import sys\nprint('ARGS', sys.argv[1:])\n")
    assert main(["run", str(script), "--width", ".1", "--rt", ".5"]) == 0
    assert "ARGS ['--rt', '.5']" in capsys.readouterr().out


def test_plugin_that_exits_at_import_is_listed_broken(tmp_path, monkeypatch, capsys):
    from steadygrad import registry
    from steadygrad.cli import main

    dist = tmp_path / "exiting-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: exiting\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[steadygrad.kernels]\naaexit = tp_exiting:K\n")
    (tmp_path / "tp_exiting.py").write_text("import sys\nsys.exit(2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(["list"]) == 0
        out = capsys.readouterr().out
        assert "aaexit" in out and "BROKEN" in out and "sys.exit" in out
        assert "leapfrog" in out  # listing went on after it
    finally:
        sys.modules.pop("tp_exiting", None)
        registry.refresh()


# ---- the benchmark's record, exit codes and signals --------------------------------------


def _fake_case(status="ok"):
    def run(name, variant, noise, *args):
        if status == "oom":
            raise MemoryError("fake: out of memory")
        return {"problem": name, "variant": variant, "noise": noise, "status": "ok", "l2": 0.1}

    return run


def test_a_second_run_moves_the_first_aside(tmp_path, monkeypatch, capsys):
    import json

    import steadygrad.bench.train as train
    from steadygrad.cli import main

    monkeypatch.setattr(train, "run_pde_problem", _fake_case())
    out = tmp_path / "out"
    args = ["bench", "poisson1d", "--variants", "autodiff", "--out", str(out)]
    assert main(args) == 0
    first = json.loads((out / "results.json").read_text())
    assert main(args) == 0
    earlier = list((out / "earlier").iterdir())
    assert len(earlier) == 1
    assert json.loads((earlier[0] / "results.json").read_text()) == first
    assert {"results.md", "results.partial.jsonl"} <= {p.name for p in earlier[0].iterdir()}
    now = json.loads((out / "results.json").read_text())
    assert now["meta"]["complete"] and now["meta"]["earlier_run_moved_to"] == str(earlier[0])


def test_out_of_memory_row_fails_the_run(tmp_path, monkeypatch, capsys):
    import steadygrad.bench.train as train
    from steadygrad.cli import main

    monkeypatch.setattr(train, "run_pde_problem", _fake_case("oom"))
    code = main(["bench", "poisson1d", "--variants", "autodiff", "--out", str(tmp_path)])
    assert code == 1
    assert "poisson1d autodiff oom: MemoryError" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "inf"], "--budget must be a positive finite"),
        (["--out", "/proc/steadygrad-x"], "cannot be written"),
    ],
)
def test_bench_refuses_infinite_budget_and_unwritable_out(tmp_path, args, message, capsys):
    from steadygrad.cli import main

    base = ["bench", "poisson1d", "--variants", "autodiff"]
    if "--out" not in args:
        base += ["--out", str(tmp_path)]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _python(script, **env) -> subprocess.Popen:
    """``python script`` in a child with ``env`` added, its output piped as text."""
    env = {**os.environ, "DDE_BACKEND": "pytorch", **env}
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_sigterm_ends_a_serial_run_within_seconds_marked_incomplete(tmp_path):
    """The run is terminated while its second case sleeps: it ends at once with exit 143,
    the finished row kept and the summary marked incomplete."""
    import json
    import signal

    driver = tmp_path / "driver.py"
    driver.write_text(
        "import sys, time\n"
        "import steadygrad.bench.train as train\n"
        "calls = []\n"
        "def case(name, variant, noise, *a):\n"
        "    calls.append(1)\n"
        "    if len(calls) > 1:\n"
        "        print('SECOND', flush=True); time.sleep(600)\n"
        "    return {'problem': name, 'variant': variant, 'noise': noise, 'status': 'ok'}\n"
        "train.run_pde_problem = case\n"
        "from steadygrad.cli import main\n"
        f"sys.exit(main(['bench', 'poisson1d', 'beam', '--variants', 'autodiff', '--out', "
        f"{str(tmp_path / 'out')!r}]))\n"
    )
    proc = _python(driver, MPLBACKEND="Agg")
    try:
        for line in proc.stdout:
            if "SECOND" in line:
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143  # within wait()'s 60 s guard (the case sleeps 600 s)
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["meta"]["complete"] is False and "SIGTERM" in record["meta"]["stopped"]
    assert len(record["rows"]) == 1
    assert (tmp_path / "out" / "results.md").read_text().startswith("# INCOMPLETE")


def test_stalled_rank_ends_the_collective_at_the_configured_timeout(tmp_path):
    """Rank 1 stops itself (SIGSTOP) between two all-reduces; rank 0 raises after the 1 s
    collective timeout instead of waiting 600 s."""
    import socket

    script = tmp_path / "stall.py"
    script.write_text(
        "import os, signal, sys, time, torch\n"
        "import torch.distributed as dist\n"
        "from steadygrad.data_parallel import init_from_environment\n"
        "init_from_environment('gloo')\n"
        "x = torch.ones(3)\n"
        "dist.all_reduce(x)\n"
        "if dist.get_rank() == 1:\n"
        "    os.kill(os.getpid(), signal.SIGSTOP)\n"
        "t0 = time.time()\n"
        "try:\n"
        "    dist.all_reduce(x)\n"
        "except RuntimeError:\n"
        "    print(f'RAISED {time.time() - t0:.1f}', flush=True)\n"
        "    os._exit(3)  # skip gloo's teardown of the stalled group\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):
        env = {
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "STEADYGRAD_COLLECTIVE_TIMEOUT": "1",
        }
        procs.append(_python(script, **env))
    try:
        out, err = procs[0].communicate(timeout=120)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    # raised within communicate()'s 120 s guard, where the 600 s default would still wait
    assert procs[0].returncode == 3 and "RAISED" in out, err[-2000:]


def test_collective_timeout_is_checked():
    from steadygrad.data_parallel import collective_timeout

    assert collective_timeout(5) == 5.0
    for bad in (0, -1, float("inf"), "soon"):
        with pytest.raises(ValueError, match="positive number of seconds"):
            collective_timeout(bad)
