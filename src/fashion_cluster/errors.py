"""The base class of the errors this package raises on purpose.

Every such error means bad input or an unusable environment (a damaged file, an invalid
preset, an output folder that is not ours, an unreachable cluster), and its message
names the thing and says what is wrong. The command line prints the message as one
line and exits with status 2; library users can catch them all with one ``except``.
Each module keeps its own subclass, which also derives from the built-in exception its
callers caught before (``ValueError`` or ``RuntimeError``).
"""

from __future__ import annotations

__all__ = ["ConfigError", "FashionClusterError"]


class FashionClusterError(Exception):
    """Bad input or an unusable environment; the message says which and why."""


class ConfigError(FashionClusterError, ValueError):
    """A preset or option is invalid; the message says which and why.

    Also importable from `fashion_cluster.config`, where presets are read.
    """
