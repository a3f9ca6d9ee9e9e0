"""The carry-chain adders of ``hdl/carry_chain.py`` (CCU2C instances with hand-made LUT
tables) equal their plain Amaranth expressions for every input: Yosys flattens the
instances with its own ECP5 CCU2C/LUT4/LUT2 simulation models and proves the equivalence
with its SAT solver (``sat -prove``). A table with one wrong bit must fail the proof."""

from pathlib import Path

import pytest
from amaranth.hdl import Elaboratable, Module, Signal, signed

from attnkit.hdl import carry_chain
from attnkit.hdl.carry_chain import gated_add, mux_sub
from attnkit.sim.cocotb_runner import REPO_ROOT
from attnkit.sim.ecp5_cells import prove_with_cells

pytestmark = pytest.mark.synth


class _Probe(Elaboratable):
    """Both adders, each as primitives and as the expression; ``eq_*`` compare them."""

    def __init__(self, w):
        self.w = w
        self.a = Signal(signed(w), name="a")
        self.b = Signal(signed(w - 3), name="b")
        self.gate = Signal(name="gate")
        self.cin = Signal(name="cin")
        self.a1, self.a0 = Signal(w, name="a1"), Signal(w, name="a0")
        self.sub_b = Signal(w - 1, name="sub_b")
        self.eq_add, self.eq_sub = Signal(name="eq_add"), Signal(name="eq_sub")
        self.eq_add_cin = Signal(name="eq_add_cin")
        self.eq_sub_inv = Signal(name="eq_sub_inv")

    def ports(self):
        return [self.a, self.b, self.gate, self.cin, self.a1, self.a0, self.sub_b, self.eq_add,
                self.eq_add_cin, self.eq_sub, self.eq_sub_inv]

    def elaborate(self, platform):
        m = Module()
        w = self.w
        prim, beh = (gated_add(m, self.a, self.gate, self.b, w + 1, impl, f"add_{impl}")
                     for impl in ("primitive", "behavioural"))
        m.d.comb += self.eq_add.eq(prim == beh)
        # with a carry input, at an odd and an even width (the extra half shifts the pairs)
        eqs = []
        for width in (w, w + 1):
            prim, beh = (gated_add(m, self.a, self.gate, self.b, width, impl, f"addc{width}_{impl}",
                                   carry_in=self.cin)
                         for impl in ("primitive", "behavioural"))
            eqs.append(prim == beh)
        m.d.comb += self.eq_add_cin.eq(eqs[0] & eqs[1])
        prim, beh = (mux_sub(m, self.gate, self.a1, self.a0, self.sub_b, w + 2, impl, f"sub_{impl}")
                     for impl in ("primitive", "behavioural"))
        m.d.comb += self.eq_sub.eq(prim == beh)
        # complemented top bit, checked against the plain expression's
        prim = mux_sub(m, self.gate, self.a1, self.a0, self.sub_b, w + 3, "primitive", "subi",
                       invert_msb=True)
        plain = mux_sub(m, self.gate, self.a1, self.a0, self.sub_b, w + 3, "behavioural", "subp")
        m.d.comb += self.eq_sub_inv.eq(prim == (plain ^ (1 << (w + 2))))
        return m


def _prove(work: Path) -> str:
    return prove_with_cells(work, _Probe(9), ("LUT4", "LUT2", "CCU2C"),
                            ["eq_add", "eq_add_cin", "eq_sub", "eq_sub_inv"])


def test_carry_chain_tables_equal_expressions():
    out = _prove(REPO_ROOT / "build" / "carry_chain" / "ok")
    assert "SAT proof finished - no model found: SUCCESS!" in out


@pytest.mark.parametrize("name", ["GATED_ADD_INIT", "MUX_SUB_INIT"])
def test_wrong_table_fails_the_proof(monkeypatch, name):
    monkeypatch.setattr(carry_chain, name, getattr(carry_chain, name) ^ (1 << 9))
    out = _prove(REPO_ROOT / "build" / "carry_chain" / name)
    assert "SAT proof finished - model found: FAIL!" in out
