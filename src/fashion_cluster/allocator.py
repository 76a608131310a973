"""Process-wide tuning of the C library's allocator for large, short-lived arrays.

glibc's malloc serves every block above its mmap threshold (128 KB at start, rising by
itself to at most 32 MB) with a fresh ``mmap`` and returns it to the system on free, and
it trims freed memory off the top of its heap. Either way the next tensor of that size
is faulted in again one 4 KB page at a time, which in a virtual machine costs about as
much as the arithmetic on it. A convolutional training step allocates and frees tens of
such activations (up to 51 MB each at batch 256). With no mmap and no trimming (what
this module sets) an epoch of the convolutional autoencoder runs about a third faster
with the same losses to the last bit (``benchmarks/bench_allocator.py``,
``benchmarks/results/allocator-2026-11-28.md``).

Freed blocks are then reused from the heap, and stay with the process until
`release_free_memory` hands them back (the study calls it between stages). Only
the command-line tool changes the settings: a library does not change its host
process's allocator.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["keep_freed_memory", "release_free_memory"]

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4


def _glibc(name: str) -> Callable[..., int] | None:
    """The C library's function ``name``, or None off Linux or where it has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Let glibc reuse freed large blocks instead of returning them to the system.

    Returns True when the settings took effect; False where the C library is not glibc
    (macOS, musl, Windows), where nothing is changed.
    """
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # No block by mmap (a thread's own arena still falls back to it when its heap is
    # full), never trim the heap, and grow it in steps of 64 MB.
    settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 64 * 2**20))
    return all(mallopt(param, value) == 1 for param, value in settings)


def release_free_memory() -> None:
    """Give the memory that malloc holds for no object back to the system.

    With `keep_freed_memory` in effect, freed blocks stay with the process, and
    the holes they leave between blocks still in use add up from one stage of a run to
    the next. Called between stages, this keeps the peak memory that of one stage.
    A no-op where the C library is not glibc.
    """
    trim = _glibc("malloc_trim")
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        trim(0)
