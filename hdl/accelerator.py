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

from amaranth.hdl import Module, Signal, Cat, Const, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect
from amaranth.utils import ceil_log2, exact_log2

from attnkit.golden import hostlink as hl
from attnkit.golden.quant import REQUANT_MULT_BITS

from .gemv import GemvArray
from .host_bridge import BusSignature, HostBridge
from .uart import UARTRx, UARTTx

__all__ = ["GemvAccelerator", "AcceleratorSystem"]


def _check_int(name, value, lo, hi=None):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name} must be {rng}, not {value!r}")


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
                 w_words: int = 1024, gemv_kwargs: dict | None = None):
        self._MustUse__silence = True
        _check_int("lanes", lanes, 1, 256)
        try:
            exact_log2(lanes)
        except ValueError:
            raise ValueError(f"lanes must be a power of two, not {lanes!r}") from None
        if weight_bits not in (4, 8) or isinstance(weight_bits, bool):
            raise ValueError(f"weight_bits must be 4 or 8, not {weight_bits!r}")
        _check_int("acc_width", acc_width, 18, 32)
        if not isinstance(requant, bool):
            raise TypeError(f"requant must be a bool, not {requant!r}")
        _check_int("max_n", max_n, 1, 65536)
        _check_int("max_m", max_m, 1, 65535)
        _check_int("w_words", w_words, 1, (1 << 20) // lanes)
        self._MustUse__silence = False
        self.lanes = lanes
        self.weight_bits = weight_bits
        self.acc_width = acc_width
        self.requant = requant
        self.max_n = max_n
        self.max_m = max_m
        self.w_words = w_words
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
            gbase + hl.Reg.ENGINES: Const(1 << hl.Engine.GEMV, 32),
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
                word = Cat(Const(0, 2), a[2:20])
                with m.Switch(word):
                    for addr, value in ro_regs.items():
                        with m.Case(addr):
                            m.d.sync += reg_q.eq(value.word_select(a[:2], 8))
                            with m.If(bus.we):
                                if addr == ebase + hl.EngineReg.CTRL:
                                    with m.If(bus.w_data[0] & (busy | ~params_ok) & (a[:2] == 0)):
                                        m.d.sync += err.eq(1)
                                    with m.Elif(bus.w_data[0] & (a[:2] == 0)):
                                        m.d.comb += start.eq(1)
                                else:
                                    m.d.sync += err.eq(1)
                    for addr, reg in rw_regs.items():
                        with m.Case(addr):
                            m.d.sync += reg_q.eq(reg.word_select(a[:2], 8))
                            with m.If(bus.we):
                                with m.Switch(a[:2]):
                                    for b in range(4):
                                        with m.Case(b):
                                            m.d.sync += reg[8 * b:8 * b + 8].eq(bus.w_data)
                    with m.Default():
                        m.d.sync += err.eq(1)
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
    **accel
        :class:`GemvAccelerator` parameters.

    Ports
    -----
    rx : In(1)
        UART line from the host (idle high), synchronised inside.
    tx : Out(1)
        UART line to the host.
    busy, done : Out(1)
        GEMV engine status (for LEDs).
    link_active : Out(1)
        A frame is being received, executed or answered.
    """

    def __init__(self, *, divisor: int, timeout: int = 1000, max_payload: int = 256, **accel):
        self.rx_uart = UARTRx(divisor)
        self.tx_uart = UARTTx(divisor)
        self.bridge = HostBridge(max_payload=max_payload, timeout=timeout)
        self.accel = GemvAccelerator(**accel)
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
        connect(m, self.bridge.bus, self.accel.bus)
        m.d.comb += [
            self.rx_uart.rx.eq(self.rx),
            self.tx.eq(self.tx_uart.tx),
            self.busy.eq(self.accel.busy),
            self.done.eq(self.accel.done),
            self.link_active.eq(self.bridge.active),
        ]
        return m
