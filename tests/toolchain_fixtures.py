"""Small designs for the toolchain tests (not product designs: never registered).

:class:`MacBank` is ``n`` independent registered int8 multiply-accumulate units, one
MULT18X18D each, with plain (stream-less) ports, so a test knows exactly how many DSPs a
build must report.
"""

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MacBank"]


class MacBank(wiring.Component):
    """``acc[i] <= clr ? 0 : acc[i] + a[i] * b[i]`` with registered operands and product.

    Latency: operands registered (1), product registered (2), accumulator (3).

    Parameters
    ----------
    n : int
        Number of MAC units (and of MULT18X18D the build needs), >= 1.
    acc_width : int
        Accumulator width, >= 16.
    """

    def __init__(self, n: int = 2, acc_width: int = 32):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be an int >= 1, not {n!r}")
        if not isinstance(acc_width, int) or acc_width < 16:
            raise ValueError(f"acc_width must be an int >= 16, not {acc_width!r}")
        self.n, self.acc_width = n, acc_width
        super().__init__({
            # ArrayLayout ports on purpose: Amaranth names their elements a[0], a[1]...,
            # the pattern behind YosysHQ/yosys#4349 that synth_script works around.
            "a": In(data.ArrayLayout(signed(8), n)),
            "b": In(data.ArrayLayout(signed(8), n)),
            "clr": In(1),
            "acc": Out(data.ArrayLayout(signed(acc_width), n)),
        })

    def elaborate(self, platform):
        m = Module()
        for i in range(self.n):
            a = Signal(signed(8), name=f"a_r{i}")
            b = Signal(signed(8), name=f"b_r{i}")
            p = Signal(signed(16), name=f"p{i}")
            acc = Signal(signed(self.acc_width), name=f"acc{i}")
            m.d.sync += [a.eq(self.a[i]), b.eq(self.b[i]), p.eq(a * b)]
            with m.If(self.clr):
                m.d.sync += acc.eq(0)
            with m.Else():
                m.d.sync += acc.eq(acc + p)
            m.d.comb += self.acc[i].eq(acc)
        return m
