"""Memory-mapped accelerator behind the host link, and the complete UART-attached system.

:class:`GemvAccelerator` holds the GEMV engine's memories (W, x, y), its registers and a
sequencer that streams a job from the memories through :class:`~attnkit.hdl.gemv.GemvArray`
and writes the results back. :class:`AcceleratorSystem` adds the UART and the
:class:`~attnkit.hdl.host_bridge.HostBridge`: two pins (``rx``/``tx``) in, status bits out.
It is what a board top instantiates and what the simulator transport of the host driver
drives. The address map is :mod:`attnkit.golden.hostlink`'s.

Adding an engine (softmax, attention): give it a register block at
``hostlink.engine_base(e)`` with the standard ``CTRL``/``STATUS``/``CYCLES``/``ROWS``
registers, memories at ``0x400000`` and up, set its bit in ``ENGINES``, and decode it in
:meth:`GemvAccelerator.elaborate` next to the GEMV block (or in a sibling component behind a
bus decoder). The bridge and the host driver's ``start``/``wait``/``counters`` need no change.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Cat, Const, Mux
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect
from amaranth.utils import exact_log2

from attnkit.golden import hostlink as hl
from attnkit.golden.params import check_bool, check_int
from attnkit.golden.quant import REQUANT_MULT_BITS
from attnkit.golden.attention import ENGINE_SOFTMAX
from attnkit.golden.softmax import SoftmaxConfig

from .attention import AttentionEngine
from .gemv import GemvArray
from .softmax import Softmax
from .host_bridge import BusSignature, HostBridge
from .uart import UARTRx, UARTTx

__all__ = ["GemvAccelerator", "SoftmaxEngine", "AttentionBlock", "AcceleratorSystem",
           "SOFTMAX_IN", "SOFTMAX_OUT"]

SOFTMAX_IN = hl.SOFTMAX_IN
SOFTMAX_OUT = hl.SOFTMAX_OUT


def _register_file(m, bus, word, byte, ro: dict, rw: dict, ctrl, can_start, reg_q, err, start):
    """Byte access to an engine's 32-bit registers (one mechanism for every engine).

    ``word`` selects the register (the keys of ``ro``/``rw``), ``byte`` the byte in it; a read
    latches the byte into ``reg_q``. Writes: ``rw`` registers take the byte; writing 1 to
    bit 0 of byte 0 of ``ctrl`` pulses ``start`` if ``can_start``, else flags ``err``; a
    write to any other read-only register, and any access to an unknown address, flags ``err``.
    """
    with m.Switch(word):
        for addr, value in {**ro, **rw}.items():
            with m.Case(addr):
                v = Cat(value, Const(0, 32 - len(value))) if len(value) < 32 else value
                m.d.sync += reg_q.eq(v.word_select(byte, 8))
                with m.If(bus.we):
                    if addr == ctrl:
                        with m.If(bus.w_data[0] & (byte == 0)):
                            with m.If(can_start):
                                m.d.comb += start.eq(1)
                            with m.Else():
                                m.d.sync += err.eq(1)
                    elif addr in rw:
                        with m.Switch(byte):
                            for b in range(4):
                                with m.Case(b):
                                    m.d.sync += value[8 * b:8 * b + 8].eq(bus.w_data)
                    else:
                        m.d.sync += err.eq(1)
        with m.Default():
            m.d.sync += err.eq(1)


class GemvAccelerator(wiring.Component):
    """GEMV engine (engine 0) with its memories and registers on a :data:`BusSignature` bus.

    Parameters
    ----------
    lanes : int
        GEMV lanes P, a power of two (the W memory word of P weights is addressed as P
        consecutive bytes).
    weight_bits : 4 or 8
        Weight width; the host writes one weight per byte (low ``weight_bits`` bits kept).
    acc_width : int
        GEMV accumulator width (y words are 32-bit, sign-extended; ``acc_width`` <= 32).
    requant : bool
        GEMV output requantized to int8 with the ``REQ_MULT``/``REQ_SHIFT`` registers.
    max_n : int
        x memory depth = largest N.
    max_m : int
        y memory depth = largest M (<= 65535).
    w_words : int
        W memory depth in P-lane words; a job needs ``ceil(M/P) * N`` of them.
    gemv_kwargs : dict
        Passed on to :class:`GemvArray` (``group``, ``dsp``).
    engines : int
        Value of the global ``ENGINES`` register (bit e: engine e present); this component
        also answers the global registers for the whole accelerator.

    Bus behaviour
    -------------
    Every access is acknowledged 1 cycle after it is presented (2 cycles per byte). ``err``
    is raised for unmapped addresses, writes to read-only registers, reads of the W memory
    (write-only), any access to W or x memory while the engine is busy, and a start while
    busy or with invalid parameters (``M`` = 0 or > ``max_m``, ``N`` = 0 or > ``max_n``,
    ``ceil(M/P)*N`` > ``w_words``, ``REQ_SHIFT`` > 63).

    Job timing
    ----------
    A start (write of bit 0 of ``CTRL``) raises ``busy`` on the next cycle. ``CYCLES`` counts
    the cycles in which ``busy`` is high: from that cycle up to and including the cycle the
    last result row is written to y memory; then ``busy`` falls and ``done`` rises (it stays
    high until the next start). ``ROWS`` counts the result rows written. The feeders issue one
    x beat and one W beat per cycle (memory read latency 1, no bubbles while the array takes
    them), so ``CYCLES`` is the GEMV array's own job time plus about 3 cycles.
    """

    def __init__(self, *, lanes: int = 8, weight_bits: int = 8, acc_width: int = 32,
                 requant: bool = False, max_n: int = 256, max_m: int = 256,
                 w_words: int = 1024, gemv_kwargs: dict | None = None, engines: int = 1):
        self._MustUse__silence = True
        check_int("lanes", lanes, 1, 256)
        try:
            exact_log2(lanes)
        except ValueError:
            raise ValueError(f"lanes must be a power of two, not {lanes!r}") from None
        if weight_bits not in (4, 8) or isinstance(weight_bits, bool):
            raise ValueError(f"weight_bits must be 4 or 8, not {weight_bits!r}")
        check_int("acc_width", acc_width, 18, 32)
        check_bool("requant", requant)
        check_int("max_n", max_n, 1, 65536)
        check_int("max_m", max_m, 1, 65535)
        check_int("w_words", w_words, 1, (1 << 20) // lanes)
        self._MustUse__silence = False
        self.lanes = lanes
        self.weight_bits = weight_bits
        self.acc_width = acc_width
        self.requant = requant
        self.max_n = max_n
        self.max_m = max_m
        self.w_words = w_words
        self.engines = engines
        self.gemv = GemvArray(lanes=lanes, weight_bits=weight_bits, acc_width=acc_width,
                              requant=requant, max_n=max_n, **(gemv_kwargs or {}))
        super().__init__({
            "bus": In(BusSignature),
            "busy": Out(1),
            "done": Out(1),
        })

    @property
    def ops_per_cycle(self) -> int:
        """Peak arithmetic: one multiply-add (2 ops) per lane per cycle."""
        return 2 * self.lanes

    def elaborate(self, platform):
        m = Module()
        P, wb = self.lanes, self.weight_bits
        lp = exact_log2(P)
        m.submodules.gemv = gemv = self.gemv
        bus = self.bus

        # ---- memories -----------------------------------------------------------------------
        m.submodules.wmem = wmem = Memory(shape=P * wb, depth=self.w_words, init=[])
        m.submodules.xmem = xmem = Memory(shape=8, depth=self.max_n, init=[])
        m.submodules.ymem = ymem = Memory(shape=32, depth=self.max_m, init=[])
        w_wr = wmem.write_port(granularity=wb)
        w_rd = wmem.read_port(transparent_for=())
        x_wr = xmem.write_port()
        x_rd = xmem.read_port(transparent_for=())
        y_wr = ymem.write_port()
        y_rd = ymem.read_port(transparent_for=())

        # ---- registers ----------------------------------------------------------------------
        busy = Signal()
        done = Signal()
        cycles = Signal(32)
        rows = Signal(32)
        reg_m = Signal(32)
        reg_n = Signal(32)
        reg_mult = Signal(32)
        reg_shift = Signal(32)
        m.d.comb += [self.busy.eq(busy), self.done.eq(done)]

        gbase = 0
        ebase = hl.engine_base(hl.Engine.GEMV)
        ro_regs = {
            gbase + hl.Reg.ID: Const(hl.ID_MAGIC, 32),
            gbase + hl.Reg.ENGINES: Const(self.engines, 32),
            gbase + hl.Reg.LANES: Const(P, 32),
            gbase + hl.Reg.W_WORDS: Const(self.w_words, 32),
            gbase + hl.Reg.X_DEPTH: Const(self.max_n, 32),
            gbase + hl.Reg.Y_DEPTH: Const(self.max_m, 32),
            gbase + hl.Reg.WEIGHT_BITS: Const(wb, 32),
            gbase + hl.Reg.FLAGS: Const(int(self.requant), 32),
            ebase + hl.EngineReg.CTRL: Const(0, 32),
            ebase + hl.EngineReg.STATUS: Cat(busy, done, Const(0, 30)),
            ebase + hl.EngineReg.CYCLES: cycles,
            ebase + hl.EngineReg.ROWS: rows,
        }
        rw_regs = {
            ebase + hl.EngineReg.M: reg_m,
            ebase + hl.EngineReg.N: reg_n,
        }
        if self.requant:
            rw_regs[ebase + hl.EngineReg.REQ_MULT] = reg_mult
            rw_regs[ebase + hl.EngineReg.REQ_SHIFT] = reg_shift

        # ---- start validation ---------------------------------------------------------------
        tiles = Signal(17)
        need = Signal(34)
        params_ok = Signal()
        m.d.sync += [tiles.eq((reg_m + (P - 1)) >> lp), need.eq(tiles * reg_n[:17])]
        m.d.sync += params_ok.eq(
            (reg_m != 0) & (reg_m <= self.max_m) & (reg_n != 0) & (reg_n <= self.max_n) &
            (need <= self.w_words) &
            ((reg_shift <= 63) if self.requant else Const(1, 1)))
        # `need` is two registers behind reg_m/reg_n; a parameter write is followed by at
        # least one UART frame before a start can arrive, so it is always settled.

        # ---- bus slave ----------------------------------------------------------------------
        ack = Signal()
        req = Signal()
        a = bus.addr
        m.d.comb += req.eq(bus.cyc & ~ack)
        m.d.sync += ack.eq(req)
        m.d.comb += bus.ack.eq(ack)

        region = a[20:24]
        in_regs = region == 0
        in_w = region == (hl.MEM_W >> 20)
        in_x = region == (hl.MEM_X >> 20)
        in_y = region == (hl.MEM_Y >> 20)
        off = a[:20]
        w_word = off >> lp
        w_lane = off[:lp] if lp else Const(0, 1)

        err = Signal()
        rsel = Signal(2)          # 0: register value, 1: x memory, 2: y memory
        reg_q = Signal(8)
        ybyte = Signal(2)
        m.d.sync += err.eq(0)
        m.d.comb += bus.err.eq(err)

        start = Signal()
        with m.If(req):
            m.d.sync += ybyte.eq(a[:2])
            with m.If(in_regs):
                m.d.sync += rsel.eq(0)
                _register_file(m, bus, Cat(Const(0, 2), a[2:20]), a[:2], ro_regs, rw_regs,
                               ebase + hl.EngineReg.CTRL, ~busy & params_ok, reg_q, err, start)
            with m.Elif(in_w):
                with m.If(busy | ~bus.we | (w_word >= self.w_words)):
                    m.d.sync += err.eq(1)
                with m.Else():
                    m.d.comb += [w_wr.addr.eq(w_word), w_wr.en.eq(Const(1, P) << w_lane),
                                 w_wr.data.eq(Cat(*[bus.w_data[:wb]] * P))]
            with m.Elif(in_x):
                m.d.sync += rsel.eq(1)
                with m.If(busy | (off >= self.max_n)):
                    m.d.sync += err.eq(1)
                with m.Elif(bus.we):
                    m.d.comb += [x_wr.addr.eq(off), x_wr.en.eq(1), x_wr.data.eq(bus.w_data)]
            with m.Elif(in_y):
                m.d.sync += rsel.eq(2)
                with m.If(bus.we | ((off >> 2) >= self.max_m)):
                    m.d.sync += err.eq(1)
            with m.Else():
                m.d.sync += err.eq(1)

        with m.Switch(rsel):
            with m.Case(0):
                m.d.comb += bus.r_data.eq(reg_q)
            with m.Case(1):
                m.d.comb += bus.r_data.eq(x_rd.data)
            with m.Default():
                m.d.comb += bus.r_data.eq(y_rd.data.word_select(ybyte, 8))

        # ---- sequencer ----------------------------------------------------------------------
        x_addr = Signal(range(self.max_n + 1))
        x_left = Signal(range(self.max_n + 1))
        w_addr = Signal(range(self.w_words + 1))
        w_left = Signal(range(self.w_words + 1))
        y_addr = Signal(range(self.max_m + 1))
        x_valid = Signal()
        w_valid = Signal()
        x_go = Signal()
        w_go = Signal()

        m.d.comb += [
            gemv.m.eq(reg_m[:16]),
            gemv.n.eq(reg_n),
            gemv.x_stream.payload.eq(x_rd.data),
            gemv.x_stream.valid.eq(x_valid),
            gemv.w_stream.payload.eq(w_rd.data),
            gemv.w_stream.valid.eq(w_valid),
            x_go.eq(~x_valid | gemv.x_stream.ready),
            w_go.eq(~w_valid | gemv.w_stream.ready),
            w_rd.addr.eq(w_addr),
            w_rd.en.eq(w_go),
            y_rd.addr.eq(off >> 2),
        ]
        if self.requant:
            m.d.comb += [gemv.req_mult.eq(reg_mult[:REQUANT_MULT_BITS]),
                         gemv.req_shift.eq(reg_shift[:6])]
        with m.If(busy):
            m.d.comb += [x_rd.addr.eq(x_addr), x_rd.en.eq(x_go)]
        with m.Else():
            m.d.comb += [x_rd.addr.eq(off), x_rd.en.eq(1)]

        with m.If(start):
            m.d.sync += [busy.eq(1), done.eq(0), cycles.eq(0), rows.eq(0),
                         x_addr.eq(0), x_left.eq(reg_n), w_addr.eq(0), w_left.eq(need),
                         y_addr.eq(0), x_valid.eq(0), w_valid.eq(0)]
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(x_go):
                m.d.sync += x_valid.eq(x_left != 0)
                with m.If(x_left != 0):
                    m.d.sync += [x_addr.eq(x_addr + 1), x_left.eq(x_left - 1)]
            with m.If(w_go):
                m.d.sync += w_valid.eq(w_left != 0)
                with m.If(w_left != 0):
                    m.d.sync += [w_addr.eq(w_addr + 1), w_left.eq(w_left - 1)]

        m.d.comb += gemv.y_stream.ready.eq(1)
        y_data = gemv.y_stream.payload.data
        m.d.comb += [y_wr.addr.eq(y_addr), y_wr.data.eq(y_data.as_signed()),
                     y_wr.en.eq(busy & gemv.y_stream.valid)]
        with m.If(busy & gemv.y_stream.valid):
            m.d.sync += [y_addr.eq(y_addr + 1), rows.eq(rows + 1)]
            with m.If(gemv.y_stream.payload.last):
                m.d.sync += [busy.eq(0), done.eq(1)]
        return m

class SoftmaxEngine(wiring.Component):
    """Softmax engine (engine 1): input/output memories, registers, sequencer, on the bus.

    Registers (at ``hostlink.engine_base(1)``): ``CTRL``, ``STATUS``, ``CYCLES``, ``ROWS`` as
    for every engine, then ``LEN`` (+0x10, row length L) and ``NROWS`` (+0x14, rows R). A job
    streams the ``R * L`` elements of the input memory through
    :class:`~attnkit.hdl.softmax.Softmax` as R rows of L and writes every output element
    (see :data:`SOFTMAX_IN`/:data:`SOFTMAX_OUT` for the layout). The arithmetic is exactly
    :func:`attnkit.golden.softmax.softmax_fixed` with ``cfg``.

    Parameters
    ----------
    cfg : SoftmaxConfig
        Formats (``in_fmt`` at most 16 bits wide) and exponent method.
    l_max : int
        Longest row.
    depth : int
        Elements the input and output memories hold (``R * L <= depth``).

    Bus behaviour: 1 wait state; ``err`` for unmapped offsets, reads of the input memory
    (write-only; byte 3 of an element is ignored), memory access while busy, and a start while busy or
    with ``L`` = 0, ``L > l_max``, ``R`` = 0 or ``R * L > depth``.
    """

    LEN = hl.SoftmaxReg.LEN
    NROWS = hl.SoftmaxReg.NROWS

    def __init__(self, *, cfg: SoftmaxConfig = SoftmaxConfig(), l_max: int = 64,
                 depth: int = 256):
        self._MustUse__silence = True
        if not isinstance(cfg, SoftmaxConfig):
            raise TypeError(f"cfg must be a SoftmaxConfig, not {cfg!r}")
        if cfg.in_fmt.width > 16:
            raise ValueError(f"cfg.in_fmt must be at most 16 bits wide, not {cfg.in_fmt}")
        check_int("depth", depth, 1, 1 << 18)
        check_int("l_max", l_max, 1, depth)
        self._MustUse__silence = False
        self.cfg, self.l_max, self.depth = cfg, l_max, depth
        self.softmax = Softmax(cfg, l_max)
        super().__init__({"bus": In(BusSignature), "busy": Out(1), "done": Out(1)})

    @staticmethod
    def decodes(addr):
        """Expression: ``addr`` belongs to this engine."""
        base = hl.engine_base(hl.Engine.SOFTMAX)
        return ((addr[8:24] == base >> 8) |
                (addr[20:24] == SOFTMAX_IN >> 20) | (addr[20:24] == SOFTMAX_OUT >> 20))

    def elaborate(self, platform):
        m = Module()
        m.submodules.softmax = sm = self.softmax
        bus = self.bus
        iw = self.cfg.in_fmt.width
        m.submodules.imem = imem = Memory(shape=24, depth=self.depth, init=[])
        m.submodules.omem = omem = Memory(shape=24, depth=self.depth, init=[])
        i_wr = imem.write_port(granularity=8)
        i_rd = imem.read_port(transparent_for=())
        o_wr = omem.write_port()
        o_rd = omem.read_port(transparent_for=())

        busy, done = Signal(), Signal()
        cycles, rows = Signal(32), Signal(32)
        reg_len, reg_rows = Signal(32), Signal(32)
        m.d.comb += [self.busy.eq(busy), self.done.eq(done)]
        total = Signal(50)
        ok = Signal()
        m.d.sync += [total.eq(reg_len[:25] * reg_rows[:25]),
                     ok.eq((reg_len != 0) & (reg_len <= self.l_max) & (reg_rows != 0) &
                           (total <= self.depth))]

        ack, err, req = Signal(), Signal(), Signal()
        m.d.comb += [req.eq(bus.cyc & ~ack), bus.ack.eq(ack), bus.err.eq(err)]
        m.d.sync += [ack.eq(req), err.eq(0)]
        a = bus.addr
        off = a[:20]
        elem = off >> 2
        byte = a[:2]
        ebase = hl.engine_base(hl.Engine.SOFTMAX)
        ro_regs = {hl.EngineReg.CTRL: Const(0, 32), hl.EngineReg.STATUS: Cat(busy, done),
                   hl.EngineReg.CYCLES: cycles, hl.EngineReg.ROWS: rows}
        reg_q = Signal(8)
        from_mem = Signal()
        obyte = Signal(2)
        start = Signal()
        with m.If(req):
            m.d.sync += [from_mem.eq(0), obyte.eq(byte)]
            with m.If(a[8:24] == ebase >> 8):
                _register_file(m, bus, Cat(Const(0, 2), a[2:8]), byte, ro_regs,
                               {self.LEN: reg_len, self.NROWS: reg_rows},
                               hl.EngineReg.CTRL, ~busy & ok, reg_q, err, start)
            with m.Elif(a[20:24] == SOFTMAX_IN >> 20):
                with m.If(busy | ~bus.we | (elem >= self.depth)):
                    m.d.sync += err.eq(1)
                with m.Else():
                    # byte 3 of an element shifts out of the 3-bit enable: ignored
                    m.d.comb += [i_wr.addr.eq(elem), i_wr.en.eq((Const(1, 4) << byte)[:3]),
                                 i_wr.data.eq(Cat(bus.w_data, bus.w_data, bus.w_data))]
            with m.Else():                                   # SOFTMAX_OUT
                m.d.sync += from_mem.eq(1)
                with m.If(busy | bus.we | (elem >= self.depth)):
                    m.d.sync += err.eq(1)
        m.d.comb += [o_rd.addr.eq(elem),
                     bus.r_data.eq(Mux(from_mem, Cat(o_rd.data, Const(0, 8)).word_select(
                         obyte, 8), reg_q))]

        # sequencer
        i_addr = Signal(range(self.depth + 1))
        left = Signal(range(self.depth + 1))
        col = Signal(range(self.l_max + 1))
        o_addr = Signal(range(self.depth + 1))
        valid = Signal()
        last_q = Signal()
        go = Signal()
        m.d.comb += [go.eq(~valid | sm.i_stream.ready), i_rd.addr.eq(i_addr), i_rd.en.eq(go),
                     sm.i_stream.valid.eq(valid),
                     sm.i_stream.payload.logit.eq(i_rd.data[:iw]),
                     sm.i_stream.payload.mask.eq(i_rd.data[16]),
                     sm.i_stream.payload.last.eq(last_q)]
        with m.If(start):
            m.d.sync += [busy.eq(1), done.eq(0), cycles.eq(0), rows.eq(0), i_addr.eq(0),
                         left.eq(total), col.eq(0), o_addr.eq(0), valid.eq(0)]
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(go):
                m.d.sync += valid.eq(left != 0)
                with m.If(left != 0):
                    m.d.sync += [i_addr.eq(i_addr + 1), left.eq(left - 1),
                                 last_q.eq(col == reg_len - 1),
                                 col.eq(Mux(col == reg_len - 1, 0, col + 1))]
        out = sm.o_stream.payload
        m.d.comb += [sm.o_stream.ready.eq(1), o_wr.addr.eq(o_addr),
                     o_wr.data.eq(Cat(out.prob, Const(0, 16 - len(out.prob)), out.all_masked)),
                     o_wr.en.eq(busy & sm.o_stream.valid)]
        with m.If(busy & sm.o_stream.valid):
            m.d.sync += o_addr.eq(o_addr + 1)
            with m.If(out.last):
                m.d.sync += rows.eq(rows + 1)
                with m.If(rows + 1 == reg_rows):
                    m.d.sync += [busy.eq(0), done.eq(1)]
        return m

class AttentionBlock(wiring.Component):
    """Attention engine (engine 2) on the bus: K/V/q/output memories, registers, sequencer.

    Wraps :class:`~attnkit.hdl.attention.AttentionEngine` (one head, decode: one query
    against a KV cache of up to ``t_max`` rows). The host writes K and V rows at
    ``hostlink.ATT_K``/``ATT_V`` (``row * d + i``; each ``lanes``-byte word is staged and sent
    to the engine's K/V block RAM when its last byte arrives, so write whole words), the
    query at ``ATT_Q``, the job registers (:class:`attnkit.golden.hostlink.AttentionReg`, the
    engine's configuration ports), then ``START``: the block streams the query into the
    engine (the job starts with its last beat) and stores the ``d`` outputs at ``ATT_OUT``.
    ``CYCLES`` is the engine's own job counter; ``ROWS`` its ``k_rows`` (K rows scored);
    ``K4_ROWS``/``V_ROWS`` the other row counters. Results are bit-exact with
    :func:`attnkit.golden.attention.engine`.

    Parameters are :class:`AttentionEngine`'s; ``lanes`` must be a power of two and the
    block-sparse bitmap row (``ceil(t_max / block)`` bits) at most 32 bits.

    Bus behaviour: 1 wait state, more while the engine takes a K/V word; ``err`` for
    unmapped offsets, writes to read-only registers, reads of K/V/q, any memory access while
    busy, K/V words past ``t_max`` rows, and a start while busy or with ``T_LEN`` outside
    1..``t_max``, ``POS >= T_LEN``, ``K > k_max`` or an unknown ``MODE``.
    """

    def __init__(self, *, d: int = 16, lanes: int = 4, t_max: int = 16, k_max: int = 8,
                 block: int = 4, cfg: SoftmaxConfig = ENGINE_SOFTMAX):
        self._MustUse__silence = True
        check_int("lanes", lanes, 1, 128)
        try:
            exact_log2(lanes)
        except ValueError:
            raise ValueError(f"lanes must be a power of two, not {lanes!r}") from None
        check_int("block", block, 1)
        if -(-t_max // block) > 32:
            raise ValueError(f"ceil(t_max / block) must be at most 32 (one BLOCK_ROW "
                             f"register), not {-(-t_max // block)} (t_max={t_max}, "
                             f"block={block})")
        self.engine = AttentionEngine(d=d, lanes=lanes, t_max=t_max, k_max=k_max,
                                      block=block, cfg=cfg)
        self._MustUse__silence = False
        self.d, self.lanes, self.t_max, self.k_max, self.block = d, lanes, t_max, k_max, block
        super().__init__({"bus": In(BusSignature), "busy": Out(1), "done": Out(1)})

    @staticmethod
    def decodes(addr):
        base = hl.engine_base(hl.Engine.ATTENTION)
        return ((addr[8:24] == base >> 8) | (addr[20:24] == hl.ATT_K >> 20) |
                (addr[20:24] == hl.ATT_Q >> 20))

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = eng = self.engine
        bus = self.bus
        A = hl.AttentionReg
        L, d = self.lanes, self.d
        lp = exact_log2(L)
        B = d // L

        m.submodules.qmem = qmem = Memory(shape=8 * L, depth=B, init=[])
        m.submodules.omem = omem = Memory(shape=16, depth=d, init=[])
        q_wr = qmem.write_port(granularity=8)
        q_rd = qmem.read_port(transparent_for=())
        o_wr = omem.write_port()
        o_rd = omem.read_port(transparent_for=())

        busy, done = Signal(), Signal()
        m.d.comb += [self.busy.eq(busy), self.done.eq(done)]
        rw = {a: Signal(32, name=f"reg_{a.name.lower()}") for a in
              (A.MODE, A.CAUSAL, A.T_LEN, A.POS, A.WINDOW, A.N_GLOBAL, A.BLOCK_ROW, A.K,
               A.THRESHOLD, A.USE_THRESHOLD, A.SCORE_MULT, A.SCORE_SHIFT, A.OUT_MULT,
               A.OUT_SHIFT)}
        ro = {hl.EngineReg.CTRL: Const(0, 32), hl.EngineReg.STATUS: Cat(busy, done),
              hl.EngineReg.CYCLES: eng.cycles, hl.EngineReg.ROWS: eng.k_rows,
              A.K_ROWS: eng.k_rows, A.K4_ROWS: eng.k4_rows, A.V_ROWS: eng.v_rows,
              A.D: Const(d, 32), A.LANES: Const(L, 32), A.T_MAX: Const(self.t_max, 32),
              A.K_MAX: Const(self.k_max, 32), A.BLOCK: Const(self.block, 32),
              A.PRED_WIDTH: Const(eng.pred_width, 32)}
        for port, a in ((eng.mode, A.MODE), (eng.causal, A.CAUSAL), (eng.t_len, A.T_LEN),
                        (eng.pos, A.POS), (eng.window, A.WINDOW), (eng.n_global, A.N_GLOBAL),
                        (eng.block_row, A.BLOCK_ROW), (eng.k, A.K),
                        (eng.threshold, A.THRESHOLD), (eng.use_threshold, A.USE_THRESHOLD),
                        (eng.score_mult, A.SCORE_MULT), (eng.score_shift, A.SCORE_SHIFT),
                        (eng.out_mult, A.OUT_MULT), (eng.out_shift, A.OUT_SHIFT)):
            m.d.comb += port.eq(rw[a][:len(port)])
        ok = Signal()
        m.d.sync += ok.eq((rw[A.T_LEN] != 0) & (rw[A.T_LEN] <= self.t_max) &
                          (rw[A.POS] < rw[A.T_LEN]) & (rw[A.K] <= self.k_max) &
                          (rw[A.MODE] <= 5))

        # ---- bus slave ----------------------------------------------------------------------
        a = bus.addr
        byte = a[:2]
        ack, err = Signal(), Signal()
        kv_valid = Signal()
        req = Signal()
        m.d.comb += [req.eq(bus.cyc & ~ack & ~kv_valid), bus.ack.eq(ack), bus.err.eq(err)]
        m.d.sync += [ack.eq(req), err.eq(0)]
        in_regs = a[8:24] == hl.engine_base(hl.Engine.ATTENTION) >> 8
        in_kv = a[20:24] == hl.ATT_K >> 20
        in_q = (a[20:24] == hl.ATT_Q >> 20) & ~a[19]
        off = a[:19]
        word = off >> lp
        lane = off[:lp] if lp else Const(0, 1)
        stage = Signal(8 * L)
        kv = eng.kv_stream
        reg_q = Signal(8)
        from_mem = Signal()
        start = Signal()
        with m.If(kv_valid & kv.ready):
            m.d.sync += [kv_valid.eq(0), ack.eq(1)]
        with m.If(req):
            m.d.sync += from_mem.eq(0)
            with m.If(in_regs):
                _register_file(m, bus, Cat(Const(0, 2), a[2:8]), byte, ro, rw,
                               hl.EngineReg.CTRL, ~busy & ok, reg_q, err, start)
            with m.Elif(in_kv):
                with m.If(busy | ~bus.we | (word >= self.t_max * B)):
                    m.d.sync += err.eq(1)
                with m.Else():
                    with m.Switch(lane):
                        for i in range(L):
                            with m.Case(i):
                                m.d.sync += stage[8 * i:8 * i + 8].eq(bus.w_data)
                    with m.If(lane == L - 1):          # word complete: hand it to the engine
                        m.d.sync += [ack.eq(0), kv_valid.eq(1), kv.payload.sel.eq(a[19]),
                                     kv.payload.addr.eq(word),
                                     kv.payload.data.eq(Cat(stage[:8 * (L - 1)], bus.w_data))]
            with m.Elif(in_q):
                with m.If(busy | ~bus.we | (off >= d)):
                    m.d.sync += err.eq(1)
                with m.Else():
                    m.d.comb += [q_wr.addr.eq(off >> lp), q_wr.en.eq(Const(1, L) << lane),
                                 q_wr.data.eq(Cat(*[bus.w_data] * L))]
            with m.Else():                               # ATT_OUT
                m.d.sync += from_mem.eq(1)
                with m.If(busy | bus.we | ((off >> 1) >= d)):
                    m.d.sync += err.eq(1)
        m.d.comb += kv.valid.eq(kv_valid)
        obyte = Signal()
        with m.If(req):
            m.d.sync += obyte.eq(a[0])
        m.d.comb += [o_rd.addr.eq(off >> 1),
                     bus.r_data.eq(Mux(from_mem, o_rd.data.word_select(obyte, 8), reg_q))]

        # ---- sequencer: query in, outputs out ---------------------------------------------
        qi = Signal(range(B + 1))
        q_valid = Signal()
        q_go = Signal()
        m.d.comb += [q_go.eq(~q_valid | eng.q_stream.ready), q_rd.addr.eq(qi), q_rd.en.eq(q_go),
                     eng.q_stream.valid.eq(q_valid), eng.q_stream.payload.eq(q_rd.data)]
        oc = Signal(range(d + 1))
        out = eng.o_stream.payload
        m.d.comb += [eng.o_stream.ready.eq(1), o_wr.addr.eq(oc),
                     o_wr.data.eq(Cat(out.data, out.all_masked)),
                     o_wr.en.eq(busy & eng.o_stream.valid)]
        with m.If(start):
            m.d.sync += [busy.eq(1), done.eq(0), qi.eq(0), q_valid.eq(0), oc.eq(0)]
        with m.Elif(busy):
            with m.If(q_go):
                m.d.sync += q_valid.eq(qi != B)
                with m.If(qi != B):
                    m.d.sync += qi.eq(qi + 1)
            with m.If(eng.o_stream.valid):
                m.d.sync += oc.eq(oc + 1)
                with m.If(out.last):
                    m.d.sync += [busy.eq(0), done.eq(1)]
        return m


class _BusDecoder(wiring.Component):
    """Routes the bridge's bus to the optional engines (by their ``decodes``) or, for every
    other address, to the GEMV side (which also answers the global registers)."""

    def __init__(self, engines):
        self.engines = engines        # list of engine components with a static `decodes`
        members = {"bus": In(BusSignature), "gemv": Out(BusSignature)}
        for i in range(len(engines)):
            members[f"e{i}"] = Out(BusSignature)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        b = self.bus
        ports = [getattr(self, f"e{i}") for i in range(len(self.engines))]
        sels = [type(e).decodes(b.addr) for e in self.engines]
        for port in [self.gemv, *ports]:
            m.d.comb += [port.addr.eq(b.addr), port.w_data.eq(b.w_data), port.we.eq(b.we)]
        none = Const(1, 1)
        for port, sel in zip(ports, sels):
            m.d.comb += port.cyc.eq(b.cyc & sel)
            none = none & ~sel
        m.d.comb += self.gemv.cyc.eq(b.cyc & none)
        with m.If(none):
            m.d.comb += [b.ack.eq(self.gemv.ack), b.err.eq(self.gemv.err),
                         b.r_data.eq(self.gemv.r_data)]
        for port, sel in zip(ports, sels):
            with m.If(sel):
                m.d.comb += [b.ack.eq(port.ack), b.err.eq(port.err), b.r_data.eq(port.r_data)]
        return m


class AcceleratorSystem(wiring.Component):
    """UART + host bridge + accelerator: the whole design behind two pins.

    Parameters
    ----------
    divisor : int
        UART clock cycles per bit (see :func:`attnkit.hdl.uart.baud_divisor`).
    timeout : int
        Host bridge quiet-line timeout in cycles.
    max_payload : int
        Host bridge frame buffer size.
    softmax : dict or None
        :class:`SoftmaxEngine` parameters to include the softmax engine (engine 1).
    attention : dict or None
        :class:`AttentionBlock` parameters to include the attention engine (engine 2).
    **accel
        :class:`GemvAccelerator` parameters.

    Ports
    -----
    rx : In(1)
        UART line from the host (idle high), synchronised inside.
    tx : Out(1)
        UART line to the host.
    busy, done : Out(1)
        Engine status for LEDs (any engine busy; any engine done).
    link_active : Out(1)
        A frame is being received, executed or answered.
    """

    def __init__(self, *, divisor: int, timeout: int = 1000, max_payload: int = 256,
                 softmax: dict | None = None, attention: dict | None = None, **accel):
        self.rx_uart = UARTRx(divisor)
        self.tx_uart = UARTTx(divisor)
        self.bridge = HostBridge(max_payload=max_payload, timeout=timeout)
        engines = 1 << hl.Engine.GEMV
        self.softmax = None
        if softmax is not None:
            self.softmax = SoftmaxEngine(**softmax)
            engines |= 1 << hl.Engine.SOFTMAX
        self.attention = None
        if attention is not None:
            self.attention = AttentionBlock(**attention)
            engines |= 1 << hl.Engine.ATTENTION
        self.accel = GemvAccelerator(engines=engines, **accel)
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "busy": Out(1),
            "done": Out(1),
            "link_active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = self.rx_uart
        m.submodules.uart_tx = self.tx_uart
        m.submodules.bridge = self.bridge
        m.submodules.accel = self.accel
        connect(m, self.rx_uart.o_stream, self.bridge.i_stream)
        connect(m, self.bridge.o_stream, self.tx_uart.i_stream)
        extra = [e for e in (self.softmax, self.attention) if e is not None]
        if not extra:
            connect(m, self.bridge.bus, self.accel.bus)
        else:
            m.submodules.decoder = dec = _BusDecoder(extra)
            connect(m, self.bridge.bus, dec.bus)
            connect(m, dec.gemv, self.accel.bus)
            for i, e in enumerate(extra):
                m.submodules[f"engine{i}"] = e
                connect(m, getattr(dec, f"e{i}"), e.bus)
        busy, done = self.accel.busy, self.accel.done
        for e in extra:
            busy, done = busy | e.busy, done | e.done
        m.d.comb += [
            self.rx_uart.rx.eq(self.rx),
            self.tx.eq(self.tx_uart.tx),
            self.busy.eq(busy),
            self.done.eq(done),
            self.link_active.eq(self.bridge.active),
        ]
        return m
