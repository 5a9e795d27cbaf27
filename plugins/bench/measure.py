"""Timing and peak-memory measurement for benchmarks (CPU RSS or CUDA allocator)."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Callable

import torch

__all__ = ["Measurement", "measure", "peak_memory"]


def _rss_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_cpu_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class Measurement(dict):
    """Result record: seconds, peak_mb (above the baseline), status ('ok' / 'oom' / 'error')."""


@contextmanager
def peak_memory(device: str):
    """Yield a dict filled with ``peak_mb``: peak memory above the start of the block."""
    out: dict = {}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        yield out
        torch.cuda.synchronize()
        out["peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        out["memory_kind"] = "cuda max allocated"
    else:
        ok = _reset_cpu_peak()
        base = _rss_kib("VmRSS") or 0
        yield out
        peak = _rss_kib("VmHWM") if ok else None
        out["peak_mb"] = None if peak is None else max(0.0, (peak - base) / 1024)
        out["memory_kind"] = ("process RSS peak (coarse: freed heap pages stay resident and hide reuse)"
                              if ok else "unavailable")


def measure(step: Callable[[], object], repeats: int, device: str = "cpu", warmup: int = 1) -> Measurement:
    """Time ``step`` (seconds per call, median of ``repeats``) and its peak memory.

    Out-of-memory errors are reported as ``status='oom'`` rather than raised.
    """
    res = Measurement(status="ok", seconds=None, peak_mb=None)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    try:
        for _ in range(warmup):
            step()
        times = []
        with peak_memory(device) as mem:
            for _ in range(repeats):
                sync()
                t0 = time.perf_counter()
                step()
                sync()
                times.append(time.perf_counter() - t0)
        times.sort()
        res.update(seconds=times[len(times) // 2], **mem)
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


def machine() -> str:
    """One line describing where the numbers were taken."""
    import platform

    cpu = platform.processor() or platform.machine()
    desc = f"{platform.system()} {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        desc += f", GPU {torch.cuda.get_device_name()}"
    return desc
