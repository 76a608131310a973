"""Reuse a stage's saved result, or compute it: the one cache of a run.

Every stage of a run saves its result in the output folder with a JSON record holding a
key: a hash of what the result depends on (the data's fingerprint, the stage's settings,
the seed, the device type and `STAGE_VERSION`). A later run reuses the result only
when the record's key equals its own and the files load cleanly; otherwise it says why
and computes the stage again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .allocator import release_free_memory
from .artifacts import ArtifactError, config_hash, read_json
from .progress import Reporter

__all__ = ["STAGE_VERSION", "StageCache"]

# Bump when a stage's algorithm changes, so that old artifacts are recomputed.
STAGE_VERSION = 1

T = TypeVar("T")


class StageCache:
    """The saved stages of one output folder.

    Parameters
    ----------
    out : Path
        The run's output folder.
    base : dict
        What every stage depends on (data fingerprint, seed, device type); hashed into
        every key together with the stage's own settings and `STAGE_VERSION`.
    log : Reporter
    """

    def __init__(self, out: Path, base: dict[str, Any], log: Reporter):
        self.out = out
        self.base = {"version": STAGE_VERSION, **base}
        self.log = log
        self.timing: dict[str, dict] = {}

    def key(self, **settings: Any) -> str:
        """The key of a stage with these settings."""
        return config_hash({**self.base, **settings})

    def stage(self, name: str, record: Path, key: str, what: str,
              load: Callable[[dict], T], compute: Callable[[], T]) -> T:
        """``load(record)`` when ``record`` holds ``key`` and loads cleanly, else
        ``compute()`` (which writes the record); timed under ``name`` either way.

        ``load`` raises `ArtifactError` for a damaged file, which is reported
        and recomputed; ``what`` names the stage in those messages.
        """
        tic = time.perf_counter()
        self.log.debug(f"{name}: key {key}, record {record}")
        reused, result = self._reuse(record, key, what, load)
        if reused:
            self.log.info(f"{name}: reused from {self.out}")
        else:
            result = compute()
        release_free_memory()
        self.timing[name] = {"seconds": time.perf_counter() - tic, "reused": reused}
        return result

    def _reuse(self, record: Path, key: str, what: str, load: Callable[[dict], T]
               ) -> tuple[bool, T | None]:
        """(True, the loaded result), or (False, None) after saying why not."""
        if not record.exists():
            return False, None
        try:
            meta = read_json(record)
            if meta.get("key") != key:
                self.log.info(f"{what}: saved result is for other settings or data; "
                              "recomputing")
                return False, None
            return True, load(meta)
        except ArtifactError as exc:
            self.log.warn(f"{exc}; recomputing {what}")
            return False, None
