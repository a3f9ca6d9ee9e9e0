"""Requantization on registered DSPs: ``clamp(round_shift(acc * mult, shift), -lim, lim)``.

Exactly :func:`attnkit.golden.quant.requantize` (round half up) generalised to any clamp
limit. ``acc * mult`` is split over MULT18X18D with all their registers
(:class:`~attnkit.hdl.dsp.Mult18`): ``acc = sum(piece_i * 2**(17 i))`` with 17-bit unsigned
low pieces and a signed top piece of at most 18 bits, so the products are exact; then
``round_shift(x, s) = ((x >> (s - 1)) + 1) >> 1`` for ``s >= 1`` with the variable shift
split into a multiple-of-8 stage and a 0..7 stage, the rounding add beside the clamp
compares (on the value before rounding), then the clamp's choice. One register per stage:
the result is valid :data:`REQUANT_LATENCY` cycles after ``acc``, ``mult`` and ``shift``.
Used by the GEMV array's output stage and by the attention engine's score and output stages.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, signed

from ..golden.quant import REQUANT_MULT_BITS
from .dsp import MULT18_LATENCY, Mult18
from .pipeline import delay

__all__ = ["requantize", "REQUANT_LATENCY"]

#: DSP latency, product sum, coarse shift, fine shift, round, clamp.
REQUANT_LATENCY = MULT18_LATENCY + 5
_PIECE = 17


def requantize(m, acc, mult, shift, lim: int, impl: str, name: str):
    """``clamp(round_shift(acc * mult, shift), -lim, lim)`` (``acc`` signed, ``mult``
    ``REQUANT_MULT_BITS`` bits unsigned, ``shift`` 6 bits), valid ``REQUANT_LATENCY`` cycles
    later, as a signed Signal of ``bits_for(lim) + 1`` bits."""
    w = len(acc)
    n = 1 if w <= 18 else 1 + -(-(w - 18) // _PIECE)
    pieces = [acc[_PIECE * i:_PIECE * (i + 1)] for i in range(n - 1)]
    pieces.append(acc[_PIECE * (n - 1):].as_signed())
    prods = []
    for i, piece in enumerate(pieces):
        mul = Mult18(impl)
        m.submodules[f"{name}_mul{i}"] = mul
        m.d.comb += [mul.a.eq(piece), mul.b.eq(mult)]
        prods.append(mul.p << (_PIECE * i))
    pw = w + REQUANT_MULT_BITS + 1
    shift_d = delay(m, shift, MULT18_LATENCY, f"{name}_shift", reset_less=True)
    prod = Signal(signed(pw), name=f"{name}_prod", reset_less=True)
    sm1 = Signal(6, name=f"{name}_sm1", reset_less=True)       # shift - 1 (unused at 0)
    zero = Signal(name=f"{name}_zero", reset_less=True)
    # ``coarse8``: the coarse shift in bytes, 0 when ``shift = 0``, so the coarse stage is a
    # plain 8:1 choice by three register bits (a ``zero`` choice after it was a third look-up
    # table level, from ``prod``'s wide fan-out: the attention engine's v61 seed 1)
    coarse8 = Signal(3, name=f"{name}_coarse8", reset_less=True)
    m.d.sync += [prod.eq(sum(prods[1:], prods[0])), sm1.eq(shift_d - 1), zero.eq(shift_d == 0),
                 coarse8.eq(Mux(shift_d == 0, 0, (shift_d - 1)[3:6]))]
    coarse = Signal(signed(pw), name=f"{name}_coarse", reset_less=True)
    fine = Signal(3, name=f"{name}_fine", reset_less=True)
    zero2 = Signal(name=f"{name}_zero2", reset_less=True)
    m.d.sync += [coarse.eq(prod >> Cat(Const(0, 3), coarse8)),
                 fine.eq(Mux(zero, 0, sm1[:3])), zero2.eq(zero)]
    t = Signal(signed(pw), name=f"{name}_t", reset_less=True)
    zero3 = Signal(name=f"{name}_zero3", reset_less=True)
    m.d.sync += [t.eq(coarse >> fine), zero3.eq(zero2)]
    # the rounding add and the clamp compares are carry chains over ``pw`` bits: they run side
    # by side on ``t`` (in series they were the attention engine's critical path), and the
    # last stage only chooses. With ``r = (t + 1) >> 1`` (floor): ``r > lim`` iff
    # ``t > 2 lim`` and ``r < -lim`` iff ``t < -2 lim - 1``; with ``shift = 0``, ``r = t``.
    # Each compare is split at bit k (2**k > 2 lim + 1) into "the bits above k are all 0 (or,
    # negative, all 1)", OR trees without a carry chain, and a k-bit compare of the low bits
    # (for t < 0 with all high bits 1, t = t[:k] - 2**k); the last stage combines them.
    k = (2 * lim + 1).bit_length()
    assert pw > k + 1
    r = Signal(signed(pw), name=f"{name}_r", reset_less=True)
    sign, hi0, hi1 = (Signal(name=f"{name}_{n}", reset_less=True) for n in ("sign", "hi0", "hi1"))
    lo_gt, lo_lt = (Signal(name=f"{name}_{n}", reset_less=True) for n in ("lo_gt", "lo_lt"))
    low, high = t[:k], t[k:-1]
    m.d.sync += [r.eq(Mux(zero3, t, (t + 1) >> 1)), sign.eq(t[-1]),
                 hi0.eq(high == 0), hi1.eq(high == (1 << len(high)) - 1),
                 lo_gt.eq(Mux(zero3, low > lim, low > 2 * lim)),
                 lo_lt.eq(Mux(zero3, low < (1 << k) - lim, low < (1 << k) - 2 * lim - 1))]
    over = ~sign & (~hi0 | lo_gt)
    under = sign & (~hi1 | lo_lt)
    y = Signal(signed(lim.bit_length() + 1), name=f"{name}_y", reset_less=True)
    m.d.sync += y.eq(Mux(over, lim, Mux(under, -lim, r)))
    return y
