"""``python -m steadygrad demo``: the two promises in about a minute on a 2-core CPU.

1. What the Mollifier Layers are for: one training step of a 4th-order residual (the
   biharmonic, MLP 2-64-64-1, float32) on 64^2 and 128^2 points, against DeepXDE's nested
   autodiff and torch.func's forward-over-reverse (the strongest exact method installed here):
   time, memory, and each method's error against its own float64 evaluation.
2. Where they gain little: DeepXDE's small 1D beam (64 points), autodiff against grid mode.
3. Corrected multistep gradients: leapfrog with per-step weights, raw autodiff against the
   corrected backward pass, both against the continuous adjoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import warnings

__all__ = ["main"]

#: the 4th-order comparison: lattice sides, and the methods (residual4's variants)
SIZES = (64, 128)
#: Adam steps of each beam run (the bench's quick beam trains 1 000)
BEAM_STEPS = 500
METHODS = {
    "mollifier-grid": "mollifier (grid mode)",
    "autodiff": "DeepXDE nested autodiff",
    "autodiff-torch.func": "torch.func fwd-over-rev",
}


def _exact_note() -> str:
    """Which exact method the table's strongest row is, and whether jet-for-pytorch is there."""
    if importlib.util.find_spec("jet") is None:
        return (
            "jet-for-pytorch (collapsed Taylor mode, Python >= 3.12) is not installed; the "
            "strongest exact method here is torch.func's forward-over-reverse"
        )
    return (
        "jet-for-pytorch is installed, but steadygrad does not drive it: compare with its own "
        "benchmark; the strongest exact method shown is torch.func's forward-over-reverse"
    )


def _residual_table(rows: list[dict]) -> list[str]:
    lines = [
        f"  {'points':>8}  {'method':<26}{'ms/step':>9}{'peak MB':>9}{'error':>10}"
        f"{'vs DeepXDE':>12}"
    ]
    for grid in dict.fromkeys(r["grid"] for r in rows):
        sub = {r["variant"]: r for r in rows if r["grid"] == grid}
        ref = sub["autodiff"]["ms_per_step"]
        for variant, label in METHODS.items():
            r = sub[variant]
            mem = "-" if r.get("peak_mb") is None else f"{r['peak_mb']:.0f}"
            lines.append(
                f"  {grid:>8}  {label:<26}{r['ms_per_step']:9.1f}{mem:>9}"
                f"{r.get('rel_err', float('nan')):10.1e}{ref / r['ms_per_step']:11.1f}x"
            )
    return lines


def _plot(rows: list[dict], out: str) -> str:
    """Time per step by method and size (log scale), each bar labelled with its memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    grids = list(dict.fromkeys(r["grid"] for r in rows))
    for i, (variant, label) in enumerate(METHODS.items()):
        sub = {r["grid"]: r for r in rows if r["variant"] == variant}
        xs = [g + 0.27 * (i - 1) for g in range(len(grids))]
        ms = [sub[g]["ms_per_step"] for g in grids]
        bars = ax.bar(xs, ms, 0.25, label=label, log=True)
        for bar, g in zip(bars, grids):
            mb = sub[g].get("peak_mb")
            if mb is not None:
                ax.annotate(
                    f"{mb:.0f} MB",
                    (bar.get_x() + 0.125, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks(range(len(grids)), [f"{g} points" for g in grids])
    ax.set(
        ylabel="ms per training step (log)",
        title="4th-order residual (biharmonic), one training step, float32",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "demo_residual4.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(quick: bool = True, out: str = "bench-results/demo") -> int:
    """Run the demo, print its three tables and write table/JSON/plots to ``out``; returns 0."""
    import torch

    from .bench.isolation import isolated
    from .bench.measure import machine
    from .bench.ode import time_weights
    from .bench.report import markdown, plots
    from .bench.residual import residual4
    from .bench.train import run_pde_problem

    t0 = time.perf_counter()
    print(
        "steadygrad demo 1/3: one training step of a 4th-order residual (biharmonic, MLP "
        "2-64-64-1, float32)"
    )
    with warnings.catch_warnings(), isolated(0):
        warnings.simplefilter("ignore")
        r4 = residual4(True, "cpu", 0, (torch.float32,), SIZES, tuple(METHODS))
        print("\n".join(_residual_table(r4)))
        print(f"  error: max |residual - its float64 value| / max |float64 value|; {_exact_note()}")
        print(
            f"\nsteadygrad demo 2/3: DeepXDE's beam u'''' = -1, 64 points in 1D, {BEAM_STEPS} "
            "Adam steps each: on a problem this small the two are close (the gain is in the "
            "table above)"
        )
        beam = [
            run_pde_problem("beam", v, 0.0, True, 0, "cpu", iterations=BEAM_STEPS)
            for v in ("autodiff", "mollifier-grid")
        ]
        for r in beam:
            print(
                f"  {r['variant']:<20} {r['ms_per_step']:7.1f} ms/step   relative L2 error "
                f"of u {r['u_l2']:.2e}"
            )
        print(
            "\nsteadygrad demo 3/3: leapfrog neural-ODE gradients with per-step weights, "
            "max_n |g_n/h - G(t_n)| against the continuous adjoint"
        )
        ode = time_weights(quick=True, device="cpu", seed=0, methods=("leapfrog",))
        for r in ode:
            print(f"  {r['variant']:<20} N={r['N']:<4} {r['max_grad_err']:.2e}")
    rows = r4 + beam + ode
    os.makedirs(out, exist_ok=True)
    meta = {"command": "python -m steadygrad demo", "machine": machine(), "date": ""}
    with open(os.path.join(out, "results.md"), "w") as fh:
        fh.write(markdown(rows, meta))
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    plots(rows, out)
    _plot(r4, out)
    print(f"\nTables and plots in {out}/ ({time.perf_counter() - t0:.0f} s)")
    return 0
