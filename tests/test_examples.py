"""The neural-ODE training example: corrected gradients learn smooth per-step weights."""

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example(script: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    """Run ``examples/<script>`` with ``args``; asserts it exits 0."""
    res = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res


@pytest.mark.slow
def test_time_weights_training_example(tmp_path):
    png = tmp_path / "loss.png"
    res = _example(
        "neural_ode_time_weights.py",
        "--iterations",
        "150",
        "--plot",
        str(png),
        "--json",
        cwd=tmp_path,
    )
    out = json.loads(res.stdout.strip().splitlines()[-1])
    raw, corr = out["raw"], out["corrected"]
    # raw gradients carry the parasitic (-1)^n mode into the weights; corrected ones do not
    assert corr["roughness"] < 0.4 * raw["roughness"], out
    # raw-trained weights fit leapfrog's discretisation, not the ODE: worse when solved accurately
    assert corr["continuous_loss"] < 0.8 * raw["continuous_loss"], out
    assert corr["weight_err"] < raw["weight_err"], out
    assert png.stat().st_size > 10_000


@pytest.mark.slow
def test_step_cost_example_prints_one_line_per_backend():
    cases = (
        ["poisson2d_classic", "autodiff"],
        ["poisson2d_classic", "mollifier", "--precision", "input"],
        ["heat_inverse", "mollifier", "--space-only"],
    )
    for args in cases:
        res = _example("step_cost.py", *args, "--steps", "2")
        last = res.stdout.splitlines()[-1]
        assert re.search(r"\d+ ms/step, peak \d+ MB, on \d+ points$", last), res.stdout
