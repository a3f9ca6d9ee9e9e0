"""Streaming top-k unit: keep the ``k`` highest scores of a row (SpAtten-style selection).

The row's elements arrive one per cycle on ``i_stream`` in ascending index order; the unit
keeps a sorted register array of at most ``k`` entries ``(score, index)`` (insertion sort,
all comparisons in parallel, one element per cycle). When the row's ``last`` element has
been accepted it drains the kept entries on ``o_stream``: highest score first, and among
equal scores the lower index first. This is exactly :func:`attnkit.golden.attention.topk_keep`
(order ``(-score, index)``): because indices arrive in ascending order, a new element is
placed *after* every kept entry with an equal score, so the earlier (lower) index wins a tie.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["TopK", "topk_in_layout", "topk_out_layout"]


def topk_in_layout(score_width: int, index_width: int) -> data.StructLayout:
    """``score`` (signed), ``index``, ``mask`` (1 = not a candidate), ``last`` (end of row)."""
    return data.StructLayout({"score": signed(score_width), "index": unsigned(index_width),
                              "mask": 1, "last": 1})


def topk_out_layout(score_width: int, index_width: int) -> data.StructLayout:
    """``score``, ``index``, ``last``; ``empty = 1`` on the single beat of a row that kept
    nothing (every element masked)."""
    return data.StructLayout({"score": signed(score_width), "index": unsigned(index_width),
                              "empty": 1, "last": 1})


class TopK(wiring.Component):
    """Streaming top-k over rows (see the module docstring).

    Ports
    -----
    i_stream : In(stream.Signature(topk_in_layout(score_width, index_width)))
    o_stream : Out(stream.Signature(topk_out_layout(score_width, index_width)))
    k : In(range(k_max + 1))
        Entries to keep, ``1..k_max`` (0 behaves as 1); must be stable during a row.

    Timing
    ------
    Accepts one element per cycle while filling (``i_stream.ready`` is 1 except while a
    row drains). Draining starts the cycle after ``last`` is accepted and emits
    ``min(k, #unmasked)`` beats (one beat with ``empty = 1`` if that is 0), one per cycle
    under no backpressure. A row of ``N`` elements costs ``N + max(1, kept)`` cycles.

    Parameters
    ----------
    k_max : int
        Capacity, 1..256.
    score_width : int
        2..48.
    index_width : int
        1..40 (payload only: never compared; the engine packs the logit beside the index).
    """

    def __init__(self, k_max: int = 16, score_width: int = 32, index_width: int = 12):
        for name, v, lo, hi in (("k_max", k_max, 1, 256), ("score_width", score_width, 2, 48),
                                ("index_width", index_width, 1, 40)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                self._MustUse__silence = True     # a rejected component is not "unused"
                if not isinstance(v, int) or isinstance(v, bool):
                    raise TypeError(f"{name} must be an int, not {v!r}")
                raise ValueError(f"{name} must be in {lo}..{hi}, not {v!r}")
        self.k_max = k_max
        self.score_width = score_width
        self.index_width = index_width
        super().__init__({
            "i_stream": In(stream.Signature(topk_in_layout(score_width, index_width))),
            "o_stream": Out(stream.Signature(topk_out_layout(score_width, index_width))),
            "k": In(range(k_max + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        K = self.k_max
        el = data.StructLayout({"score": signed(self.score_width),
                                "index": unsigned(self.index_width)})
        ent = [Signal(el, name=f"ent{i}") for i in range(K)]
        count = Signal(range(K + 1))
        draining = Signal()
        kk = Signal(range(K + 1))
        m.d.comb += kk.eq(Mux(self.k == 0, 1, Mux(self.k > K, K, self.k)))

        inp = self.i_stream.payload
        m.d.comb += self.i_stream.ready.eq(~draining)
        accept = self.i_stream.valid & self.i_stream.ready

        valid = [Signal(name=f"valid{i}") for i in range(K)]
        ge = [Signal(name=f"ge{i}") for i in range(K)]
        for i in range(K):
            m.d.comb += [valid[i].eq(count > i), ge[i].eq(valid[i] & (ent[i].score >= inp.score))]
        any_lt = Signal()
        m.d.comb += any_lt.eq(Cat(*(valid[i] & ~ge[i] for i in range(K))).any())
        insert = Signal()
        m.d.comb += insert.eq(accept & ~inp.mask & ((count < kk) | any_lt))
        new = Signal(el)
        m.d.comb += [new.score.eq(inp.score), new.index.eq(inp.index)]

        o = self.o_stream
        with m.If(~draining):
            with m.If(insert):
                for i in range(K):
                    prev_ge = ge[i - 1] if i else 1
                    with m.If(ge[i]):
                        pass
                    with m.Elif(prev_ge):
                        m.d.sync += ent[i].eq(new)
                    with m.Else():
                        m.d.sync += ent[i].eq(ent[i - 1])
                m.d.sync += count.eq(Mux(count < kk, count + 1, count))
            with m.If(accept & inp.last):
                m.d.sync += draining.eq(1)
        with m.Else():
            m.d.comb += [o.valid.eq(1), o.payload.score.eq(ent[0].score),
                         o.payload.index.eq(ent[0].index), o.payload.empty.eq(count == 0),
                         o.payload.last.eq(count <= 1)]
            with m.If(o.ready):
                for i in range(K - 1):
                    m.d.sync += ent[i].eq(ent[i + 1])
                with m.If(count <= 1):
                    m.d.sync += [count.eq(0), draining.eq(0)]
                with m.Else():
                    m.d.sync += count.eq(count - 1)
        return m
