"""The hand-instantiated look-up tables of ``hdl/lut.py`` (``LUT4``; two ``LUT4`` and a
``PFUMX``) equal their Amaranth expressions for every input: Yosys flattens the instances with
its own ECP5 simulation models and proves the equivalence (``sat -prove``), for the
functions the top-k unit uses and two more. A table with one wrong bit must fail the proof."""

import pytest
from amaranth.hdl import Cat, Elaboratable, Module, Signal

from attnkit.hdl import lut
from attnkit.hdl.lut import lut4, lut4_init, lut5
from attnkit.sim.cocotb_runner import REPO_ROOT
from attnkit.sim.ecp5_cells import prove_with_cells

pytestmark = pytest.mark.synth

FN4 = [lambda v, h, s, l: v & (~h | s | l),              # top-k take
       lambda f, v, la, mk: f & v & la & mk,                # top-k accepted masked last
       lambda a, b, c, d: (a ^ b) | (c & ~d)]
FN5 = [lambda v, h, s, l, p: p | (v & (~h | s | l)),      # top-k entry enable
       lambda a, w, s, d, e: ~(d & e) & (d | (w & (a | s))),   # top-k drain's next value
       lambda a, b, c, d, e: a ^ b ^ c ^ d ^ e]


class _Probe(Elaboratable):
    def __init__(self):
        self.ins = [Signal(name=f"i{k}") for k in range(5)]
        self.eq = Signal(name="eq")

    def ports(self):
        return [*self.ins, self.eq]

    def elaborate(self, platform):
        m = Module()
        eqs = []
        for n, fn in enumerate(FN4):
            prim, beh = (lut4(m, fn, self.ins[:4], impl, f"l4_{n}_{impl}")
                         for impl in ("primitive", "behavioural"))
            eqs.append(prim == beh)
        for n, fn in enumerate(FN5):
            prim, beh = (lut5(m, fn, self.ins, impl, f"l5_{n}_{impl}")
                         for impl in ("primitive", "behavioural"))
            eqs.append(prim == beh)
        m.d.comb += self.eq.eq(Cat(*eqs).all())
        return m


def _prove(work):
    return prove_with_cells(work, _Probe(), ("LUT4", "PFUMX"), ["eq"])


def test_lut4_init_bit_order():
    # bit D*8 + C*4 + B*2 + A: A alone, D alone
    assert lut4_init(lambda a, b, c, d: a) == 0xAAAA
    assert lut4_init(lambda a, b, c, d: d) == 0xFF00


def test_lut_instances_equal_expressions():
    out = _prove(REPO_ROOT / "build" / "lut" / "ok")
    assert "SAT proof finished - no model found: SUCCESS!" in out


def test_wrong_table_fails_the_proof(monkeypatch):
    monkeypatch.setattr(lut, "lut4_init", lambda fn: lut4_init(fn) ^ (1 << 6))
    out = _prove(REPO_ROOT / "build" / "lut" / "broken")
    assert "SAT proof finished - model found: FAIL!" in out
