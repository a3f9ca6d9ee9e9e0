"""Hand-placed ECP5 look-up tables: a 5-input function as one slice.

ECP5 slices hold two LUT4s and a multiplexer (``PFUMX``) that picks one of their outputs by
a fifth signal (the slice's M0 input): a 5-input function in one logic level, with no
routing between the two halves. Yosys maps a 5-input function that way when it stands
alone, but where part of it (a 4-input term) is needed elsewhere as well it keeps the term
as its own LUT and puts a second LUT after it: two levels and a routed net between them.
:func:`lut5` instantiates the slice, so the function stays one level wherever its parts
are used (the LUT4s feeding a PFUMX cannot drive anything else: nextpnr removes their
output nets when it packs the slice).
"""

from amaranth.hdl import Instance, Signal, Value

__all__ = ["lut4", "lut5", "lut4_init"]


def lut4_init(fn) -> int:
    """The ``INIT`` of an ECP5 ``LUT4`` computing ``fn(a, b, c, d)`` (bit ``D*8 + C*4 + B*2
    + A``). ``fn`` uses only ``~ & | ^`` on its 0/1 arguments (the result is read mod 2)."""
    return sum((fn(i & 1, (i >> 1) & 1, (i >> 2) & 1, (i >> 3) & 1) & 1) << i for i in range(16))


def lut4(m, fn, inputs, impl: str, name: str):
    """``fn(a, b, c, d)`` of the four 1-bit ``inputs`` as a 1-bit Signal (comb): with
    ``impl == "primitive"`` an ECP5 ``LUT4`` instance, which Yosys neither merges with an
    equal function nor folds into its neighbours (a copy of a look-up table that keeps its
    own fan-out); otherwise the expression."""
    a, b, c, d = (Value.cast(v) for v in inputs)
    out = Signal(name=name)
    if impl != "primitive":
        m.d.comb += out.eq(fn(a, b, c, d))
        return out
    m.submodules[f"{name}_lut"] = Instance("LUT4", p_INIT=lut4_init(fn), i_A=a, i_B=b, i_C=c,
                                           i_D=d, o_Z=out)
    return out


def lut5(m, fn, inputs, impl: str, name: str):
    """``fn(a, b, c, d, e)`` of the five 1-bit ``inputs`` as a 1-bit Signal (comb).

    With ``impl == "primitive"``: one ECP5 slice, the table for ``e = 1`` in the LUT4 on the
    PFUMX's ``ALUT`` input, the table for ``e = 0`` on ``BLUT``, ``e`` on its select ``C0``.
    Otherwise the expression itself (``fn`` on Amaranth values; simulation). ``fn`` uses only
    ``~ & | ^``, so the same function gives both."""
    a, b, c, d, e = (Value.cast(v) for v in inputs)
    out = Signal(name=name)
    if impl != "primitive":
        m.d.comb += out.eq(fn(a, b, c, d, e))
        return out
    halves = {}
    for sel in (0, 1):
        z = Signal(name=f"{name}_e{sel}")
        m.submodules[f"{name}_lut{sel}"] = Instance(
            "LUT4", p_INIT=lut4_init(lambda w, x, y, v: fn(w, x, y, v, sel)),
            i_A=a, i_B=b, i_C=c, i_D=d, o_Z=z)
        halves[sel] = z
    m.submodules[f"{name}_mux"] = Instance("PFUMX", i_ALUT=halves[1], i_BLUT=halves[0],
                                            i_C0=e, o_Z=out)
    return out
