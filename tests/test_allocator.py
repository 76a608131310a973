"""The allocator tuning the command-line tool applies to its own process."""

import os
import platform

import numpy as np
import pytest

from fashion_cluster.allocator import keep_freed_memory, release_free_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_takes_effect_with_glibc_only():
    assert keep_freed_memory() is GLIBC
    # Large arrays still allocate, fill and free as before.
    for _ in range(3):
        block = np.ones(10 * 2**20, dtype=np.float32)  # 40 MB
        assert float(block.sum()) == block.size
        del block


@pytest.mark.skipif(not GLIBC, reason="the allocator settings are glibc's")
def test_freed_memory_is_kept_until_released():
    assert keep_freed_memory()
    block = np.ones(64 * 2**20, dtype=np.float32)  # 256 MB, touched
    held = _rss_mb()
    del block
    assert _rss_mb() > held - 64  # kept by malloc for reuse, not unmapped
    release_free_memory()
    assert _rss_mb() < held - 192  # handed back
