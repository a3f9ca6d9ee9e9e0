"""Roofline arithmetic and the talk's number formatting (pure Python, exact).

A device with peak throughput ``P`` (OPs/s) and memory bandwidth ``W`` (bytes/s)
has ridge point ``P / W`` OPs/byte. A kernel of arithmetic intensity ``AI = OPs /
bytes`` attains ``min(P, AI * W)`` OPs/s; it is memory bound iff ``AI < P / W``
(at the ridge it counts as compute bound, as in LLM-Viewer). Its roofline time is
``OPs / attainable``; a kernel with zero OPs takes ``bytes / W``.

Comparisons are done with :class:`fractions.Fraction` (floats converted exactly),
so the bound never flips on a rounding error.
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["ridge_point", "bound", "attainable", "roofline_time", "format_si", "format_ai",
           "round_half_up"]


def _frac(x, name):
    if isinstance(x, bool) or not isinstance(x, (int, float, Fraction)):
        raise TypeError(f"{name} must be a number, not {x!r}")
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"{name} must be finite, not {x!r}")
    return Fraction(x)


def _positive(x, name):
    f = _frac(x, name)
    if f <= 0:
        raise ValueError(f"{name} must be positive, not {x!r}")
    return f


def ridge_point(peak_ops_per_s, bandwidth_bytes_per_s) -> Fraction:
    """OPs/byte where the memory roof meets the compute roof: ``peak / bandwidth``."""
    return _positive(peak_ops_per_s, "peak_ops_per_s") / _positive(
        bandwidth_bytes_per_s, "bandwidth_bytes_per_s")


def bound(ops, memory_bytes, peak_ops_per_s, bandwidth_bytes_per_s) -> str:
    """``"memory"`` iff ``ops / memory_bytes < ridge``, else ``"compute"``.

    A kernel moving no bytes is compute bound.
    """
    ops, mem = _frac(ops, "ops"), _frac(memory_bytes, "memory_bytes")
    if ops < 0 or mem < 0:
        raise ValueError(f"ops and memory_bytes must be >= 0, not {ops}, {mem}")
    r = ridge_point(peak_ops_per_s, bandwidth_bytes_per_s)
    if mem == 0:
        return "compute"
    return "memory" if ops / mem < r else "compute"


def attainable(ops, memory_bytes, peak_ops_per_s, bandwidth_bytes_per_s) -> Fraction:
    """Attainable OPs/s: ``min(peak, AI * bandwidth)`` (``peak`` when no bytes move)."""
    peak = _positive(peak_ops_per_s, "peak_ops_per_s")
    bw = _positive(bandwidth_bytes_per_s, "bandwidth_bytes_per_s")
    ops, mem = _frac(ops, "ops"), _frac(memory_bytes, "memory_bytes")
    if mem == 0:
        return peak
    return min(peak, ops / mem * bw)


def roofline_time(ops, memory_bytes, peak_ops_per_s, bandwidth_bytes_per_s) -> Fraction:
    """Seconds under the roofline: ``max(ops / peak, bytes / bandwidth)``.

    Equal to ``ops / attainable`` when ``ops > 0``; ``bytes / bandwidth`` otherwise.
    """
    peak = _positive(peak_ops_per_s, "peak_ops_per_s")
    bw = _positive(bandwidth_bytes_per_s, "bandwidth_bytes_per_s")
    return max(_frac(ops, "ops") / peak, _frac(memory_bytes, "memory_bytes") / bw)


def round_half_up(x, digits: int = 0) -> Fraction:
    """Round ``x`` to ``digits`` decimals, halves away from minus infinity (project rule)."""
    scale = Fraction(10) ** digits
    return Fraction(math.floor(Fraction(x) * scale + Fraction(1, 2))) / scale


_PREFIXES = ((10 ** 12, "T"), (10 ** 9, "G"), (10 ** 6, "M"), (10 ** 3, "K"))


def format_si(x) -> str:
    """Format a count the way the talk's table does: decimal SI prefix, integer mantissa.

    The prefix is the largest of K (1e3), M, G, T not exceeding ``x``; the mantissa is
    rounded half up to an integer: 68.72e9 -> ``"69G"``, 1.344e12 -> ``"1T"``,
    262144 -> ``"262K"``, 4096 -> ``"4K"``, 768 -> ``"768"``.

    (LLM-Viewer's own ``str_number`` keeps one decimal below 100 of a prefix, e.g.
    ``"68.7G"``; the paper's table, which the talk shows, rounds to integers.)
    """
    f = _frac(x, "x")
    if f < 0:
        return "-" + format_si(-f)
    for scale, prefix in _PREFIXES:
        if f >= scale:
            return f"{round_half_up(f / scale)}{prefix}"
    return f"{round_half_up(f)}"


def format_ai(x) -> str:
    """Format an arithmetic intensity the way the talk's table does.

    At or above 10: an integer (rounded half up: 113.78 -> ``"114"``, 1024 ->
    ``"1024"``, no prefix). Below 10: two decimals, rounded half up, trailing zeros
    dropped (0.99951 -> ``"1"``, 0.99178 -> ``"0.99"``, 1.25 -> ``"1.25"``).
    """
    f = _frac(x, "x")
    if f >= 10:
        return str(round_half_up(f))
    r = round_half_up(f, 2)
    text = f"{float(r):.2f}".rstrip("0").rstrip(".")
    return text
