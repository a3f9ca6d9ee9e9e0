"""Per-row reciprocal of the softmax sum: a sequential restoring divider.

Implements step 5 of :mod:`attnkit.golden.softmax` exactly:
``z = bit_length(s)``, ``R = round_shift(2**(z + 16) // s, 1)``.
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.softmax import R_BITS

__all__ = ["Reciprocal"]


class Reciprocal(wiring.Component):
    """Restoring divider, one quotient bit per cycle, one row at a time.

    Protocol: when ``busy`` is low, a cycle with ``start`` high loads ``s`` (``s >= 1``).
    ``done`` pulses for one cycle ``latency`` cycles later with ``r`` and ``z`` valid (they
    hold until the next ``start``). ``start`` while ``busy`` is ignored.

    Arithmetic: ``z = bit_length(s)``; ``s_n = s << (width - z)`` (normalised, top bit set);
    ``Q = 2**(width + R_BITS + 1) // s_n`` by restoring division (``R_BITS + 3`` = 18
    quotient bits, remainder ``width + 1`` bits) ``== 2**(z + 16) // s``;
    ``r = (Q + 1) >> 1`` (round half up), in ``[2**15, 2**16]``. ``s = 0`` is not a valid
    input; the softmax feeds 1 for a fully masked row and ignores ``r``.

    Parameters
    ----------
    width : int
        Width of ``s`` (>= 2).

    Attributes
    ----------
    latency : int
        ``R_BITS + 6`` = 21 cycles from ``start`` to ``done`` (1 load, 1 normalise,
        ``R_BITS + 3`` division steps, 1 rounding).
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or isinstance(width, bool):
            raise TypeError(f"width must be an int, not {width!r}")
        if not 2 <= width <= 62:
            raise ValueError(f"width must be in 2..62, not {width!r}")
        self.width = width
        self.steps = R_BITS + 3
        self.latency = self.steps + 3
        super().__init__({
            "start": In(1),
            "s": In(unsigned(width)),
            "busy": Out(1),
            "done": Out(1),
            "r": Out(unsigned(R_BITS + 2)),
            "z": Out(range(width + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        s = Signal(unsigned(w))
        sn = Signal(unsigned(w))
        rem = Signal(unsigned(w + 1))
        q = Signal(unsigned(self.steps))
        step = Signal(range(self.steps + 1))
        z = Signal(range(w + 1))

        # priority encoder: bit length of s
        blen = Signal(range(w + 1))
        for i in range(w):
            with m.If(s[i]):
                m.d.comb += blen.eq(i + 1)

        lz = Signal(range(w + 1))
        m.d.comb += lz.eq(w - blen)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += s.eq(self.s)
                    m.next = "NORM"
            with m.State("NORM"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [
                    z.eq(blen),
                    sn.eq((s << lz)[:w]),
                    rem.eq(1 << (w - 1)),
                    q.eq(0),
                    step.eq(0),
                ]
                m.next = "DIV"
            with m.State("DIV"):
                m.d.comb += self.busy.eq(1)
                ge = Signal()
                m.d.comb += ge.eq(rem >= sn)
                diff = Signal(unsigned(w + 1))
                with m.If(ge):
                    m.d.comb += diff.eq(rem - sn)
                with m.Else():
                    m.d.comb += diff.eq(rem)
                m.d.sync += [
                    rem.eq(diff << 1),
                    q.eq((q << 1) | ge),
                    step.eq(step + 1),
                ]
                with m.If(step == self.steps - 1):
                    m.next = "ROUND"
            with m.State("ROUND"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [self.r.eq((q + 1) >> 1), self.z.eq(z)]
                m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.next = "IDLE"
        return m
