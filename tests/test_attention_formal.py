"""Formal: stream rules on every stream port of the top-k unit and the attention engine."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

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
    latency (59 cycles for this size) plus the load (about 90 cycles in all), out of reach
    of a BMC that runs in seconds. Non-vacuity: the top-k unit's covers above, and the
    output stage that drives o_stream checked alone with covers (below).
    """
    assert check_stream_rules(tiny_engine(), depth=ENGINE_DEPTH, cover=False).passed


def test_prefill_engine_stream_rules_hold():
    """The same BMC on a prefill engine (blocks of 2 queries: two score datapaths, two
    softmax units, the stream fork between them)."""
    from attnkit.hdl.attention import AttentionEngine
    eng = AttentionEngine(d=2, lanes=2, t_max=2, k_max=2, block=1, queries=2)
    assert check_stream_rules(eng, depth=ENGINE_DEPTH, cover=False).passed


class EngineOutputFifo(wiring.Component):
    """The engine's output stage on its own: ``o_stream`` is wired straight to the read side
    of this FIFO (valid = r_rdy, payload = r_data, r_en = ready; see hdl/attention.py), and
    everything upstream only writes it. Writes here are free (any value, any cycle)."""

    def __init__(self):
        from attnkit.hdl.attention import _OUT_FIFO
        self.depth = _OUT_FIFO
        super().__init__({"w_en": In(1), "w_data": In(10), "o_stream": Out(stream.Signature(10))})

    def elaborate(self, platform):
        from amaranth.lib.fifo import SyncFIFOBuffered
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=10, depth=self.depth)
        m.d.comb += [fifo.w_en.eq(self.w_en), fifo.w_data.eq(self.w_data),
                     self.o_stream.valid.eq(fifo.r_rdy), self.o_stream.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.o_stream.ready)]
        return m


def test_engine_output_stage_stream_rules_with_covers():
    """Non-vacuous half of the engine's o_stream check: the BMC above cannot reach the first
    output (about 90 cycles), so the stage that drives o_stream is checked alone, with
    covers (it transfers, and raises valid without waiting for ready)."""
    assert check_stream_rules(EngineOutputFifo(), depth=16).passed
