"""Timing and peak-memory measurement for benchmarks (CPU heap or CUDA allocator)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache

import torch

__all__ = ["Measurement", "measure", "peak_memory", "spread", "step_peak_memory"]


class Measurement(dict):
    """Result record: seconds, peak_mb (above the baseline), status ('ok' / 'oom' / 'error')."""


CPU_MEMORY_KIND = "CPU heap peak sampled after every tensor op (glibc mallinfo2)"
POLLED_MEMORY_KIND = (
    "CPU heap peak polled every 0.2 ms by a thread (glibc mallinfo2; may miss short peaks)"
)


@lru_cache(maxsize=1)
def _heap_in_use():
    """Bytes of the C heap in use (glibc ``mallinfo2``: arena chunks + mmapped blocks), or None."""
    import ctypes
    import ctypes.util

    class _MallInfo2(ctypes.Structure):
        _fields_ = [
            (n, ctypes.c_size_t)
            for n in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2

    def in_use() -> int:
        info = fn()
        return info.uordblks + info.hblkhd

    return in_use


def _cpu_peak_mode(in_use):
    from torch.utils._python_dispatch import TorchDispatchMode

    class _HeapPeak(TorchDispatchMode):
        """Reads heap usage after every aten op (forward and backward): a peak is always
        reached right after an allocating op, so this sees it exactly, op by op."""

        def __init__(self):
            super().__init__()
            self.base = in_use()
            self.peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.peak = max(self.peak, in_use() - self.base)
            return out

    return _HeapPeak()


@contextmanager
def _polled(in_use):
    """Peak of ``in_use()`` polled by a thread (for code that a dispatch mode cannot wrap, such
    as torch.func transforms)."""
    import threading

    state = {"base": in_use(), "peak": 0, "stop": False}

    def poll():
        while not state["stop"]:
            state["peak"] = max(state["peak"], in_use() - state["base"])
            time.sleep(0.0002)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state["stop"] = True
        thread.join()
        state["peak"] = max(state["peak"], in_use() - state["base"])


@contextmanager
def peak_memory(device: str, cpu: str = "per-op"):
    """Yield a dict filled with ``peak_mb``: peak memory above the start of the block (MiB).

    CUDA: the caching allocator's max allocated.  CPU: heap in use, sampled after every tensor
    op (it slows small ops down, so wrap one step rather than a whole training run; the first
    call also counts one-off allocations of libraries and op caches: measure a second call), or
    ``cpu='polled'``: polled by a thread (coarser; for torch.func transforms).
    """
    out: dict = {}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        base_requested = torch.cuda.memory_stats().get("requested_bytes.all.current")
        yield out
        torch.cuda.synchronize()
        out["peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        out["memory_kind"] = "cuda max allocated"
        requested = torch.cuda.memory_stats().get("requested_bytes.all.peak")
        if (
            requested is not None and base_requested is not None
        ):  # bytes asked for, before block rounding
            out["peak_requested_mb"] = (requested - base_requested) / 2**20
        return
    in_use = _heap_in_use()
    if in_use is None:
        yield out
        out.update(peak_mb=None, memory_kind="unavailable (needs glibc)")
        return
    if cpu == "polled":
        with _polled(in_use) as state:
            yield out
        out.update(peak_mb=state["peak"] / 2**20, memory_kind=POLLED_MEMORY_KIND)
        return
    with _cpu_peak_mode(in_use) as mode:
        yield out
    out["peak_mb"] = mode.peak / 2**20
    out["memory_kind"] = CPU_MEMORY_KIND


def step_peak_memory(
    step: Callable[[], object], device: str, cpu: str = "per-op", warmed: bool = False
) -> dict:
    """:func:`peak_memory` of one call of ``step``; on CPU, unless ``warmed`` (``step`` has run
    before), the call is made twice and the second one counts (the first also allocates
    library and op caches once)."""
    for _ in range(1 if warmed or device.startswith("cuda") else 2):
        with peak_memory(device, cpu) as mem:
            step()
    return mem


def measure(
    step: Callable[[], object],
    repeats: int,
    device: str = "cpu",
    warmup: int = 1,
    min_seconds: float = 0.0,
    max_repeats: int = 500,
    cpu_memory: str = "per-op",
) -> Measurement:
    """Time ``step`` (seconds per call, median of at least ``repeats`` calls, more until they add
    up to ``min_seconds``: cheap steps get more samples on a noisy machine), then its peak
    memory in one more call: ``step`` runs exactly ``warmup`` + the timed calls + 1 times (a
    training step trains that many times).  Each call is timed alone, CUDA synchronised before
    and after; ``spread`` is the interquartile range over the median (0 with fewer than 4
    calls).

    The memory call is separate because sampling the CPU heap after every op slows the step
    down.  Out-of-memory errors are reported as ``status='oom'`` rather than raised.
    """
    res = Measurement(status="ok", seconds=None, peak_mb=None)
    try:
        for _ in range(warmup):
            step()
        times: list[float] = []
        while len(times) < repeats or (sum(times) < min_seconds and len(times) < max_repeats):
            times.append(_timed(step, device))
        mem = step_peak_memory(step, device, cpu_memory, warmed=True)
        res.update(seconds=statistics.median(times), spread=spread(times), **mem)
    except (torch.cuda.OutOfMemoryError, MemoryError) as err:
        res.update(status="oom", error=str(err).splitlines()[0][:200])
    except RuntimeError as err:
        if "out of memory" not in str(err).lower():
            raise
        res.update(status="oom", error=str(err).splitlines()[0][:200])
    finally:
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return res


def _timed(step: Callable[[], object], device: str) -> float:
    """Seconds of one call of ``step`` (torch's Timer would call it twice more to warm up)."""
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    step()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def spread(times: list[float]) -> float:
    """Interquartile range over the median (0 with fewer than 4 samples)."""
    if len(times) < 4:
        return 0.0
    q = statistics.quantiles(times, n=4)
    return (q[2] - q[0]) / statistics.median(times)


def machine() -> str:
    """One line describing where the numbers were taken."""
    import platform

    cpu = platform.processor() or platform.machine()
    desc = f"{platform.system()} {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
    desc += f"{torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        desc += f", GPU {torch.cuda.get_device_name()}"
    return desc
