"""``steadygrad bench``: run named problems, write a Markdown table, a JSON record and PNG plots."""
from __future__ import annotations

import json
import os
import time
import warnings
from typing import Sequence

from .measure import machine
from .ode import ODE_PROBLEMS
from .pde import PDE_PROBLEMS, VARIANTS
from .residual import residual4

__all__ = ["ALL_PROBLEMS", "run_benchmarks", "check_options", "failed"]

ALL_PROBLEMS = [*PDE_PROBLEMS, "residual4", *ODE_PROBLEMS]


def _jobs(problems, noise, variants):
    for name in problems:
        if name in PDE_PROBLEMS:
            levels = noise if PDE_PROBLEMS[name].inverse else (None,)
            for level in levels:
                for variant in variants:
                    yield name, variant, level
        else:
            yield name, None, None


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")


def _run_case(name: str, variant, level, quick: bool, seed: int, device: str, iterations, lbfgs) -> list[dict]:
    """One case, isolated from global state; an exception becomes a ``status: error`` row."""
    from .isolation import error_row, isolated
    from .pde import run_pde_problem

    try:
        with isolated(seed):
            if name in PDE_PROBLEMS:
                return [run_pde_problem(name, variant, level or 0.0, quick, seed, device, iterations, lbfgs)]
            if name == "residual4":
                return residual4(quick, device, seed)
            return ODE_PROBLEMS[name](quick, device, seed)
    except Exception as err:  # noqa: BLE001 - recorded in the table, the run goes on
        return [error_row(name, variant, err)]


def _pde_case(args) -> list[dict]:
    return _run_case(*args)


def check_options(problems, device: str, noise, jobs: int, iterations, lbfgs, variants, out: str,
                  dry_run: bool = False) -> tuple:
    """Validate every option before anything is written; ``ValueError`` names the bad one."""
    problems = list(problems or ALL_PROBLEMS)
    unknown = [p for p in problems if p not in ALL_PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; choose from {ALL_PROBLEMS}")
    variants = tuple(variants or VARIANTS)
    if set(variants) - set(VARIANTS):
        raise ValueError(f"unknown variant(s) {sorted(set(variants) - set(VARIANTS))}; choose from {list(VARIANTS)}")
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if iterations is not None and iterations < 1:
        raise ValueError(f"--iterations must be >= 1, got {iterations}")
    if lbfgs is not None and lbfgs < 0:
        raise ValueError(f"--lbfgs must be >= 0, got {lbfgs}")
    if noise is not None:
        noise = (noise,) if isinstance(noise, float) else tuple(noise)
        if any(not 0 <= x < 1 for x in noise):
            raise ValueError(f"--noise levels must lie in [0, 1), got {noise}")
    if device.startswith("cuda") and not dry_run:
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda requested but no CUDA device is available")
    elif not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"--device must be cpu or cuda[:N], got {device!r}")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out!r} is a file; name a folder")
    parent = os.path.dirname(os.path.abspath(out))
    if not dry_run and not os.access(out if os.path.isdir(out) else parent, os.W_OK):
        raise ValueError(f"--out {out!r} is not writable")
    return problems, variants, noise


def run_benchmarks(problems: Sequence[str] | None = None, device: str = "cpu", quick: bool = False,
                   out: str = "bench-results", seed: int = 0, noise=None, jobs: int = 1,
                   iterations: int | None = None, lbfgs: int | None = None,
                   variants: Sequence[str] | None = None, dry_run: bool = False) -> list[dict]:
    """Run benchmark problems and write ``out/results.{md,json}`` and plots; returns the rows.

    Every case runs isolated from global state (dtype, device, threads, RNGs, DeepXDE config);
    a case that raises becomes a row with ``status: error``, and the others still run.
    ``jobs > 1`` trains the PDE cases in that many worker processes (one thread each); the
    remaining problems (timing-sensitive residual4, ODE problems) run serially afterwards.
    ``dry_run`` validates the options and returns the cases as rows without running them.
    """
    from tqdm import tqdm

    problems, variants, noise = check_options(problems, device, noise, jobs, iterations, lbfgs, variants, out,
                                              dry_run)
    noise = noise if noise is not None else ((0.05,) if quick else (0.0, 0.01, 0.05, 0.1))
    cases = list(_jobs(problems, noise, variants))
    if dry_run:
        return [{"problem": n, "variant": v, "noise": lvl, "status": "planned"} for n, v, lvl in cases]
    rows: list[dict] = []
    started = time.time()
    os.makedirs(out, exist_ok=True)
    partial = os.path.join(out, "results.partial.jsonl")  # every finished row at once: survives a killed run
    open(partial, "w").close()

    def record(new: list[dict]) -> None:
        with open(partial, "a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in new)

    bar = tqdm(total=len(cases), desc="steadygrad bench", unit="case")
    pde_args = [(n, v, lvl, quick, seed, device, iterations, lbfgs) for n, v, lvl in cases if n in PDE_PROBLEMS]
    if jobs > 1 and pde_args:
        rows.extend(_parallel(pde_args, jobs, record, bar))
        cases = [c for c in cases if c[0] not in PDE_PROBLEMS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, variant, level in cases:
            new = _run_case(name, variant, level, quick, seed, device, iterations, lbfgs)
            rows.extend(new)
            record(new)
            bar.update()
    bar.close()
    flags = f" --device {device}" + (" --quick" if quick else "") + (f" --jobs {jobs}" if jobs > 1 else "")
    flags += " --noise " + ",".join(f"{x:g}" for x in noise) + (f" --iterations {iterations}" if iterations else "")
    flags += f" --lbfgs {lbfgs}" if lbfgs is not None else ""
    flags += f" --variants {','.join(variants)}" if variants != VARIANTS else ""
    meta = {"command": "python -m steadygrad bench " + " ".join(problems) + flags, "machine": machine(),
            "device": device, "seconds": time.time() - started, "date": time.strftime("%Y-%m-%d %H:%M")}
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump({"meta": meta, "rows": rows}, fh, indent=1)
    with open(os.path.join(out, "results.md"), "w") as fh:
        fh.write(markdown(rows, meta))
    plots(rows, out)
    print(markdown(rows, meta))
    return rows


def _parallel(pde_args: list, jobs: int, record, bar) -> list[dict]:
    """PDE cases in worker processes; a crashed worker's cases become error rows."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .isolation import error_row

    done: dict[int, list[dict]] = {}
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init) as pool:
        futures = {pool.submit(_pde_case, a): i for i, a in enumerate(pde_args)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                done[i] = fut.result()
            except Exception as err:  # noqa: BLE001 - e.g. a worker killed by the OS
                done[i] = [error_row(pde_args[i][0], pde_args[i][1], err)]
            record(done[i])
            bar.update()
    return [r for i in range(len(pde_args)) for r in done[i]]


def failed(rows: list[dict]) -> list[dict]:
    """Rows of cases that raised (``status: error``)."""
    return [r for r in rows if r.get("status") == "error"]


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def markdown(rows: list[dict], meta: dict) -> str:
    """One table per problem; columns are the keys present (per-step arrays omitted)."""
    lines = [f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}  ", f"Date: {meta['date']}", ""]
    for problem in dict.fromkeys(r["problem"] for r in rows):
        sub = [r for r in rows if r["problem"] == problem]
        keys = [k for k in dict.fromkeys(k for r in sub for k in r)
                if k not in ("problem", "per_step_err", "memory_kind") and any(r.get(k) is not None for r in sub)]
        lines += [f"### {problem}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |" for r in sub]
        kinds = {r.get("memory_kind") for r in sub if r.get("memory_kind")}
        lines += ["", f"peak_mb: {', '.join(sorted(kinds))}." if kinds else "", ""]
    return "\n".join(lines)


def plots(rows: list[dict], out: str) -> list[str]:
    """Write PNG plots for the problems present; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    tw = [r for r in rows if r["problem"] == "time_weights"]
    if tw:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        for variant in dict.fromkeys(r["variant"] for r in tw):
            sub = [r for r in tw if r["variant"] == variant]
            ax[0].loglog([r["N"] for r in sub], [r["max_grad_err"] for r in sub], "o-" if "corr" in variant else "x--",
                         label=variant)
            last = sub[-1]
            if variant.startswith("leapfrog") and last.get("per_step_err"):
                ax[1].semilogy(last["per_step_err"], label=f"{variant} (N={last['N']})")
        ax[0].set(xlabel="steps N", ylabel="max_n |g_n/h - G(t_n)|", title="per-step gradient error")
        ax[1].set(xlabel="step n", ylabel="|g_n/h - G(t_n)|", title="leapfrog: raw vs corrected")
        ax[0].legend(fontsize=7)
        ax[1].legend(fontsize=8)
        fig.tight_layout()
        paths.append(os.path.join(out, "time_weights.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    mem = [r for r in rows if r["problem"] == "ode_memory" and r.get("peak_mb") is not None]
    if mem:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for variant in dict.fromkeys(r["variant"] for r in mem):
            sub = [r for r in mem if r["variant"] == variant]
            ax.plot([r["N"] for r in sub], [r["peak_mb"] for r in sub], "o-", label=variant)
        ax.set(xlabel="steps N", ylabel="peak memory above baseline (MB)", title="ODE backward memory")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(os.path.join(out, "ode_memory.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    pde = [r for r in rows if r["problem"] in PDE_PROBLEMS and r.get("status") == "ok"]
    if pde:
        names = list(dict.fromkeys(r["problem"] for r in pde))
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        width = 0.8 / len(VARIANTS)
        for i, variant in enumerate(VARIANTS):
            sub = {r["problem"]: r for r in pde if r["variant"] == variant and r.get("noise") in (None, 0.05)}
            xs = [j + i * width for j in range(len(names))]
            ax[0].bar(xs, [sub.get(n, {}).get("ms_per_step", 0) for n in names], width, label=variant)
            err = [sub.get(n, {}).get("param_rel_err", sub.get(n, {}).get("u_l2", 0)) for n in names]
            ax[1].bar(xs, err, width, label=variant)
        for a, title in zip(ax, ("ms per training step", "relative error (u or parameter; 5% noise)")):
            a.set_xticks([j + width for j in range(len(names))], names, rotation=20, fontsize=8)
            a.set_title(title)
        ax[1].set_yscale("log")
        ax[0].legend(fontsize=8)
        fig.tight_layout()
        paths.append(os.path.join(out, "pde.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
