"""A FIFO whose storage is LUT RAM and whose output is a register.

:class:`amaranth.lib.fifo.SyncFIFOBuffered` reads its storage synchronously, so Yosys maps a
deep one to a DP16KD block RAM without the output register, and the block RAM's
clock-to-output (about 5.6 ns on speed grade -6, from nextpnr's timing model) then limits the
clock by itself (132 MHz for the 128-lane GEMV array's 132-entry output FIFO). Here the
storage is LUT RAM (Yosys attribute ``ram_style = "distributed"``), read asynchronously, and
the read data goes straight into the output register.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.golden.params import check_int

__all__ = ["LutFifo"]


class LutFifo(wiring.Component):
    """First-word-fall-through FIFO of ``depth`` entries of ``width`` bits.

    ``w_en`` writes ``w_data``; the writer must not write when the FIFO is full (the owner
    keeps count, e.g. with credits: there is no ``w_rdy``). ``r_stream`` follows the
    :mod:`amaranth.lib.stream` rules with a registered ``valid`` and ``payload``; a written
    entry can be read two cycles later. Capacity: ``depth`` entries (``depth - 1`` in the
    LUT RAM plus the output register).
    """

    def __init__(self, width: int, depth: int):
        check_int("width", width, 1)
        check_int("depth", depth, 2)
        self.width, self.depth = width, depth
        super().__init__({
            "w_en": In(1),
            "w_data": In(width),
            "r_stream": Out(stream.Signature(width)),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.depth - 1
        # ``ram_style``: Yosys would otherwise fold ``out_data`` into the read port
        # (memory_dff) and map the now synchronous memory to a DP16KD after all
        m.submodules.storage = mem = Memory(shape=self.width, depth=n, init=[],
                                            attrs={"ram_style": "distributed"})
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        w_ptr = Signal(range(n))
        r_ptr = Signal(range(n))
        count = Signal(range(n + 1))              # entries in the LUT RAM
        out_valid = Signal()
        out_data = Signal(self.width, reset_less=True)
        take = Signal()
        m.d.comb += [
            wp.addr.eq(w_ptr), wp.data.eq(self.w_data), wp.en.eq(self.w_en),
            rp.addr.eq(r_ptr),
            take.eq((count != 0) & (~out_valid | self.r_stream.ready)),
            self.r_stream.valid.eq(out_valid), self.r_stream.payload.eq(out_data),
        ]
        with m.If(self.w_en):
            m.d.sync += w_ptr.eq(Mux(w_ptr == n - 1, 0, w_ptr + 1))
        with m.If(take):
            m.d.sync += [out_data.eq(rp.data), out_valid.eq(1),
                         r_ptr.eq(Mux(r_ptr == n - 1, 0, r_ptr + 1))]
        with m.Elif(self.r_stream.ready):
            m.d.sync += out_valid.eq(0)
        m.d.sync += count.eq(count + self.w_en - take)
        return m
