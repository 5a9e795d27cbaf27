"""`steadygrad bench --quick` end to end on a small selection (the full run is for a GPU)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench(tmp_path, *args):
    env = dict(os.environ, DDE_BACKEND="pytorch", PYTHONWARNINGS="ignore")
    res = subprocess.run([sys.executable, "-m", "steadygrad", "bench", *args, "--quick", "--out", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((tmp_path / "results.json").read_text()), res


def test_bench_quick_pde_and_ode(tmp_path):
    data, res = _bench(tmp_path, "poisson1d", "residual4", "ode_memory", "--jobs", "2")  # PDE cases in 2 workers
    rows = data["rows"]
    assert "--quick --jobs 2" in data["meta"]["command"] and "CPUs" in data["meta"]["machine"]
    poisson = {r["variant"]: r for r in rows if r["problem"] == "poisson1d"}
    assert set(poisson) == {"autodiff", "mollifier-scattered", "mollifier-grid"}
    assert all(r["status"] == "ok" and r["u_l2"] < 0.05 for r in poisson.values()), poisson
    r4 = {r["variant"]: r for r in rows if r["problem"] == "residual4"}
    assert set(r4) == {"plain-fit", "mollifier-grid", "mollifier-scattered", "autodiff"}
    assert all(r["ms_per_step"] > 0 for r in r4.values() if r["status"] == "ok")
    mem = {(r["variant"], r["N"]): r["peak_mb"] for r in rows if r["problem"] == "ode_memory"}
    assert {v for v, _ in mem} >= {"leapfrog-corrected", "rk4-autodiff", "rk4-odeint_adjoint"}
    assert mem["rk4-autodiff", 160] > 5 * mem["leapfrog-corrected", 160] > 0, mem
    for name in ("results.md", "pde.png", "ode_memory.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "### residual4" in (tmp_path / "results.md").read_text() and "%|" in res.stderr  # tqdm progress


def test_bench_rejects_unknown_problem(tmp_path):
    env = dict(os.environ, DDE_BACKEND="pytorch")
    res = subprocess.run([sys.executable, "-m", "steadygrad", "bench", "nope", "--out", str(tmp_path)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "unknown problem" in res.stderr
    res = subprocess.run([sys.executable, "-m", "steadygrad", "bench", "poisson1d", "--variants", "autodiff,fd",
                          "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "unknown variant(s) ['fd']" in res.stderr


@pytest.mark.slow
def test_demo_runs(tmp_path):
    res = subprocess.run([sys.executable, "-m", "steadygrad", "demo"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, DDE_BACKEND="pytorch"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "leapfrog-corrected" in res.stdout


def test_adam_then_lbfgs_schedule_runs_exactly_the_requested_steps():
    """L-BFGS runs the requested steps (DeepXDE derives its per-call step limit at import only)."""
    from steadygrad.bench.pde import run_pde_problem

    row = run_pde_problem("heat2d", "mollifier-grid", 0.0, True, 0, "cpu", iterations=20, lbfgs=15)
    assert row["status"] == "ok" and row["iterations"] == 20 and 0 < row["lbfgs_steps"] <= 15, row
    assert row["final_loss"] > 0 and -1 <= row["param_corr"] <= 1 and row["param_rel_err"] > 0
