"""Golden model of the systolic GEMV array: ``y = W x`` in exact integer arithmetic.

Formats
-------
* ``x``: int8 activations, codes in ``[-128, 127]``.
* ``W``: int8 (``[-128, 127]``) or int4 (``[-8, 7]``) weights, shape ``(M, N)``.
* Accumulation: exact two's complement in ``acc_width`` bits. The hardware default
  (``acc_width=32``) cannot overflow for ``N <= 2**17`` int8 products
  (``|w x| <= 2**14``); :func:`min_acc_width` gives the smallest exact width for a given
  ``N``. If the true sum does not fit, the result *wraps* modulo ``2**acc_width`` exactly
  as the hardware register does (no saturation inside the accumulator).
* Output: the ``acc_width``-bit sums, or, in requantize mode, int8 codes from
  :func:`attnkit.golden.quant.requantize` (round half up, saturate to ``[-127, 127]``).

The weight-stream order the hardware consumes is produced by :func:`weight_beats`.
"""

from __future__ import annotations

import math

import numpy as np

from .fixed import INT8, FixedFormat
from .quant import requantize

__all__ = ["gemv", "wrap", "min_acc_width", "weight_beats", "ideal_cycles"]


def weight_format(weight_bits: int) -> FixedFormat:
    if weight_bits not in (4, 8):
        raise ValueError(f"weight_bits must be 4 or 8, not {weight_bits!r}")
    return FixedFormat.integer(weight_bits)


def min_acc_width(n: int, weight_bits: int = 8) -> int:
    """Smallest accumulator width that holds any sum of ``n`` int8 x int``weight_bits`` products.

    The largest magnitude product is ``(-2**(wb-1)) * (-128) = 2**(wb+6)``, so the sum lies in
    ``[-n*2**(wb+6) + ..., n*2**(wb+6)]``; one sign bit plus ``wb + 6 + ceil(log2 n)`` bits,
    plus one because ``+n*2**(wb+6)`` itself needs a bit more than its negative.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n!r}")
    return weight_bits + 6 + math.ceil(math.log2(n)) + 2


def wrap(x, width: int) -> np.ndarray:
    """Two's complement wrap of integers to ``width`` bits."""
    x = np.asarray(x, dtype=np.int64)
    if width >= 63:
        return x
    m = np.int64(1) << width
    return ((x + (m >> 1)) % m) - (m >> 1)


def gemv(W, x, *, weight_bits: int = 8, acc_width: int = 32,
         requant: tuple[int, int] | None = None) -> np.ndarray:
    """``y = W @ x`` exactly as the hardware computes it.

    Parameters
    ----------
    W : (M, N) integer array, codes in the weight format.
    x : (N,) integer array, int8 codes.
    weight_bits : 4 or 8.
    acc_width : accumulator width; sums wrap modulo ``2**acc_width``.
    requant : ``(multiplier, shift)`` to requantize to int8, or ``None`` for raw sums.

    Raises
    ------
    ValueError
        If shapes disagree or a code is outside its format.
    """
    wf = weight_format(weight_bits)
    W = wf.check(W, "W")
    x = INT8.check(x, "x")
    if W.ndim != 2 or x.ndim != 1 or W.shape[1] != x.shape[0]:
        raise ValueError(f"shapes do not match: W {W.shape}, x {x.shape}")
    acc = wrap(W @ x, acc_width)
    if requant is None:
        return acc
    mult, shift = requant
    return requantize(acc, mult, shift)


def weight_beats(W, lanes: int) -> np.ndarray:
    """The weight stream for ``W``: an array of shape ``(ceil(M/lanes) * N, lanes)``.

    Beat ``t * N + n`` carries ``W[t * lanes + p, n]`` in lane ``p``; lanes past the last
    row carry 0 (the hardware ignores them).
    """
    W = np.asarray(W, dtype=np.int64)
    M, N = W.shape
    tiles = -(-M // lanes)
    padded = np.zeros((tiles * lanes, N), dtype=np.int64)
    padded[:M] = W
    return padded.reshape(tiles, lanes, N).transpose(0, 2, 1).reshape(tiles * N, lanes)


def ideal_cycles(m: int, n: int, lanes: int) -> float:
    """MAC slots needed at 100 % utilisation: ``M * N / lanes``."""
    return m * n / lanes
