"""Streaming fixed-point softmax unit: the hardware of :mod:`attnkit.golden.softmax`.

Architecture (three passes, every pass one element per cycle, rows overlapped)
------------------------------------------------------------------------------
::

    i_stream -> [requant] -> y = x*log2e -> running max ----> x FIFO (BRAM) --+
                                              |  (M, len)                      |
                                              +--> meta queue ------------------+
    pass 2: d = M - y -> Exp2Frac -> (P, n) -> e FIFO (BRAM)                     |
                           sigma -> row sum s --> divider queue -> Reciprocal --+
    pass 3: p = round_shift(P * R, z + 15 + n - G - OF), saturate -> out FIFO -> o_stream

Pass 1 (input) computes ``y`` and the exact row maximum while the row is written to the x
FIFO; pass 2 reads the finished row back, computes ``P = 2**-frac(M - y)`` and the exact
row sum; a restoring divider (:class:`~attnkit.hdl.reciprocal.Reciprocal`) computes one
reciprocal per row while pass 2 already streams the next row; pass 3 normalises. The two
row FIFOs (depth ``l_max`` plus slack) hold row ``i`` while row ``i + 1`` streams in: this
is the double buffering. Three passes instead of an online (Softermax) max+sum keeps the
sum loop a plain adder (no barrel shift in a 1-cycle loop) and makes the sum order
independent, at the price of one more row of latency and a second row buffer.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..golden.quant import REQUANT_MAX_SHIFT, REQUANT_MULT_BITS
from ..golden.softmax import LOG2E_Q, N_CLAMP, R_BITS, SoftmaxConfig, Y_FRAC
from .dsp import MULT18_LATENCY, Mult18
from .exp2 import Exp2Frac
from .reciprocal import Reciprocal

__all__ = ["Softmax", "softmax_in_layout", "softmax_out_layout", "softmax_from_params",
           "SOFTMAX_BUILD_DEFAULTS"]

#: Flat, scalar build parameters (``tools/build.py --design softmax --param k=v``).
SOFTMAX_BUILD_DEFAULTS = {"l_max": 4096, "in_int_bits": 7, "in_frac_bits": 8, "out_bits": 8,
                          "out_int_bits": 0, "table_bits": 6, "degree": 1,
                          "exp_frac_bits": 16, "sum_guard_bits": 10}

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


def _delay(m, sig, n, name):
    for k in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{k}")
        m.d.sync += nxt.eq(sig)
        sig = nxt
    return sig


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
      ``L >= divider_interval`` (28): the per-row divider
      (:class:`~attnkit.hdl.reciprocal.Reciprocal`, 27 cycles for sum widths > 32 bits) limits
      shorter rows to one row per ``divider_interval`` cycles.
    * ``input_latency``: 5 cycles (10 with ``score_requant``) from the input handshake to
      the row buffer.
    * A row's first output leaves ``2 * L + row_latency`` cycles after its first input was
      accepted (``L = 1``; one cycle less for ``L >= 2``): the row is read twice (sum pass,
      normalisation pass). ``row_latency`` = 53 for the default configuration (linear
      interpolation, exponent latency 7); 48 for a plain table, 61 for a cubic polynomial;
      +5 with ``score_requant``. It is an attribute, and the tests assert it.
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
        Longest row, 1..65536 (row buffers hold ``l_max`` plus a small slack).
    score_requant : tuple (multiplier, shift) or None
        Accept int32 scores and requantize them into ``cfg.in_fmt`` first (step 0), with a
        ``REQUANT_MULT_BITS``-bit ``multiplier`` and ``0 <= shift <= REQUANT_MAX_SHIFT``.
    dsp : str
        Multiplier implementation, see :class:`attnkit.hdl.dsp.Mult18`.
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
        self._div = Reciprocal(cfg.sum_width(l_max))
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
        if not 1 <= l_max <= 65536:
            raise ValueError(f"l_max must be in 1..65536, not {l_max!r}")
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
        self.input_latency = 2 + MULT18_LATENCY + (2 + MULT18_LATENCY if score_requant else 0)
        # pass 2 issue -> q2 push: B1, B2, exp, S1 (t), S2 (sigma), S3 (sum)
        p2 = 2 + self._exp.latency + 3
        # q2 -> divider start (1), divider, q3 push (comb at done) visible next cycle (1)
        self._p2_to_p3 = p2 + 1 + self._div.latency + 1
        # pass 3 issue -> out FIFO write: C1, MULT, t, rounded; out FIFO -> valid: 2
        p3 = 1 + MULT18_LATENCY + 2 + 2
        self.divider_interval = self._div.latency + 1
        self.min_full_rate_len = self.divider_interval
        # first accept -> first output: 2L + row_latency for L = 1, one cycle less for L >= 2
        # (the x FIFO's output register is then already loaded); asserted in the tests
        self.row_latency = self.input_latency + self._p2_to_p3 + p3 - 1
        self._cap1 = l_max + self.input_latency + 8
        self._cap2 = l_max + self._p2_to_p3 + 8

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        e, g, of = cfg.exp_frac_bits, cfg.sum_guard_bits, cfg.out_fmt.frac_bits
        yw = cfg.y_width
        sw = cfg.sum_width(self.l_max)
        len_shape = range(self.l_max + 1)
        q = ROW_QUEUE

        m.submodules.exp = exp = self._exp
        m.submodules.div = div = self._div

        xl = data.StructLayout({"y": signed(yw), "mask": 1})
        m1l = data.StructLayout({"M": signed(yw), "last_idx": len_shape, "any": 1})
        el = data.StructLayout({"P": unsigned(e + 1), "n": range(N_CLAMP + 1), "mask": 1})
        m2l = data.StructLayout({"s": unsigned(sw), "last_idx": len_shape, "any": 1})
        m3l = data.StructLayout({"r": unsigned(R_BITS + 2), "z": range(sw + 1),
                                 "last_idx": len_shape, "any": 1})
        ol = softmax_out_layout(cfg.out_fmt.width)

        m.submodules.xfifo = xfifo = SyncFIFOBuffered(width=xl.size, depth=self._cap1)
        m.submodules.meta1 = meta1 = SyncFIFO(width=m1l.size, depth=q)
        m.submodules.efifo = efifo = SyncFIFOBuffered(width=el.size, depth=self._cap2)
        m.submodules.q2 = q2 = SyncFIFO(width=m2l.size, depth=q)
        m.submodules.q3 = q3 = SyncFIFO(width=m3l.size, depth=q)
        m.submodules.ofifo = ofifo = SyncFIFOBuffered(width=ol.size, depth=OUT_QUEUE)

        # ---------------------------------------------------------------- pass 1: input
        res1 = Signal(range(self._cap1 + 1))     # accepted, not yet read by pass 2
        rows1 = Signal(range(q + 1))             # rows whose last was accepted, meta not popped
        cnt1 = Signal(range(self.l_max))
        m.d.comb += self.i_stream.ready.eq((res1 < self._cap1) & (rows1 < q))
        accept = Signal()
        m.d.comb += accept.eq(self.i_stream.valid & self.i_stream.ready)
        last_eff = Signal()
        m.d.comb += last_eff.eq(self.i_stream.payload.last | (cnt1 == self.l_max - 1))
        with m.If(accept):
            m.d.sync += cnt1.eq(Mux(last_eff, 0, cnt1 + 1))

        sbl = data.StructLayout({"valid": 1, "mask": 1, "last": 1})
        sb0 = Signal(sbl)
        logit0 = Signal(signed(self.in_width))
        m.d.sync += [sb0.valid.eq(accept), sb0.mask.eq(self.i_stream.payload.mask),
                     sb0.last.eq(last_eff), logit0.eq(self.i_stream.payload.logit)]

        if self.score_requant is not None:
            mult, shift = self.score_requant
            m.submodules.rq_lo = rq_lo = Mult18(self._dsp)
            m.submodules.rq_hi = rq_hi = Mult18(self._dsp)
            m.d.comb += [rq_lo.a.eq(logit0[:17]), rq_lo.b.eq(mult),
                         rq_hi.a.eq(logit0[17:32].as_signed()), rq_hi.b.eq(mult)]
            prod = Signal(signed(32 + REQUANT_MULT_BITS + 1))
            m.d.sync += prod.eq((rq_hi.p << 17) + rq_lo.p)
            rounded = (prod + ((1 << (shift - 1)) if shift else 0)) >> shift
            xmax = cfg.in_fmt.max_int
            x = Signal(signed(cfg.in_fmt.width))
            with m.If(rounded > xmax):
                m.d.sync += x.eq(xmax)
            with m.Elif(rounded < -xmax):
                m.d.sync += x.eq(-xmax)
            with m.Else():
                m.d.sync += x.eq(rounded)
            sbx = _delay(m, sb0, MULT18_LATENCY + 2, "sbrq")
        else:
            x = logit0
            sbx = sb0

        m.submodules.log2e = lmul = Mult18(self._dsp)
        m.d.comb += [lmul.a.eq(x), lmul.b.eq(LOG2E_Q)]
        fr = cfg.in_fmt.frac_bits
        y = Signal(signed(yw))
        m.d.sync += y.eq((lmul.p + ((1 << (fr - 1)) if fr else 0)) >> fr)
        sby = _delay(m, sbx, MULT18_LATENCY + 1, "sby")

        # running max, row length, "any unmasked" flag
        mx = Signal(signed(yw))
        anyr = Signal()
        len1 = Signal(len_shape)
        live = Signal()
        m.d.comb += live.eq(sby.valid & ~sby.mask)
        mx_new = Signal(signed(yw))
        m.d.comb += mx_new.eq(Mux(live & (~anyr | (y > mx)), y, mx))
        any_new = anyr | live
        len_new = len1 + 1
        wx = data.View(xl, xfifo.w_data)
        wm1 = data.View(m1l, meta1.w_data)
        m.d.comb += [xfifo.w_en.eq(sby.valid), wx.y.eq(y), wx.mask.eq(sby.mask),
                     wm1.M.eq(mx_new), wm1.last_idx.eq(len1), wm1.any.eq(any_new),
                     meta1.w_en.eq(sby.valid & sby.last)]
        with m.If(sby.valid):
            m.d.sync += mx.eq(mx_new)
            with m.If(sby.last):
                m.d.sync += [anyr.eq(0), len1.eq(0)]
            with m.Else():
                m.d.sync += [anyr.eq(any_new), len1.eq(len_new)]

        # ---------------------------------------------------------------- pass 2: exp + sum
        res2 = Signal(range(self._cap2 + 1))
        rows2 = Signal(range(q + 1))
        idx2 = Signal(range(self.l_max))
        h1 = data.View(m1l, meta1.r_data)
        rx = data.View(xl, xfifo.r_data)
        issue2 = Signal()
        last2 = Signal()
        m.d.comb += [
            issue2.eq(xfifo.r_rdy & meta1.r_rdy & (res2 < self._cap2)
                      & ((idx2 != 0) | (rows2 < q))),
            last2.eq(idx2 == h1.last_idx),
            xfifo.r_en.eq(issue2),
            meta1.r_en.eq(issue2 & last2),
        ]
        with m.If(issue2):
            m.d.sync += idx2.eq(Mux(last2, 0, idx2 + 1))

        b1l = data.StructLayout({"valid": 1, "mask": 1, "last": 1, "any": 1, "last_idx": len_shape})
        b1 = Signal(b1l)
        y1 = Signal(signed(yw))
        m1 = Signal(signed(yw))
        m.d.sync += [b1.valid.eq(issue2), b1.mask.eq(rx.mask), b1.last.eq(last2),
                     b1.any.eq(h1.any), b1.last_idx.eq(h1.last_idx), y1.eq(rx.y), m1.eq(h1.M)]
        b2 = Signal(b1l)
        d2 = Signal(signed(yw + 1))
        m.d.sync += [b2.eq(b1), d2.eq(m1 - y1)]
        n2 = Signal(range(N_CLAMP + 1))
        with m.If(d2 < 0):
            m.d.comb += n2.eq(0)
        with m.Elif((d2 >> Y_FRAC) > N_CLAMP):
            m.d.comb += n2.eq(N_CLAMP)
        with m.Else():
            m.d.comb += n2.eq(d2 >> Y_FRAC)
        m.d.comb += exp.f.eq(d2[:Y_FRAC])
        sel = data.StructLayout({"b": b1l, "n": range(N_CLAMP + 1)})
        sb2 = Signal(sel)
        m.d.comb += [sb2.b.eq(b2), sb2.n.eq(n2)]
        sbe = _delay(m, sb2, exp.latency, "sbe")
        P = exp.p
        # e FIFO write and sigma, first half: t = (P << (G+1)) >> n
        we = data.View(el, efifo.w_data)
        m.d.comb += [efifo.w_en.eq(sbe.b.valid), we.P.eq(P), we.n.eq(sbe.n),
                     we.mask.eq(sbe.b.mask)]
        t1 = Signal(unsigned(e + 1 + g + 1))
        sb3 = Signal(b1l)
        m.d.sync += [t1.eq((P << (g + 1)) >> sbe.n), sb3.eq(sbe.b)]
        sigma = Signal(unsigned(e + g + 2))
        sb4 = Signal(b1l)
        m.d.sync += [sigma.eq(Mux(sb3.mask, 0, (t1 + 1) >> 1)), sb4.eq(sb3)]
        sb3 = sb4
        s_acc = Signal(unsigned(sw))
        s_next = Signal(unsigned(sw))
        m.d.comb += s_next.eq(s_acc + sigma)
        wq2 = data.View(m2l, q2.w_data)
        m.d.comb += [q2.w_en.eq(sb3.valid & sb3.last), wq2.s.eq(s_next), wq2.any.eq(sb3.any),
                     wq2.last_idx.eq(sb3.last_idx)]
        with m.If(sb3.valid):
            m.d.sync += s_acc.eq(Mux(sb3.last, 0, s_next))

        # ---------------------------------------------------------------- divider
        hq2 = data.View(m2l, q2.r_data)
        dstart = Signal()
        m.d.comb += [dstart.eq(q2.r_rdy & ~div.busy & ~div.done), q2.r_en.eq(dstart),
                     div.start.eq(dstart), div.s.eq(Mux(hq2.any, hq2.s, 1))]
        d_any = Signal()
        d_len = Signal(len_shape)
        with m.If(dstart):
            m.d.sync += [d_any.eq(hq2.any), d_len.eq(hq2.last_idx)]
        wq3 = data.View(m3l, q3.w_data)
        m.d.comb += [q3.w_en.eq(div.done), wq3.r.eq(div.r), wq3.z.eq(div.z),
                     wq3.any.eq(d_any), wq3.last_idx.eq(d_len)]

        # ---------------------------------------------------------------- pass 3: normalise
        res3 = Signal(range(OUT_QUEUE + 1))
        idx3 = Signal(range(self.l_max))
        h3 = data.View(m3l, q3.r_data)
        re = data.View(el, efifo.r_data)
        issue3 = Signal()
        last3 = Signal()
        m.d.comb += [
            issue3.eq(efifo.r_rdy & q3.r_rdy & (res3 < OUT_QUEUE)),
            last3.eq(idx3 == h3.last_idx),
            efifo.r_en.eq(issue3),
            q3.r_en.eq(issue3 & last3),
        ]
        with m.If(issue3):
            m.d.sync += idx3.eq(Mux(last3, 0, idx3 + 1))

        kconst = R_BITS - 1 - g - of
        shw = range(sw + N_CLAMP + R_BITS + 2)
        # C1: BRAM/queue outputs straight into registers (the EBR output has a long
        # clock-to-out); C2: shift amount and zero flag; then align with the multiplier.
        r1l = data.StructLayout({"valid": 1, "mask": 1, "last": 1, "any": 1,
                                 "n": range(N_CLAMP + 1), "z": range(sw + 1)})
        c1r = Signal(r1l)
        p1 = Signal(unsigned(e + 1))
        r1 = Signal(unsigned(R_BITS + 2))
        m.d.sync += [c1r.valid.eq(issue3), c1r.mask.eq(re.mask), c1r.last.eq(last3),
                     c1r.any.eq(h3.any), c1r.n.eq(re.n), c1r.z.eq(h3.z),
                     p1.eq(re.P), r1.eq(h3.r)]
        c1l = data.StructLayout({"valid": 1, "zero": 1, "last": 1, "flag": 1, "sh1": shw})
        c1 = Signal(c1l)
        m.d.sync += [c1.valid.eq(c1r.valid), c1.zero.eq(c1r.mask | ~c1r.any),
                     c1.last.eq(c1r.last), c1.flag.eq(~c1r.any),
                     c1.sh1.eq(c1r.z + c1r.n + kconst)]
        m.submodules.norm = nmul = Mult18(self._dsp)
        m.d.comb += [nmul.a.eq(p1), nmul.b.eq(r1)]
        c4 = _delay(m, c1, MULT18_LATENCY - 1, "c")
        prod_w = e + 1 + R_BITS + 2
        t4 = Signal(unsigned(prod_w))
        c5 = Signal(c1l)
        with m.If(c4.sh1 >= prod_w):
            m.d.sync += t4.eq(0)
        with m.Else():
            m.d.sync += t4.eq(nmul.p[:prod_w] >> c4.sh1[:prod_w.bit_length()])
        m.d.sync += c5.eq(c4)
        pr = Signal(unsigned(prod_w))
        c6 = Signal(c1l)
        m.d.sync += [pr.eq((t4 + 1) >> 1), c6.eq(c5)]
        c5 = c6
        wo = data.View(ol, ofifo.w_data)
        omax = cfg.out_fmt.max_int
        m.d.comb += [ofifo.w_en.eq(c5.valid), wo.last.eq(c5.last), wo.all_masked.eq(c5.flag)]
        with m.If(c5.zero):
            m.d.comb += wo.prob.eq(0)
        with m.Elif(pr > omax):
            m.d.comb += wo.prob.eq(omax)
        with m.Else():
            m.d.comb += wo.prob.eq(pr)

        ro = data.View(ol, ofifo.r_data)
        m.d.comb += [self.o_stream.valid.eq(ofifo.r_rdy), self.o_stream.payload.eq(ro),
                     ofifo.r_en.eq(self.o_stream.ready)]
        o_xfer = self.o_stream.valid & self.o_stream.ready

        # ---------------------------------------------------------------- credit counters
        m.d.sync += [
            res1.eq(res1 + accept - issue2),
            rows1.eq(rows1 + (accept & last_eff) - (issue2 & last2)),
            res2.eq(res2 + issue2 - issue3),
            rows2.eq(rows2 + (issue2 & (idx2 == 0)) - (issue3 & last3)),
            res3.eq(res3 + issue3 - o_xfer),
        ]
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
