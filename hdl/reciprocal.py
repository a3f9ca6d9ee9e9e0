"""Per-row reciprocal of the softmax sum: a sequential restoring divider.

Implements step 5 of :mod:`attnkit.golden.softmax` exactly:
``z = bit_length(s)``, ``R = round_shift(2**(z + 16) // s, 1)``.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.softmax import R_BITS
from .carry_chain import mux_sub
from .pipeline import distinct_register
from .dsp import resolve_impl

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
    by a chain of fixed 32/16/8/4/2/1-bit shift stages, one register each, two for the
    stages that test 8 or more bits for zero);
    ``Q = 2**(width + R_BITS + 1) // s_n`` by restoring division (``R_BITS + 3`` = 18
    quotient bits, remainder ``width + 1`` bits) ``== 2**(z + 16) // s``;
    ``r = (Q + 1) >> 1`` (round half up), in ``[2**15, 2**16]``. ``s = 0`` is not a valid
    input; the softmax feeds 1 for a fully masked row and ignores ``r``.

    Parameters
    ----------
    width : int
        Width of ``s`` (>= 2).
    impl : ``"auto"``, ``"primitive"`` or ``"behavioural"``
        The division step's subtractor: ECP5 CCU2C cells with the operand choice in their
        LUTs (:func:`attnkit.hdl.carry_chain.mux_sub`), or the plain expression;
        ``"auto"`` picks the primitive when elaborated for an ECP5 platform.

    Attributes
    ----------
    latency : int
        Cycles from ``start`` to ``done``: the normaliser's settling time (one cycle per
        shift stage, two for the stages that shift by 8, 16 or 32: 9 for ``width > 32``),
        1 LOAD, ``R_BITS + 3`` = 18 division steps, 1 rounding, then ``done`` (30 for
        ``width > 32``).
    """

    def __init__(self, width: int, impl: str = "auto"):
        if not isinstance(width, int) or isinstance(width, bool):
            raise TypeError(f"width must be an int, not {width!r}")
        if not 2 <= width <= 62:
            raise ValueError(f"width must be in 2..62, not {width!r}")
        resolve_impl(impl, None, "impl")
        self._impl = impl
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
        impl = resolve_impl(self._impl, platform, "impl")
        # Normaliser: a free-running chain of fixed shift stages (k = 32, 16, ..., 1); the
        # input ``v0`` holds during NORM, so after ``_norm_cycles`` cycles the chain output
        # is settled. Stage k shifts by k exactly when the top k bits are zero, so the
        # leading-zero count is the concatenation of the stages' flags (bit log2(k) = flag k).
        ks = self._norm_ks
        v0 = Signal(unsigned(w), reset_less=True)     # (data: no reset, like rem below)
        v = v0
        flags = {}
        for k in ks:
            vn = Signal(unsigned(w), name=f"norm{k}", reset_less=True)
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
        rem = Signal(unsigned(w + 1), reset_less=True)
        q = Signal(unsigned(self.steps))
        z = Signal(range(w + 1))

        # Sequencer: one flag per phase (one-hot) and one down-counter with a registered
        # "reaches zero" flag (no state decode).
        norm, load, div, rnd = (Signal(name=n) for n in ("norm", "load", "div", "rnd"))
        cnt = Signal(range(max(self.steps, self._norm_cycles)))
        cnt_zero = Signal()

        def count_from(n):            # the phase lasts n cycles
            return [cnt.eq(n - 1), cnt_zero.eq(n == 1)]

        # While idle the normaliser input and the counter load every cycle (their enable is
        # ``~busy``, a register), so ``start`` itself only sets two flags.
        # ``norm_last``: the last normalisation cycle (``norm & cnt_zero``) as a register, so
        # its wide fan-out (the remainder's reset, the phase flags) hangs on a register
        # (the AND, placed far from the flags it clears, was the attention engine's critical
        # path in v45)
        # ``norm_last`` is a ``distinct_register``: its next value below is its D input and
        # the reset its flip-flop's own clear (as an ordinary register Yosys folded the
        # "else 0" into the clear: reset -> two look-up tables -> the clear pin, the
        # attention engine's critical path in both v57 builds)
        norm_last = Signal(name="norm_last")
        m.d.comb += norm_last.eq(distinct_register(
            m, (~self.busy & self.start & (self._norm_cycles == 1))
               | (norm & ~norm_last & (cnt == 1)), "norm_last_ff", impl))
        with m.If(~self.busy):
            m.d.sync += [v0.eq(self.s), *count_from(self._norm_cycles)]
            with m.If(self.start):
                m.d.sync += [self.busy.eq(1), norm.eq(1)]
        with m.If(norm | div):
            m.d.sync += [cnt.eq(cnt - 1), cnt_zero.eq(cnt == 1)]
        with m.If(norm_last):
            m.d.sync += [norm.eq(0), load.eq(1)]
        # Division step: ``diff = rem - s_n`` is kept in registers beside ``rem``, so the
        # quotient bit is a register (``ge``, the complemented sign, which the chain's top
        # CCU2C half delivers directly), and the next ``diff`` is one carry chain that also
        # chooses its first operand (:func:`~.carry_chain.mux_sub`, selected by ``ge``
        # itself), ending straight in the registers. ``s_n`` is the normaliser's output
        # ``v`` itself (it holds while busy). ``rem`` and ``diff`` step every cycle (only
        # their values in LOAD and DIV matter); in the last normalisation cycle ``rem`` is
        # set to 2**(w-2) and ``ge`` cleared (a plain synchronous reset), so LOAD is a
        # "keep" step: rem = 2**(w-1), diff = 2**(w-1) - s_n; the division steps follow.
        # diff width: w + 1 bits hold it (the restoring invariant 0 <= rem < 2 s_n gives
        # -s_n <= diff < s_n); one more when w is even, as mux_sub's inverted top bit
        # needs an even width
        dw = w + 1 + (w + 1) % 2
        diff = Signal(dw - 1, reset_less=True)         # diff without its sign bit
        ge = Signal(reset_less=True)                   # ~sign(diff): the quotient bit
        rem_keep = (rem << 1)[:w + 1]                 # next rem when the bit is 0
        rem_sub = (diff[:w + 1] << 1)[:w + 1]         # next rem when the bit is 1
        diff_next = mux_sub(m, ge, rem_sub, rem_keep, v, dw, impl, "div_diff", invert_msb=True)
        m.d.sync += [rem.eq(Mux(ge, rem_sub, rem_keep)), diff.eq(diff_next[:dw - 1]),
                     ge.eq(diff_next[dw - 1])]
        with m.If(norm_last):
            m.d.sync += [rem.eq(1 << (w - 2)), ge.eq(0)]
        with m.If(load):
            m.d.sync += [z.eq(w - lz), q.eq(0), load.eq(0), div.eq(1), *count_from(self.steps)]
        with m.If(div):
            m.d.sync += q.eq((q << 1) | ge)
            with m.If(cnt_zero):
                m.d.sync += [div.eq(0), rnd.eq(1)]
        with m.If(rnd):
            m.d.sync += [self.r.eq((q + 1) >> 1), self.z.eq(z), self.done.eq(1), rnd.eq(0)]
        with m.If(self.done):
            m.d.sync += [self.done.eq(0), self.busy.eq(0)]
        return m
