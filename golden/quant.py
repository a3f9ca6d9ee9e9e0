"""Symmetric integer quantization of tensors and requantization of accumulators.

Tensor quantization (software side, float -> int)
-------------------------------------------------
Symmetric, zero point 0: ``q = clamp(round_half_up(x / scale), -qmax, qmax)`` with
``qmax = 2**(bits-1) - 1`` (int8: +-127, int4: +-7; the code ``-2**(bits-1)`` is never
produced by quantization, but the hardware accepts it). ``scale = max|x| / qmax`` per tensor
or per row (axis 0); an all-zero tensor/row gets ``scale = 1``.

Requantization (hardware side, int32 accumulator -> int8)
--------------------------------------------------------
``y = clamp(round_shift(acc * multiplier, shift), -127, 127)`` with an unsigned
``multiplier`` of :data:`REQUANT_MULT_BITS` bits and ``0 <= shift <= REQUANT_MAX_SHIFT``.
The product ``acc * multiplier`` is exact (no intermediate rounding); the single rounding is
:func:`attnkit.golden.fixed.round_shift` (round half up). :func:`requant_params` picks the
``(multiplier, shift)`` that best approximates a real scale factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed import FixedFormat, round_shift

__all__ = ["QuantizedTensor", "quantize", "dequantize", "requant_params", "requantize",
           "REQUANT_MULT_BITS", "REQUANT_MAX_SHIFT"]

#: Width of the unsigned requantization multiplier (fits one 18x18 DSP operand with the sign bit).
REQUANT_MULT_BITS = 16
#: Largest requantization shift.
REQUANT_MAX_SHIFT = 63


def _qmax(bits: int) -> int:
    if bits not in (2, 3, 4, 5, 6, 7, 8, 16):
        raise ValueError(f"bits must be one of 2..8 or 16, not {bits!r}")
    return (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class QuantizedTensor:
    """Integer codes ``q`` and the float ``scale`` (scalar, or one per row) with ``x ~ q * scale``."""

    q: np.ndarray
    scale: np.ndarray
    bits: int

    def dequantize(self) -> np.ndarray:
        return dequantize(self)


def quantize(x, bits: int = 8, axis: int | None = None) -> QuantizedTensor:
    """Symmetric quantization of ``x`` to ``bits``-bit integers.

    ``axis=None`` uses one scale for the tensor; ``axis=0`` one scale per row (per output
    channel for a weight matrix ``W[m, n]``).
    """
    qmax = _qmax(bits)
    x = np.asarray(x, dtype=np.float64)
    if axis is None:
        amax = np.max(np.abs(x)) if x.size else 0.0
        scale = np.float64(amax / qmax if amax > 0 else 1.0)
        s = scale
    elif axis == 0:
        amax = np.max(np.abs(x.reshape(x.shape[0], -1)), axis=1)
        scale = np.where(amax > 0, amax / qmax, 1.0)
        s = scale.reshape((-1,) + (1,) * (x.ndim - 1))
    else:
        raise ValueError(f"axis must be None or 0, not {axis!r}")
    q = np.clip(np.floor(x / s + 0.5), -qmax, qmax).astype(np.int64)
    return QuantizedTensor(q=q, scale=np.asarray(scale), bits=bits)


def dequantize(t: QuantizedTensor) -> np.ndarray:
    s = t.scale
    if s.ndim == 1:
        s = s.reshape((-1,) + (1,) * (t.q.ndim - 1))
    return t.q.astype(np.float64) * s


def requant_params(real_scale: float, mult_bits: int = REQUANT_MULT_BITS) -> tuple[int, int]:
    """``(multiplier, shift)`` with ``multiplier * 2**-shift`` closest to ``real_scale``.

    The multiplier is normalised into ``[2**(mult_bits-1), 2**mult_bits)`` where the shift
    range allows (most precision); ``real_scale`` must be positive and finite.
    """
    real_scale = float(real_scale)
    if not (real_scale > 0 and np.isfinite(real_scale)):
        raise ValueError(f"real_scale must be positive and finite, not {real_scale!r}")
    mant, exp = np.frexp(real_scale)           # real_scale = mant * 2**exp, mant in [0.5, 1)
    shift = mult_bits - int(exp)
    shift = min(max(shift, 0), REQUANT_MAX_SHIFT)
    mult = int(np.floor(real_scale * 2.0 ** shift + 0.5))
    if mult >= 1 << mult_bits:                  # rounding carried out of the top bit
        if shift > 0:
            shift -= 1
            mult = int(np.floor(real_scale * 2.0 ** shift + 0.5))
        if mult >= 1 << mult_bits:
            raise ValueError(f"real_scale {real_scale!r} too large for a {mult_bits}-bit multiplier")
    if mult == 0:
        raise ValueError(f"real_scale {real_scale!r} too small for shift <= {REQUANT_MAX_SHIFT}")
    return mult, shift


def requantize(acc, multiplier: int, shift: int, out: FixedFormat | None = None) -> np.ndarray:
    """Requantize integer accumulators exactly as the hardware output stage does.

    ``clamp(round_shift(acc * multiplier, shift), -qmax, qmax)`` where ``qmax`` is the
    output format's maximum (symmetric: the most negative code is not produced).
    """
    if not (0 <= multiplier < 1 << REQUANT_MULT_BITS):
        raise ValueError(f"multiplier must be in [0, 2**{REQUANT_MULT_BITS}), not {multiplier!r}")
    if not (0 <= shift <= REQUANT_MAX_SHIFT):
        raise ValueError(f"shift must be in [0, {REQUANT_MAX_SHIFT}], not {shift!r}")
    out = out or FixedFormat.integer(8)
    acc = np.asarray(acc, dtype=np.int64)
    # acc * multiplier can exceed int64 for wide accumulators: use Python ints then.
    if np.max(np.abs(acc), initial=0) < (1 << (62 - REQUANT_MULT_BITS)):
        prod = acc * np.int64(multiplier)
        r = round_shift(prod, shift)
    else:
        flat = [((int(a) * multiplier + ((1 << (shift - 1)) if shift else 0)) >> shift) for a in acc.ravel()]
        r = np.clip(np.array(flat, dtype=object), -(1 << 62), 1 << 62).astype(np.int64).reshape(acc.shape)
    return np.clip(r, -out.max_int, out.max_int)
