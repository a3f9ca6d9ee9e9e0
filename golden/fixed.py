"""The number-format contract: fixed-point formats, rounding and saturation.

Every format used by attnkit hardware is a :class:`FixedFormat`, and every rounding step in
every golden model goes through :func:`round_shift`. The hardware implements exactly these
operations; the golden models *are* the specification.

Conventions (one rule, used everywhere)
---------------------------------------
* **Integers** are NumPy ``int64`` arrays. Values wider than 62 bits are not supported.
* **Rounding** is *round half up* (towards +infinity): ``round_shift(x, s) = floor((x + 2**(s-1)) / 2**s)``.
  In hardware this is "add half an LSB, then arithmetic shift right", one adder and no
  sign logic. It is used for every right shift that drops bits and for every float -> fixed
  conversion (``floor(x * 2**frac + 0.5)``).
* **Saturation** clamps to the format's ``[min_int, max_int]``; it never wraps. Where a block
  wraps instead (it should not), its docstring must say so.
* A format is ``(signed, int_bits, frac_bits)``: ``width = signed + int_bits + frac_bits``,
  the value of the integer code ``q`` is ``q * 2**-frac_bits``. ``int_bits`` counts magnitude
  bits only (the sign bit is extra), so ``FixedFormat(True, 7, 0)`` is int8 and
  ``FixedFormat(False, 0, 8)`` is an unsigned fraction in ``[0, 255/256]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FixedFormat", "round_shift", "saturate", "INT8", "INT4", "INT32"]


def _as_int(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"expected integer values, got dtype {a.dtype}")
    return a.astype(np.int64)


def round_shift(x, shift: int) -> np.ndarray:
    """Arithmetic right shift by ``shift`` bits with round-half-up.

    ``shift == 0`` returns ``x`` unchanged; a negative ``shift`` is a left shift (exact).
    Matches hardware ``(x + (1 << (shift - 1))) >> shift`` for signed two's complement ``x``.
    """
    x = _as_int(x)
    shift = int(shift)
    if shift <= 0:
        return x << (-shift)
    return (x + (np.int64(1) << (shift - 1))) >> shift


def saturate(x, lo: int, hi: int) -> np.ndarray:
    """Clamp integer codes to ``[lo, hi]``."""
    return np.clip(_as_int(x), lo, hi)


@dataclass(frozen=True)
class FixedFormat:
    """A binary fixed-point format.

    Parameters
    ----------
    signed : bool
        Two's complement when true.
    int_bits : int
        Magnitude bits left of the binary point (sign bit not included). May be negative
        for formats whose largest value is below 0.5.
    frac_bits : int
        Bits right of the binary point. May be negative (coarser than integers).
    """

    signed: bool
    int_bits: int
    frac_bits: int

    def __post_init__(self):
        if not isinstance(self.signed, bool):
            raise TypeError(f"signed must be a bool, not {self.signed!r}")
        for name in ("int_bits", "frac_bits"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int, not {v!r}")
        if not 1 <= self.width <= 62:
            raise ValueError(f"width must be in 1..62, not {self.width} "
                             f"(signed={self.signed}, int_bits={self.int_bits}, frac_bits={self.frac_bits})")

    @classmethod
    def integer(cls, width: int, signed: bool = True) -> "FixedFormat":
        """A plain integer format of ``width`` bits (``frac_bits = 0``)."""
        return cls(signed, width - int(signed), 0)

    @property
    def width(self) -> int:
        return int(self.signed) + self.int_bits + self.frac_bits

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        """Value of one LSB: ``2**-frac_bits``."""
        return 2.0 ** -self.frac_bits

    @property
    def min_value(self) -> float:
        return self.min_int * self.lsb

    @property
    def max_value(self) -> float:
        return self.max_int * self.lsb

    def saturate(self, q) -> np.ndarray:
        """Clamp integer codes to this format's range."""
        return saturate(q, self.min_int, self.max_int)

    def from_float(self, x) -> np.ndarray:
        """Quantize real values: round half up to the nearest code, then saturate."""
        x = np.asarray(x, dtype=np.float64)
        return self.saturate(np.floor(np.ldexp(x, self.frac_bits) + 0.5).astype(np.int64))

    def to_float(self, q) -> np.ndarray:
        """Real value of integer codes."""
        return np.ldexp(_as_int(q).astype(np.float64), -self.frac_bits)

    def check(self, q, name: str = "value") -> np.ndarray:
        """Return ``q`` as int64, raising ``ValueError`` if any code is outside the format."""
        q = _as_int(q)
        if q.size and (q.min() < self.min_int or q.max() > self.max_int):
            raise ValueError(f"{name} out of range for {self}: [{q.min()}, {q.max()}] not within "
                             f"[{self.min_int}, {self.max_int}]")
        return q

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.int_bits}.{self.frac_bits}"


INT4 = FixedFormat.integer(4)
INT8 = FixedFormat.integer(8)
INT32 = FixedFormat.integer(32)
