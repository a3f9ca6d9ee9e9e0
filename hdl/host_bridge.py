"""Host bridge: parses command frames from the UART, executes them on a byte bus, replies.

The protocol (frame format, CRC, command and error codes, address map) is specified in
:mod:`attnkit.golden.hostlink`; this module is its device side.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Cat, Const, Array
from amaranth.lib.memory import Memory
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from attnkit.golden import hostlink as hl

__all__ = ["BusSignature", "HostBridge", "crc16_step"]


#: Byte bus between the bridge (master) and the memory-mapped accelerator (slave).
#:
#: The master raises ``cyc`` with ``addr``/``we``/``w_data`` and holds them until the slave
#: answers with a one-cycle ``ack`` (``r_data`` and ``err`` are valid in that cycle). The
#: master may present the next request in the cycle after ``ack``; the slave must not
#: acknowledge in a cycle in which ``ack`` is already high (``ack <= cyc & ~ack`` is a valid
#: slave). ``err`` flags an unmapped or read-only address, a busy engine or invalid engine
#: parameters; an erroneous write changes nothing.
BusSignature = wiring.Signature({
    "addr": Out(24),
    "w_data": Out(8),
    "we": Out(1),
    "cyc": Out(1),
    "r_data": In(8),
    "ack": In(1),
    "err": In(1),
})


def crc16_step(crc, byte):
    """Amaranth expression: CRC-16/CCITT-FALSE register after shifting in ``byte`` (MSB first).

    Bit-exact with :func:`attnkit.golden.hostlink.crc16` (one byte at a time).
    """
    bits = [crc[i] for i in range(16)]
    for k in range(7, -1, -1):
        fb = bits[15] ^ byte[k]
        bits = [fb] + bits[:15]                  # shift left by one
        for tap in (5, 12):                      # x^12 + x^5 + 1 (the x^0 term is fb)
            bits[tap] = bits[tap] ^ fb
    return Cat(*bits)


class HostBridge(wiring.Component):
    """Command-frame parser and executor for the host link.

    Parameters
    ----------
    max_payload : int
        Largest command payload (and READ count) accepted, 8..65535. The payload is held in a
        frame buffer of this many bytes so that nothing is executed before its CRC is checked.
    timeout : int
        Quiet-line cycles after which a partial frame is abandoned (``ERR_TIMEOUT``) and after
        which discard mode ends (``ERR_SYNC``/``ERR_LENGTH``). On a board this should cover
        gaps between USB packets of the host's USB-UART (milliseconds); in simulation a few
        byte times.

    Ports
    -----
    i_stream : In(stream.Signature(8))
        Bytes from the UART receiver. Always ready (a UART cannot be stalled); bytes arriving
        while a command executes or its reply is sent are dropped, and after that reply the
        bridge discards input until the line is quiet and replies ``ERR_SYNC``.
    o_stream : Out(stream.Signature(8))
        Reply bytes to the UART transmitter.
    bus : Out(BusSignature)
        Byte bus to the accelerator.
    active : Out(1)
        High while a frame is received, executed or answered (for an activity LED).

    Timing: a command starts executing 2 cycles after its last CRC byte; a bus access takes
    2 cycles or more (slave dependent); a WRITE takes 3 cycles per data byte plus bus wait
    states; a READ reads its range twice (check, then send), so the reply's first byte
    follows the command by about ``2 * count`` cycles. All of this is far below one UART
    byte time at any practical divisor.
    """

    def __init__(self, *, max_payload: int = 256, timeout: int = 1000):
        self._MustUse__silence = True
        if not isinstance(max_payload, int) or not 8 <= max_payload <= 0xFFFF:
            raise ValueError(f"max_payload must be an int in 8..65535, not {max_payload!r}")
        if not isinstance(timeout, int) or timeout < 2:
            raise ValueError(f"timeout must be an int >= 2 cycles, not {timeout!r}")
        self._MustUse__silence = False
        self.max_payload = max_payload
        self.timeout = timeout
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "o_stream": Out(stream.Signature(8)),
            "bus": Out(BusSignature),
            "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        S = hl.Status
        C = hl.Cmd

        m.submodules.buf = buf = Memory(shape=8, depth=self.max_payload, init=[])
        buf_w = buf.write_port()
        buf_r = buf.read_port(domain="sync")

        byte_in = self.i_stream.payload
        got = Signal()
        m.d.comb += [self.i_stream.ready.eq(1), got.eq(self.i_stream.valid)]

        cmd = Signal(8)
        length = Signal(16)
        idx = Signal(16)
        args = Array(Signal(8, name=f"arg{i}") for i in range(7))
        crc = Signal(16)
        rx_crc_hi = Signal(8)
        quiet = Signal(range(self.timeout + 1))
        stray = Signal()
        status = Signal(8)

        # reply bookkeeping
        rlen = Signal(16)                 # reply payload length
        src = Signal(2)                   # 0: none, 1: ping ROM, 2: bus reads
        rbase = Signal(24)
        ri = Signal(16)
        rbyte = Signal(8)
        wait_left = Signal(32)
        check_only = Signal()

        addr_arg = Cat(args[0], args[1], args[2])
        count_arg = Cat(args[3], args[4])
        engine_base = Cat(Const(0, 8), (args[0] + 1)[:16])
        wait_arg = Cat(args[1], args[2], args[3], args[4])

        ping_rom = Array(Const(b, 8) for b in
                         [ord("A"), ord("K"), hl.VERSION,
                          self.max_payload & 0xFF, self.max_payload >> 8])

        m.d.comb += [buf_w.addr.eq(idx), buf_w.data.eq(byte_in),
                     buf_r.addr.eq(idx + 3)]

        tx = self.o_stream
        bus = self.bus

        def quiet_tick(on_timeout):
            with m.If(got):
                m.d.sync += quiet.eq(0)
            with m.Elif(quiet == self.timeout - 1):
                m.d.sync += quiet.eq(0)
                on_timeout()
            with m.Else():
                m.d.sync += quiet.eq(quiet + 1)

        def reply(code, payload_len=0, source=0):
            m.d.sync += [status.eq(code), rlen.eq(payload_len), src.eq(source), ri.eq(0)]
            m.next = "TX_SYNC"

        def to_error(code):
            reply(code)

        rx_states = ("IDLE", "CMD", "LEN0", "LEN1", "PAYLOAD", "CRC0", "CRC1", "DISCARD")

        with m.FSM() as fsm:
            # ---------------------------------------------------------------- receive
            with m.State("IDLE"):
                m.d.sync += quiet.eq(0)
                with m.If(got):
                    with m.If(byte_in == hl.SYNC_CMD):
                        m.d.sync += crc.eq(0xFFFF)
                        m.next = "CMD"
                    with m.Else():
                        m.d.sync += status.eq(S.ERR_SYNC)
                        m.next = "DISCARD"

            def header_state(name, nxt, action):
                with m.State(name):
                    quiet_tick(lambda: to_error(S.ERR_TIMEOUT))
                    with m.If(got):
                        m.d.sync += crc.eq(crc16_step(crc, byte_in))
                        action()
                        if nxt:
                            m.next = nxt

            def cmd_action():
                m.d.sync += cmd.eq(byte_in)

            def len0_action():
                m.d.sync += length[:8].eq(byte_in)

            header_state("CMD", "LEN0", cmd_action)
            header_state("LEN0", "LEN1", len0_action)

            def len1_action():
                full = Cat(length[:8], byte_in)
                m.d.sync += [length[8:].eq(byte_in), idx.eq(0)]
                with m.If(full > self.max_payload):
                    m.d.sync += status.eq(S.ERR_LENGTH)
                    m.next = "DISCARD"
                with m.Elif(full == 0):
                    m.next = "CRC0"
                with m.Else():
                    m.next = "PAYLOAD"
            header_state("LEN1", None, len1_action)

            def payload_action():
                m.d.comb += buf_w.en.eq(1)
                with m.If(idx < 7):
                    m.d.sync += args[idx[:3]].eq(byte_in)
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx == length - 1):
                    m.next = "CRC0"
            header_state("PAYLOAD", None, payload_action)

            with m.State("CRC0"):
                quiet_tick(lambda: to_error(S.ERR_TIMEOUT))
                with m.If(got):
                    m.d.sync += rx_crc_hi.eq(byte_in)
                    m.next = "CRC1"
            with m.State("CRC1"):
                quiet_tick(lambda: to_error(S.ERR_TIMEOUT))
                with m.If(got):
                    with m.If(Cat(byte_in, rx_crc_hi) == crc):
                        m.d.sync += idx.eq(0)
                        m.next = "EXEC"
                    with m.Else():
                        to_error(S.ERR_CRC)

            with m.State("DISCARD"):
                quiet_tick(lambda: reply(status))

            # ---------------------------------------------------------------- execute
            with m.State("EXEC"):
                with m.Switch(cmd):
                    with m.Case(C.PING):
                        with m.If(length == 0):
                            reply(S.OK, 5, 1)
                        with m.Else():
                            to_error(S.ERR_ARGS)
                    with m.Case(C.WRITE):
                        with m.If(length >= 4):
                            m.d.sync += [rbase.eq(addr_arg), idx.eq(0)]
                            m.next = "WR_FETCH"
                        with m.Else():
                            to_error(S.ERR_ARGS)
                    with m.Case(C.READ):
                        with m.If((length == 5) & (count_arg != 0) &
                                  (count_arg <= self.max_payload)):
                            m.d.sync += [rbase.eq(addr_arg), rlen.eq(count_arg), ri.eq(0),
                                         check_only.eq(1)]
                            m.next = "RD_REQ"
                        with m.Else():
                            to_error(S.ERR_ARGS)
                    with m.Case(C.START):
                        with m.If(length == 1):
                            m.d.sync += rbase.eq(engine_base + hl.EngineReg.CTRL)
                            m.next = "START"
                        with m.Else():
                            to_error(S.ERR_ARGS)
                    with m.Case(C.WAIT):
                        with m.If(length == 5):
                            m.d.sync += [rbase.eq(engine_base + hl.EngineReg.STATUS),
                                         wait_left.eq(wait_arg)]
                            m.next = "WAIT"
                        with m.Else():
                            to_error(S.ERR_ARGS)
                    with m.Case(C.COUNTERS):
                        with m.If(length == 1):
                            m.d.sync += [rbase.eq(engine_base + hl.EngineReg.CYCLES),
                                         rlen.eq(8), ri.eq(0), check_only.eq(1)]
                            m.next = "RD_REQ"
                        with m.Else():
                            to_error(S.ERR_ARGS)
                    with m.Default():
                        to_error(S.ERR_COMMAND)

            # WRITE: buffer byte idx+3 -> bus address rbase + idx
            with m.State("WR_FETCH"):      # buf_r.addr = idx + 3; data valid next cycle
                m.next = "WR_BUS"
            with m.State("WR_BUS"):
                m.d.comb += [bus.cyc.eq(1), bus.we.eq(1), bus.addr.eq(rbase + idx),
                             bus.w_data.eq(buf_r.data)]
                with m.If(bus.ack):
                    with m.If(bus.err):
                        to_error(S.ERR_BUS)
                    with m.Elif(idx + 4 == length):
                        reply(S.OK)
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
                        m.next = "WR_FETCH"

            with m.State("START"):
                m.d.comb += [bus.cyc.eq(1), bus.we.eq(1), bus.addr.eq(rbase),
                             bus.w_data.eq(1)]
                with m.If(bus.ack):
                    with m.If(bus.err):
                        to_error(S.ERR_BUS)
                    with m.Else():
                        reply(S.OK)

            with m.State("WAIT"):
                m.d.comb += [bus.cyc.eq(1), bus.addr.eq(rbase)]
                with m.If(wait_left != 0):
                    m.d.sync += wait_left.eq(wait_left - 1)
                with m.If(bus.ack):
                    with m.If(bus.err):
                        to_error(S.ERR_BUS)
                    with m.Elif(bus.r_data & hl.STATUS_DONE):
                        m.d.sync += [rbase.eq(rbase + (hl.EngineReg.CYCLES -
                                                       hl.EngineReg.STATUS)),
                                     rlen.eq(8), ri.eq(0), check_only.eq(1)]
                        m.next = "RD_REQ"
                    with m.Elif(wait_left == 0):
                        to_error(S.ERR_WAIT_TIMEOUT)

            # Burst read of rlen bytes from rbase: first a check pass (any err -> ERR_BUS,
            # nothing sent), then the reply header and a second pass streaming the bytes.
            with m.State("RD_REQ"):
                m.d.comb += [bus.cyc.eq(1), bus.addr.eq(rbase + ri)]
                with m.If(bus.ack):
                    m.d.sync += rbyte.eq(bus.r_data)
                    with m.If(bus.err):
                        to_error(S.ERR_BUS)
                    with m.Elif(check_only):
                        with m.If(ri + 1 == rlen):
                            m.d.sync += [check_only.eq(0), status.eq(S.OK), src.eq(2),
                                         ri.eq(0)]
                            m.next = "TX_SYNC"
                        with m.Else():
                            m.d.sync += ri.eq(ri + 1)
                    with m.Else():
                        m.next = "TX_BUSBYTE"

            # ---------------------------------------------------------------- reply
            def send(byte, nxt, update_crc=True):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(byte)]
                with m.If(tx.ready):
                    if update_crc:
                        m.d.sync += crc.eq(crc16_step(crc, byte))
                    m.next = nxt

            with m.State("TX_SYNC"):
                m.d.sync += crc.eq(0xFFFF)
                send(hl.SYNC_REPLY, "TX_STATUS", update_crc=False)
            with m.State("TX_STATUS"):
                send(status, "TX_LEN0")
            with m.State("TX_LEN0"):
                send(rlen[:8], "TX_LEN1")
            with m.State("TX_LEN1"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(rlen[8:])]
                with m.If(tx.ready):
                    m.d.sync += [crc.eq(crc16_step(crc, rlen[8:])), ri.eq(0)]
                    with m.If(rlen == 0):
                        m.next = "TX_CRC0"
                    with m.Elif(src == 1):
                        m.next = "TX_ROM"
                    with m.Else():
                        m.next = "RD_REQ"
            with m.State("TX_ROM"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(ping_rom[ri[:3]])]
                with m.If(tx.ready):
                    m.d.sync += [crc.eq(crc16_step(crc, ping_rom[ri[:3]])), ri.eq(ri + 1)]
                    with m.If(ri + 1 == rlen):
                        m.next = "TX_CRC0"
            with m.State("TX_BUSBYTE"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(rbyte)]
                with m.If(tx.ready):
                    m.d.sync += [crc.eq(crc16_step(crc, rbyte)), ri.eq(ri + 1)]
                    with m.If(ri + 1 == rlen):
                        m.next = "TX_CRC0"
                    with m.Else():
                        m.next = "RD_REQ"
            with m.State("TX_CRC0"):
                send(crc[8:], "TX_CRC1", update_crc=False)
            with m.State("TX_CRC1"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(crc[:8])]
                with m.If(tx.ready):
                    m.d.sync += quiet.eq(0)
                    with m.If(stray):
                        m.d.sync += [stray.eq(0), status.eq(S.ERR_SYNC)]
                        m.next = "DISCARD"
                    with m.Else():
                        m.next = "IDLE"


        in_rx = Signal()
        m.d.comb += in_rx.eq(Cat(*[fsm.ongoing(s) for s in rx_states]).any())
        # bytes arriving while executing or replying are dropped and remembered
        with m.If(got & ~in_rx):
            m.d.sync += stray.eq(1)
        m.d.comb += self.active.eq(~fsm.ongoing("IDLE"))
        return m
