"""Per-row reciprocal of the softmax sum: a sequential restoring divider.

Implements step 5 of :mod:`attnkit.golden.softmax` exactly:
``z = bit_length(s)``, ``R = round_shift(2**(z + 16) // s, 1)``.
"""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.softmax import R_BITS

__all__ = ["Reciprocal"]


class Reciprocal(wiring.Component):
    """Restoring divider, one quotient bit per cycle, one row at a time.

    Protocol: when ``busy`` is low, a cycle with ``start`` high loads ``s`` (``s >= 1``).
    ``busy`` and ``done`` are registers (no output depends combinationally on the state).
    ``done`` pulses for one cycle ``latency`` cycles later with ``r`` and ``z`` valid (they
    hold until the next ``start``). ``start`` while ``busy`` is ignored.

    Arithmetic: ``z = bit_length(s)``; ``s_n = s << (width - z)`` (normalised, top bit set,
    by a chain of fixed 32/16/8/4/2/1-bit shift stages, one register each);
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
        Cycles from ``start`` to ``done``: one per normalisation stage (6 for
        ``width > 32``), 1 LOAD, ``R_BITS + 3`` = 18 division steps, 1 rounding, then
        ``done`` (27 for ``width > 32``).
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or isinstance(width, bool):
            raise TypeError(f"width must be an int, not {width!r}")
        if not 2 <= width <= 62:
            raise ValueError(f"width must be in 2..62, not {width!r}")
        self.width = width
        self.steps = R_BITS + 3
        self._norm_stages = len([k for k in (32, 16, 8, 4, 2, 1) if k < width])
        self.latency = self.steps + self._norm_stages + 3
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
        # Normaliser: a free-running chain of fixed shift stages (k = 32, 16, ..., 1); the
        # input ``v0`` holds during NORM, so after len(ks) cycles the chain output is settled.
        ks = [k for k in (32, 16, 8, 4, 2, 1) if k < w]
        v0 = Signal(unsigned(w))
        v, lz = v0, Const(0, range(w + 1))
        for k in ks:
            vn = Signal(unsigned(w), name=f"norm{k}")
            lzn = Signal(range(w + 1), name=f"lz{k}")
            top_zero = v[w - k:] == 0
            m.d.sync += [vn.eq(Mux(top_zero, v << k, v)), lzn.eq(Mux(top_zero, lz + k, lz))]
            v, lz = vn, lzn
        sn = Signal(unsigned(w))
        rem = Signal(unsigned(w + 1))
        q = Signal(unsigned(self.steps))
        step = Signal(range(max(self.steps, len(ks)) + 1))
        z = Signal(range(w + 1))

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [v0.eq(self.s), step.eq(0), self.busy.eq(1)]
                    m.next = "NORM"
            with m.State("NORM"):
                m.d.sync += step.eq(step + 1)
                with m.If(step == len(ks) - 1):
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += [
                    z.eq(w - lz),
                    sn.eq(v),
                    rem.eq(1 << (w - 1)),
                    q.eq(0),
                    step.eq(0),
                ]
                m.next = "DIV"
            with m.State("DIV"):
                diff = Signal(signed(w + 2))
                ge = Signal()
                m.d.comb += [diff.eq(rem - sn), ge.eq(~diff[-1])]
                m.d.sync += [
                    rem.eq(Mux(ge, diff[:w + 1], rem) << 1),
                    q.eq((q << 1) | ge),
                    step.eq(step + 1),
                ]
                with m.If(step == self.steps - 1):
                    m.next = "ROUND"
            with m.State("ROUND"):
                m.d.sync += [self.r.eq((q + 1) >> 1), self.z.eq(z), self.done.eq(1)]
                m.next = "DONE"
            with m.State("DONE"):
                m.d.sync += [self.done.eq(0), self.busy.eq(0)]
                m.next = "IDLE"
        return m
