"""Plots of training runs: accuracy against wall-clock time, and the noise x width heat-map."""

from __future__ import annotations

import numpy as np

__all__ = ["solution_time_to_accuracy", "time_to_accuracy", "width_heatmap"]


def _label(r: dict) -> str:
    width = "" if r.get("width_h") is None else f", width {r['width_h']:.3g} h"
    width += " (auto)" if r.get("width") == "auto" else ""
    mem = f", {r['peak_mb']:.0f} MB" if r.get("peak_mb") is not None else ""
    return f"{r['variant']}{width}{mem}"


def time_to_accuracy(plt, rows: list[dict], limit: dict | None = None):
    """One figure: correlation and relative error of the recovered parameter against training
    time, a line per row (rows of one problem and noise level carrying ``trace``); ``limit``:
    that problem and noise level's converged information-limit row, drawn as a horizontal
    line (and ``LIMIT_FACTOR`` x its error, the target whose time the rows report)."""
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    from .train import LIMIT_FACTOR, TARGETS

    if limit is not None:
        ax[0].axhline(limit["param_corr"], color="C3", lw=1.5, label="information limit")
        ax[1].axhline(limit["param_rel_err"], color="C3", lw=1.5, label="information limit")
        ax[1].axhline(LIMIT_FACTOR * limit["param_rel_err"], color="C3", lw=0.8, ls="--")
    for r in rows:
        t = [p["s"] for p in r["trace"]]
        style = "-" if len(t) > 1 else "o"  # a direct estimate: one point
        ax[0].plot(t, [p["param_corr"] for p in r["trace"]], style, label=_label(r))
        ax[1].semilogy(t, [p["param_rel_err"] for p in r["trace"]], style, label=_label(r))
    for target in TARGETS:  # the targets whose times the table reports
        ax[1].axhline(target, color="k", lw=0.5, ls="--")
    base = rows[0]
    for a, key in zip(ax, ("baseline_param_corr", "baseline_param_rel_err")):
        if base.get(key) is not None:
            a.axhline(base[key], color="gray", ls=":", label="derivative-free baseline")
    noise = base.get("noise") or 0.0
    ax[0].set(xlabel="training time (s)", ylabel="Pearson correlation of the parameter")
    ax[1].set(xlabel="training time (s)", ylabel="relative L2 error of the parameter")
    budget = next((r["budget_s"] for r in rows if r.get("budget_s")), None)
    within = f" ({budget:g} s)" if budget else ""
    fig.suptitle(f"{base['problem']}, noise {noise:g}: time to accuracy{within}")
    ax[0].legend(fontsize=7)
    return fig


def solution_time_to_accuracy(plt, rows: list[dict], key: str = "u_l2"):
    """One figure: the solution's L2 relative error against training time, a line per row
    (forward problems' rows carrying ``trace``), with the common target the rows report."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in rows:
        ax.semilogy([p["s"] for p in r["trace"]], [p[key] for p in r["trace"]], label=_label(r))
    target = rows[0].get("common_target")
    if target is not None:
        ax.axhline(target, color="k", lw=0.5, ls="--", label="common target")
    ax.set(xlabel="training time (s)", ylabel=f"{key} (L2 relative error)")
    ax.set_title(f"{rows[0]['problem']}: time to accuracy", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def width_heatmap(plt, rows: list[dict], key: str = "param_rel_err"):
    """``key`` over noise level (rows) x width (columns) for one problem; autodiff (no width)
    is its own column."""

    def column(r):
        if r["variant"] == "autodiff":
            return (0, "autodiff")
        if r["width"] == "auto":
            return (2, f"{r['variant'].replace('mollifier-', '')} auto")
        return (1, f"{r['variant'].replace('mollifier-', '')} {r['width']:.3g}", r["width"])

    cols = sorted({column(r) for r in rows}, key=lambda c: (c[0], c[1].split()[0], c[-1]))
    levels = sorted({r["noise"] for r in rows})
    grid = np.full((len(levels), len(cols)), np.nan)
    for r in rows:
        grid[levels.index(r["noise"]), cols.index(column(r))] = r[key]
    fig, ax = plt.subplots(figsize=(1.0 * len(cols) + 2.5, 0.6 * len(levels) + 1.8))
    corr = key.endswith("corr")
    shown = grid if corr else np.log10(grid)
    im = ax.imshow(shown, cmap="viridis" if corr else "viridis_r", aspect="auto")
    for i, j in np.ndindex(grid.shape):
        if np.isfinite(grid[i, j]):
            ax.text(j, i, f"{grid[i, j]:.2g}", ha="center", va="center", fontsize=7, color="w")
    ax.set_xticks(range(len(cols)), [c[1] for c in cols], rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(levels)), [f"{lvl:g}" for lvl in levels])
    unit = "pixels" if rows[0]["problem"].endswith("direct") else "x default"
    ax.set(ylabel="noise", title=f"{rows[0]['problem']}: {key} (width in {unit})")
    fig.colorbar(im, label=key if corr else f"log10 {key}")
    return fig
