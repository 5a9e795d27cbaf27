"""Reporting of benchmark rows: one Markdown table per problem, and PNG plots."""

from __future__ import annotations

import os

from .problems import PDE_PROBLEMS, VARIANTS

__all__ = [
    "against_limit",
    "markdown",
    "plot_chromatin_direct",
    "plot_ode_memory",
    "plot_ode_speed",
    "plot_residual4",
    "plot_sampled",
    "plot_time_weights",
    "plots",
]


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
        lines += against_limit(sub)
    return "\n".join(lines + standard_table(rows))


def standard_table(rows: list[dict]) -> list[str]:
    """Markdown lines: the standard (PINNacle) problems' trained rows side by side with the
    paper's published errors; empty without such rows."""
    from .problems.pinnacle import PUBLISHED

    mine = [r for r in rows if r["problem"] in PUBLISHED and r.get("variant") in VARIANTS]
    if not mine:
        return []
    lines = [
        "### The standard problems beside PINNacle's published L2RE",
        "",
        "| problem | variant | steps | ms/step | peak MB | L2RE | at equal time | s to common "
        "target | PINNacle PINN / best (20 000 steps) | notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in mine:
        pub = PUBLISHED[r["problem"]]
        error = _fmt(r.get("u_l2"))
        if r.get("param_rel_err") is not None:
            error = f"u {error}, a {_fmt(r['param_rel_err'])}"
        equal = f"{_fmt(r.get('err_at_equal_s'))} at {_fmt(r.get('equal_s'))} s"
        target = f"{_fmt(r.get('s_to_common'))} ({_fmt(r.get('common_target'))})"
        notes = [k for k in ("fallback", "precision") if r.get(k)]
        lines.append(
            f"| {r['problem']} | {r['variant']} | {r.get('iterations')} | "
            f"{_fmt(r.get('ms_per_step'))} | {_fmt(r.get('peak_mb'))} | {error} | {equal} | "
            f"{target} | {_fmt(pub.vanilla)} / {_fmt(pub.best)} ({pub.case}) | "
            f"{', '.join(notes) or '-'} |"
        )
    return [
        "",
        *lines,
        "",
        "notes: fallback = part of the residual went to autodiff; "
        "precision = the network was evaluated in float64 (rows' own columns say why)",
        "",
    ]


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def against_limit(rows: list[dict]) -> list[str]:
    """Markdown lines: one problem's parameter results beside its information limit, a row
    per noise level and variant (corr / relative error, the error over the limit's, seconds
    to 1.25x the limit's error); empty without a converged limit row."""
    limits = {r["noise"]: r for r in rows if r.get("variant") == "limit" and r["status"] == "ok"}
    results = [
        r
        for r in rows
        if r.get("noise") in limits and r.get("variant") != "limit" and "param_corr" in r
    ]
    if not results:
        return []
    lines = [
        f"#### {rows[0]['problem']}: against the information limit",
        "",
        "| noise | variant | corr / rel. error | limit | × limit | s to 1.25× limit |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lim = limits[r["noise"]]
        width = "" if r.get("width_h") is None else f", {r['width_h']:.3g} h"
        lines.append(
            f"| {r['noise']:g} | {r['variant']}{width} | {r['param_corr']:.3f} / "
            f"{_pct(r['param_rel_err'])} | {lim['param_corr']:.3f} / "
            f"{_pct(lim['param_rel_err'])} | {_fmt(r.get('err_vs_limit'))} | "
            f"{_fmt(r.get('s_to_limit'))} |"
        )
    return [*lines, ""]


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
    from .training_plots import solution_time_to_accuracy, time_to_accuracy, width_heatmap

    paths = []
    traced = [r for r in pde if r.get("trace")]
    limits = {(r["problem"], r["noise"] or 0.0): r for r in pde if r["variant"] == "limit"}
    for key in dict.fromkeys((r["problem"], r.get("noise") or 0.0) for r in traced):
        sub = [r for r in traced if (r["problem"], r.get("noise") or 0.0) == key]
        name = f"time_to_accuracy_{key[0]}_noise{key[1]:g}.png"
        if all("param_corr" in p for r in sub for p in r["trace"]):
            fig = time_to_accuracy(plt, sub, limits.get(key))
        else:  # forward problems: the solution's error
            fig = solution_time_to_accuracy(plt, sub)
        paths.append(_save(plt, fig, out, name))
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


def plot_time_weights(plt, rows: list[dict]):
    return _plot_time_weights(plt, rows)


def plot_ode_memory(plt, rows: list[dict]):
    rows = [r for r in rows if r.get("peak_mb") is not None]
    return _plot_memory(plt, rows) if rows else None


def plot_chromatin_direct(plt, rows: list[dict]):
    from .training_plots import width_heatmap

    return width_heatmap(plt, rows, "param_corr")


def _cost_accuracy_plot(error_key: str, title: str, label):
    """A suite's plot: time per step against ``error_key`` for its rows that carry it."""

    def plot(plt, rows: list[dict]):
        rows = [r for r in rows if r.get(error_key) is not None]
        return _plot_cost_accuracy(plt, rows, error_key, title, label) if rows else None

    return plot


plot_residual4 = _cost_accuracy_plot(
    "rel_err",
    "biharmonic residual: cost vs error against float64",
    lambda r: f"{r['variant']} {r['dtype']}",
)
plot_ode_speed = _cost_accuracy_plot(
    "grad_rel_err",
    "neural-ODE gradient: cost vs error (continuous adjoint)",
    lambda r: f"{r['variant']} ({r['f_evals']} f)",
)
plot_sampled = _cost_accuracy_plot(
    "u_l2",
    "DeepXDE sampled points: cost vs L2 error of u",
    lambda r: f"{r['problem'][8:]} {r['variant']} {r['dtype']}",
)


def plots(rows: list[dict], out: str) -> list[str]:
    """Write PNG plots for the benchmarks present (each suite's own, then the PDE problems'
    comparison and training plots); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .catalogue import SUITES, benchmark_of

    ok = [r for r in rows if r.get("status") == "ok"]
    paths = []
    for name, suite in SUITES.items():
        mine = [r for r in ok if benchmark_of(r) == name]
        fig = suite.plot(plt, mine) if suite.plot is not None and mine else None
        if fig is not None:
            paths.append(_save(plt, fig, out, suite.plot_file))
    pde = [r for r in ok if r["problem"] in PDE_PROBLEMS]
    if pde:
        paths.append(_save(plt, _plot_pde(plt, pde), out, "pde.png"))
    paths += _training_plots(plt, pde, out)
    return paths
