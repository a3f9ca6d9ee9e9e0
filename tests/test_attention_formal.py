"""Formal: stream rules on every stream port of the top-k unit and the attention engine."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from attnkit.hdl.topk import TopK
from attnkit.sim.formal import FormalFailure, check_stream_rules

pytestmark = pytest.mark.formal

DEPTH = 16


def test_topk_stream_rules_hold():
    assert check_stream_rules(TopK(k_max=3, score_width=4, index_width=3), depth=DEPTH,
                              stable_inputs=("k",)).passed


class TopKDropsValid(wiring.Component):
    """Deliberately broken: ``o_stream.valid`` withdrawn every other cycle while unaccepted."""

    def __init__(self):
        self.inner = TopK(k_max=3, score_width=4, index_width=3)
        super().__init__(self.inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        m.d.comb += inner.k.eq(self.k)
        wiring.connect(m, wiring.flipped(self.i_stream), inner.i_stream)
        m.d.comb += [self.o_stream.payload.eq(inner.o_stream.payload),
                     self.o_stream.valid.eq(inner.o_stream.valid & toggle),
                     inner.o_stream.ready.eq(self.o_stream.ready & toggle)]
        return m


def test_topk_broken_variant_is_caught():
    with pytest.raises(FormalFailure, match="o_stream"):
        check_stream_rules(TopKDropsValid(), depth=DEPTH, cover=False, stable_inputs=("k",))
