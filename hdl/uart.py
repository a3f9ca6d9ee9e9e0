"""UART receiver and transmitter (8N1) with stream interfaces.

Both run in the ``sync`` domain with a fixed integer ``divisor`` = clock cycles per bit
(``divisor = f_clk / baud``; the caller picks a clock and baud rate whose ratio is close to an
integer, see :func:`baud_divisor`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Cat, Const
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out
from amaranth.lib.cdc import FFSynchronizer

__all__ = ["UARTRx", "UARTTx", "baud_divisor"]

MIN_DIVISOR = 4


def _check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"divisor must be an int, not {divisor!r}")
    if divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be >= {MIN_DIVISOR} clock cycles per bit, "
                         f"not {divisor!r}")


def baud_divisor(clk_hz: float, baud: int, *, max_error: float = 0.02) -> int:
    """Cycles per bit for ``baud`` at ``clk_hz``; ``ValueError`` if the rate error is too big.

    8N1 framing tolerates roughly +/-4.5 % of combined error between both ends (the stop bit
    is sampled 9.5 bits after the start edge); ``max_error`` keeps half of that for the far end.
    """
    if baud <= 0:
        raise ValueError(f"baud must be positive, not {baud!r}")
    divisor = round(clk_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"baud {baud} is too fast for a {clk_hz / 1e6:g} MHz clock "
                         f"(divisor {divisor} < {MIN_DIVISOR})")
    error = abs(clk_hz / divisor - baud) / baud
    if error > max_error:
        raise ValueError(f"baud {baud} cannot be made from a {clk_hz / 1e6:g} MHz clock: "
                         f"nearest divisor {divisor} is off by {error:.2%} (> {max_error:.0%})")
    return divisor


class UARTRx(wiring.Component):
    """8N1 UART receiver.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, >= 4.
    sync_stages : int
        Flip-flops synchronising ``rx`` to ``sync`` (0 when ``rx`` is already synchronous).

    Ports
    -----
    rx : In(1)
        Serial input, idle high.
    o_stream : Out(stream.Signature(8))
        One beat per received byte. There is no flow control on a UART: if the previous byte
        has not been taken when the next stop bit is sampled, the *new* byte is dropped (the
        offered one stays, as the stream rules require) and ``overrun`` pulses.
    frame_error : Out(1)
        Pulses for one cycle when a stop bit is sampled low; the byte is discarded and the
        receiver waits for the line to go idle (high) again.
    overrun : Out(1)
        Pulses for one cycle when a byte was dropped as described above.

    Timing: the start bit is qualified at its middle (``divisor // 2`` cycles after the
    falling edge), data bits are sampled every ``divisor`` cycles after that, LSB first; the
    byte appears on ``o_stream`` one cycle after the middle of the stop bit, i.e.
    ``sync_stages + divisor//2 + 9*divisor + 1`` cycles after the start edge on ``rx``.
    """

    def __init__(self, divisor: int, *, sync_stages: int = 2):
        self._MustUse__silence = True   # no "never used" warning when the checks below raise
        _check_divisor(divisor)
        if not isinstance(sync_stages, int) or sync_stages < 0:
            raise ValueError(f"sync_stages must be an int >= 0, not {sync_stages!r}")
        self._MustUse__silence = False
        self.divisor = divisor
        self.sync_stages = sync_stages
        super().__init__({
            "rx": In(1, init=1),
            "o_stream": Out(stream.Signature(8)),
            "frame_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        if self.sync_stages:
            rx = Signal(init=1)
            m.submodules.rx_sync = FFSynchronizer(self.rx, rx, init=1,
                                                  stages=self.sync_stages)
        else:
            rx = self.rx

        timer = Signal(range(d + 1))
        bitno = Signal(range(10))
        shreg = Signal(8)

        with m.If(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        m.d.sync += [self.frame_error.eq(0), self.overrun.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"       # glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), bitno.eq(0)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), bitno.eq(bitno + 1),
                                 timer.eq(d - 1)]
                    with m.If(bitno == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(rx):
                        with m.If(self.o_stream.valid & ~self.o_stream.ready):
                            # previous byte still offered: keep it (stream rule), drop this
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o_stream.payload.eq(shreg),
                                         self.o_stream.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.frame_error.eq(1)
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 UART transmitter.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, >= 4.

    Ports
    -----
    i_stream : In(stream.Signature(8))
        Bytes to send. ``ready`` is high while the transmitter is idle; a byte is accepted in
        one cycle and then takes ``10 * divisor`` cycles on the line (start, 8 data bits LSB
        first, stop), after which the next byte is accepted immediately: full line rate.
    tx : Out(1)
        Serial output (registered, idle high).
    busy : Out(1)
        High while a byte is on the line.
    """

    def __init__(self, divisor: int):
        self._MustUse__silence = True
        _check_divisor(divisor)
        self._MustUse__silence = False
        self.divisor = divisor
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)

        # the next byte is accepted in the last cycle of the stop bit: no idle gap
        last = (bits == 1) & (timer == 0)
        m.d.comb += [self.i_stream.ready.eq((bits == 0) | last), self.busy.eq(bits != 0),
                     self.tx.eq(shreg[0])]
        with m.If(self.i_stream.valid & self.i_stream.ready):
            m.d.sync += [shreg.eq(Cat(Const(0, 1), self.i_stream.payload, Const(1, 1))),
                         bits.eq(10), timer.eq(d - 1)]
        with m.Elif(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), bits.eq(bits - 1),
                             timer.eq(d - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
