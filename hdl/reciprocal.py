"""Per-row reciprocal of the softmax sum: a sequential restoring divider.

Implements step 5 of :mod:`attnkit.golden.softmax` exactly:
``z = bit_length(s)``, ``R = round_shift(2**(z + 16) // s, 1)``.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.softmax import R_BITS

__all__ = ["Reciprocal"]

#: Normaliser stages that shift by at least this many bits test that many bits for zero:
#: the test gets its own register stage (an 8-input AND is 2+ LUT levels before the
#: shift multiplexers that fan out to every bit).
_WIDE_ZERO_TEST = 8


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
        Cycles from ``start`` to ``done``: the normaliser's settling time (one cycle per
        shift stage, two for the stages that shift by 8, 16 or 32: 9 for ``width > 32``),
        1 LOAD, ``R_BITS + 3`` = 18 division steps, 1 rounding, then ``done`` (30 for
        ``width > 32``).
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or isinstance(width, bool):
            raise TypeError(f"width must be an int, not {width!r}")
        if not 2 <= width <= 62:
            raise ValueError(f"width must be in 2..62, not {width!r}")
        self.width = width
        self.steps = R_BITS + 3
        self._norm_ks = [k for k in (32, 16, 8, 4, 2, 1) if k < width]
        # cycles for the normaliser chain to settle: stages that test >= 16 bits for zero
        # register that test first (2 cycles), the others take 1
        self._norm_cycles = sum(2 if k >= _WIDE_ZERO_TEST else 1 for k in self._norm_ks)
        self.latency = self.steps + self._norm_cycles + 3
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
        # input ``v0`` holds during NORM, so after ``_norm_cycles`` cycles the chain output
        # is settled. Stage k shifts by k exactly when the top k bits are zero, so the
        # leading-zero count is the concatenation of the stages' flags (bit log2(k) = flag k).
        ks = self._norm_ks
        v0 = Signal(unsigned(w))
        v = v0
        flags = {}
        for k in ks:
            vn = Signal(unsigned(w), name=f"norm{k}")
            tz = Signal(name=f"top_zero{k}")
            if k >= _WIDE_ZERO_TEST:
                m.d.sync += tz.eq(v[w - k:] == 0)      # registered test, then the shift
                flag = tz
            else:
                m.d.comb += tz.eq(v[w - k:] == 0)
                flag = Signal(name=f"lz_flag{k}")
                m.d.sync += flag.eq(tz)
            m.d.sync += vn.eq(Mux(tz, v << k, v))
            flags[k] = flag
            v = vn
        # flags of wide stages are one cycle ahead of their shift but stay valid: v0 holds
        lz = Cat(*(flags.get(1 << i, Const(0, 1)) for i in range(6)))
        sn = Signal(unsigned(w))
        rem = Signal(unsigned(w + 1))
        q = Signal(unsigned(self.steps))
        z = Signal(range(w + 1))

        # Sequencer: one flag per phase (one-hot) and one down-counter with a registered
        # "reaches zero" flag, so ``start`` only enables registers (no state decode on it).
        norm, load, div, rnd = (Signal(name=n) for n in ("norm", "load", "div", "rnd"))
        cnt = Signal(range(max(self.steps, self._norm_cycles)))
        cnt_zero = Signal()

        def count_from(n):            # the phase lasts n cycles
            return [cnt.eq(n - 1), cnt_zero.eq(n == 1)]

        with m.If(self.start & ~self.busy):
            m.d.sync += [v0.eq(self.s), self.busy.eq(1), norm.eq(1),
                         *count_from(self._norm_cycles)]
        with m.If(norm | div):
            m.d.sync += [cnt.eq(cnt - 1), cnt_zero.eq(cnt == 1)]
        with m.If(norm & cnt_zero):
            m.d.sync += [norm.eq(0), load.eq(1)]
        # Division step: ``diff = rem - sn`` is kept in a register beside ``rem``, so the
        # quotient bit (its sign) is a register. The next ``diff`` is one subtraction whose
        # operands are chosen first (by that register bit, or by LOAD), so the carry chain
        # ends straight in the ``diff`` register.
        diff = Signal(signed(w + 2))
        ge = Signal()
        m.d.comb += ge.eq(~diff[-1])
        rem_keep = (rem << 1)[:w + 1]                 # next rem when the bit is 0
        rem_sub = (diff[:w + 1] << 1)[:w + 1]         # next rem when the bit is 1
        rem_next = Signal(unsigned(w + 1))
        m.d.comb += rem_next.eq(Mux(load, 1 << (w - 1), Mux(ge, rem_sub, rem_keep)))
        with m.If(load | div):
            m.d.sync += [rem.eq(rem_next), diff.eq(rem_next - Mux(load, v, sn))]
        with m.If(load):
            m.d.sync += [z.eq(w - lz), sn.eq(v), q.eq(0),
                         load.eq(0), div.eq(1), *count_from(self.steps)]
        with m.If(div):
            m.d.sync += q.eq((q << 1) | ge)
            with m.If(cnt_zero):
                m.d.sync += [div.eq(0), rnd.eq(1)]
        with m.If(rnd):
            m.d.sync += [self.r.eq((q + 1) >> 1), self.z.eq(z), self.done.eq(1), rnd.eq(0)]
        with m.If(self.done):
            m.d.sync += [self.done.eq(0), self.busy.eq(0)]
        return m
