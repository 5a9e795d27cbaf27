"""``steadygrad bench``: run named problems, write a Markdown table, a JSON record and PNG plots."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

from .catalogue import ALL_PROBLEMS, DEFAULT_PROBLEMS, SUITES, expand
from .measure import machine
from .options import BenchOptions
from .problems import PDE_PROBLEMS
from .problems.common import EXTRA, VARIANTS
from .record import Record

__all__ = [
    "ALL_PROBLEMS",
    "OK_STATUSES",
    "Stopped",
    "compare_at_equal_time",
    "compare_to_limits",
    "failed",
    "run_benchmarks",
]


def _jobs(problems, opts: BenchOptions):
    variants, widths = opts.variants, opts.widths
    for name in problems:
        if name in PDE_PROBLEMS:
            problem = PDE_PROBLEMS[name]
            levels = (None,)
            if problem.inverse:  # --noise, else the problem's own levels, else the default
                given = opts.noise if opts.noise is not None else problem.levels
                levels = given or opts.levels
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


def _run_case(name: str, variant, level, scale, opts: BenchOptions) -> list[dict]:
    """One case, isolated from global state; an exception becomes a ``status: error`` row."""
    from .isolation import error_row, isolated
    from .limits import limit_row
    from .problems.pinnacle import reference_dir
    from .train import run_pde_problem

    try:
        quick, seed = opts.quick, opts.seed
        with isolated(seed), reference_dir(opts.reference):
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
                        opts.device,
                        opts.iterations,
                        opts.lbfgs,
                        opts.budget,
                        1.0 if scale is None else scale,
                    )
                ]
            return SUITES[name].run(quick, opts.device, seed)
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


def run_benchmarks(problems: Sequence[str] | None = None, **options: Any) -> list[dict]:
    """Run benchmark problems (default: all but ``standard`` and ``architectures``) and write
    ``out/results.{md,json}`` and plots; returns the rows.  ``options``: the keywords of
    :class:`~steadygrad.bench.options.BenchOptions` (an unknown one raises ``TypeError``, a
    bad value ``ValueError``, both before anything is written).

    Every case runs isolated from global state (dtype, device, threads, RNGs, DeepXDE config);
    a case that raises becomes a row with ``status: error``, and the others still run.
    ``jobs > 1`` (default: 2 for a --quick run of more than 4 PDE cases) trains the PDE cases
    in that many worker processes (cpu_count // jobs threads each, at least one); the others
    (timing-sensitive residual4 and sampled, ODE problems) run serially afterwards.
    ``budget`` (seconds): PDE cases train their recipe (Adam, then L-BFGS) for that long and
    record accuracy against time (time-to-accuracy plots).  ``widths``: factors of each
    problem's mollifier width, or 'auto' (the noise x width sweep; autodiff runs once).
    ``dry_run`` validates the options and returns the cases as rows without running them.
    """
    opts = BenchOptions.create(**options)
    problems = expand(problems or DEFAULT_PROBLEMS, ALL_PROBLEMS)
    cases = list(_jobs(problems, opts))
    if opts.dry_run:
        return [
            {"problem": n, "variant": v, "noise": lvl, "width": w, "status": "planned"}
            for n, v, lvl, w in cases
        ]
    started = time.time()
    record = Record(opts.out, len(cases))
    jobs = opts.workers(sum(c[0] in PDE_PROBLEMS for c in cases))
    stopped = None
    with _stop_on_signals():
        try:
            _run_cases(cases, opts, jobs, record)
        except Stopped as why:
            stopped = why
    rows = record.rows
    compare_to_limits(rows)
    compare_at_equal_time(rows)
    meta = {
        "command": "python -m steadygrad bench " + " ".join(problems) + opts.flags(),
        "machine": machine(),
        "device": opts.device,
        "seconds": time.time() - started,
        "pde_processes": jobs,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    if record.moved_to:
        meta["earlier_run_moved_to"] = record.moved_to
    record.finish(rows, meta, None if stopped is None else str(stopped))
    if stopped is not None:
        raise Stopped(stopped.signum, rows)
    return rows


def _run_cases(cases: list, opts: BenchOptions, jobs: int, record: Record) -> None:
    """Run every case (PDE cases in ``jobs`` processes when > 1), recording each at once."""
    from tqdm import tqdm

    bar = tqdm(total=len(cases), desc="steadygrad bench", unit="case")
    try:
        pde_args = [(*case, opts) for case in cases if case[0] in PDE_PROBLEMS]
        if jobs > 1 and pde_args:  # PDE cases first (positions 0..), the others after
            _parallel(pde_args, jobs, record, bar)
            cases = [c for c in cases if c[0] not in PDE_PROBLEMS]
        first = len(pde_args) if jobs > 1 else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for position, case in enumerate(cases, start=first):
                record.add(_timed_case(*case, opts), position)
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
    from .train import LIMIT_FACTOR, first_reach

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
        r["s_to_limit"] = first_reach(r.get("trace") or [], "param_rel_err", LIMIT_FACTOR * best)


def compare_at_equal_time(rows: list[dict]) -> None:
    """Give the traced rows of each problem and noise level their error at equal training time
    and their time to a common target (the rows' own ``score_key`` error):

    - ``equal_s``: the shortest training time among them (the fastest run's whole run);
      ``err_at_equal_s``: each row's error at its last evaluation within that time;
    - ``common_target``: the largest of their best errors (an error every run reached);
      ``s_to_common``: the training seconds each took to reach it.
    """
    from .train import first_reach, score_key

    groups: dict = {}
    for r in rows:
        if r.get("trace") and r.get("status") == "ok" and r.get("variant") in VARIANTS:
            groups.setdefault((r["problem"], r.get("noise")), []).append(r)
    for group in groups.values():
        key = score_key(group[0])
        equal = min(r["trace"][-1]["s"] for r in group)
        target = max(min(p[key] for p in r["trace"]) for r in group)
        for r in group:
            within = [p for p in r["trace"] if p["s"] <= equal * (1 + 1e-9)] or r["trace"][:1]
            r["equal_s"], r["err_at_equal_s"] = equal, within[-1][key]
            r["common_target"] = target
            r["s_to_common"] = first_reach(r["trace"], key, target)


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
