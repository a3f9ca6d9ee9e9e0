"""``(0 if gate else a) + b`` on one ECP5 carry chain: the gate costs no LUT level.

Yosys maps an adder onto CCU2C cells whose LUTs see only the two operand bits, so an
operand gated by a control bit ("start a new sum") needs a LUT in front of the chain, and
that LUT plus its routing sat on the GEMV accumulators' critical path. A CCU2C half has a
4-input LUT (the carry "propagate") and uses a 2-input LUT of the same table for the
carry "generate", so the gate can ride on the LUT's third input:

* propagate = ``(a & ~gate) ^ b``: ``a ^ b`` when ``gate`` is 0, ``b`` when it is 1;
* generate (seen only when propagate is 0) = ``b``: if ``gate`` is 0 then ``a == b``; if
  ``gate`` is 1 then ``b == 0`` and nothing is generated.

LUT index ``D*8 + C*4 + B*2 + A`` with ``A = a``, ``B = b``, ``C = gate``, ``D = 1``:
``INIT[11:8] = 0x6`` (a ^ b), ``INIT[15:12] = 0xC`` (b), ``INIT[3:0] = 0xC`` (generate = b).
``tests/test_gemv_netlist.py`` simulates the synthesised array (with Yosys's CCU2C model)
against the golden model, which checks this table; :func:`gated_add` with
``impl="behavioural"`` is the plain Amaranth expression.
"""

from amaranth.hdl import Cat, Const, Instance, Mux, Signal, Value

__all__ = ["gated_add", "GATED_ADD_INIT"]

GATED_ADD_INIT = 0xC60C


def gated_add(m, a, gate, b, width: int, impl: str, name: str):
    """``((0 if gate else a) + b)`` modulo ``2**width`` (``a``, ``b`` sign- or zero-extended
    by their shapes), as a Signal of ``width`` bits; combinational."""
    out = Signal(width, name=name)
    a_ext = Value.cast(a).as_signed() if Value.cast(a).shape().signed else Value.cast(a)
    b_ext = Value.cast(b)
    if impl != "primitive":
        m.d.comb += out.eq(Mux(gate, 0, a_ext) + b_ext)
        return out
    aw = Signal(width + width % 2, name=f"{name}_a")
    bw = Signal(width + width % 2, name=f"{name}_b")
    s = Signal(width + width % 2, name=f"{name}_s")
    m.d.comb += [aw.eq(a_ext), bw.eq(b_ext)]
    carry = Const(0, 1)
    for i in range(0, len(s), 2):
        cout = Signal(name=f"{name}_co{i}")
        m.submodules[f"{name}_ccu{i}"] = Instance(
            "CCU2C", p_INIT0=GATED_ADD_INIT, p_INIT1=GATED_ADD_INIT,
            p_INJECT1_0="NO", p_INJECT1_1="NO",
            i_CIN=carry,
            i_A0=aw[i], i_B0=bw[i], i_C0=gate, i_D0=1,
            i_A1=aw[i + 1], i_B1=bw[i + 1], i_C1=gate, i_D1=1,
            o_S0=s[i], o_S1=s[i + 1], o_COUT=cout)
        carry = cout
    m.d.comb += out.eq(s[:width])
    return out
