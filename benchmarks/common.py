"""Helpers shared by the benchmarks: timing, medians, tables, machine description."""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np


def machine() -> str:
    import torch  # here, not at the top: Dask workers re-import a benchmark's imports

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    # The cores this process may run on, which can be fewer than the machine has.
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {usable} of {os.cpu_count()} cores usable, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    tic = time.perf_counter()
    result = fn()
    return time.perf_counter() - tic, result


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table (numbers formatted by the caller)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fashion_train(n: int | None = None) -> np.ndarray:
    from fashion_cluster.data import load_fashion_mnist, scale_images

    images, _ = load_fashion_mnist("train")
    return scale_images(images[:n] if n else images)


def peak_rss(pid: int | str = "self") -> int:
    """Peak resident memory (VmHWM) of a process in bytes, from /proc (Linux); 0 when the
    process is gone."""
    return _status(pid, "VmHWM")


def reset_peak_rss() -> None:
    """Restart this process's peak (VmHWM) from its current size."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _status(pid: int | str, field: str) -> int:
    """A memory field of /proc/PID/status (``VmHWM``, ``RssAnon``...) in bytes; 0 when the
    process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh
                        if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return 0


class PeakMemory:
    """Peak memory of this process and of its children, polled every 0.2 s: ``peaks``
    (resident, VmHWM) and ``anonymous`` (RssAnon: what the process allocated, without the
    pages of files it maps, which the system can drop) by pid."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self.anonymous: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.2):
            for process in [me, *me.children(recursive=True)]:
                pid = process.pid
                self.peaks[pid] = max(self.peaks.get(pid, 0), _status(pid, "VmHWM"))
                self.anonymous[pid] = max(self.anonymous.get(pid, 0), _status(pid, "RssAnon"))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
