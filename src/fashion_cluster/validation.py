"""Parameter checks of the estimators, with scikit-learn's wording.

Estimators store their parameters as given in ``__init__`` and check them at the start
of ``fit``; these helpers raise ``ValueError`` naming the estimator, the parameter, what
was expected and what was given.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

__all__ = ["check_choice", "check_device", "check_int", "check_range", "check_real",
           "check_sizes", "seed_of"]


def _fail(est: BaseEstimator, name: str, what: str) -> None:
    raise ValueError(f"The '{name}' parameter of {type(est).__name__} must be {what}. "
                     f"Got {getattr(est, name)!r} instead.")


def check_int(est: BaseEstimator, name: str, low: int = 1) -> int:
    """``getattr(est, name)`` as an int >= ``low``."""
    value = getattr(est, name)
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        _fail(est, name, f"an int >= {low}")
    return int(value)


def check_real(est: BaseEstimator, name: str, low: float = 0.0, strict: bool = True) -> float:
    """``getattr(est, name)`` as a float > ``low`` (>= when not ``strict``)."""
    value = getattr(est, name)
    if (isinstance(value, bool) or not isinstance(value, Real)
            or not (value > low if strict else value >= low)):
        _fail(est, name, f"a float {'>' if strict else '>='} {low}")
    return float(value)


def check_choice(est: BaseEstimator, name: str, choices: tuple) -> Any:
    value = getattr(est, name)
    if value not in choices:
        _fail(est, name, f"one of {', '.join(map(repr, choices))}")
    return value


def check_sizes(est: BaseEstimator, name: str, length: int | None = None) -> tuple[int, ...]:
    """A sequence of positive ints (of ``length`` items when given)."""
    value = getattr(est, name)
    try:
        sizes = tuple(value)
    except TypeError:
        sizes = ()
    ok = all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in sizes)
    if not ok or (length is not None and len(sizes) != length) or (length is None and not sizes):
        _fail(est, name, f"{length} positive ints" if length
              else "a non-empty sequence of positive ints")
    return tuple(int(v) for v in sizes)


def check_range(est: BaseEstimator, name: str) -> tuple[float, float] | None:
    """None, or a (low, high) pair of numbers with low < high."""
    value = getattr(est, name)
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        low, high = 0.0, 0.0
    if not low < high:
        _fail(est, name, "None or a (low, high) pair with low < high")
    return low, high


def check_device(est: BaseEstimator) -> str:
    device = str(est.device)
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        _fail(est, "device", "'auto', 'cpu', 'cuda' or 'cuda:N'")
    return device


def seed_of(random_state) -> int:
    """The integer seed of a ``random_state``: an int is used as it is (so an estimator
    and a study run with the same seed train the same network); None or a RandomState
    draws one."""
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
