"""Fractional base-2 exponent ``2**-f``: table, linear interpolation or piecewise polynomial.

The arithmetic is step 3 of :mod:`attnkit.golden.softmax` (``exp2_frac``), bit for bit; the
coefficient ROM is :func:`attnkit.golden.softmax.exp2_coefficients`.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.softmax import SoftmaxConfig, Y_FRAC, exp2_coefficients
from .dsp import MULT18_LATENCY, Mult18

__all__ = ["Exp2Frac"]


class Exp2Frac(wiring.Component):
    """Free-running pipeline ``p = P(f)`` (no handshake, no stall, no clock enable).

    ``p`` at cycle ``t + latency`` is the golden ``exp2_frac(f)`` of ``f`` at cycle ``t``.

    * ``degree == 0``: ROM index ``round_shift(f, 16 - TB)`` (``2**TB + 1`` entries);
      latency 2 (ROM read, output register).
    * ``degree == D >= 1``: ROM of ``D + 1`` coefficients indexed by ``f >> RB``, then ``D``
      Horner steps ``a = C[j] + round_shift(a * r, RB)``, each one :class:`Mult18`
      (``MULT18_LATENCY`` = 3 cycles) plus one add/round register (the rounding half is
      folded into the shifted coefficient, so it is a single adder), then one clamp register
      (``[0, 2**E]``). Latency ``3 + D * (MULT18_LATENCY + 1)``.

    Parameters
    ----------
    cfg : SoftmaxConfig
        ``table_bits``, ``degree`` and ``exp_frac_bits`` are used.
    dsp : str
        Passed to :class:`Mult18` (``"auto"``: the ECP5 primitive on ECP5 platforms).

    Attributes
    ----------
    latency : int
        Cycles from ``f`` to ``p``.
    """

    def __init__(self, cfg: SoftmaxConfig, dsp: str = "auto"):
        if not isinstance(cfg, SoftmaxConfig):
            raise TypeError(f"cfg must be a SoftmaxConfig, not {cfg!r}")
        self.cfg = cfg
        self._dsp = dsp
        self.coeffs = exp2_coefficients(cfg)
        d = cfg.degree
        self.latency = 2 + d * (MULT18_LATENCY + 1) + (2 if d else 0)   # + clamp (2 stages)
        c = self.coeffs
        self._cw = max(int(abs(c).max()).bit_length() + 1, 2)
        # bound of the Horner accumulator fed to the multiplier (steps j >= 1)
        bound = int(abs(c[:, 1:]).sum(axis=1).max()) + 1 if d >= 1 else 0
        self._aw = max(bound.bit_length() + 1, self._cw)
        if d >= 1 and self._aw > 18:
            raise ValueError(f"cfg gives a {self._aw}-bit Horner accumulator, more than the 18 "
                             f"bits of a DSP multiplier (exp_frac_bits={cfg.exp_frac_bits})")
        super().__init__({
            "f": In(unsigned(Y_FRAC)),
            "p": Out(unsigned(cfg.exp_frac_bits + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        d, rb, e = cfg.degree, cfg.remainder_bits, cfg.exp_frac_bits
        c = self.coeffs
        layout = data.ArrayLayout(signed(self._cw), d + 1)
        init = [[int(v) for v in row] for row in c]
        m.submodules.rom = rom = Memory(shape=layout, depth=len(init), init=init)
        # (data only: no register of this unit has a reset)
        # stage 1 registers the table address (beside the table, however far ``f`` comes
        # from: the address reached the table's look-up tables across the die, the attention
        # engine's critical path in v34), stage 2 reads the table (look-up tables) into the
        # coefficient register
        rd = rom.read_port(domain="comb")
        addr = Signal.like(rd.addr, name="rom_addr", reset_less=True)
        m.d.comb += rd.addr.eq(addr)
        if d == 0:
            m.d.sync += addr.eq((self.f + (1 << (rb - 1) if rb else 0)) >> rb)
            p = Signal(unsigned(e + 1), reset_less=True)
            m.d.sync += p.eq(rd.data[0])
            m.d.comb += self.p.eq(p)
            return m

        m.d.sync += addr.eq(self.f >> rb)
        r0 = Signal(unsigned(rb), reset_less=True)
        m.d.sync += r0.eq(self.f[:rb])
        # stage 2: the coefficients (read from the table) and r
        coef = Signal(layout, reset_less=True)
        r = Signal(unsigned(rb), reset_less=True)
        m.d.sync += [coef.eq(rd.data), r.eq(r0)]
        a = Signal(signed(self._aw), name="a_init")
        m.d.comb += a.eq(coef[d])
        for j in range(d - 1, -1, -1):
            mul = Mult18(self._dsp)
            m.submodules[f"mul{j}"] = mul
            m.d.comb += [mul.a.eq(a), mul.b.eq(r)]
            # delay coefficients and r alongside the multiplier
            cj = coef
            rj = r
            for k in range(MULT18_LATENCY):
                cn = Signal(layout, name=f"coef_{j}_{k}", reset_less=True)
                rn = Signal(unsigned(rb), name=f"r_{j}_{k}", reset_less=True)
                m.d.sync += [cn.eq(cj), rn.eq(rj)]
                cj, rj = cn, rn
            # c_j + round_shift(prod, rb) == (prod + (c_j << rb | 2**(rb-1))) >> rb: one adder
            bias = (cj[j] << rb) | (1 << (rb - 1))
            acc = (mul.p + bias) >> rb
            a_next = Signal(signed(self._aw + 1), name=f"a_{j}", reset_less=True)
            m.d.sync += a_next.eq(acc)
            if j == 0:
                # clamp to [0, 2**E] in two stages: the flags (sign bit; "above 2**E" from
                # bit groups) into registers beside the low bits, then the choice
                # (without reset too: the reset reached these flags' clear logic across
                # the die, the attention engine's critical path in v48)
                neg = Signal(name="a_neg", reset_less=True)
                over = Signal(name="a_over", reset_less=True)
                low = Signal(unsigned(e + 1), name="a_low", reset_less=True)
                sgn = a_next[-1]
                m.d.sync += [neg.eq(sgn), low.eq(a_next[:e + 1]),
                             over.eq(~sgn & ((a_next[e + 1:] != 0) | (a_next[e] & (a_next[:e] != 0))))]
                clamped = Signal(unsigned(e + 1), name="a_clamp", reset_less=True)
                m.d.sync += clamped.eq(Mux(neg, 0, Mux(over, 1 << e, low)))
                a_next = clamped
            coef_next = Signal(layout, name=f"coef_{j}", reset_less=True)
            r_next = Signal(unsigned(rb), name=f"r_{j}", reset_less=True)
            m.d.sync += [coef_next.eq(cj), r_next.eq(rj)]
            a, coef, r = a_next, coef_next, r_next
        m.d.comb += self.p.eq(a)
        return m
