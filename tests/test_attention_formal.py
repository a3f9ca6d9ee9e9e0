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


def tiny_engine():
    from attnkit.hdl.attention import AttentionEngine
    return AttentionEngine(d=2, lanes=2, t_max=2, k_max=2, block=1)


ENGINE_CONFIG = ("mode", "causal", "t_len", "pos", "window", "n_global", "block_row", "k",
                 "threshold", "use_threshold", "score_mult", "score_shift", "out_mult",
                 "out_shift")


ENGINE_DEPTH = 24


def test_engine_stream_rules_hold():
    """BMC of the hold/stability rules on kv_stream, q_stream and o_stream, depth 24, with
    every configuration port free in every cycle (not even held stable).

    Covers are off here: the first o_stream beat needs more than the softmax's row
    latency (55 cycles for this size) plus the load, out of reach of a BMC that runs in
    seconds. Non-vacuity: the top-k unit's covers above, and a one-off deeper run
    (see the engine docs) that reached o_stream transfers.
    """
    assert check_stream_rules(tiny_engine(), depth=ENGINE_DEPTH, cover=False).passed
