"""Parameter checks shared by golden models and gateware constructors.

Bad parameters fail early with ``TypeError``/``ValueError`` whose message names the
parameter and the value (DESIGN.md convention 2).
"""

import numbers

__all__ = ["check_int", "check_bool", "check_choice"]


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """``value`` (a Python or NumPy integer, not a bool) as an int in ``lo..hi``
    (``hi=None``: no upper bound)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name} must be {rng}, not {value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


def check_choice(name: str, value, choices):
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, not {value!r}")
    return value
