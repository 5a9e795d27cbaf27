"""Reporting of benchmark rows: one Markdown table per problem, and PNG plots."""

from __future__ import annotations

import os

from .pde import PDE_PROBLEMS, VARIANTS

__all__ = ["markdown", "plots"]


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def markdown(rows: list[dict], meta: dict) -> str:
    """One table per problem; columns are the keys present (per-step arrays omitted)."""
    lines = [
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}  ",
        f"Date: {meta['date']}",
        "",
    ]
    for problem in dict.fromkeys(r["problem"] for r in rows):
        sub = [r for r in rows if r["problem"] == problem]
        keys = [
            k
            for k in dict.fromkeys(k for r in sub for k in r)
            if k not in ("problem", "per_step_err", "memory_kind", "trace", "case_s")
            and any(r.get(k) is not None for r in sub)
        ]
        lines += [f"### {problem}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in sub]
        kinds = {r.get("memory_kind") for r in sub if r.get("memory_kind")}
        lines += ["", f"peak_mb: {', '.join(sorted(kinds))}." if kinds else "", ""]
    return "\n".join(lines)


def _save(plt, fig, out: str, name: str) -> str:
    fig.tight_layout()
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_time_weights(plt, tw: list[dict]):
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for variant in dict.fromkeys(r["variant"] for r in tw):
        sub = [r for r in tw if r["variant"] == variant]
        style = "o-" if "corr" in variant else "x--"
        ax[0].loglog([r["N"] for r in sub], [r["max_grad_err"] for r in sub], style, label=variant)
        last = sub[-1]
        if variant.startswith("leapfrog") and last.get("per_step_err"):
            ax[1].semilogy(last["per_step_err"], label=f"{variant} (N={last['N']})")
    ax[0].set(xlabel="steps N", ylabel="max_n |g_n/h - G(t_n)|", title="per-step gradient error")
    ax[1].set(xlabel="step n", ylabel="|g_n/h - G(t_n)|", title="leapfrog: raw vs corrected")
    ax[0].legend(fontsize=7)
    ax[1].legend(fontsize=8)
    return fig


def _plot_memory(plt, mem: list[dict]):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for variant in dict.fromkeys(r["variant"] for r in mem):
        sub = [r for r in mem if r["variant"] == variant]
        ax.plot([r["N"] for r in sub], [r["peak_mb"] for r in sub], "o-", label=variant)
    ax.set(xlabel="steps N", ylabel="peak memory above baseline (MB)", title="ODE backward memory")
    ax.legend(fontsize=8)
    return fig


def _plot_pde(plt, pde: list[dict]):
    names = list(dict.fromkeys(r["problem"] for r in pde))
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(VARIANTS)
    for i, variant in enumerate(VARIANTS):
        sub = {
            r["problem"]: r
            for r in pde
            if r["variant"] == variant
            and r.get("noise") in (None, 0.05)
            and r.get("width") in (None, 1.0)
        }
        xs = [j + i * width for j in range(len(names))]
        ax[0].bar(xs, [sub.get(n, {}).get("ms_per_step", 0) for n in names], width, label=variant)
        err = [sub.get(n, {}).get("param_rel_err", sub.get(n, {}).get("u_l2", 0)) for n in names]
        ax[1].bar(xs, err, width, label=variant)
    titles = ("ms per training step", "relative error (u or parameter; 5% noise)")
    for a, title in zip(ax, titles):
        a.set_xticks([j + width for j in range(len(names))], names, rotation=20, fontsize=8)
        a.set_title(title)
    ax[1].set_yscale("log")
    ax[0].legend(fontsize=8)
    return fig


def _plot_cost_accuracy(plt, rows: list[dict], error_key: str, title: str, label):
    """Time per step against the error of what was computed (one point per row)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in rows:
        err = max(r[error_key], 1e-17)
        ax.loglog(r["ms_per_step"], err, "o")
        ax.annotate(
            label(r), (r["ms_per_step"], err), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set(
        xlabel="ms per step (lower is better)", ylabel=f"{error_key} (lower is better)", title=title
    )
    return fig


def _training_plots(plt, pde: list[dict], out: str) -> list[str]:
    """Time-to-accuracy per problem and noise level; noise x width heat-map per problem."""
    from .training_plots import time_to_accuracy, width_heatmap

    paths = []
    traced = [r for r in pde if r.get("trace")]
    limits = {(r["problem"], r["noise"] or 0.0): r for r in pde if r["variant"] == "limit"}
    for key in dict.fromkeys((r["problem"], r.get("noise") or 0.0) for r in traced):
        sub = [r for r in traced if (r["problem"], r.get("noise") or 0.0) == key]
        name = f"time_to_accuracy_{key[0]}_noise{key[1]:g}.png"
        paths.append(_save(plt, time_to_accuracy(plt, sub, limits.get(key)), out, name))
    for problem in dict.fromkeys(r["problem"] for r in pde):
        sub = [
            r
            for r in pde
            if r["problem"] == problem
            and r["variant"] in VARIANTS  # trained rows (not the limit or direct estimates)
            and r.get("param_rel_err") is not None
        ]
        if len({r.get("width") for r in sub if r["variant"] != "autodiff"}) > 1:
            paths.append(_save(plt, width_heatmap(plt, sub), out, f"widths_{problem}.png"))
    return paths


def plots(rows: list[dict], out: str) -> list[str]:
    """Write PNG plots for the problems present; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def ok(problem, key=None):
        return [
            r
            for r in rows
            if r["problem"] == problem
            and r.get("status") == "ok"
            and (key is None or r.get(key) is not None)
        ]

    paths = []
    if ok("time_weights"):
        paths.append(
            _save(plt, _plot_time_weights(plt, ok("time_weights")), out, "time_weights.png")
        )
    if ok("ode_memory", "peak_mb"):
        paths.append(
            _save(plt, _plot_memory(plt, ok("ode_memory", "peak_mb")), out, "ode_memory.png")
        )
    pde = [r for r in rows if r["problem"] in PDE_PROBLEMS and r.get("status") == "ok"]
    if pde:
        paths.append(_save(plt, _plot_pde(plt, pde), out, "pde.png"))
    paths += _training_plots(plt, pde, out)
    if ok("chromatin_direct"):
        from .training_plots import width_heatmap

        fig = width_heatmap(plt, ok("chromatin_direct"), "param_corr")
        paths.append(_save(plt, fig, out, "widths_chromatin_direct.png"))
    if ok("residual4", "rel_err"):
        fig = _plot_cost_accuracy(
            plt,
            ok("residual4", "rel_err"),
            "rel_err",
            "biharmonic residual: cost vs error against float64",
            lambda r: f"{r['variant']} {r['dtype']}",
        )
        paths.append(_save(plt, fig, out, "residual4.png"))
    if ok("ode_speed"):
        fig = _plot_cost_accuracy(
            plt,
            ok("ode_speed"),
            "grad_rel_err",
            "neural-ODE gradient: cost vs error (continuous adjoint)",
            lambda r: f"{r['variant']} ({r['f_evals']} f)",
        )
        paths.append(_save(plt, fig, out, "ode_speed.png"))
    sampled = [r for r in rows if r["problem"].startswith("sampled:") and r.get("status") == "ok"]
    if sampled:
        fig = _plot_cost_accuracy(
            plt,
            sampled,
            "u_l2",
            "DeepXDE sampled points: cost vs L2 error of u",
            lambda r: f"{r['problem'][8:]} {r['variant']} {r['dtype']}",
        )
        paths.append(_save(plt, fig, out, "sampled.png"))
    return paths
