"""Formal: the stream rules hold on every GemvArray stream port (bounded model check)."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from attnkit.hdl.gemv import GemvArray
from attnkit.sim.formal import FormalFailure, check_stream_rules

pytestmark = pytest.mark.formal

DEPTH = 24


def small(**kw):
    return GemvArray(lanes=2, acc_width=18, max_n=4, group=2, **kw)


@pytest.mark.parametrize("kw", [dict(), dict(weight_bits=4), dict(requant=True)],
                         ids=["int8", "int4", "requant"])
def test_stream_rules_hold(kw):
    dut = small(**kw)
    # deep enough for the covers: a one-column job's first result reaches y_stream
    # start_cycles + latency cycles after x_stream's first beat
    res = check_stream_rules(dut, depth=max(DEPTH, dut.start_cycles + dut.latency + 4))
    assert res.passed


class DropsValid(wiring.Component):
    """A deliberately broken GemvArray: ``y_stream.valid`` is withdrawn every other cycle
    even when the consumer has not taken the payload (violates the hold rule)."""

    def __init__(self):
        self.inner = small()
        super().__init__(self.inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        for name in ("m", "n"):
            m.d.comb += getattr(inner, name).eq(getattr(self, name))
        wiring.connect(m, wiring.flipped(self.x_stream), inner.x_stream)
        wiring.connect(m, wiring.flipped(self.w_stream), inner.w_stream)
        m.d.comb += [
            self.y_stream.payload.eq(inner.y_stream.payload),
            self.y_stream.valid.eq(inner.y_stream.valid & toggle),
            inner.y_stream.ready.eq(self.y_stream.ready & toggle),
            self.busy.eq(inner.busy),
        ]
        return m


def test_broken_variant_is_caught():
    with pytest.raises(FormalFailure, match="y_stream"):
        check_stream_rules(DropsValid(), depth=DEPTH, cover=False)
