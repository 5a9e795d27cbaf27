"""`steadygrad bench --quick` end to end on a small selection (the full run is for a GPU)."""

import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench(cli, tmp_path, *args):
    res = cli(["bench", *args, "--quick", "--out", str(tmp_path)], cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((tmp_path / "results.json").read_text()), res


@pytest.mark.slow
def test_bench_quick_pde_and_ode(cli, tmp_path):
    data, res = _bench(
        cli, tmp_path, "poisson1d", "residual4", "ode_memory", "--jobs", "2"
    )  # PDE cases in 2 workers
    rows = data["rows"]
    assert "--quick --jobs 2" in data["meta"]["command"] and "CPUs" in data["meta"]["machine"]
    poisson = {r["variant"]: r for r in rows if r["problem"] == "poisson1d"}
    assert set(poisson) == {"autodiff", "mollifier-scattered", "mollifier-grid"}
    assert all(r["status"] == "ok" and r["u_l2"] < 0.05 for r in poisson.values()), poisson
    r4 = {(r["variant"], r["dtype"]): r for r in rows if r["problem"] == "residual4"}
    assert {v for v, _ in r4} == {
        "plain-fit",
        "mollifier-grid",
        "mollifier-scattered",
        "autodiff",
        "autodiff-torch.func",
    }
    assert all(r["status"] == "ok" for r in r4.values()), r4
    for (variant, dtype), r in r4.items():  # every derivative row carries its error vs float64
        if variant != "plain-fit":
            assert 0 <= r["rel_err"] < 1e-3, (variant, dtype, r["rel_err"])
    grid = r4["mollifier-grid", "float64"]
    # speed is reported, never asserted (a loaded machine turns 40x into 0.8x); memory is
    # deterministic
    assert grid["autodiff_time_ratio"] > 0 and grid["autodiff_memory_ratio"] > 5, grid
    mem = {(r["variant"], r["N"]): r["peak_mb"] for r in rows if r["problem"] == "ode_memory"}
    assert {v for v, _ in mem} >= {"leapfrog-recompute", "rk4-autodiff", "rk4-odeint_adjoint"}
    assert mem["rk4-autodiff", 160] > 5 * mem["leapfrog-recompute", 160] > 0, mem
    assert mem["rk4-autodiff", 160] > 2 * mem["leapfrog-corrected", 160] > 0, mem  # graph kept
    for name in ("results.md", "pde.png", "ode_memory.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (
        "### residual4" in (tmp_path / "results.md").read_text() and "%|" in res.stderr
    )  # tqdm progress


def test_bench_rejects_unknown_problem(tmp_path, capsys):
    from steadygrad.cli import main

    assert main(["bench", "nope", "--out", str(tmp_path)]) != 0
    assert "unknown problem" in capsys.readouterr().err
    argv = ["bench", "poisson1d", "--variants", "autodiff,fd", "--out", str(tmp_path)]
    assert main(argv) != 0
    assert "unknown variant(s) ['fd']" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs(cli, tmp_path):
    res = cli(["demo"], cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "leapfrog-corrected" in res.stdout


def test_adam_then_lbfgs_schedule_runs_exactly_the_requested_steps():
    """L-BFGS runs the requested steps (DeepXDE derives its per-call step limit at import only)."""
    from steadygrad.bench.train import run_pde_problem

    row = run_pde_problem("heat2d", "mollifier-grid", 0.0, True, 0, "cpu", iterations=20, lbfgs=15)
    assert row["status"] == "ok" and row["iterations"] == 20 and 0 < row["lbfgs_steps"] <= 15, row
    assert row["final_loss"] > 0 and -1 <= row["param_corr"] <= 1 and row["param_rel_err"] > 0


@pytest.mark.slow
def test_langevin_recovers_the_forcing_and_variants_agree():
    """The mollifier (grid mode, on t) and autodiff recover lambda(t) alike; 1000 Adam steps
    already correlate (a wrong sign in the residual gives a negative correlation)."""
    from steadygrad.bench.train import run_pde_problem

    rows = [
        run_pde_problem("langevin_ode", v, 0.0, True, 0, "cpu", iterations=1000, lbfgs=0)
        for v in ("autodiff", "mollifier-grid")
    ]
    assert all(r["status"] == "ok" and r["param_corr"] > 0.6 for r in rows), rows
    assert abs(rows[0]["param_rel_err"] - rows[1]["param_rel_err"]) < 0.05, rows


def _probe(quick, device, seed):
    """A stand-in ODE problem built like spiral_fit: a net in the default dtype, float32 data."""
    import torch

    net = torch.nn.Linear(2, 2)
    y = net(torch.ones(1, 2, dtype=torch.float32))  # fails if a PDE case left float64 as default
    return [
        {
            "problem": "probe",
            "variant": None,
            "status": "ok",
            "dtype": str(torch.get_default_dtype()),
            "value": float(y.sum()),
            "draw": float(torch.rand(())),
        }
    ]


def test_problems_are_isolated_from_each_other(monkeypatch):
    """A problem that sets DeepXDE's float64 default (and seeds) does not change the rows of the
    next one, in either order (the README's bench --quick once crashed on exactly this)."""
    from steadygrad.bench import runner
    from steadygrad.bench.catalogue import Suite
    from steadygrad.bench.options import BenchOptions

    monkeypatch.setitem(runner.SUITES, "probe", Suite(_probe))
    opts = BenchOptions(quick=True, iterations=30, lbfgs=0, dry_run=True)

    def rows(order):
        out = {}
        for name in order:
            args = (name, "autodiff", 0.0, 1.0) if name == "poisson1d" else (name, None, None, None)
            for r in runner._run_case(*args, opts):
                out[name] = {
                    k: v for k, v in r.items() if k not in ("ms_per_step", "peak_mb", "memory_kind")
                }
        return out

    forward, backward = rows(["poisson1d", "probe"]), rows(["probe", "poisson1d"])
    assert forward == backward, (forward, backward)
    assert forward["probe"]["status"] == "ok" and forward["poisson1d"]["status"] == "ok", forward


def test_a_failing_case_becomes_an_error_row(tmp_path, monkeypatch):
    from steadygrad.bench import runner
    from steadygrad.bench.catalogue import Suite

    def broken(quick, device, seed):
        raise RuntimeError("mat1 and mat2 must have the same dtype\nmore detail")

    monkeypatch.setitem(runner.SUITES, "spiral_fit", Suite(broken))
    monkeypatch.setitem(runner.SUITES, "probe", Suite(_probe))
    monkeypatch.setattr(runner, "ALL_PROBLEMS", [*runner.ALL_PROBLEMS, "probe"])
    rows = runner.run_benchmarks(["spiral_fit", "probe"], quick=True, out=str(tmp_path))
    bad = runner.failed(rows)
    assert [r["problem"] for r in bad] == ["spiral_fit"] and bad[0]["error"] == (
        "RuntimeError: mat1 and mat2 must have the same dtype"
    )
    assert any(r["problem"] == "probe" and r["status"] == "ok" for r in rows)
    assert "spiral_fit" in (tmp_path / "results.md").read_text()


def test_cli_bad_out_and_iterations(tmp_path, capsys):
    from steadygrad.cli import main

    target = tmp_path / "file.txt"
    target.write_text("x")
    code = main(["bench", "poisson1d", "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and "is a file" in err and len(err.strip().splitlines()) == 1, err
    out = tmp_path / "results"
    out.mkdir()
    (out / "results.partial.jsonl").write_text("keep\n")
    code = main(["bench", "poisson1d", "--iterations", "0", "--out", str(out)])
    assert code == 2 and "--iterations must be >= 1" in capsys.readouterr().err
    assert (out / "results.partial.jsonl").read_text() == "keep\n"


def test_sampled_rows_carry_mode_memory_and_accuracy():
    from steadygrad.bench.sampled import sampled

    rows = sampled(True, "cpu", 0, names=["heat1d"])
    by = {r["variant"]: r for r in rows}
    assert set(by) == {"autodiff", "mollifier@5%", "mollifier@2.5%"}
    for r in rows:
        assert r["status"] == "ok" and r["ms_per_step"] > 0 and 0 < r["u_l2"] < 10, r
        assert r["vs_autodiff"] > 0 and r["err_vs_autodiff"] > 0
    for variant in ("mollifier@5%", "mollifier@2.5%"):  # 2nd order: 2 points per half-width
        assert by[variant]["mode"] == "lattice" and by[variant]["density"] == 2
    assert by["mollifier@5%"]["peak_mb"] < by["autodiff"]["peak_mb"]


@pytest.mark.slow
def test_budget_traces_widths_and_their_plots(tmp_path):
    """--budget records accuracy against training time; --widths scales the width or lets the
    data choose it ('auto'); both get their plots; bad values are refused."""
    from steadygrad.bench.runner import run_benchmarks

    rows = run_benchmarks(
        ["chromatin_thin"],
        quick=True,
        out=str(tmp_path),
        noise=0.05,
        variants=["mollifier-grid"],
        budget=1.5,
        widths=(1.0, "auto"),
    )
    limit, rows = rows[0], rows[1:]
    assert limit["variant"] == "limit" and limit["status"] == "ok", limit  # beside every case
    assert [r["width"] for r in rows] == [1.0, "auto"] and all(r["status"] == "ok" for r in rows)
    assert all(
        r["err_vs_limit"] == pytest.approx(r["param_rel_err"] / limit["param_rel_err"])
        for r in rows
    )
    for r in rows:
        times = [p["s"] for p in r["trace"]]
        assert len(times) >= 2 and times == sorted(times) and times[-1] >= 1.5, times
        assert all(-1 <= p["param_corr"] <= 1 and len(p["losses"]) == 2 for p in r["trace"])
        assert 0 < r["baseline_param_corr"] < 1
    assert rows[0]["width_h"] == pytest.approx(1.0) and rows[1]["width_h"] >= 2  # auto: floor
    for name in ("time_to_accuracy_chromatin_thin_noise0.05.png", "widths_chromatin_thin.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "trace" not in (tmp_path / "results.md").read_text()
    for bad in ({"budget": 0}, {"widths": (0.0,)}, {"widths": ("wide",)}):
        with pytest.raises(ValueError, match="--budget|--widths"):
            run_benchmarks(["chromatin"], out=str(tmp_path), dry_run=True, **bad)


def test_measure_times_each_call_and_reports_the_spread():
    import torch
    from steadygrad.bench.measure import measure, spread

    net, x = torch.nn.Linear(8, 8), torch.randn(16, 8)
    res = measure(lambda: net(x).sum().backward(), repeats=6)
    assert res["status"] == "ok" and res["seconds"] > 0 and res["spread"] >= 0
    calls = []  # a training step trains once per call: warmup + repeats + the memory call
    for warmup in (0, 1):
        calls.clear()
        measure(lambda: calls.append(1), repeats=5, warmup=warmup, cpu_memory="polled")
        assert len(calls) == warmup + 5 + 1, len(calls)
    assert spread([1.0, 1.0, 1.0]) == 0.0 and spread([1.0, 2.0, 3.0, 4.0, 5.0]) == 1.0


@pytest.mark.slow
def test_script_scaling_rows_split_points_and_lattices():
    """DeepXDE-script scaling at quick size: every rank trains half the points, the
    mollifier's lattice per rank shrinks with its slab, and the result matches one process."""
    from steadygrad.bench.scaling_script import script_scaling

    rows = script_scaling(True, 0)  # quick: strong scaling only
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert r["ms_per_step"] > 0 and r["efficiency"] > 0
        assert r["u_l2_vs_one_process"] <= 1e-3 * r["u_l2"], r  # float32 round-off only
    strong = {(r["variant"], r["processes"]): r for r in rows if "strong" in r["variant"]}
    for backend in ("autodiff", "mollifier"):
        one, two = strong[(f"{backend} strong", 1)], strong[(f"{backend} strong", 2)]
        assert two["points_per_rank"] < 0.6 * one["points_per_rank"]
    one, two = strong[("mollifier strong", 1)], strong[("mollifier strong", 2)]
    assert two["lattice_nodes_per_rank"] < 0.75 * one["lattice_nodes_per_rank"]
