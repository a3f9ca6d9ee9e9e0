"""Adders whose operand logic rides inside the ECP5 carry chain (CCU2C LUTs).

Yosys maps an adder onto CCU2C cells whose LUTs see only the two operand bits, so any logic
on an operand (a gate, a multiplexer) is a LUT level plus routing in front of the chain.
Each CCU2C half, however, computes the carry *propagate* with a full 4-input LUT
(``INIT[i]``, index ``D*8 + C*4 + B*2 + A``) and the carry *generate* with a 2-input LUT of
the same table's low nibble (``INIT[3:0]``, inputs A and B), which the chain uses only where
propagate is 0. So an operand function of up to three inputs fits, provided the generate
can be read from A and B alone whenever propagate is 0:

* :func:`gated_add`: ``(0 if gate else a) + b``. Propagate ``(a & ~gate) ^ b`` (C = gate,
  D = 1); where it is 0, either ``gate = 0`` and ``a == b``, or ``gate = 1`` and ``b == 0``:
  generate = ``b``. An optional carry input (a signal) enters through one more half at the
  bottom whose operands are both that signal.
* :func:`mux_sub`: ``(a1 if sel else a0) - b`` = ``x + ~b + 1``. Propagate ``x ^ ~b``
  (A = a1, C = a0, D = sel); where it is 0, ``x == ~b``, so generate = ``x & ~b`` = ``~b``.

With ``impl != "primitive"`` both are the plain Amaranth expressions (simulation). The
tables are derived below from those definitions and checked for the generate condition;
``tests/test_carry_chain.py`` simulates the CCU2C instances with Yosys's own CCU2C model
against the expressions, and ``tests/test_gemv_netlist.py`` simulates a synthesised array.
"""

from amaranth.hdl import Const, Instance, Mux, Signal, Value

__all__ = ["gated_add", "mux_sub", "GATED_ADD_INIT", "MUX_SUB_INIT"]


def _lut_init(propagate, generate) -> int:
    """INIT of a CCU2C half: ``propagate(a, b, c, d)`` as the 4-input table, whose low
    nibble (c = d = 0) the chain also reads as the generate LUT: it must be ``generate``."""
    init = sum(propagate(i & 1, (i >> 1) & 1, (i >> 2) & 1, (i >> 3) & 1) << i for i in range(16))
    assert all((init >> i) & 1 == generate(i & 1, (i >> 1) & 1) for i in range(4))
    return init


# gated add: D = 1 in use; the D = 0 half only carries the generate table (C = 0) and 0
GATED_ADD_INIT = _lut_init(lambda a, b, c, d: ((a & (1 - c)) ^ b) if d else (b if not c else 0),
                           lambda a, b: b)
# mux-subtract: x = a1 if d else a0 (a1 on A, a0 on C), propagate x ^ ~b
MUX_SUB_INIT = _lut_init(lambda a, b, c, d: (a if d else c) ^ (1 - b),
                         lambda a, b: 1 - b)


def _ccu2_chain(m, name, width, init, carry_in, bits, top_init=None):
    """``width`` (even) bits of CCU2C chain with table ``init`` in every half (``top_init``
    in the half of bit ``width - 1`` when given) and constant ``carry_in``; ``bits(i)``
    gives the (A, B, C, D) inputs of bit ``i``."""
    s = Signal(width, name=f"{name}_s")
    carry = Const(carry_in, 1)
    for i in range(0, width, 2):
        cout = Signal(name=f"{name}_co{i}")
        a0, b0, c0, d0 = bits(i)
        a1, b1, c1, d1 = bits(i + 1)
        init1 = top_init if top_init is not None and i + 2 >= width else init
        m.submodules[f"{name}_ccu{i}"] = Instance(
            "CCU2C", p_INIT0=init, p_INIT1=init1, p_INJECT1_0="NO", p_INJECT1_1="NO",
            i_CIN=carry, i_A0=a0, i_B0=b0, i_C0=c0, i_D0=d0, i_A1=a1, i_B1=b1, i_C1=c1,
            i_D1=d1, o_S0=s[i], o_S1=s[i + 1], o_COUT=cout)
        carry = cout
    return s


def _extend(m, value, width, name):
    """``value`` sign- or zero-extended (by its shape) to ``width`` bits, as a Signal."""
    sig = Signal(width, name=name)
    m.d.comb += sig.eq(Value.cast(value))
    return sig


def gated_add(m, a, gate, b, width: int, impl: str, name: str, *, carry_in=None):
    """``(0 if gate else a) + b (+ carry_in)`` modulo ``2**width`` as a ``width``-bit Signal
    (comb).

    ``carry_in``: a 1-bit signal added at the bottom. A CCU2C chain's carry input comes from
    the chain, so the primitive version starts one half lower, in a half whose operands are
    both ``carry_in`` (propagate 0, generate ``carry_in``: its carry out is the signal; its
    sum bit is dropped)."""
    out = Signal(width, name=name)
    if impl != "primitive":
        m.d.comb += out.eq(Mux(gate, 0, a) + b + (0 if carry_in is None else carry_in))
        return out
    lift = int(carry_in is not None)             # the carry-generating half below bit 0
    w2 = width + lift
    w2 += w2 % 2
    aw, bw = _extend(m, a, w2, f"{name}_a"), _extend(m, b, w2, f"{name}_b")

    def bits(i):
        if i < lift:
            return carry_in, carry_in, 0, 1
        return aw[i - lift], bw[i - lift], gate, 1

    s = _ccu2_chain(m, name, w2, GATED_ADD_INIT, 0, bits)
    m.d.comb += out.eq(s[lift:lift + width])
    return out


def mux_sub(m, sel, a1, a0, b, width: int, impl: str, name: str, *, invert_msb=False):
    """``(a1 if sel else a0) - b`` modulo ``2**width`` as a ``width``-bit Signal (comb).

    ``invert_msb``: the top bit comes out inverted (its CCU2C half computes the complement
    of its propagate; that half's carry out is unused), so a register can hold the
    complemented sign with no inverter after the chain."""
    out = Signal(width, name=name)
    flip = (1 << (width - 1)) if invert_msb else 0
    if impl != "primitive":
        m.d.comb += out.eq((Mux(sel, a1, a0) - b) ^ flip)
        return out
    if invert_msb and width % 2:
        raise ValueError("invert_msb needs an even width (the top bit ends a CCU2C)")
    w2 = width + width % 2
    a1w, a0w = _extend(m, a1, w2, f"{name}_a1"), _extend(m, a0, w2, f"{name}_a0")
    bw = _extend(m, b, w2, f"{name}_b")
    top = MUX_SUB_INIT ^ 0xFFFF if invert_msb else None
    s = _ccu2_chain(m, name, w2, MUX_SUB_INIT, 1, lambda i: (a1w[i], bw[i], a0w[i], sel), top)
    m.d.comb += out.eq(s[:width])
    return out
