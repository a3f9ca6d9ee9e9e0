"""Small stream components used to test the simulation harness itself (``sim/``).

They are deliberately tiny so the cocotb and formal tests stay fast, and they come with
deliberately *broken* variants so the checkers can be shown to fail when they should.

* :class:`SatAdder` -- one registered stage, struct payload in, saturated sum out.
* :class:`StreamFIFO` -- :class:`amaranth.lib.fifo.SyncFIFOBuffered` behind stream ports.
* :class:`DropValidAdder`, :class:`GlitchPayloadAdder`, :class:`ReadyToValid`,
  :class:`NeverValid` -- rule-breaking or useless variants for the formal tests.
"""

from amaranth import Module, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SatAdder", "StreamFIFO", "DropValidAdder", "GlitchPayloadAdder", "ReadyToValid",
           "NeverValid", "AlwaysReadyCounter"]


def _check_width(obj, width):
    # The object already exists when __init__ validates: keep Amaranth from also warning
    # "created but never used" about it when we raise.
    obj._MustUse__silence = True
    if not isinstance(width, int) or isinstance(width, bool):
        raise TypeError(f"width must be an int, not {width!r}")
    if not 2 <= width <= 32:
        raise ValueError(f"width must be in [2, 32], not {width!r}")
    obj._MustUse__silence = False


class SatAdder(wiring.Component):
    """Saturating adder of a pair, one element per cycle.

    ``o = saturate(a + b)`` to the signed ``width``-bit range (the golden model is
    ``FixedFormat.integer(width).saturate(a + b)`` from :mod:`attnkit.golden.fixed`).

    Parameters
    ----------
    width : int
        Bit width of ``a``, ``b`` and the result (two's complement), 2..32.

    Attributes
    ----------
    i_stream : In(stream.Signature(StructLayout({"a": signed(width), "b": signed(width)})))
    o_stream : Out(stream.Signature(signed(width)))

    Latency 1 cycle (registered output), throughput 1 pair per cycle when ``o_stream`` is ready.
    Follows the stream rules: ``o_stream.valid`` does not depend on ``o_stream.ready``
    combinationally, and valid/payload hold until a transfer.
    """

    def __init__(self, width: int = 8):
        _check_width(self, width)
        self.width = width
        layout = data.StructLayout({"a": signed(width), "b": signed(width)})
        super().__init__({
            "i_stream": In(stream.Signature(layout)),
            "o_stream": Out(stream.Signature(signed(width))),
        })

    def _sum(self, m):
        w = self.width
        total = Signal(signed(w + 1))
        sat = Signal(signed(w))
        m.d.comb += total.eq(self.i_stream.payload.a + self.i_stream.payload.b)
        hi, lo = (1 << (w - 1)) - 1, -(1 << (w - 1))
        with m.If(total > hi):
            m.d.comb += sat.eq(hi)
        with m.Elif(total < lo):
            m.d.comb += sat.eq(lo)
        with m.Else():
            m.d.comb += sat.eq(total)
        return sat

    def elaborate(self, platform):
        m = Module()
        sat = self._sum(m)
        i, o = self.i_stream, self.o_stream
        with m.If(i.valid & (~o.valid | o.ready)):
            m.d.comb += i.ready.eq(1)
            m.d.sync += [o.payload.eq(sat), o.valid.eq(1)]
        with m.Elif(o.ready):
            m.d.sync += o.valid.eq(0)
        return m


class StreamFIFO(wiring.Component):
    """:class:`~amaranth.lib.fifo.SyncFIFOBuffered` with ``i_stream``/``o_stream`` ports.

    Parameters
    ----------
    width : int
        Payload width (unsigned), 2..32.
    depth : int
        FIFO depth (>= 2).

    Latency 1 cycle from an accepted input to a valid output (the buffered FIFO registers its
    read port); throughput 1 word per cycle.
    """

    def __init__(self, width: int = 8, depth: int = 4):
        _check_width(self, width)
        self._MustUse__silence = True
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 2:
            raise ValueError(f"depth must be an int >= 2, not {depth!r}")
        self._MustUse__silence = False
        self.width, self.depth = width, depth
        super().__init__({
            "i_stream": In(stream.Signature(width)),
            "o_stream": Out(stream.Signature(width)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = f = fifo.SyncFIFOBuffered(width=self.width, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.i_stream), f.w_stream)
        wiring.connect(m, f.r_stream, wiring.flipped(self.o_stream))
        return m


class DropValidAdder(SatAdder):
    """BROKEN on purpose: withdraws ``o_stream.valid`` after 2 stalled cycles (no transfer)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        o = self.o_stream
        stalled = Signal(2)
        with m.If(o.valid & ~o.ready):
            m.d.sync += stalled.eq(stalled + 1)
            with m.If(stalled == 1):
                m.d.sync += o.valid.eq(0)
        with m.Else():
            m.d.sync += stalled.eq(0)
        return m


class GlitchPayloadAdder(SatAdder):
    """BROKEN on purpose: flips payload bit 0 while the output is stalled."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        o = self.o_stream
        with m.If(o.valid & ~o.ready):
            m.d.sync += o.payload.eq(o.payload ^ 1)
        return m


class ReadyToValid(wiring.Component):
    """BROKEN on purpose: ``o_stream.valid`` is a combinational function of ``o_stream.ready``
    (it only offers data while the consumer is ready: rule 3, "valid must not wait for ready").
    Valid/payload do hold until transfer, so only the rule-3 check catches it."""

    def __init__(self, width: int = 8):
        _check_width(self, width)
        super().__init__({"i_stream": In(stream.Signature(width)),
                          "o_stream": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o_stream.payload.eq(self.i_stream.payload),
                     self.o_stream.valid.eq(self.i_stream.valid & self.o_stream.ready),
                     self.i_stream.ready.eq(self.o_stream.ready)]
        return m


class NeverValid(wiring.Component):
    """Useless on purpose: accepts input, never produces output (passes the safety rules
    vacuously; only the cover check catches it)."""

    def __init__(self, width: int = 8):
        _check_width(self, width)
        super().__init__({"i_stream": In(stream.Signature(width)),
                          "o_stream": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i_stream.ready.eq(1)
        return m


class AlwaysReadyCounter(wiring.Component):
    """Counter source on an ``always_ready`` output (no backpressure): offers a new count
    every other cycle. Follows the rules (valid is registered)."""

    def __init__(self, width: int = 8):
        _check_width(self, width)
        super().__init__({"o_stream": Out(stream.Signature(width, always_ready=True))})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.o_stream.valid.eq(~self.o_stream.valid)
        with m.If(self.o_stream.valid):
            m.d.sync += self.o_stream.payload.eq(self.o_stream.payload + 1)
        return m
