"""Command line: ``python -m steadygrad {run,bench,demo,list}`` (also installed as ``steadygrad``).

``run`` executes an unmodified DeepXDE/torchdiffeq script with a derivative backend active::

    python -m steadygrad run beam.py --derivatives mollifier --width 0.1 -- --script-arg
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _run_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        allow_abbrev=False,  # --rt is the script's own option, never --rtol
        help="run an unmodified DeepXDE script with a steadygrad derivative backend",
        description="Run SCRIPT as __main__ with the chosen derivative backend enabled in DeepXDE "
        "(and steadygrad's ODE solvers registered in torchdiffeq). Arguments after '--' "
        "(or not recognised here) are passed to the script.",
    )
    p.add_argument("script", help="path of the Python script to run")
    p.add_argument(
        "--derivatives",
        default="mollifier",
        help="derivative backend (entry point name; default mollifier)",
    )
    from .declared import add_flags
    from .mollifier.options import LayerOptions

    add_flags(p, LayerOptions, prefix="mollifier: ", required=("width",))
    p.add_argument(
        "--strict", action="store_true", help="error instead of falling back to autodiff"
    )
    p.add_argument(
        "--collective-timeout",
        type=float,
        help="under torchrun: seconds a rank waits for a stalled one before all stop with an "
        "error (default 600; also STEADYGRAD_COLLECTIVE_TIMEOUT)",
    )


def _cmd_run(args, script_args: Sequence[str]) -> int:
    from .adapters.deepxde import run_script

    if args.collective_timeout is not None:
        from .data_parallel import TIMEOUT_VARIABLE, collective_timeout

        try:
            collective_timeout(args.collective_timeout)
        except ValueError as err:
            print(f"steadygrad run: --collective-timeout: {err}", file=sys.stderr)
            return 2
        os.environ[TIMEOUT_VARIABLE] = str(args.collective_timeout)
    if not os.path.isfile(args.script):
        print(f"steadygrad run: no such script: {args.script}", file=sys.stderr)
        return 2
    options = {}
    if args.derivatives == "mollifier":
        if args.width is None:
            print(
                "steadygrad run: --width is required with --derivatives mollifier "
                "(kernel half-width in the script's input units, e.g. --width 0.05)",
                file=sys.stderr,
            )
            return 2
        from .mollifier.options import LayerOptions

        given = {name: getattr(args, name) for name in LayerOptions.names()}
        options = {name: value for name, value in given.items() if value is not None}
        _log_choices()
    run_script(args.script, script_args, args.derivatives, strict=args.strict, **options)
    return 0


def _log_choices() -> None:
    """Print the layer's INFO messages (e.g. the mode 'auto' chose) on stderr."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("steadygrad: %(message)s"))
    logger = logging.getLogger("steadygrad")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _cmd_list(args, _rest) -> int:
    from . import registry

    for group in registry.GROUPS:
        print(f"{group}:")
        for name in registry.names(group):
            try:
                obj = registry.load(group, name)
                print(f"  {name:<12} {obj.__module__}.{obj.__qualname__}")
            except ValueError as err:
                print(f"  {name:<12} BROKEN ({err})")
    return 0


def _cmd_demo(args, _rest) -> int:
    from .demo import main as demo

    return demo(quick=not args.full)


def _cmd_bench(args, _rest) -> int:
    from .bench.options import BenchOptions
    from .bench.runner import Stopped, failed, run_benchmarks

    try:
        rows = run_benchmarks(
            args.problems or None,
            **{name: getattr(args, name) for name in BenchOptions.names() if _given(args, name)},
        )
    except ValueError as err:
        print(f"steadygrad bench: {err}", file=sys.stderr)
        return 2
    except Stopped as stop:
        print(
            f"steadygrad bench: {stop}; {len(stop.rows)} finished row(s) written to "
            f"{args.out or BenchOptions.out} "
            "(marked incomplete)",
            file=sys.stderr,
        )
        return stop.exit_code
    if args.dry_run:
        for r in rows:
            print(
                r["problem"],
                r["variant"] or "",
                "" if r["noise"] is None else f"noise={r['noise']:g}",
                "" if r.get("width") in (None, 1.0) else f"width={r['width']}",
            )
        print(f"{len(rows)} case(s); options valid (dry run: nothing was run)")
        return 0
    bad = failed(rows)
    for r in bad:
        print(
            f"steadygrad bench: {r['problem']} {r.get('variant') or ''} {r.get('status')}: "
            f"{r.get('error') or r.get('note') or ''}",
            file=sys.stderr,
        )
    return 1 if bad else 0


def _given(args, name: str) -> bool:
    """Whether a declared option's flag was given (unset flags leave the declared default)."""
    value = getattr(args, name)
    return value is not None and value is not False  # 0 is given: '--iterations 0' is refused


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m steadygrad``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="steadygrad",
        description="derivatives you can trust in scientific ML",
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    sub.add_parser("list", help="list discovered plugins (derivatives, kernels, ODE solvers)")
    d = sub.add_parser(
        "demo", help="mollifier vs autodiff on a beam problem, and corrected leapfrog gradients"
    )
    d.add_argument("--full", action="store_true", help="longer training")
    from .bench.options import BenchOptions
    from .declared import add_flags

    b = sub.add_parser("bench", help="run the standard benchmark problems", allow_abbrev=False)
    b.add_argument(
        "problems",
        nargs="*",
        help="problem names, or standard (PINNacle's); default: all but standard and "
        "architectures; see docs/benchmarks.md",
    )
    add_flags(b, BenchOptions)

    script_args: list[str] = []
    if argv and argv[0] == "run" and "--" in argv:
        cut = argv.index("--")
        argv, script_args = argv[:cut], argv[cut + 1 :]
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    handlers = {"run": _cmd_run, "list": _cmd_list, "demo": _cmd_demo, "bench": _cmd_bench}
    return handlers[args.command](args, unknown + script_args)
