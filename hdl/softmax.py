"""Streaming fixed-point softmax unit: the hardware of :mod:`attnkit.golden.softmax`.

Architecture (three passes, every pass one element per cycle, rows overlapped)
------------------------------------------------------------------------------
::

    i_stream -> [requant] -> y = x*log2e -> running max --> x buffer (EBR) ---+
                                              | (M, length)                    |
                                              +--> row queue ------------------+
    pass 2: d = M - y -> Exp2Frac -> (P, n) --> e buffer (EBR) ---------------+
                           sigma -> row sum s --> queue -> Reciprocal -> queue |
    pass 3: p = round_shift(P * R, z + 15 + n - G - OF), saturate -> out FIFO -> o_stream

Pass 1 (input) computes ``y`` and the exact row maximum while the row is written to the x
buffer; pass 2 reads the finished row back, computes ``P = 2**-frac(M - y)`` and the exact
row sum; a restoring divider (:class:`~attnkit.hdl.reciprocal.Reciprocal`) computes one
reciprocal per row while pass 2 already streams the next row; pass 3 normalises. The two
row buffers (``l_max`` plus a small slack, circular, in EBR with the output register in
use: :class:`~attnkit.hdl.ebr.RegisteredRAM`) hold row ``i`` while row ``i + 1`` streams
in: this is the double buffering; credit counters make overwriting unread entries
impossible. Three passes instead of an online (Softermax) max+sum keep the sum loop a
plain adder (no barrel shift in a 1-cycle loop) and make the sum order independent, at
the price of one more row of latency and a second row buffer.
"""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.quant import REQUANT_MAX_SHIFT, REQUANT_MULT_BITS
from ..golden.softmax import LOG2E_Q, N_CLAMP, R_BITS, SoftmaxConfig, Y_FRAC
from .carry_chain import gated_add
from .dsp import MULT18_LATENCY, Mult18, resolve_impl
from .ebr import RAM_READ_LATENCY, RegisteredRAM
from .exp2 import Exp2Frac
from .fifo import LutFifo
from .pipeline import delay, updown_counter, wrap_counter
from .reciprocal import Reciprocal

__all__ = ["Softmax", "softmax_in_layout", "softmax_out_layout", "softmax_from_params",
           "SOFTMAX_BUILD_DEFAULTS"]

#: Flat, scalar build parameters (``tools/build.py --design softmax --param k=v``).
SOFTMAX_BUILD_DEFAULTS = {"l_max": 4096, "in_int_bits": 7, "in_frac_bits": 8, "out_bits": 8,
                          "out_int_bits": 0, "table_bits": 6, "degree": 1,
                          "exp_frac_bits": 16, "sum_guard_bits": 10}

#: Largest ``l_max``: the row buffers (``l_max`` + slack <= 128) fit RegisteredRAM's 16384.
L_MAX_LIMIT = 16384 - 128
#: Rows that may be in flight between two passes (depth of the per-row queues).
ROW_QUEUE = 4
#: Depth of the output FIFO (credits of pass 3).
OUT_QUEUE = 16


def softmax_in_layout(logit_width: int) -> data.StructLayout:
    """Input payload: ``logit`` (signed), ``mask`` (1 = masked out), ``last`` (end of row)."""
    return data.StructLayout({"logit": signed(logit_width), "mask": 1, "last": 1})


def softmax_out_layout(out_width: int) -> data.StructLayout:
    """Output payload: ``prob`` (unsigned code), ``last``, ``all_masked`` (row flag)."""
    return data.StructLayout({"prob": unsigned(out_width), "last": 1, "all_masked": 1})


class _RowBuffer:
    """``width`` x ``depth`` RAM from side-by-side :class:`RegisteredRAM` slices (<= 9 bits
    each, EBR output register in use on ECP5); read data ``RAM_READ_LATENCY`` cycles after
    the address, plus a write pointer and a read pointer that wrap at ``depth``. The RAM
    reads every cycle (its read enable is tied high, off the critical path); ``r_en`` only
    advances the read pointer."""

    def __init__(self, m, name, width, depth, impl):
        self.w_en, self.r_en = Signal(name=f"{name}_w_en"), Signal(name=f"{name}_r_en")
        self.w_data = Signal(width, name=f"{name}_w_data")
        self.r_data = Signal(width, name=f"{name}_r_data")
        self.w_ptr = wrap_counter(m, self.w_en, depth, f"{name}_w_ptr")
        self.r_ptr = wrap_counter(m, self.r_en, depth, f"{name}_r_ptr")
        for i, lo in enumerate(range(0, width, 9)):
            hi = min(width, lo + 9)
            ram = RegisteredRAM(hi - lo, depth, impl=impl)
            m.submodules[f"{name}{i}"] = ram
            m.d.comb += [ram.w_en.eq(self.w_en), ram.w_addr.eq(self.w_ptr),
                         ram.w_data.eq(self.w_data[lo:hi]), ram.r_en.eq(1),
                         ram.r_addr.eq(self.r_ptr), self.r_data[lo:hi].eq(ram.r_data)]


def _row_walker(m, issue, last, head, l_max, name):
    """Position within the row at the head of a row queue, without a wide compare on the
    issue path: ``last`` = ``head.single`` on a row's first element, else a registered
    "remaining == 0" flag. Drives ``last`` (comb); returns the "at row start" register."""
    start = Signal(init=1, name=f"{name}_start")
    rem = Signal(range(l_max), name=f"{name}_rem")
    rem_zero = Signal(name=f"{name}_rem_zero")
    m.d.comb += last.eq(Mux(start, head.single, rem_zero))
    with m.If(issue):
        m.d.sync += start.eq(last)
        with m.If(start):
            m.d.sync += [rem.eq(head.last_idx - 1), rem_zero.eq(head.last_idx == 1)]
        with m.Else():
            m.d.sync += [rem.eq(rem - 1), rem_zero.eq(rem == 1)]
    return start


def _row_head(m, start, take, head, name):
    """A row queue's head entry for the whole row, so the walker pops it on the row's first
    element (``take``, in the cycle ``start`` reads 1) and the queue's output slice refills
    while the row runs: the entry itself while ``start``, afterwards a copy taken with the
    pop. The pop then needs no ``last`` and no row length, so the queue's data enable is
    one look-up table of registers (popping on the last element put the walker's
    ``last`` in front of it: the attention engine's critical path, v28-v30)."""
    held = Signal(head.shape(), name=f"{name}_held", reset_less=True)
    with m.If(take):
        m.d.sync += held.eq(head)
    return data.View(head.shape(), Mux(start, head.as_value(), held.as_value()))


def _shift_right_2(m, value, amount, big, name):
    """``value >> amount`` (0 when ``big``, which the caller sets exactly when
    ``amount >= len(value)``, from a register) in two register stages: first by the
    multiple-of-8 part of ``amount``, then by its low three bits. Latency 2."""
    w = len(value)
    hi = Signal(w, name=f"{name}_hi", reset_less=True)
    lo = Signal(3, name=f"{name}_lo", reset_less=True)
    out = Signal(w, name=name, reset_less=True)
    coarse = amount[3:]
    with m.If(big):
        m.d.sync += hi.eq(0)
    with m.Else():
        m.d.sync += hi.eq(value >> (coarse * 8)[:max(w.bit_length(), 1)])
    m.d.sync += [lo.eq(amount[:3]), out.eq(hi >> lo)]
    return out


class Softmax(wiring.Component):
    """Streaming softmax over rows of up to ``l_max`` elements, bit-exact to the golden model.

    Ports
    -----
    i_stream : In(stream.Signature(softmax_in_layout(W)))
        ``logit`` in ``cfg.in_fmt`` (``W = in_fmt.width``), or an int32 score when
        ``score_requant`` is given (``W = 32``); ``mask = 1`` excludes the element (its
        probability is exactly 0); ``last`` ends the row. A row also ends after ``l_max``
        elements without ``last`` (it is cut there; the output marks that element ``last``).
    o_stream : Out(stream.Signature(softmax_out_layout(out_fmt.width)))
        One ``prob`` per input element, in order, with the row's ``last`` and, on every
        element of a fully masked row, ``all_masked = 1`` (and ``prob = 0``).

    Arithmetic: exactly :func:`attnkit.golden.softmax.softmax_fixed` (or
    :func:`~attnkit.golden.softmax.softmax_scores` with ``score_requant``): every rounding,
    saturation and the fully masked case are the golden model's.

    Throughput and latency (cycles; no stalls on either port)
    ---------------------------------------------------------
    * One element per cycle in and out, sustained over consecutive rows of length
      ``L >= divider_interval`` (31): the per-row divider
      (:class:`~attnkit.hdl.reciprocal.Reciprocal`, 30 cycles for sum widths > 32 bits) limits
      shorter rows to one row per ``divider_interval`` cycles.
    * ``input_latency``: 7 cycles (13 with ``score_requant``) from the input handshake to
      the row buffer.
    * A row's first output leaves exactly ``2 * L + row_latency`` cycles after its first
      input was accepted: the row is read twice (sum pass, normalisation pass).
      ``row_latency`` = 69 for the default configuration (linear interpolation, exponent
      latency 8); 63 for a plain table, 77 for a cubic polynomial; +6 with
      ``score_requant``. It is an attribute, and the tests assert it.
    * ``N`` rows of length ``L >= divider_interval`` stream through in at most
      ``N * L + 2 * L + row_latency`` cycles from the first input to the last output; the
      input never stalls and the output never gaps (``N * L`` cycles from first to last
      output), i.e. the steady-state cost is exactly ``L`` cycles per row.
    * Ready/valid: ``i_stream.ready`` depends only on internal state (free buffer space);
      ``o_stream`` comes from a FIFO register (no combinational path from input to output).

    Parameters
    ----------
    cfg : SoftmaxConfig
        Formats and exponent method (any configuration the golden model accepts with
        ``in_fmt.width <= 18``).
    l_max : int
        Longest row, 1..16256 (row buffers hold ``l_max`` plus a slack of at most 128).
    score_requant : tuple (multiplier, shift) or None
        Accept int32 scores and requantize them into ``cfg.in_fmt`` first (step 0), with a
        ``REQUANT_MULT_BITS``-bit ``multiplier`` and ``0 <= shift <= REQUANT_MAX_SHIFT``.
    dsp : str
        ``"auto"`` (default), ``"primitive"`` or ``"behavioural"``: the implementation of the
        multipliers (:class:`attnkit.hdl.dsp.Mult18`) and of the row buffers
        (:class:`attnkit.hdl.ebr.RegisteredRAM`); ``"auto"`` uses the ECP5 primitives when
        elaborated for an ECP5 platform.
    """

    def __init__(self, cfg: SoftmaxConfig = SoftmaxConfig(), l_max: int = 256, *,
                 score_requant=None, dsp: str = "auto"):
        try:
            self._check_params(cfg, l_max, score_requant)
        except (TypeError, ValueError):
            self._MustUse__silence = True     # a rejected component is not "unused"
            raise
        self.cfg = cfg
        self.l_max = l_max
        self.score_requant = score_requant
        self._dsp = dsp
        self._exp = Exp2Frac(cfg, dsp)
        self._div = Reciprocal(cfg.sum_width(l_max), dsp)
        self._init_timing()
        super().__init__({
            "i_stream": In(stream.Signature(softmax_in_layout(self.in_width))),
            "o_stream": Out(stream.Signature(softmax_out_layout(cfg.out_fmt.width))),
        })

    @staticmethod
    def _check_params(cfg, l_max, score_requant):
        if not isinstance(cfg, SoftmaxConfig):
            raise TypeError(f"cfg must be a SoftmaxConfig, not {cfg!r}")
        if not isinstance(l_max, int) or isinstance(l_max, bool):
            raise TypeError(f"l_max must be an int, not {l_max!r}")
        if not 1 <= l_max <= L_MAX_LIMIT:
            raise ValueError(f"l_max must be in 1..{L_MAX_LIMIT}, not {l_max!r}")
        if cfg.in_fmt.width > 18:
            raise ValueError(f"cfg.in_fmt must be at most 18 bits wide for the DSP multiply, "
                             f"not {cfg.in_fmt}")
        if score_requant is not None:
            if (not isinstance(score_requant, tuple) or len(score_requant) != 2
                    or not all(isinstance(v, int) for v in score_requant)):
                raise TypeError(f"score_requant must be a (multiplier, shift) tuple of ints, "
                                f"not {score_requant!r}")
            mult, shift = score_requant
            if not 0 <= mult < 1 << REQUANT_MULT_BITS:
                raise ValueError(f"score_requant multiplier must be in [0, 2**{REQUANT_MULT_BITS}), "
                                 f"not {mult!r}")
            if not 0 <= shift <= REQUANT_MAX_SHIFT:
                raise ValueError(f"score_requant shift must be in [0, {REQUANT_MAX_SHIFT}], "
                                 f"not {shift!r}")

    def _init_timing(self):
        score_requant = self.score_requant
        l_max = self.l_max
        cfg = self.cfg
        self.in_width = 32 if score_requant is not None else cfg.in_fmt.width
        self.input_latency = 4 + MULT18_LATENCY + (3 + MULT18_LATENCY if score_requant else 0)
        # pass 2 issue -> q2 push: RAM read, B1, B2, exp, S1 (t, 2 cycles), S2 (sigma),
        # S3 (sum), push register
        p2 = RAM_READ_LATENCY + 2 + self._exp.latency + 5
        # q2 push -> at q2's output register (2) = divider start, divider, q3 push (comb at
        # done) -> at q3's output register (2)
        self._p2_to_p3 = p2 + 2 + self._div.latency + 2
        # pass 3 issue -> out FIFO write: RAM read, C1, C2, MULT, t, rounded; FIFO -> valid
        p3 = RAM_READ_LATENCY + 2 + (MULT18_LATENCY - 1) + 3 + 2
        self.divider_interval = self._div.latency + 1
        self.min_full_rate_len = self.divider_interval
        # first accept -> first output is exactly 2L + row_latency (asserted in the tests)
        # (+1: a row's meta entry reaches meta1's output register one cycle after its push)
        self.row_latency = self.input_latency + 1 + self._p2_to_p3 + p3 - 1
        self._cap1 = l_max + self.input_latency + 8
        self._cap2 = l_max + self._p2_to_p3 + 8

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        dsp = resolve_impl(self._dsp, platform)
        e, g, of = cfg.exp_frac_bits, cfg.sum_guard_bits, cfg.out_fmt.frac_bits
        yw = cfg.y_width
        sw = cfg.sum_width(self.l_max)
        len_shape = range(self.l_max + 1)
        q = ROW_QUEUE

        m.submodules.exp = exp = self._exp
        m.submodules.div = div = self._div

        xl = data.StructLayout({"y": signed(yw), "mask": 1})
        m1l = data.StructLayout({"M": signed(yw), "last_idx": len_shape, "single": 1, "any": 1})
        el = data.StructLayout({"P": unsigned(e + 1), "n": range(N_CLAMP + 1), "mask": 1})
        m2l = data.StructLayout({"s": unsigned(sw), "last_idx": len_shape, "any": 1})
        m3l = data.StructLayout({"r": unsigned(R_BITS + 2), "z": range(sw + 1),
                                 "last_idx": len_shape, "single": 1, "any": 1})
        ol = softmax_out_layout(cfg.out_fmt.width)

        xfifo = _RowBuffer(m, "xbuf", xl.size, self._cap1, self._dsp)
        # row queues and the output FIFO: LUT RAM with a registered output; credits (below)
        # make overflow impossible, so no full flag sits on a write path
        m.submodules.meta1 = meta1 = LutFifo(m1l.size, q)
        efifo = _RowBuffer(m, "ebuf", el.size, self._cap2, self._dsp)
        m.submodules.q2 = q2 = LutFifo(m2l.size, q)
        m.submodules.q3 = q3 = LutFifo(m3l.size, q)
        m.submodules.ofifo = ofifo = LutFifo(ol.size, OUT_QUEUE)

        # ---------------------------------------------------------------- pass 1: input
        # credit counters (below): res1 = accepted, not yet read by pass 2; rows1 = rows whose
        # last was accepted, meta not popped; res2/rows2 the same between passes 2 and 3;
        # res3 = entries in or headed for the output FIFO. Their room flags:
        room1_res, room1_rows, room2_res, room2_rows, room3 = (
            Signal(name=n) for n in ("room1_res", "room1_rows", "room2_res", "room2_rows", "room3"))
        m.d.comb += self.i_stream.ready.eq(room1_res & room1_rows)
        accept = Signal()
        m.d.comb += accept.eq(self.i_stream.valid & self.i_stream.ready)
        last_eff = Signal()
        # position in the row (a row is cut after l_max elements): a counter that a row's
        # end or its own wrap clears, with a registered "at l_max - 1" flag
        cnt1 = Signal(range(self.l_max))
        cnt1_max = Signal(init=int(self.l_max == 1))
        m.d.comb += last_eff.eq(self.i_stream.payload.last | cnt1_max)
        with m.If(accept):
            m.d.sync += [cnt1.eq(Mux(last_eff, 0, cnt1 + 1)),
                         cnt1_max.eq(Mux(last_eff, self.l_max == 1, cnt1 == self.l_max - 2))]

        sbl = data.StructLayout({"valid": 1, "mask": 1, "last": 1})
        sb0 = Signal(sbl)
        logit0 = Signal(signed(self.in_width), reset_less=True)
        m.d.sync += [sb0.valid.eq(accept), sb0.mask.eq(self.i_stream.payload.mask),
                     sb0.last.eq(last_eff), logit0.eq(self.i_stream.payload.logit)]

        if self.score_requant is not None:
            mult, shift = self.score_requant
            m.submodules.rq_lo = rq_lo = Mult18(self._dsp)
            m.submodules.rq_hi = rq_hi = Mult18(self._dsp)
            m.d.comb += [rq_lo.a.eq(logit0[:17]), rq_lo.b.eq(mult),
                         rq_hi.a.eq(logit0[17:32].as_signed()), rq_hi.b.eq(mult)]
            prod = Signal(signed(32 + REQUANT_MULT_BITS + 1), reset_less=True)
            m.d.sync += prod.eq((rq_hi.p << 17) + rq_lo.p)
            rounded = Signal(signed(32 + REQUANT_MULT_BITS + 1), reset_less=True)
            m.d.sync += rounded.eq((prod + ((1 << (shift - 1)) if shift else 0)) >> shift)
            xmax = cfg.in_fmt.max_int
            x = Signal(signed(cfg.in_fmt.width))
            with m.If(rounded > xmax):
                m.d.sync += x.eq(xmax)
            with m.Elif(rounded < -xmax):
                m.d.sync += x.eq(-xmax)
            with m.Else():
                m.d.sync += x.eq(rounded)
            sbx = delay(m, sb0, MULT18_LATENCY + 3, "sbrq")
        else:
            x = logit0
            sbx = sb0

        m.submodules.log2e = lmul = Mult18(self._dsp)
        m.d.comb += [lmul.a.eq(x), lmul.b.eq(LOG2E_Q)]
        fr = cfg.in_fmt.frac_bits
        yp = Signal(signed(yw), reset_less=True)
        m.d.sync += yp.eq((lmul.p + ((1 << (fr - 1)) if fr else 0)) >> fr)
        sbp = delay(m, sbx, MULT18_LATENCY + 1, "sbp")
        live_p = delay(m, sbx.valid & ~sbx.mask, MULT18_LATENCY + 1, "live_p")
        # Stages P (yp) -> B (yb) -> M (y); M updates the running max ``mx``. The compares
        # look two stages ahead, so no compare sits in a 1-cycle loop: while an element is
        # at P, it is compared with the elements at B and M and with ``mx`` (each compare
        # alone, into its own flag register), and when it reaches M, ``mx`` is
        # max(mx, B, M) of that earlier cycle. A compare counts only when its operand is a
        # live element of the same row (``anyr`` marks that ``mx`` holds one). The loop is
        # then "clock enable = live & (~anyr | gt)", with ``gt`` an AND of three registers.
        yb = Signal(signed(yw), reset_less=True)
        sbb = Signal.like(sbp, name="sbb")
        live_b = Signal()
        y = Signal(signed(yw), reset_less=True)
        sby = Signal.like(sbp, name="sby")
        live = Signal()
        m.d.sync += [yb.eq(yp), sbb.eq(sbp), live_b.eq(live_p),
                     y.eq(yb), sby.eq(sbb), live.eq(live_b)]

        # running max, row length, "any unmasked" flag
        mx = Signal(signed(yw), reset_less=True)
        anyr = Signal()
        len1 = Signal(len_shape)
        last_m = sby.valid & sby.last              # the element at M ends its row
        # each compare and each "ignore this compare" condition into its own register,
        # combined one stage later: a carry chain is the only logic before these registers
        k_b, k_m, k_mx = Signal(name="gt_b"), Signal(name="gt_m"), Signal(name="gt_mx")
        i_b, i_m, i_mx = Signal(name="skip_b"), Signal(name="skip_m"), Signal(name="skip_mx")
        # a > b as the sign of b - a (one subtraction; its top sum bit is the result)
        m.d.sync += [k_b.eq((yb - yp)[-1]), k_m.eq((y - yp)[-1]), k_mx.eq((mx - yp)[-1]),
                     i_b.eq(~live_b), i_m.eq(~live | last_m), i_mx.eq(~anyr | last_m)]
        gt = Signal()
        m.d.sync += gt.eq((i_b | k_b) & (i_m | k_m) & (i_mx | k_mx))
        upd = Signal()
        m.d.comb += upd.eq(live & (~anyr | gt))
        with m.If(upd):                          # the compare drives the clock enable only
            m.d.sync += mx.eq(y)
        any_new = anyr | live
        len_new = len1 + 1
        wx = data.View(xl, xfifo.w_data)
        wm1 = data.View(m1l, meta1.w_data)
        m.d.comb += [xfifo.w_en.eq(sby.valid), wx.y.eq(y), wx.mask.eq(sby.mask)]
        # the row's meta entry is pushed one cycle after its last element, from registers
        push1 = Signal()
        p_any = Signal()
        p_last_idx = Signal(len_shape)
        m.d.sync += push1.eq(sby.valid & sby.last)
        with m.If(sby.valid):
            with m.If(sby.last):
                m.d.sync += [anyr.eq(0), len1.eq(0), p_any.eq(any_new), p_last_idx.eq(len1)]
            with m.Else():
                m.d.sync += [anyr.eq(any_new), len1.eq(len_new)]
        m.d.comb += [meta1.w_en.eq(push1), wm1.M.eq(mx), wm1.last_idx.eq(p_last_idx),
                     wm1.single.eq(p_last_idx == 0), wm1.any.eq(p_any)]

        # ---------------------------------------------------------------- pass 2: exp + sum
        h1 = data.View(m1l, meta1.r_stream.payload)
        rx = data.View(xl, xfifo.r_data)
        issue2 = Signal()
        last2 = Signal()
        start2 = _row_walker(m, issue2, last2, h1, self.l_max, "p2")
        pop1 = Signal()
        m.d.comb += [
            issue2.eq(room2_res & Mux(start2, meta1.r_stream.valid & room2_rows, 1)),
            xfifo.r_en.eq(issue2),
            # issue2 & start2, written out so it is one look-up table of registers
            pop1.eq(start2 & meta1.r_stream.valid & room2_res & room2_rows),
            # (the queue's ready leaves out its own valid: one input less for the output
            # slice's valid logic, which the ready feeds)
            meta1.r_stream.ready.eq(start2 & room2_res & room2_rows),
        ]
        cur1 = _row_head(m, start2, pop1, h1, "p2_row")

        b1l = data.StructLayout({"valid": 1, "mask": 1, "last": 1, "any": 1,
                                 "last_idx": len_shape})
        # the row's fields travel with the read while the RAM answers
        b0l = data.StructLayout({"b": b1l, "M": signed(yw)})
        b0 = Signal(b0l)
        m.d.comb += [b0.b.valid.eq(issue2), b0.b.last.eq(last2), b0.b.any.eq(cur1.any),
                     b0.b.last_idx.eq(cur1.last_idx), b0.M.eq(cur1.M)]
        b0d = delay(m, b0, RAM_READ_LATENCY, "b0")
        b1 = Signal(b1l)
        y1 = Signal(signed(yw), reset_less=True)
        m1 = Signal(signed(yw), reset_less=True)
        m.d.sync += [b1.eq(b0d.b), b1.mask.eq(rx.mask), y1.eq(rx.y), m1.eq(b0d.M)]
        b2 = Signal(b1l)
        d2 = Signal(signed(yw + 1), reset_less=True)
        m.d.sync += [b2.eq(b1), d2.eq(m1 - y1)]
        # n = clamp(d >> Y_FRAC, 0, N_CLAMP) from bit tests (N_CLAMP = 2**6 - 1): the sign,
        # "any bit above the 6-bit integer part", those 6 bits; registered, then chosen
        n_bits = N_CLAMP.bit_length()
        assert N_CLAMP == (1 << n_bits) - 1
        d_neg, d_hi, d_int = Signal(), Signal(), Signal(n_bits)
        b2r = Signal(b1l)
        hi_bits = d2[Y_FRAC + n_bits:-1] if len(d2) - 1 > Y_FRAC + n_bits else Const(0, 1)
        m.d.sync += [d_neg.eq(d2[-1]), d_hi.eq(hi_bits.any()),
                     d_int.eq(d2[Y_FRAC:Y_FRAC + n_bits]), b2r.eq(b2)]
        n2 = Signal(range(N_CLAMP + 1))
        m.d.comb += n2.eq(Mux(d_neg, 0, Mux(d_hi, N_CLAMP, d_int)))
        m.d.comb += exp.f.eq(d2[:Y_FRAC])
        sel = data.StructLayout({"b": b1l, "n": range(N_CLAMP + 1), "nbig": 1})
        sb2 = Signal(sel)
        m.d.comb += [sb2.b.eq(b2r), sb2.n.eq(n2), sb2.nbig.eq(n2 >= e + g + 2)]
        assert exp.latency >= 2
        sbe = delay(m, sb2, exp.latency - 1, "sbe")
        P = exp.p
        # e FIFO write and sigma, first half: t = (P << (G+1)) >> n
        we = data.View(el, efifo.w_data)
        m.d.comb += [efifo.w_en.eq(sbe.b.valid), we.P.eq(P), we.n.eq(sbe.n),
                     we.mask.eq(sbe.b.mask)]
        pg = Signal(unsigned(e + 1 + g + 1))
        m.d.comb += pg.eq(P << (g + 1))
        t1 = _shift_right_2(m, pg, sbe.n, sbe.nbig, "t1")
        sb3 = delay(m, sbe.b, 2, "sb3")
        sigma = Signal(unsigned(e + g + 2), reset_less=True)
        sb4 = Signal(b1l)
        m.d.sync += [sigma.eq(Mux(sb3.mask, 0, (t1 + 1) >> 1)), sb4.eq(sb3)]
        sb3 = sb4
        # row sum: the "row starts" choice gates the adder's input inside the carry chain
        # (``s_clr``, :func:`~.carry_chain.gated_add`), so the sum goes straight into
        # ``s_acc``; the row's q2 entry is pushed one cycle after its
        # last element, from registers
        s_acc = Signal(unsigned(sw), reset_less=True)
        s_clr = Signal(init=1)
        push2 = Signal()
        p2_any = Signal()
        p2_last_idx = Signal(len_shape)
        s_sum = gated_add(m, s_acc, s_clr, sigma, sw, dsp, "row_sum")
        with m.If(sb3.valid):
            m.d.sync += [s_acc.eq(s_sum), s_clr.eq(sb3.last)]
        m.d.sync += [push2.eq(sb3.valid & sb3.last), p2_any.eq(sb3.any),
                     p2_last_idx.eq(sb3.last_idx)]
        wq2 = data.View(m2l, q2.w_data)
        m.d.comb += [q2.w_en.eq(push2), wq2.s.eq(s_acc), wq2.any.eq(p2_any),
                     wq2.last_idx.eq(p2_last_idx)]

        # ---------------------------------------------------------------- divider
        hq2 = data.View(m2l, q2.r_stream.payload)
        dstart = Signal()
        m.d.comb += [dstart.eq(q2.r_stream.valid & ~div.busy & ~div.done),
                     q2.r_stream.ready.eq(~div.busy & ~div.done),      # (without the valid)
                     div.start.eq(dstart), div.s.eq(Mux(hq2.any, hq2.s, 1))]
        d_any = Signal()
        d_len = Signal(len_shape)
        d_single = Signal()
        with m.If(dstart):
            m.d.sync += [d_any.eq(hq2.any), d_len.eq(hq2.last_idx), d_single.eq(hq2.last_idx == 0)]
        wq3 = data.View(m3l, q3.w_data)
        m.d.comb += [q3.w_en.eq(div.done), wq3.r.eq(div.r), wq3.z.eq(div.z),
                     wq3.any.eq(d_any), wq3.last_idx.eq(d_len), wq3.single.eq(d_single)]

        # ---------------------------------------------------------------- pass 3: normalise
        h3 = data.View(m3l, q3.r_stream.payload)
        re = data.View(el, efifo.r_data)
        issue3 = Signal()
        last3 = Signal()
        start3 = _row_walker(m, issue3, last3, h3, self.l_max, "p3")
        pop3 = Signal()
        m.d.comb += [
            issue3.eq(room3 & (~start3 | q3.r_stream.valid)),
            efifo.r_en.eq(issue3),
            pop3.eq(start3 & q3.r_stream.valid & room3),       # issue3 & start3
            q3.r_stream.ready.eq(start3 & room3),              # (without the valid)
        ]
        cur3 = _row_head(m, start3, pop3, h3, "p3_row")

        kconst = R_BITS - 1 - g - of
        prod_w = e + 1 + R_BITS + 2
        shw = range(sw + N_CLAMP + R_BITS + 2)
        # C1: BRAM/queue outputs straight into registers (the EBR output has a long
        # clock-to-out); C2: shift amount and zero flag; then align with the multiplier.
        r1l = data.StructLayout({"valid": 1, "mask": 1, "last": 1, "any": 1,
                                 "n": range(N_CLAMP + 1), "z": range(sw + 1)})
        c0 = Signal(r1l)
        r0 = Signal(unsigned(R_BITS + 2))
        m.d.comb += [c0.valid.eq(issue3), c0.last.eq(last3), c0.any.eq(cur3.any), c0.z.eq(cur3.z),
                     r0.eq(cur3.r)]
        c0d = delay(m, c0, RAM_READ_LATENCY, "c0")
        r0d = delay(m, r0, RAM_READ_LATENCY, "r0")
        c1r = Signal(r1l)
        p1 = Signal(unsigned(e + 1), reset_less=True)
        r1 = Signal(unsigned(R_BITS + 2), reset_less=True)
        m.d.sync += [c1r.eq(c0d), c1r.mask.eq(re.mask), c1r.n.eq(re.n), p1.eq(re.P),
                     r1.eq(r0d)]
        c1l = data.StructLayout({"valid": 1, "zero": 1, "last": 1, "flag": 1, "sh1": shw,
                                 "big": 1})
        c1 = Signal(c1l)
        m.d.sync += [c1.valid.eq(c1r.valid), c1.zero.eq(c1r.mask | ~c1r.any),
                     c1.last.eq(c1r.last), c1.flag.eq(~c1r.any),
                     c1.sh1.eq(c1r.z + c1r.n + kconst)]
        c1b = Signal(c1l)
        m.d.sync += [c1b.eq(c1), c1b.big.eq(c1.sh1 >= prod_w)]
        m.submodules.norm = nmul = Mult18(self._dsp)
        m.d.comb += [nmul.a.eq(p1), nmul.b.eq(r1)]
        c4 = delay(m, c1b, MULT18_LATENCY - 2, "c")
        pm = Signal(unsigned(prod_w))
        m.d.comb += pm.eq(nmul.p[:prod_w])
        t4 = _shift_right_2(m, pm, c4.sh1, c4.big, "t4")
        c5 = delay(m, c4, 2, "c5")
        pr = Signal(unsigned(prod_w), reset_less=True)
        c6 = Signal(c1l)
        omax = cfg.out_fmt.max_int
        # the saturation test runs beside the rounding adder, from the same register, as
        # bit tests (omax = 2**ob - 1): (t4 + 1) >> 1 > omax  <=>  t4 >= 2**(ob+1) - 1
        ob = cfg.out_fmt.width
        assert omax == (1 << ob) - 1
        sat = Signal()
        m.d.sync += [pr.eq((t4 + 1) >> 1), c6.eq(c5),
                     sat.eq((t4[ob + 1:] != 0) | t4[:ob + 1].all())]
        c5 = c6
        wo = data.View(ol, ofifo.w_data)
        m.d.comb += [ofifo.w_en.eq(c5.valid), wo.last.eq(c5.last), wo.all_masked.eq(c5.flag)]
        with m.If(c5.zero):
            m.d.comb += wo.prob.eq(0)
        with m.Elif(sat):
            m.d.comb += wo.prob.eq(omax)
        with m.Else():
            m.d.comb += wo.prob.eq(pr)

        ro = data.View(ol, ofifo.r_stream.payload)
        m.d.comb += [self.o_stream.valid.eq(ofifo.r_stream.valid), self.o_stream.payload.eq(ro),
                     ofifo.r_stream.ready.eq(self.o_stream.ready)]
        o_xfer = self.o_stream.valid & self.o_stream.ready

        # ---------------------------------------------------------------- credit counters
        # Each counter's "room" flag is a register (``updown_counter``), so no compare sits
        # between a counter and the handshakes/read enables. A credit comes back one cycle
        # after the read that frees it (the decrement is registered), which is safe and keeps
        # the read handshakes off the counters' logic. The entry counters (res) count their
        # increments a cycle late too, and admit one entry less for it (the one not yet
        # counted): the issue reached their adders, v36's estimated worst path. The row
        # counters' increments stay immediate (a row of room matters for short rows).
        updates = (
            ("res1", accept, issue2, room1_res, self._cap1, True),
            ("rows1", accept & last_eff, pop1, room1_rows, q, False),
            ("res2", issue2, issue3, room2_res, self._cap2, True),
            ("rows2", issue2 & start2, pop3, room2_rows, q, False),
            ("res3", issue3, o_xfer, room3, OUT_QUEUE, True),
        )
        for name, inc_now, dec_now, room, cap, late in updates:
            dec = Signal(name=f"{name}_freed")
            m.d.sync += dec.eq(dec_now)
            inc = inc_now
            if late:
                inc = Signal(name=f"{name}_taken")
                m.d.sync += inc.eq(inc_now)
            bound = cap - 1 if late else cap
            flags = updown_counter(m, inc, dec, cap, name, {"room": ("<", bound)})
            m.d.comb += room.eq(flags["room"])
        return m


def softmax_from_params(*, l_max, in_int_bits, in_frac_bits, out_bits, out_int_bits, table_bits,
                        degree, exp_frac_bits, sum_guard_bits):
    """:class:`Softmax` from the flat parameters of :data:`SOFTMAX_BUILD_DEFAULTS`."""
    from ..golden.fixed import FixedFormat
    cfg = SoftmaxConfig(in_fmt=FixedFormat(True, in_int_bits, in_frac_bits),
                        out_fmt=FixedFormat(False, out_int_bits, out_bits - out_int_bits),
                        table_bits=table_bits, degree=degree, exp_frac_bits=exp_frac_bits,
                        sum_guard_bits=sum_guard_bits)
    return Softmax(cfg, l_max)
