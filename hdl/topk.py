"""Streaming top-k unit: keep the ``k`` highest scores of a row (SpAtten-style selection).

The row's elements arrive one per cycle on ``i_stream`` in ascending index order. When the
row's ``last`` element has been accepted and has settled, the unit drains the kept entries
on ``o_stream``: highest score first, and among equal scores the lower index first. This is
exactly :func:`attnkit.golden.attention.topk_keep` (order ``(-score, index)``).

Systolic insertion queue
------------------------
The unit is a chain of ``k_max`` cells. Cell ``i`` holds one entry ``h`` (valid, score,
index) and has an *incoming* register ``x`` (valid, score, index, ``shift``) for an element
passing through it. An accepted unmasked element is written to cell 0's incoming register
(``shift = 0``). Every cycle, each cell with a valid incoming element looks only at its own
entry (one compare and a multiplexer; no path crosses cells):

* the cell is empty: it stores ``x``; nothing is passed on;
* ``x.shift = 0`` and ``h.score >= x.score``: it keeps ``h`` and passes ``x`` (``shift = 0``)
  to cell ``i + 1``'s incoming register;
* otherwise (``h.score < x.score``, or ``x.shift = 1``): it stores ``x`` and passes ``h``
  on with ``shift = 1``.

What leaves the last cell is dropped. ``shift = 1`` marks an element that was *displaced*:
the new element already found its place above it, and every entry below it was behind it in
the sorted order (ties included), so the rest of the wave is a plain shift down by one cell.
Comparing scores there instead would swap a displaced entry with an equal-score entry below
it, i.e. let the higher index win the tie.

Why this is sequential insertion, and why the lower index wins a tie: the element accepted
in cycle ``c`` starts a *wave* that is at cell ``i`` in cycle ``c + 1 + i``; every wave moves
one cell per cycle and the waves enter in input order, at most one per cycle, so a wave
reaches each cell strictly after every earlier wave has left it and strictly before every
later wave arrives. Each cell therefore sees the waves in input order, and the queue
evolves exactly as a sorted list into which the elements are inserted one after another.
While the new element searches its place (``shift = 0``), everything held in the cell it
reaches entered the unit before it (all elements move one cell per cycle, in input order,
and indices arrive in ascending order), and on equal scores the held entry stays ahead: the
new element goes below every entry with ``score >=`` its own, so among equal scores the
lower index is first. From its place down, every entry moves one cell (``shift = 1``), which
keeps their order. The cells thus hold the ``k_max`` best elements in ``(-score, index)``
order (valid cells are always a prefix), and the first ``kk = max(k, 1)`` of them are the
top ``kk``.

Registered compare: ``h[i].score < x[i].score`` is a register, ``lt[i]``, loaded a cycle
ahead. While no pop happens, the next ``h[i]`` is ``x[i]`` or ``h[i]`` (by ``take[i]``) and
the next ``x[i]`` is ``x[i-1]`` or ``h[i-1]`` (by ``take[i-1]``; cell 0's is the input).
When ``take[i-1] = 1`` the element arrives with ``shift = 1`` and the cell takes it whatever
the compare says, so only ``x[i-1]`` needs comparing: two compares chosen by ``take[i]``.
Pops happen only while draining, when no wave is in cells ``0 .. kk-1``; a stale ``lt``
there can only misdirect a wave further down, whose entries are never output (below), and
an empty cell takes whatever ``lt`` says.

Settle and drain: after ``last`` is accepted the unit stops accepting (``i_stream.ready =
0``) and waits until no wave is in cells ``0 .. kk-1`` (a wave further down cannot change
them). A wave started in cycle ``c`` has left cell ``kk - 1`` at cycle ``c + 1 + kk``, so a
down-counter loaded with ``kk`` when an unmasked element is accepted and decremented every
cycle tells when: the unit is settled when it reads 0 (a register and a constant compare;
when the queue is full every wave runs to the end of the chain, so tracking per-cell
"in flight" bits would not be earlier). It then drains cell 0 and shifts every entry up one
cell per accepted beat (a wave still below cell ``kk - 1`` only ever touches entries that
are moved up from there, which are never output: the drain ends after at most ``kk``
beats); in the cycle after the last beat every cell (entries and incoming registers) is
cleared for the next row, from a registered flag (the next row's first element, accepted
in that cycle, enters ``x[0]``, which needs no clear), so the clear's fan-out hangs on a
register, not on the consumer's ``ready``.
"""

from amaranth.hdl import Assert, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .carry_chain import mux_sub
from .dsp import resolve_impl
from .lut import lut4, lut5
from .pipeline import distinct_register

__all__ = ["TopK", "topk_in_layout", "topk_out_layout"]


def topk_in_layout(score_width: int, index_width: int) -> data.StructLayout:
    """``score`` (signed), ``index``, ``mask`` (1 = not a candidate), ``last`` (end of row)."""
    return data.StructLayout({"score": signed(score_width), "index": unsigned(index_width),
                              "mask": 1, "last": 1})


def topk_out_layout(score_width: int, index_width: int) -> data.StructLayout:
    """``score``, ``index``, ``last``; ``empty = 1`` on the single beat of a row that kept
    nothing (every element masked)."""
    return data.StructLayout({"score": signed(score_width), "index": unsigned(index_width),
                              "empty": 1, "last": 1})


class TopK(wiring.Component):
    """Streaming top-k over rows (a systolic insertion queue; see the module docstring).

    Ports
    -----
    i_stream : In(stream.Signature(topk_in_layout(score_width, index_width)))
    o_stream : Out(stream.Signature(topk_out_layout(score_width, index_width)))
    k : In(range(k_max + 1))
        Entries to keep, ``1..k_max`` (0 behaves as 1); must be stable during a row.

    Timing
    ------
    Accepts one element per cycle while filling (``i_stream.ready`` is 1 from the end of a
    row's drain until the row's ``last`` element is accepted). With ``kk = max(k, 1)``, the
    drain starts at the later of the cycle after ``last`` is accepted and ``kk + 1`` cycles
    after the row's last *unmasked* element was accepted, and emits ``kept = min(kk,
    #unmasked)`` beats (one beat with ``empty = 1`` if that is 0), one per cycle under no
    backpressure; the next row's first element can be accepted the cycle after the final
    beat. With no backpressure (elements offered back to back, ``o_stream.ready = 1``) a
    row of ``N`` elements costs exactly ``N + settle + max(1, kept)`` cycles, where
    ``settle = max(0, kk - m)`` and ``m`` is the number of masked elements after the row's
    last unmasked element (``settle = 0`` for a row with no unmasked element). The
    compares are registered (``lt``), so a cell's enables come from registers through one
    look-up table.

    Parameters
    ----------
    k_max : int
        Capacity, 1..256.
    score_width : int
        2..48.
    index_width : int
        1..40 (payload only: never compared; the engine packs the logit beside the index).
    impl : str
        ``"auto"``, ``"primitive"`` or ``"behavioural"``: the compares' carry chains as ECP5
        CCU2C instances (:func:`~.carry_chain.mux_sub`) or plain expressions.
    """

    def __init__(self, k_max: int = 16, score_width: int = 32, index_width: int = 12, *,
                 impl: str = "auto"):
        for name, v, lo, hi in (("k_max", k_max, 1, 256), ("score_width", score_width, 2, 48),
                                ("index_width", index_width, 1, 40)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                self._MustUse__silence = True     # a rejected component is not "unused"
                if not isinstance(v, int) or isinstance(v, bool):
                    raise TypeError(f"{name} must be an int, not {v!r}")
                raise ValueError(f"{name} must be in {lo}..{hi}, not {v!r}")
        try:
            resolve_impl(impl, None, "impl")
        except ValueError:
            self._MustUse__silence = True
            raise
        self._impl = impl
        self.k_max = k_max
        self.score_width = score_width
        self.index_width = index_width
        super().__init__({
            "i_stream": In(stream.Signature(topk_in_layout(score_width, index_width))),
            "o_stream": Out(stream.Signature(topk_out_layout(score_width, index_width))),
            "k": In(range(k_max + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        impl = resolve_impl(self._impl, platform, "impl")
        K = self.k_max
        el = data.StructLayout({"score": signed(self.score_width),
                                "index": unsigned(self.index_width)})
        # held entries (hv: valid) and incoming registers (xv: valid, xsh: shift)
        # (the entries' data have no reset: only their valid bits count, and the data then
        # stay off the reset net's fan-out)
        # (the valid bits of cells 1.. have no reset either: the reset sets ``clear_r``, below,
        # which clears them; so the reset net stays out of their clear logic)
        # (nor have the shift flags and the registered compares ``lt``: they only count
        # beside a valid ``xv``)
        hv = [Signal(name=f"hv{i}", reset_less=True) for i in range(K)]
        h = [Signal(el, name=f"h{i}", reset_less=True) for i in range(K)]
        xv = [Signal(name=f"xv{i}", reset_less=i > 0) for i in range(K)]
        xsh = [Signal(name=f"xsh{i}", reset_less=True) for i in range(K)]
        x = [Signal(el, name=f"x{i}", reset_less=True) for i in range(K)]

        kk = Signal(range(K + 1))
        m.d.comb += kk.eq(Mux(self.k == 0, 1, self.k))

        fill = Signal(init=1)       # accepting the row's elements
        settle = Signal()           # last accepted, waves still in cells 0..kk-1
        drain = Signal()            # o_stream.valid
        wait = Signal(range(K + 1))  # cycles until no wave is in cells 0..kk-1
        rem = Signal(range(K + 1))  # drain beats left (of kk)

        inp = self.i_stream.payload
        o = self.o_stream
        m.d.comb += self.i_stream.ready.eq(fill)
        accept = self.i_stream.valid & fill
        inject = accept & ~inp.mask
        pop = drain & o.ready
        # ``last_beat``: the beat on o_stream is the drain's last (its ``kk``-th, or no entry
        # after it), a register (see "Last beat" below)
        last_beat = Signal(init=1)
        clear = pop & last_beat

        # ---------------------------------------------------------------- cells
        m.d.sync += [xv[0].eq(inject), xsh[0].eq(0), x[0].score.eq(inp.score),
                     x[0].index.eq(inp.index)]
        take = [Signal(name=f"take{i}") for i in range(K)]
        # lt[i] = (h[i].score < x[i].score), registered (see "Registered compare" in the
        # module docstring): the next h[i] (x[i] if take[i], else h[i]) compared with the
        # score entering x[i] when take[i - 1] = 0 (the input's, for cell 0): the sign of
        # the exact difference, from one carry chain whose look-up tables make the choice
        # (``mux_sub``; two chains and a multiplexer after them spread the unit, v33)
        lt = [Signal(name=f"lt{i}", reset_less=True) for i in range(K)]
        sw = self.score_width
        # ``pop_c[i]``: a copy of ``pop`` for cells ``i`` and ``i ^ 1`` (``drain``, one
        # register for all cells, had 2.9 ns of routing to their enables, v65; one copy per
        # cell put 32 look-up tables on each register they read, v70 seed 1: 2.7 ns); each
        # copy's next value is computed beside it, from the registers ``drain``'s own comes
        # from (see "control" below)
        pop_c = []
        # the compare's copies of each cell's ``xv``, ``hv``, ``xsh`` (``distinct_register``,
        # the same next values): its ``take`` reads them beside its chain (the cell's own
        # registers, placed by the wave and the entry, were 1.7-1.9 ns of routing from the
        # compare's ``take``: v78's worst path on both seeds)
        clear_r = Signal(init=1)
        hv_n = [Signal(name=f"hv_n{i}") for i in range(K)]
        xv_c = [distinct_register(m, inject, "xv_c0", impl)]
        xsh_c = [xsh[0]]
        hv_c = [distinct_register(m, hv_n[i], f"hv_c{i}", impl, reset_less=True)
                for i in range(K)]
        for i in range(K):
            take_fn = lambda v, hh, sh, l: v & (~hh | sh | l)      # noqa: E731
            m.d.comb += take[i].eq(take_fn(xv[i], hv[i], xsh[i], lt[i]))
            if i + 1 < K:
                xv_c.append(distinct_register(m, xv[i] & hv[i], f"xv_c{i + 1}", impl,
                                              reset_less=True, clear=clear_r))
                xsh_c.append(distinct_register(m, take[i], f"xsh_c{i + 1}", impl,
                                               reset_less=True))
            # the compare's own copy of ``take`` (its 24 look-up tables and the wave's 42 on
            # one net were 2.3 ns of routing, v65)
            take_cmp = lut4(m, take_fn, (xv_c[i], hv_c[i], xsh_c[i], lt[i]), impl,
                            f"take_cmp{i}")
            entering = inp.score if i == 0 else x[i - 1].score
            diff = mux_sub(m, take_cmp, x[i].score, h[i].score, entering, sw + 1, impl, f"cmp{i}")
            m.d.sync += lt[i].eq(diff[-1])
            if i + 1 < K:
                m.d.sync += [xv[i + 1].eq(xv[i] & hv[i]), xsh[i + 1].eq(take[i]),
                             x[i + 1].eq(Mux(take[i], h[i], x[i]))]
            # The entry loads on ``pop | take``: that enable in one slice (``take`` is also its
            # own LUT for the wave and the compare; Yosys had put a second LUT after it, v61
            # seed 1); the cell's own ``pop`` copy chooses what (one register for all cells
            # reached every cell's 40-bit multiplexer: v61 seeds 2 and 3).
            pop_c.append(Signal(name=f"pop{i}") if i % 2 == 0 else pop_c[i - 1])
            ce = lut5(m, lambda v, hh, sh, l, p: p | take_fn(v, hh, sh, l),
                      (xv[i], hv[i], xsh[i], lt[i], pop_c[i]), impl, f"ce{i}")
            with m.If(ce):
                m.d.sync += h[i].eq(Mux(pop_c[i], h[i + 1], x[i]) if i + 1 < K else x[i])
            # (cleared with the waves, below: ``clear_r``)
            m.d.comb += hv_n[i].eq(Mux(clear_r, 0, Mux(pop_c[i], hv[i + 1] if i + 1 < K else 0,
                                                       hv[i] | take[i])))
            m.d.sync += hv[i].eq(hv_n[i])
        # the entries and the waves are cleared one cycle after the last pop, from a register
        # (``clear`` itself fans out to no more than the control flags): in that cycle no
        # pop happens (``drain`` fell) and a new row's first element is only entering
        # ``x[0]``, whose valid is written every cycle and needs no clear
        # The reset sets ``clear_r`` (``init=1``): it clears the cells in every reset cycle
        # and the first cycle after (the cells' valid bits carry no reset of their own).
        m.d.sync += clear_r.eq(clear)
        with m.If(clear_r):
            m.d.sync += [v.eq(0) for v in xv[1:]]
        if impl != "primitive":
            # every simulation and the formal check of the unit hold the copies to the cells'
            m.d.comb += Assert((Cat(*xv_c) == Cat(*xv)) & (Cat(*hv_c) == Cat(*hv))
                               & (Cat(*xsh_c) == Cat(*xsh)), "a compare's copy differs")

        # ---------------------------------------------------------------- control
        # ``wait`` reads 0 from cycle c + 1 + kk on when the last unmasked element was
        # accepted in cycle c: cells 0..kk-1 hold their final entries.
        # ``wait_le1``: ``wait <= 1`` as a register (the compare of the 6-bit count sat between
        # the input handshake and the settle and drain flags: 4 look-up table levels)
        wait_le1 = Signal(init=1)
        with m.If(inject):
            m.d.sync += wait.eq(kk)
        with m.Elif(wait != 0):
            m.d.sync += wait.eq(wait - 1)
        m.d.sync += wait_le1.eq(Mux(inject, kk <= 1, wait <= 2))
        quiet_next = ~inject & wait_le1             # wait will read 0 next cycle

        with m.If(accept & inp.last):
            m.d.sync += [fill.eq(0), settle.eq(~quiet_next), drain.eq(quiet_next),
                         rem.eq(kk)]
        # (while settling nothing is accepted, so no inject: the register alone decides)
        with m.If(settle & wait_le1):
            m.d.sync += [settle.eq(0), drain.eq(1)]
        with m.If(pop):
            m.d.sync += rem.eq(rem - 1)
        with m.If(clear):
            m.d.sync += [drain.eq(0), fill.eq(1)]
        # ``drain``'s next value for the cells' copies, written out: exactly one of ``fill``,
        # ``settle``, ``drain`` is set, and an accepted ``last`` (``fill``) starts the drain
        # when it is masked and ``wait <= 1`` (``quiet_next``); a settle ends when ``wait <=
        # 1``; the drain ends with the clear. Each copy computes it from the registers in a
        # LUT4 and a slice of its own (``lut4``/``lut5``: Yosys would merge equal logic),
        # so the registers fan out to the copies, not one late net.
        end = Signal()
        m.d.comb += end.eq(last_beat & o.ready)
        for i, pc in enumerate(pop_c[::2]):
            acc_last = lut4(m, lambda f, v, la, mk: f & v & la & mk,
                            (fill, self.i_stream.valid, inp.last, inp.mask), impl, f"dstart{i}")
            nxt = lut5(m, lambda a, w, s, d, e: ~(d & e) & (d | (w & (a | s))),
                       (acc_last, wait_le1, settle, drain, end), impl, f"dnext{i}")
            dc = Signal(name=f"drain{i}")
            m.d.sync += dc.eq(nxt)
            m.d.comb += pc.eq(dc & o.ready)
            if impl != "primitive":
                # every simulation and the formal check of the unit hold the copies to it
                m.d.comb += Assert(dc == drain, "a drain copy differs from drain")

        # Last beat: ``(rem == 1) | ~hv[1]`` of the cycle it is read in, loaded a cycle ahead
        # (``rem == 1`` was a register and the OR still sat between the drain's entries and
        # the clear: 4 look-up table levels, v49 seed 1). Outside the drain it loads with
        # ``hv[1]``'s next value, ``hv[1] | take[1]`` (0 after a clear), so it is right in
        # the drain's first cycle, where ``rem = kk``; a pop makes ``rem`` one less and moves
        # ``hv[2]`` up. ``hv[2]`` only matters while ``rem >= 3``, when cells ``0 .. rem - 1``
        # hold their final entries (it is settled).
        if K > 1:
            with m.If(~drain):
                m.d.sync += last_beat.eq((kk == 1) | clear_r | ~(hv[1] | take[1]))
            with m.Elif(pop):
                m.d.sync += last_beat.eq((rem == 2) | (~hv[2] if K > 2 else 1))

        m.d.comb += [o.valid.eq(drain), o.payload.score.eq(h[0].score),
                     o.payload.index.eq(h[0].index), o.payload.empty.eq(~hv[0]),
                     o.payload.last.eq(last_beat)]
        return m
