"""``python -m steadygrad demo``: the two promises in under a minute on a CPU.

1. A 4th-order beam through DeepXDE: autodiff vs Mollifier Layers (scattered and grid).
2. Leapfrog neural-ODE gradients with per-step weights: raw autodiff vs corrected.
"""

from __future__ import annotations

import json
import os
import warnings

__all__ = ["main"]


def main(quick: bool = True, out: str = "bench-results/demo") -> int:
    """Run the demo problems, print a summary and write table/JSON/plot to ``out``; returns 0."""
    from .bench.isolation import isolated
    from .bench.measure import machine
    from .bench.ode import time_weights
    from .bench.problems import PDE_PROBLEMS, VARIANTS
    from .bench.report import markdown, plots
    from .bench.train import run_pde_problem

    print("steadygrad demo: beam u'''' = -1 through DeepXDE, and leapfrog gradients")
    with warnings.catch_warnings(), isolated(0):
        warnings.simplefilter("ignore")
        variants = [v for v in VARIANTS if v not in PDE_PROBLEMS["beam"].skip]
        rows = [run_pde_problem("beam", v, 0.0, True, 0, "cpu", iterations=None) for v in variants]
        rows += time_weights(quick=True, device="cpu", seed=0, methods=("leapfrog",))
    os.makedirs(out, exist_ok=True)
    meta = {"command": "python -m steadygrad demo", "machine": machine(), "date": ""}
    with open(os.path.join(out, "results.md"), "w") as fh:
        fh.write(markdown(rows, meta))
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    plots(rows, out)
    print("\nDeepXDE beam, same network and training points:")
    for r in rows[: len(variants)]:
        print(
            f"  {r['variant']:<20} {r['ms_per_step']:7.1f} ms/step   relative L2 error of u "
            f"{r['u_l2']:.2e}"
        )
    print("Leapfrog with per-step weights, max_n |g_n/h - G(t_n)| vs the continuous adjoint:")
    for r in rows[len(variants) :]:
        print(f"  {r['variant']:<20} N={r['N']:<4} {r['max_grad_err']:.2e}")
    print(f"\nTables and plots in {out}/")
    return 0
