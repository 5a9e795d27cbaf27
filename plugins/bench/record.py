"""The benchmark's output folder as a record that is never lost or mistaken.

* A new run first moves an earlier run's files (its results, partial rows and plots) into
  ``out/earlier/<its date>/``: nothing is overwritten.
* While it runs, ``results.md`` says so, and ``results.partial.jsonl`` gains each finished
  case at once (it survives a killed run).
* A run that ends early (interrupted, terminated) writes what it has, marked
  ``complete: false`` with the reason, so no older or partial summary looks current.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import time

from .report import markdown, plots

__all__ = ["Record", "ensure_folder"]

RESULTS = ("results.json", "results.md", "results.partial.jsonl")
#: the plots ``report.plots`` writes (their names, for moving an earlier run aside)
PLOTS = (
    "time_to_accuracy_*.png",
    "widths_*.png",
    "pde.png",
    "time_weights.png",
    "ode_memory.png",
    "residual4.png",
    "ode_speed.png",
    "sampled.png",
)


def ensure_folder(out: str) -> None:
    """Create ``out``; ``ValueError`` naming it when that is impossible."""
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".steadygrad-write-test")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"--out {out!r} cannot be written: {err.strerror or err}") from None


def _earlier_files(out: str) -> list[str]:
    names = os.listdir(out)
    return [
        n
        for n in names
        if n in RESULTS or any(fnmatch.fnmatch(n, p) for p in PLOTS)
        if os.path.isfile(os.path.join(out, n))
    ]


def _stamp(out: str, files: list[str]) -> str:
    """The earlier run's date (its results.json, else the files' newest mtime)."""
    try:
        with open(os.path.join(out, "results.json")) as fh:
            date = json.load(fh)["meta"]["date"]
        return date.replace(" ", "_").replace(":", "")
    except (OSError, ValueError, KeyError, TypeError):
        newest = max(os.path.getmtime(os.path.join(out, n)) for n in files)
        return time.strftime("%Y-%m-%d_%H%M%S", time.localtime(newest))


class Record:
    """The output folder of one run (``out``): start, add finished cases, finish."""

    def __init__(self, out: str, planned: int):
        ensure_folder(out)
        self.out, self.planned = out, planned
        self._done: list[tuple[int, list[dict]]] = []  # (case position, its rows)
        self.moved_to = self._move_earlier()
        self.partial = os.path.join(out, "results.partial.jsonl")
        open(self.partial, "w").close()
        self._progress()

    def _move_earlier(self) -> str | None:
        files = _earlier_files(self.out)
        if not files:
            return None
        base = dest = os.path.join(self.out, "earlier", _stamp(self.out, files))
        n = 1
        while os.path.exists(dest):
            n += 1
            dest = f"{base}-{n}"
        os.makedirs(dest)
        for name in files:
            shutil.move(os.path.join(self.out, name), os.path.join(dest, name))
        return dest

    @property
    def rows(self) -> list[dict]:
        """The finished rows in the planned order of their cases (workers finish in any)."""
        return [r for _, new in sorted(self._done, key=lambda d: d[0]) for r in new]

    def add(self, new: list[dict], position: int) -> None:
        """Record the finished rows of the case at ``position`` in the plan, at once
        (appended to results.partial.jsonl)."""
        self._done.append((position, new))
        with open(self.partial, "a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in new)

    def _progress(self) -> None:
        with open(os.path.join(self.out, "results.md"), "w") as fh:
            fh.write(
                "# Run in progress (or killed): not a summary\n\n"
                f"Started {time.strftime('%Y-%m-%d %H:%M')}; {self.planned} case(s) planned. "
                "Finished cases are in results.partial.jsonl as they end.\n"
            )

    def finish(self, rows: list[dict], meta: dict, stopped: str | None = None) -> None:
        """Write results.json, results.md and the plots; ``stopped``: why the run ended early
        (the record is then marked incomplete)."""
        meta = {**meta, "complete": stopped is None}
        if stopped:
            meta["stopped"] = stopped
        with open(os.path.join(self.out, "results.json"), "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)
        text = markdown(rows, meta)
        if stopped:
            text = (
                f"# INCOMPLETE: {stopped}; {len(rows)} row(s) of {self.planned} planned "
                "case(s)\n\n" + text
            )
        with open(os.path.join(self.out, "results.md"), "w") as fh:
            fh.write(text)
        if not stopped:
            plots(rows, self.out)
        print(text)
