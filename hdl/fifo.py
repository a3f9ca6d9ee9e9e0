"""First-word-fall-through FIFOs with registered outputs: :class:`LutFifo` (LUT RAM, for
short queues) and :class:`BlockFifo` (block RAM plus a short LutFifo, for deep ones); and
:class:`SkidBuffer`, a two-entry stream register slice whose ``ready`` is a register.

:class:`amaranth.lib.fifo.SyncFIFOBuffered` reads its storage synchronously, so Yosys maps a
deep one to a DP16KD block RAM without the output register, and the block RAM's
clock-to-output (about 5.6 ns on speed grade -6, from nextpnr's timing model) then limits the
clock by itself (132 MHz for the 128-lane GEMV array's 132-entry output FIFO). Here the
storage is LUT RAM (Yosys attribute ``ram_style = "distributed"``), read asynchronously into
the registers of a :class:`SkidBuffer`.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.golden.params import check_int

from .ebr import RAM_READ_LATENCY, RegisteredRAM
from .pipeline import delay, updown_counter, wrap_counter

__all__ = ["LutFifo", "BlockFifo", "SkidBuffer"]


class _WriteFifo(wiring.Component):
    """The ports both FIFOs share: ``w_en``/``w_data`` in, ``r_stream`` out."""

    def __init__(self, width: int, depth: int, min_depth: int, max_depth=None):
        check_int("width", width, 1)
        check_int("depth", depth, min_depth, max_depth)
        self.width, self.depth = width, depth
        super().__init__({
            "w_en": In(1),
            "w_data": In(width),
            "r_stream": Out(stream.Signature(width)),
        })


class LutFifo(_WriteFifo):
    """First-word-fall-through FIFO of ``depth`` entries of ``width`` bits.

    ``w_en`` writes ``w_data``; the writer must not write when the FIFO is full (the owner
    keeps count, e.g. with credits: there is no ``w_rdy``). ``r_stream`` follows the
    :mod:`amaranth.lib.stream` rules with a registered ``valid`` and ``payload``; a written
    entry can be read two cycles later (:attr:`latency`). Capacity: ``depth`` entries at
    least (``depth - 1`` in the LUT RAM, and the output).

    ``out_slice`` chooses the output:

    * ``True`` (default): a :class:`SkidBuffer` (two entries, so ``depth + 1`` in all). The
      consumer's ``ready`` reaches only its registers: the LUT RAM is read while the skid
      entry is empty (a register), so the entry count, the read pointer and their flags never
      wait for the consumer (with one output register, ``ready`` -> read -> count was the
      attention engine's critical path, v16).
    * ``False``: one output register, refilled in the cycle the consumer takes it (the
      consumer's ``ready`` then reaches the read and the count): for a consumer whose
      ready is itself a register (the GEMV array's output).
    """

    #: Cycles from a write to the entry at the output.
    latency = 2

    def __init__(self, width: int, depth: int, out_slice: bool = True):
        super().__init__(width, depth, 2)
        self.out_slice = bool(out_slice)

    def elaborate(self, platform):
        m = Module()
        n = self.depth - 1
        # ``ram_style``: Yosys would otherwise fold the output register into the read port
        # (memory_dff) and map the now synchronous memory to a DP16KD after all
        m.submodules.storage = mem = Memory(shape=self.width, depth=n, init=[],
                                            attrs={"ram_style": "distributed"})
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        take = Signal()
        lut = updown_counter(m, self.w_en, take, n, "count",     # entries in the LUT RAM
                             {"nonempty": ("!=", 0)})
        w_ptr = wrap_counter(m, self.w_en, n, "w_ptr")
        r_ptr = wrap_counter(m, take, n, "r_ptr")
        m.d.comb += [wp.addr.eq(w_ptr), wp.data.eq(self.w_data), wp.en.eq(self.w_en),
                     rp.addr.eq(r_ptr)]
        if self.out_slice:
            m.submodules.out = out = SkidBuffer(self.width)
            m.d.comb += [out.i_stream.valid.eq(lut["nonempty"]),
                         out.i_stream.payload.eq(rp.data),
                         take.eq(lut["nonempty"] & out.i_stream.ready)]
            wiring.connect(m, out.o_stream, wiring.flipped(self.r_stream))
            return m
        out_valid = Signal()
        out_data = Signal(self.width, reset_less=True)
        m.d.comb += [take.eq(lut["nonempty"] & (~out_valid | self.r_stream.ready)),
                     self.r_stream.valid.eq(out_valid), self.r_stream.payload.eq(out_data)]
        with m.If(take):
            m.d.sync += [out_data.eq(rp.data), out_valid.eq(1)]
        with m.Elif(self.r_stream.ready):
            m.d.sync += out_valid.eq(0)
        return m


class BlockFifo(_WriteFifo):
    """First-word-fall-through FIFO of ``depth`` entries in block RAM with a short output queue.

    A deep :class:`LutFifo` reads through a wide multiplexer of LUT-RAM banks (10 banks of
    16 entries for the 156-lane GEMV's output: three LUT levels from the read pointer to
    the output register, the critical path at 156.5 MHz on LFE5U-85F-6). Here the entries
    live in :class:`~attnkit.hdl.ebr.RegisteredRAM` (DP16KD with its output register on
    ECP5): a read takes ``RAM_READ_LATENCY`` cycles, and the words read land in a small
    :class:`LutFifo` whose output is the stream. Reads are issued while that queue has room
    for them (a registered count of words read and not yet taken); every decision is a
    function of registers.

    ``w_en`` writes ``w_data``; the writer must not write when the FIFO is full (no
    ``w_rdy``: the owner keeps count). ``r_stream`` follows the :mod:`amaranth.lib.stream`
    rules with registered ``valid`` and ``payload``; a written entry can be read
    :attr:`latency` cycles later. Capacity: ``depth`` entries. ``out_slice``: the output
    queue's (see :class:`LutFifo`).
    """

    #: Output queue entries, counted in words read and not yet taken: a word is outstanding
    #: for the RAM's read latency plus the queue's own latency, one more cycle passes
    #: before the registered decision sees it taken, and one spare, so reading never waits
    #: while the consumer takes a word every cycle (checked in ``tests/test_fifo.py``).
    QUEUE = RAM_READ_LATENCY + LutFifo.latency + 2
    #: Cycles from a write to the entry at the output: count flag, read issue, RAM latency,
    #: output queue.
    latency = 1 + RAM_READ_LATENCY + LutFifo.latency

    def __init__(self, width: int, depth: int, impl: str = "auto", out_slice: bool = True):
        super().__init__(width, depth, 1, 16384)
        self._impl = impl
        self.out_slice = bool(out_slice)

    def elaborate(self, platform):
        m = Module()
        depth, q = self.depth, self.QUEUE
        issue = Signal()
        w_ptr = wrap_counter(m, self.w_en, depth, "w_ptr")
        r_ptr = wrap_counter(m, issue, depth, "r_ptr")
        m.submodules.ram = ram = RegisteredRAM(self.width, depth, impl=self._impl)
        m.d.comb += [ram.w_en.eq(self.w_en), ram.w_addr.eq(w_ptr), ram.w_data.eq(self.w_data),
                     ram.r_en.eq(1), ram.r_addr.eq(r_ptr)]
        m.submodules.queue = queue = LutFifo(self.width, q, self.out_slice)
        m.d.comb += [self.r_stream.valid.eq(queue.r_stream.valid),
                     self.r_stream.payload.eq(queue.r_stream.payload),
                     queue.r_stream.ready.eq(self.r_stream.ready)]

        taken = Signal()
        # entries in the RAM not yet read; words read and not yet taken from the queue
        st = updown_counter(m, self.w_en, issue, depth, "stored", {"nz": ("!=", 0)})
        hd = updown_counter(m, issue, taken, q, "held", {"ok": ("<", q)})
        m.d.comb += [issue.eq(st["nz"] & hd["ok"]),
                     taken.eq(queue.r_stream.valid & queue.r_stream.ready)]
        # the word read lands RAM_READ_LATENCY cycles after its issue
        landed = delay(m, issue, RAM_READ_LATENCY, "landed")
        m.d.comb += [queue.w_en.eq(landed), queue.w_data.eq(ram.r_data)]
        return m


class SkidBuffer(wiring.Component):
    """Stream register slice: ``o_stream.valid``/``payload`` and ``i_stream.ready`` are all
    registers, so the consumer's ``ready`` reaches no logic of the producer in the same
    cycle. Full rate (one transfer per cycle both sides), one cycle of latency; a second
    (skid) entry takes the beat that arrives in the cycle the consumer stops."""

    def __init__(self, shape):
        self._shape = shape
        super().__init__({"i_stream": In(stream.Signature(shape)),
                          "o_stream": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        i, o = self.i_stream, self.o_stream
        main_v, skid_v = Signal(), Signal()
        main = Signal(self._shape, reset_less=True)
        skid = Signal(self._shape, reset_less=True)
        m.d.comb += [i.ready.eq(~skid_v), o.valid.eq(main_v), o.payload.eq(main)]
        # the skid entry's data follows the input while the entry is empty, so only its
        # valid bit (not its data enables) depends on the consumer's ready
        with m.If(~skid_v):
            m.d.sync += skid.eq(i.payload)
        # the main register is free (or being taken): it loads the skid entry first, else
        # the input. The valid bits as one expression each of (main_v, o.ready, skid_v,
        # i.valid): one LUT4, no reset-style enable logic in front of the flip-flop
        with m.If(~main_v | o.ready):
            m.d.sync += main.eq(Mux(skid_v, skid, i.payload))
        m.d.sync += [main_v.eq((main_v & ~o.ready) | skid_v | i.valid),
                     skid_v.eq(main_v & ~o.ready & (skid_v | i.valid))]
        return m
