"""``steadygrad bench``: run named problems, write a Markdown table, a JSON record and PNG plots."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence

from .catalogue import ALL_PROBLEMS, SUITES
from .measure import machine
from .problems import PDE_PROBLEMS, VARIANTS
from .problems.common import DEFAULT_VARIANTS, EXTRA
from .record import Record

__all__ = [
    "ALL_PROBLEMS",
    "OK_STATUSES",
    "Stopped",
    "check_options",
    "compare_to_limits",
    "failed",
    "run_benchmarks",
]


def _jobs(problems, noise, variants, widths=(1.0,)):
    for name in problems:
        if name in PDE_PROBLEMS:
            problem = PDE_PROBLEMS[name]
            levels = noise if problem.inverse else (None,)
            for level in levels:
                if problem.inverse:  # what the data hold, beside every inverse result
                    yield name, "limit", level, None
                if "direct" in variants and problem.direct is not None:
                    yield name, "direct", level, None
                for variant in variants:
                    if variant in problem.skip or variant in EXTRA:
                        continue
                    for scale in (1.0,) if variant == "autodiff" else widths:
                        yield name, variant, level, scale
        else:
            yield name, None, None, None


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the run and its workers
    _die_with_parent(os.getppid())


def _die_with_parent(parent: int) -> None:
    """End this worker when the parent process ends (killed included): the kernel's
    parent-death signal on Linux, and a one-second watch of the parent id elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="steadygrad-parent-watch").start()


def _run_case(
    name: str,
    variant,
    level,
    scale,
    quick: bool,
    seed: int,
    device: str,
    iterations,
    lbfgs,
    budget=None,
) -> list[dict]:
    """One case, isolated from global state; an exception becomes a ``status: error`` row."""
    from .isolation import error_row, isolated
    from .limits import limit_row
    from .train import run_pde_problem

    try:
        with isolated(seed):
            if variant == "limit":
                return [limit_row(name, level or 0.0, quick, seed)]
            if variant == "direct":
                rows = PDE_PROBLEMS[name].direct(level or 0.0, quick, seed)
                return [{"problem": name, **row} for row in rows]
            if name in PDE_PROBLEMS:
                return [
                    run_pde_problem(
                        name,
                        variant,
                        level or 0.0,
                        quick,
                        seed,
                        device,
                        iterations,
                        lbfgs,
                        budget,
                        1.0 if scale is None else scale,
                    )
                ]
            return SUITES[name].run(quick, device, seed)
    except Exception as err:  # noqa: BLE001 - recorded in the table, the run goes on
        return [error_row(name, variant, err)]


def _pde_case(args) -> list[dict]:
    return _timed_case(*args)


def _timed_case(*args) -> list[dict]:
    """``_run_case``, each row carrying the case's wall-clock seconds (``case_s``)."""
    t0 = time.perf_counter()
    rows = _run_case(*args)
    for row in rows:
        row.setdefault("case_s", time.perf_counter() - t0)
    return rows


def check_options(
    problems,
    device: str,
    noise,
    jobs: int,
    iterations,
    lbfgs,
    variants,
    out: str,
    dry_run: bool = False,
    budget: float | None = None,
    widths=(1.0,),
) -> tuple:
    """Validate every option before anything is written; ``ValueError`` names the bad one."""
    if budget is not None and not (
        isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0
    ):
        raise ValueError(f"--budget must be a positive finite number of seconds, got {budget!r}")
    widths = (widths,) if isinstance(widths, (int, float, str)) else tuple(widths)
    if not widths or any(
        w != "auto" and not (isinstance(w, (int, float)) and w > 0) for w in widths
    ):
        raise ValueError(f"--widths must be positive factors or 'auto', got {widths!r}")
    problems = list(problems or ALL_PROBLEMS)
    unknown = [p for p in problems if p not in ALL_PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; choose from {ALL_PROBLEMS}")
    variants = tuple(DEFAULT_VARIANTS if variants is None else variants)
    if not variants:
        raise ValueError(f"--variants names no variant; choose from {list(DEFAULT_VARIANTS)}")
    if set(variants) - {*VARIANTS, *EXTRA}:
        raise ValueError(
            f"unknown variant(s) {sorted(set(variants) - {*VARIANTS, *EXTRA})}; choose from "
            f"{[*VARIANTS, *EXTRA]} (inverse problems always get their 'limit' row)"
        )
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
    return problems, variants, noise, widths


def run_benchmarks(
    problems: Sequence[str] | None = None,
    device: str = "cpu",
    quick: bool = False,
    out: str = "bench-results",
    seed: int = 0,
    noise=None,
    jobs: int = 1,
    iterations: int | None = None,
    lbfgs: int | None = None,
    variants: Sequence[str] | None = None,
    dry_run: bool = False,
    budget: float | None = None,
    widths: Sequence = (1.0,),
) -> list[dict]:
    """Run benchmark problems and write ``out/results.{md,json}`` and plots; returns the rows.

    Every case runs isolated from global state (dtype, device, threads, RNGs, DeepXDE config);
    a case that raises becomes a row with ``status: error``, and the others still run.
    ``jobs > 1`` trains the PDE cases in that many worker processes (cpu_count // jobs
    threads each, at least one); the remaining problems (timing-sensitive residual4 and
    sampled, ODE problems) run serially afterwards.
    ``budget`` (seconds): PDE cases train their recipe (Adam, then L-BFGS) for that long and
    record accuracy against time
    (time-to-accuracy plots).  ``widths``: factors of each problem's mollifier width, or
    'auto' (the noise x width sweep; autodiff runs once).
    ``dry_run`` validates the options and returns the cases as rows without running them.
    """

    problems, variants, noise, widths = check_options(
        problems, device, noise, jobs, iterations, lbfgs, variants, out, dry_run, budget, widths
    )
    noise = noise if noise is not None else ((0.05,) if quick else (0.0, 0.01, 0.05, 0.1))
    cases = list(_jobs(problems, noise, variants, widths))
    if dry_run:
        return [
            {"problem": n, "variant": v, "noise": lvl, "width": w, "status": "planned"}
            for n, v, lvl, w in cases
        ]
    started = time.time()
    record = Record(out, len(cases))
    common = (quick, seed, device, iterations, lbfgs, budget)
    stopped = None
    with _stop_on_signals():
        try:
            _run_cases(cases, common, jobs, record)
        except Stopped as why:
            stopped = why
    rows = record.rows
    compare_to_limits(rows)
    flags = _flags(device, quick, jobs, noise, iterations, lbfgs, variants)
    flags += f" --budget {budget:g}" if budget else ""
    flags += " --widths " + ",".join(map(str, widths)) if widths != (1.0,) else ""
    meta = {
        "command": "python -m steadygrad bench " + " ".join(problems) + flags,
        "machine": machine(),
        "device": device,
        "seconds": time.time() - started,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    if record.moved_to:
        meta["earlier_run_moved_to"] = record.moved_to
    record.finish(rows, meta, None if stopped is None else str(stopped))
    if stopped is not None:
        raise Stopped(stopped.signum, rows)
    return rows


def _run_cases(cases: list, common: tuple, jobs: int, record: Record) -> None:
    """Run every case (PDE cases in ``jobs`` processes when > 1), recording each at once."""
    from tqdm import tqdm

    bar = tqdm(total=len(cases), desc="steadygrad bench", unit="case")
    try:
        pde_args = [(*case, *common) for case in cases if case[0] in PDE_PROBLEMS]
        if jobs > 1 and pde_args:  # PDE cases first (positions 0..), the others after
            _parallel(pde_args, jobs, record, bar)
            cases = [c for c in cases if c[0] not in PDE_PROBLEMS]
        first = len(pde_args) if jobs > 1 else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for position, case in enumerate(cases, start=first):
                record.add(_timed_case(*case, *common), position)
                bar.update()
    finally:
        bar.close()


class Stopped(KeyboardInterrupt):
    """The run was interrupted (SIGINT) or terminated (SIGTERM) by signal ``signum``;
    ``rows``: those it finished.  A KeyboardInterrupt, so no case's error handling swallows
    it."""

    def __init__(self, signum: int, rows: list[dict] | None = None):
        super().__init__(signum)
        self.signum, self.rows = int(signum), list(rows or [])

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by this signal (130, 143)."""
        return 128 + self.signum

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}"


@contextlib.contextmanager
def _stop_on_signals():
    """SIGINT and SIGTERM raise :class:`Stopped` in the main thread while inside."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Stopped(signum)

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def compare_to_limits(rows: list[dict]) -> None:
    """Give each trained inverse row its parameter error over the limit's (``err_vs_limit``)
    and the training seconds to reach ``LIMIT_FACTOR`` x the limit's error (``s_to_limit``; None:
    not within the run), when its problem and noise level have a converged limit row."""
    from .train import LIMIT_FACTOR

    limits = {
        (r["problem"], r["noise"]): r["param_rel_err"]
        for r in rows
        if r.get("variant") == "limit" and r.get("status") == "ok"
    }
    for r in rows:
        best = limits.get((r["problem"], r.get("noise")))
        if r.get("variant") == "limit" or best is None or r.get("param_rel_err") is None:
            continue
        r["err_vs_limit"] = r["param_rel_err"] / best
        hit = [p["s"] for p in r.get("trace") or [] if p["param_rel_err"] <= LIMIT_FACTOR * best]
        r["s_to_limit"] = hit[0] if hit else None


def _flags(device, quick, jobs, noise, iterations, lbfgs, variants) -> str:
    """The command-line flags that reproduce a run."""
    flags = f" --device {device}" + (" --quick" if quick else "")
    flags += f" --jobs {jobs}" if jobs > 1 else ""
    flags += " --noise " + ",".join(f"{x:g}" for x in noise)
    flags += f" --iterations {iterations}" if iterations else ""
    flags += f" --lbfgs {lbfgs}" if lbfgs is not None else ""
    flags += f" --variants {','.join(variants)}" if variants != DEFAULT_VARIANTS else ""
    return flags


def _parallel(pde_args: list, jobs: int, record: Record, bar) -> None:
    """PDE cases in ``jobs`` worker processes.  A worker killed by the OS (e.g. out of
    memory) breaks its pool and fails every case running beside it: those are run again,
    each in a pool of its own, and only a case that kills its worker again is an error row."""
    broken = _pool(pde_args, range(len(pde_args)), jobs, record, bar, last=False)
    if broken:
        print(
            f"steadygrad bench: a worker process died (killed by the OS?); running its pool's "
            f"{len(broken)} unfinished case(s) again, each in a process of its own",
            file=sys.stderr,
        )
    for i in broken:
        _pool(pde_args, [i], 1, record, bar, last=True)


def _pool(pde_args: list, which, jobs: int, record: Record, bar, last: bool) -> list[int]:
    """Run cases ``which`` in a fresh pool; returns those lost to a broken pool (unless
    ``last``: they become error rows).  Workers are killed when the run is stopped."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from .isolation import error_row

    lost = []
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(max(1, (os.cpu_count() or 1) // jobs),),
    )
    try:
        futures = {pool.submit(_pde_case, pde_args[i]): i for i in which}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                rows = fut.result()
            except BrokenProcessPool as err:
                if not last:
                    lost.append(i)
                    continue
                rows = [error_row(pde_args[i][0], pde_args[i][1], _died(err))]
            except Exception as err:  # noqa: BLE001 - recorded in the table, the run goes on
                rows = [error_row(pde_args[i][0], pde_args[i][1], err)]
            record.add(rows, i)
            bar.update()
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return lost


def _died(err: BaseException) -> RuntimeError:
    return RuntimeError(
        f"its worker process died twice (killed by the OS, most often for memory): {err}"
    )


#: row statuses that are results (a limit fit that did not converge is a flagged result)
OK_STATUSES = ("ok", "no limit", "not converged")


def failed(rows: list[dict]) -> list[dict]:
    """Rows that are not results: errors, out of memory, timeouts (any status not in
    ``OK_STATUSES``)."""
    return [r for r in rows if r.get("status") not in OK_STATUSES]
