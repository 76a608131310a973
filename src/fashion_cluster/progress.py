"""What a long run tells its user: log messages and tqdm progress bars.

A `Reporter` is passed to the code that does long work. Its messages go to the
``fashion_cluster`` logger (the command line shows INFO and above on stderr, DEBUG with
``-v``, WARNING only with ``-q``; a program that uses the library decides for itself);
its progress bars go to stderr unless ``quiet``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from tqdm.auto import tqdm

__all__ = ["Reporter", "logger"]

logger = logging.getLogger("fashion_cluster")


class _NoBar:
    n = 0

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class Reporter:
    """Log messages (stamped with the time since the run started) and progress bars
    (written to ``stream``, stderr by default; none when ``quiet``)."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.perf_counter()

    def debug(self, message: str) -> None:
        logger.debug(f"[{self._clock()}] {message}")

    def info(self, message: str) -> None:
        logger.info(f"[{self._clock()}] {message}")

    def warn(self, message: str) -> None:
        logger.warning(f"[{self._clock()}] warning: {message}")

    def bar(self, total: float, desc: str, unit: str = "it"):
        """A progress bar with an estimate of the time left (a no-op when quiet)."""
        if self.quiet:
            return _NoBar()
        return tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False,
                    dynamic_ncols=True, mininterval=0.5)

    def _clock(self) -> str:
        seconds = int(time.perf_counter() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"
