"""Sparse-attention engine: one head, decode (one query against a KV cache in block RAM).

Bit-exact hardware of :func:`attnkit.golden.attention.engine` for every selection mode
(dense/causal, sliding window, global + window, block-sparse, dynamic top-k,
predict-then-compute).

Data path
---------
::

    q_stream -> q memory (B words)          kv_stream -> K high nibbles, K low nibbles, V
                                                          (B = d / lanes words per row)
    address generator --(row j, beat b)--> K/q read -> lanes multipliers -> adder tree
       ^    (static intervals, or top-k          -> accumulate B beats -> score FIFO
       |     candidates in predict mode)                                     |
       |                                   +-------------------------------+-+
       |                                   v (topk / predict pass 1)       v (static, predict pass 2)
       +---- predict candidates <---- TopK unit --(topk)--> requant -> Softmax -> p ---+
                                                                    index FIFO -> j ---+
                     V read (B beats per kept row) -> lanes multipliers p * V -> per lane an
                     adder and a ring of B accumulators -> requant to int8 (one element per
                     cycle) -> o_stream

A dedicated ``lanes``-wide dot-product datapath is used instead of
:class:`attnkit.hdl.gemv.GemvArray`: attention reads K and V *row by row* at addresses the
selection decides (GemvArray wants P different rows per cycle, a column-interleaved
memory), and ``p . V`` multiplies 16-bit probabilities (GemvArray's activations are int8).
A row is ``B = d / lanes`` consecutive block-RAM words, so skipping a row is skipping its
addresses. The softmax is :class:`attnkit.hdl.softmax.Softmax` (unchanged, row length
``t_max + 1``).

Every row the selection emits is followed by one *masked* element with ``last = 1`` (it
needs no memory read); the softmax gives it probability 0 and the V stage skips it. A query
that keeps nothing is therefore the softmax's fully masked row: the output is all zeros with
``all_masked = 1``.

Skipped keys cost no reads: the address generator walks only the kept intervals, one
bubble cycle between two intervals. The intervals come from a producer that runs ahead of
the walk through a two-entry slot (a register slice): the job's static bounds (window,
global, end) from an 8-stage pipeline after the job start, then one candidate per cycle (an
empty static interval is dropped; block-sparse scans the bitmap one block per cycle, a
shift register, emitting each set block). So a skipped block costs a producer cycle, hidden
behind the walk of a kept one except before the first kept block. Dynamic modes score every candidate
(predict: from the high nibble memory only) and read V only for kept rows.

Interface
---------
* ``kv_stream``: ``{sel (0 = K, 1 = V), addr (row * B + beat), data (lanes x int8)}``,
  accepted while the engine is idle.
* Job configuration ports (sampled when the job starts): ``mode`` (:data:`MODE_CODES`),
  ``causal``, ``t_len`` (T, 1..t_max), ``pos`` (query position, 0..T-1), ``window``,
  ``n_global``, ``block_row`` (bitmap row of the query's block, bit ``kb`` = key block
  ``kb``), ``k``, ``threshold``/``use_threshold`` (predict), ``score_mult``/``score_shift``,
  ``out_mult``/``out_shift``. :func:`job_ports` computes them from a
  :class:`~attnkit.golden.attention.Selection`.
* ``q_stream``: B beats of ``lanes x int8``; the job starts when the B-th beat is accepted.
* ``o_stream``: ``d`` beats ``{data (int8), last, all_masked}``.
* ``cycles``, ``k_rows``, ``k4_rows``, ``v_rows``: counters of the current/last job
  (cycles from job start to the final output beat accepted), readable by the host;
  ``busy``.

Timing (no stalls): about ``(B + 1) * k_rows + B * k4_rows`` cycles for scoring (plus one
bubble per interval, the 8-stage setup pipeline after the job start, and in block mode one
cycle per block before the first kept one), the softmax's ``row_latency + 2 * (kept + 1)``,
``B`` cycles per kept V row (overlapping the softmax output), the ``d`` outputs (at most 4
in flight through the output requantizer and FIFO: about ``d / 4`` round trips), and for
top-k the unit's settle (its drain starts ``k + 1`` cycles after its last unmasked element,
or the cycle after the row's closing element if that is later; see
:class:`~attnkit.hdl.topk.TopK`) and the drain of ``kept`` entries. The tests assert
``cycles(sparse) <= kept_fraction * cycles(dense) + overhead`` for the static patterns and
that the V phase grows with ``k``, not ``T``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ..golden.attention import D_MAX, ENGINE_SOFTMAX, Selection
from ..golden.params import check_int
from ..golden.quant import REQUANT_MULT_BITS
from ..golden.softmax import SoftmaxConfig
from .carry_chain import gated_add, mux_sub
from .dsp import MULT18_LATENCY, Mult18, resolve_impl
from .ebr import RAM_READ_LATENCY, RegisteredRAM
from .fifo import BlockFifo, LutFifo, SkidBuffer
from .pipeline import delay, distinct_register, one_hot_states, updown_counter
from .requant import REQUANT_LATENCY, requantize
from .softmax import Softmax
from .topk import TopK

__all__ = ["AttentionEngine", "MODE_CODES", "job_ports", "kv_beats", "q_beats"]

#: Mode port encoding (``causal`` is a separate port; ``"causal"`` = dense + causal).
MODE_CODES = {"dense": 0, "causal": 0, "window": 1, "global_window": 2, "block": 3,
              "topk": 4, "predict": 5}
_SCORE_FIFO = 8
_OUT_FIFO = 4
#: Stages of the static interval bounds' pipeline (one carry chain or one mux level each;
#: the last holds the producer's static candidate, ``st_*``).
_SETUP_CYCLES = 8
#: Registers between a V-stage DSP and its lane's accumulator ring: the product register.
_VPROD_STAGES = 1
#: Cycles from a product in its register to the accumulator's complete value (the add).
_VACC_CYCLES = 1


def _check_int(obj, name, v, lo, hi):
    """:func:`attnkit.golden.params.check_int`; a rejected ``obj`` raises no "never used" warning."""
    try:
        check_int(name, v, lo, hi)
    except (TypeError, ValueError):
        obj._MustUse__silence = True
        raise


class _RamPort:
    """``addr``/``en``/``data`` names over one side (``"w"`` or ``"r"``) of a
    :class:`~attnkit.hdl.ebr.RegisteredRAM`, ``data`` viewed with ``layout``."""

    def __init__(self, ram, side, layout):
        self.addr = getattr(ram, f"{side}_addr")
        self.en = getattr(ram, f"{side}_en")
        self.data = data.View(layout, getattr(ram, f"{side}_data"))


def _row_addr(row, beat, beats: int):
    """Word address ``row * beats + beat`` of a row's beat (``beat < beats``): the two
    fields side by side when ``beats`` is a power of two."""
    if beats & (beats - 1) == 0:
        return Cat(beat[:ceil_log2(beats)], row)
    return row * beats + beat


def _tree_stages(n: int) -> int:
    """Registered levels of :func:`_pipelined_sum` over ``n`` terms (at least one)."""
    return max(1, ceil_log2(n))


def _pipelined_sum(m, terms, width: int, name: str):
    """Adder tree over ``terms`` (signed, ``width`` bits) with a register after every level
    of pairwise adds (one carry chain per cycle); :func:`_tree_stages` cycles of latency."""
    terms = list(terms)
    for level in range(_tree_stages(len(terms))):
        if len(terms) > 1:
            terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                     for i in range(0, len(terms), 2)]
        regs = [Signal(signed(width + level + 1), name=f"{name}_l{level}_{i}", reset_less=True)
                for i in range(len(terms))]
        m.d.sync += [r.eq(t) for r, t in zip(regs, terms)]
        terms = regs
    return terms[0]


class AttentionEngine(wiring.Component):
    """Sparse-attention engine for one head (see the module docstring for the contract).

    Parameters
    ----------
    d : int
        Head dimension, 1..128.
    lanes : int
        Multipliers per dot product (K and V words are ``lanes`` int8 wide); divides ``d``.
    t_max : int
        KV capacity in rows, 1..65535. Block RAM: K and V take ``2 * t_max * d`` bytes
        (``ceil(2 * t_max * d * 8 / 18432)`` DP16KD at least; an LFE5U-85F has 208 DP16KD =
        468 KiB, so ``t_max * d <= ~200k`` leaves room for the softmax row buffers).
    k_max : int
        Top-k capacity, 1..256.
    block : int
        Block size of the block-sparse mode (``block_row`` has ``ceil(t_max / block)`` bits).
    cfg : SoftmaxConfig
        The softmax formats (default :data:`attnkit.golden.attention.ENGINE_SOFTMAX`).
    queries : int
        Queries per job, 1..16: 1 is decode; more is a prefill block (consecutive positions
        ``pos .. pos + queries - 1``) in which each K and V row is read once and used by
        every query of the block (``queries`` dot-product datapaths, softmax units and
        output accumulators). Prefill supports the static modes (dense, causal, window,
        global + window, block-sparse with the whole block in one bitmap row); the
        dynamic modes need ``queries = 1``.
    dsp : ``"auto"``, ``"primitive"`` or ``"behavioural"``
        Multipliers (:class:`~attnkit.hdl.dsp.Mult18`) and K/V memories
        (:class:`~attnkit.hdl.ebr.RegisteredRAM`): ECP5 primitives with their registers
        when ``"auto"`` is elaborated for an ECP5 platform, plain Amaranth otherwise.
    """

    def __init__(self, *, d: int = 64, lanes: int = 8, t_max: int = 512, k_max: int = 32,
                 block: int = 16, cfg: SoftmaxConfig = ENGINE_SOFTMAX, queries: int = 1,
                 dsp: str = "auto"):
        _check_int(self, "d", d, 1, D_MAX)
        _check_int(self, "lanes", lanes, 1, d)
        if d % lanes:
            self._MustUse__silence = True
            raise ValueError(f"lanes must divide d={d}, not {lanes!r}")
        _check_int(self, "t_max", t_max, 1, 65535)
        _check_int(self, "k_max", k_max, 1, 256)
        _check_int(self, "block", block, 1, t_max)
        if not isinstance(cfg, SoftmaxConfig):
            self._MustUse__silence = True
            raise TypeError(f"cfg must be a SoftmaxConfig, not {cfg!r}")
        _check_int(self, "queries", queries, 1, 16)
        try:
            resolve_impl(dsp, None)
        except ValueError:
            self._MustUse__silence = True
            raise
        self.dsp = dsp
        self.d, self.lanes, self.t_max, self.k_max, self.block, self.cfg = d, lanes, t_max, k_max, block, cfg
        self.queries = queries
        self.beats = d // lanes
        self.n_blocks = -(-t_max // block)
        self.score_width = (d * 128 * 128).bit_length() + 1
        self.pred_width = (d * 8 * 8).bit_length() + 1
        self.index_width = max(1, (t_max - 1).bit_length())
        self.softmaxes = [Softmax(cfg, t_max + 1, dsp=dsp) for _ in range(queries)]
        B = self.beats
        tw = range(t_max + 1)
        super().__init__({
            "kv_stream": In(stream.Signature(data.StructLayout({
                "sel": 1, "addr": range(t_max * B), "data": data.ArrayLayout(signed(8), lanes)}))),
            "q_stream": In(stream.Signature(data.ArrayLayout(signed(8), lanes))),
            "o_stream": Out(stream.Signature(data.StructLayout({
                "data": signed(8), "last": 1, "all_masked": 1}))),
            "mode": In(3), "causal": In(1), "t_len": In(tw), "pos": In(range(t_max)),
            "window": In(range(2 * t_max + 2)), "n_global": In(tw), "block_row": In(self.n_blocks),
            "k": In(range(k_max + 1)), "threshold": In(signed(self.pred_width)),
            "use_threshold": In(1),
            "score_mult": In(REQUANT_MULT_BITS), "score_shift": In(6),
            "out_mult": In(REQUANT_MULT_BITS), "out_shift": In(6),
            "busy": Out(1), "cycles": Out(32), "k_rows": Out(32), "k4_rows": Out(32),
            "v_rows": Out(32),
        })

    @property
    def pipeline_cycles(self) -> int:
        """Pipeline latency a job adds beyond its walk, the softmax and the ``d`` output beats:
        the static bounds' setup pipeline (from the registered start), the scorer (K read,
        DSP, adder tree, accumulator and score register), the score requantizer, the score
        FIFO and the softmax feed's register slice, the V stage (the join of probabilities
        and indices, V read, DSP, product register, accumulate into the ring) and the output
        stage (shift enable, output chain head, requantizer, FIFO)."""
        setup = 1 + _SETUP_CYCLES
        scorer = RAM_READ_LATENCY + MULT18_LATENCY + _tree_stages(self.lanes) + 1
        score_fifo = REQUANT_LATENCY + LutFifo.latency + 1    # + the softmax feed's slice
        # join, V read, DSP, product register, accumulate
        v_stage = 1 + RAM_READ_LATENCY + MULT18_LATENCY + _VPROD_STAGES + _VACC_CYCLES
        return setup + scorer + score_fifo + v_stage + (2 + REQUANT_LATENCY + 1)

    @property
    def softmax(self) -> Softmax:
        """Query 0's softmax unit (every query of a prefill block has an identical one)."""
        return self.softmaxes[0]

    def elaborate(self, platform):
        m = Module()
        d, L, B, T = self.d, self.lanes, self.beats, self.t_max
        sw, iw = self.score_width, self.index_width
        cfg = self.cfg

        # ------------------------------------------------------------ memories
        # K (high and low nibbles) and V in block RAM with the output register in use
        # (RegisteredRAM: two-cycle reads; a DP16KD read without it was the critical path)
        m.submodules.k_hi = k_hi = RegisteredRAM(4 * L, T * B, impl=self.dsp, write_reg=True)
        m.submodules.k_lo = k_lo = RegisteredRAM(4 * L, T * B, impl=self.dsp, write_reg=True)
        m.submodules.v_mem = v_mem = RegisteredRAM(8 * L, T * B, impl=self.dsp, write_reg=True)
        khw, klw, vw = (_RamPort(k_hi, "w", data.ArrayLayout(signed(4), L)),
                        _RamPort(k_lo, "w", data.ArrayLayout(unsigned(4), L)),
                        _RamPort(v_mem, "w", data.ArrayLayout(signed(8), L)))
        khr, klr, vr = (_RamPort(k_hi, "r", data.ArrayLayout(signed(4), L)),
                        _RamPort(k_lo, "r", data.ArrayLayout(unsigned(4), L)),
                        _RamPort(v_mem, "r", data.ArrayLayout(signed(8), L)))
        Q = self.queries
        q_mems = [Memory(shape=data.ArrayLayout(signed(8), L), depth=B, init=[]) for _ in range(Q)]
        for i, qm in enumerate(q_mems):
            m.submodules[f"q_mem{i}" if Q > 1 else "q_mem"] = qm
        qws = [qm.write_port() for qm in q_mems]
        qrs = [qm.read_port(transparent_for=()) for qm in q_mems]

        smxs = self.softmaxes
        for i, sm in enumerate(smxs):
            m.submodules[f"softmax{i}" if Q > 1 else "softmax"] = sm
        smx = smxs[0]
        lw = cfg.in_fmt.width
        # the top-k unit never compares its index field (ties are decided by arrival
        # order), so it carries the index and the requantized logit together
        m.submodules.topk = topk = TopK(self.k_max, sw, iw + lw, impl=self.dsp)
        # ``below``: the predict threshold's verdict, computed in the requantizer pipeline and
        # carried with the score (no compare between the score FIFO and the top-k unit)
        sel_fields = {"score": signed(sw), "logit": signed(lw), "index": unsigned(iw),
                      "mask": 1, "last": 1, "pred": 1, "below": 1, "to_topk": 1}
        if Q > 1:
            # prefill: the other queries' logits, and every query's mask (its own pattern
            # excludes this key, or the row's closing element); ``score``/``logit`` are query 0's
            sel_fields.update({"xlogit": data.ArrayLayout(signed(lw), Q - 1), "qmask": Q})
        sel_l = data.StructLayout(sel_fields)
        # LUT-RAM FIFO: its output is a register slice, so the softmax feed's ready reaches
        # no counter (the write side is covered by ``credit``, below)
        m.submodules.score_fifo = sfifo = LutFifo(sel_l.size, _SCORE_FIFO)
        idx_l = data.StructLayout({"index": unsigned(iw), "mask": 1})
        # the index FIFO holds a whole row's indices (block RAM): a BlockFifo, whose outputs
        # are registers (a SyncFIFOBuffered this deep reads its DP16KD without the output
        # register: 5.8 ns clock-to-out, the critical path of v11); the writer keeps count
        impl = resolve_impl(self.dsp, platform)
        m.submodules.idx_fifo = ififo = BlockFifo(idx_l.size, T + 4, impl)
        # (a read frees its entry one cycle late, a register: the V stage's join reached the
        # count's logic, v41's critical path). The count counts the FIFO's writes, which come
        # a cycle after the feed (below), so up to two feeds are not in the count yet when
        # ``ok`` admits a third: ``ok`` stops at ``depth - 1`` (a job feeds at most T entries)
        idx_freed = Signal(name="idx_freed")
        m.d.sync += idx_freed.eq(ififo.r_stream.valid & ififo.r_stream.ready)
        idx_w_rdy = updown_counter(m, ififo.w_en, idx_freed, T + 4, "idx_count",
                                   {"ok": ("<", T + 3)})["ok"]

        # ``busy`` in two registers of the same next value: ``q_busy`` for the ports'
        # handshakes and write enables, ``busy`` for the rest, so the start's loop
        # (``busy`` -> start -> ``busy``) shares no logic with the q memories' write enables
        # (v45's critical path: the start read a write-enable AND placed by those memories)
        busy, busy_next = Signal(name="busy"), Signal(name="busy_next")
        job_done = Signal(name="job_done")
        m.d.sync += busy.eq(busy_next)
        q_busy = distinct_register(m, busy_next, "q_busy", impl)
        m.d.comb += self.busy.eq(busy)

        # ------------------------------------------------------------ host writes, q load
        # K / V writes through two registers: here (after the handshake's look-up table) and
        # in the RAMs (``write_reg``: each block's own enable register beside it); the enable
        # from ``q_busy`` had reached the 48 RAMs along the band through one look-up table
        # (3.6 ns of routing, v66 seed 1). A word lands two cycles after its beat; nothing
        # reads K or V that early in a job (its first K read follows the 7-cycle setup).
        kv = self.kv_stream
        m.d.comb += kv.ready.eq(~q_busy)
        kv_w = Signal(kv.payload.shape(), name="kv_w", reset_less=True)
        k_wen, v_wen = Signal(name="k_wen"), Signal(name="v_wen")
        m.d.sync += [kv_w.eq(kv.payload), k_wen.eq(kv.valid & ~q_busy & ~kv.payload.sel),
                     v_wen.eq(kv.valid & ~q_busy & kv.payload.sel)]
        for lane in range(L):
            m.d.comb += [khw.data[lane].eq(kv_w.data[lane] >> 4),
                         klw.data[lane].eq(kv_w.data[lane][:4])]
        m.d.comb += [khw.addr.eq(kv_w.addr), klw.addr.eq(kv_w.addr),
                     vw.addr.eq(kv_w.addr), vw.data.eq(kv_w.data),
                     khw.en.eq(k_wen), klw.en.eq(k_wen), vw.en.eq(v_wen)]
        qbeat = Signal(range(B + 1))
        qsel = Signal(range(Q))                  # query being loaded
        m.d.comb += self.q_stream.ready.eq(~q_busy)
        for i, qw in enumerate(qws):
            m.d.comb += [qw.addr.eq(qbeat), qw.data.eq(self.q_stream.payload),
                         qw.en.eq(self.q_stream.valid & ~q_busy & (qsel == i))]
        start = Signal()
        # "the next q beat is the job's last" as a register, so the start (and ``busy``) is
        # one look-up table of registers (v44's critical path: the beat compares)
        q_last = Signal(init=int(B == 1 and Q == 1), name="q_last")
        with m.If(self.q_stream.valid & ~q_busy):
            with m.If(qbeat == B - 1):
                m.d.sync += qbeat.eq(0)
                with m.If(qsel == Q - 1):
                    m.d.sync += [qsel.eq(0), q_last.eq(B == 1 and Q == 1)]
                with m.Else():
                    m.d.sync += [qsel.eq(qsel + 1), q_last.eq(B == 1 and qsel == Q - 2)]
            with m.Else():
                m.d.sync += [qbeat.eq(qbeat + 1), q_last.eq((qbeat == B - 2) & (qsel == Q - 1))]
        # ``busy_next`` is ``(busy & ~job_done) | start``, with ``start``'s ``~q_busy`` read as
        # ``~busy`` (the two registers hold the same value): one look-up table of four
        # registers, where ``q_busy`` -> the q write enable -> ``start`` -> ``busy_next`` made
        # three (v59 / v60's critical path on three of five seeds, 6.0-7.0 ns)
        m.d.comb += [start.eq(self.q_stream.valid & ~q_busy & q_last),
                     busy_next.eq(Mux(busy, ~job_done, self.q_stream.valid & q_last))]

        # latched configuration
        mode = Signal(3)
        causal = Signal()
        t_len = Signal(range(T + 1))
        pos = Signal(range(T))
        win = Signal(range(2 * T + 2))
        n_glob = Signal(range(T + 1))
        kk = Signal(range(self.k_max + 1))
        thr = Signal(signed(self.pred_width))
        use_thr = Signal()
        smult, sshift = Signal(REQUANT_MULT_BITS), Signal(6)
        omult, oshift = Signal(REQUANT_MULT_BITS), Signal(6)
        brow = Signal(self.n_blocks)
        # ``start`` (combinational, from the q beat) drives only a few registers: the
        # configuration registers sample the ports in every idle cycle (enable ``~busy``, a
        # register), so they hold the job start's values; the counters clear one cycle later
        # from ``start_r`` (the ``cycles`` count already includes the start cycle then)
        start_r = Signal()
        m.d.sync += start_r.eq(start)
        # the decoded mode flags are registers too (the decode sat on the softmax feed path)
        is_topk, is_block = Signal(name="is_topk"), Signal(name="is_block")
        # (each group of them holds on its own copy of ``busy``: one register's 143 enables
        # spread over the engine were 4.7 ns of routing, v66 seed 2)
        cfg_groups = (
            [is_topk.eq(self.mode == MODE_CODES["topk"]),
             is_block.eq(self.mode == MODE_CODES["block"]), mode.eq(self.mode),
             causal.eq(self.causal)],
            [t_len.eq(self.t_len), pos.eq(self.pos)],
            [win.eq(self.window), n_glob.eq(self.n_global)],
            [brow.eq(self.block_row), kk.eq(self.k)],
            [thr.eq(self.threshold), use_thr.eq(self.use_threshold)],
            [smult.eq(self.score_mult), sshift.eq(self.score_shift)],
            [omult.eq(self.out_mult), oshift.eq(self.out_shift)])
        for g, stmts in enumerate(cfg_groups):
            with m.If(~distinct_register(m, busy_next, f"cfg_busy{g}", impl)):
                m.d.sync += stmts
        # the job's counters restart and count registered events; each next value is one
        # carry chain with the restart riding in its look-up tables (``gated_add``), so the
        # sum goes straight into the counter's flip-flops (a multiplexer after the chain was
        # v51's ``k_rows`` path: chain -> 1.1 ns -> LUT). Each counter restarts from its own
        # copy of ``start_r`` (``distinct_register``), placed beside it: the restart comes two
        # cycles after the start (a copy of ``start`` itself, one look-up table of the q port's
        # handshake, had its routing to the four counters: v67 / v68, up to 6.2 ns). No row is
        # counted that early (the setup pipeline runs first); ``cycles`` adds the busy cycle
        # it missed through the chain's carry input (``missed``).
        def job_counter(counter, event, name, missed=False):
            restart = distinct_register(m, start_r, f"{name}_restart", impl)
            m.d.sync += counter.eq(gated_add(m, counter, restart, event, len(counter), impl,
                                             name, carry_in=restart if missed else None))

        # ``cycles`` is 1 in the start cycle and counts while busy: ``start_r | busy`` is
        # ``busy`` (the start sets it), here from a copy of ``busy`` of its own (``busy`` ->
        # OR -> the chain's first look-up table was v58's critical path, 6.1 ns)
        job_counter(self.cycles, distinct_register(m, busy_next, "cycles_busy", impl),
                    "cycles_next", missed=True)
        m.d.comb += topk.k.eq(kk)

        # ------------------------------------------------------------ interval generator
        TW = bits_for(2 * T + 2) + 2
        pos_s, t_s, win_s = Signal(signed(TW)), Signal(signed(TW)), Signal(signed(TW))
        m.d.comb += [pos_s.eq(pos), t_s.eq(t_len), win_s.eq(win)]
        # The walk covers the union of the block's keys (queries at pos .. pos + Q - 1): the
        # windows slide by one per query, so the union is one interval from the first
        # query's window start to the last query's window end.

        # The walk's intervals come from a producer that runs ahead of the walk through a
        # slot, so no comparison or search sits between two walked intervals.
        # (1) The job's static bounds from the latched configuration, a free-running pipeline
        # of _SETUP_CYCLES stages, each one carry chain (an add or a compare) or one level of
        # multiplexers, never both (the configuration is constant during a job, so a later
        # stage may read any earlier one):

        def sreg(name):
            return Signal(signed(TW + 1), name=name)

        def lt(a, b):
            # ``a < b`` as the sign of the exact difference: the carry chain's top sum bit
            # goes straight to the register (Yosys maps ``<`` to a chain and then look-up
            # tables for sign and overflow: ``c_gt_g``'s two levels after its chain were
            # v76's worst path on seeds 1 and 3)
            return (a - b)[-1]

        a_last1, a_wsub, a_winq = sreg("a_last1"), sreg("a_wsub"), sreg("a_winq")
        m.d.sync += [a_last1.eq(pos_s + Q), a_wsub.eq(Mux(causal, win_s - 1, win_s >> 1)),
                     a_winq.eq(win_s + (Q - 1))]
        b_wlo = sreg("b_wlo")
        b_lt = Signal(name="b_lt")               # the causal end a_last1 is before T
        m.d.sync += [b_wlo.eq(pos_s - a_wsub), b_lt.eq(lt(a_last1, t_s))]
        b_end, c_whi = sreg("b_end"), sreg("c_whi")
        c_gt_g = Signal(name="c_gt_g")           # the window starts after the global keys
        m.d.sync += [b_end.eq(Mux(causal & b_lt, a_last1, t_s)), c_whi.eq(b_wlo + a_winq),
                     c_gt_g.eq(lt(n_glob, b_wlo))]
        c_wlo, c_gwlo = sreg("c_wlo"), sreg("c_gwlo")
        d_whi_lt, d_g_lt = Signal(name="d_whi_lt"), Signal(name="d_g_lt")
        m.d.sync += [c_wlo.eq(Mux(b_wlo[-1], 0, b_wlo)), c_gwlo.eq(Mux(c_gt_g, b_wlo, n_glob)),
                     d_whi_lt.eq(lt(c_whi, b_end)), d_g_lt.eq(lt(n_glob, b_end))]
        e_whi, e_g = sreg("e_whi"), sreg("e_g")   # min(window end, end), min(n_global, end)
        m.d.sync += [e_whi.eq(Mux(d_whi_lt, c_whi, b_end)), e_g.eq(Mux(d_g_lt, n_glob, b_end))]
        # up to two intervals per mode; block mode scans the bitmap instead
        d_lo = [Signal(signed(TW + 1), name=f"d_lo{i}") for i in range(2)]
        d_hi = [Signal(signed(TW + 1), name=f"d_hi{i}") for i in range(2)]
        d_two = Signal()                     # global + window: two intervals
        with m.Switch(mode):
            with m.Case(MODE_CODES["window"]):
                m.d.sync += [d_lo[0].eq(c_wlo), d_hi[0].eq(e_whi), d_two.eq(0)]
            with m.Case(MODE_CODES["global_window"]):
                m.d.sync += [d_lo[0].eq(0), d_hi[0].eq(e_g), d_lo[1].eq(c_gwlo),
                             d_hi[1].eq(e_whi), d_two.eq(1)]
            with m.Default():
                m.d.sync += [d_lo[0].eq(0), d_hi[0].eq(b_end), d_two.eq(0)]
        # (last stage) interval not empty; its length minus one (``hi + ~lo``)
        e_ne = [Signal(name=f"e_ne{i}") for i in range(2)]
        e_nm1 = [Signal(signed(TW + 2), name=f"e_nm1{i}") for i in range(2)]
        m.d.sync += [e_ne[i].eq(lt(d_lo[i], d_hi[i])) for i in range(2)]
        m.d.sync += [e_nm1[i].eq(d_hi[i] + ~d_lo[i]) for i in range(2)]
        # (2) The producer: one candidate interval per cycle into the slot (a two-entry
        # register slice: the producer steps while its skid entry is empty); a static
        # candidate is emitted if not empty; block mode scans the bitmap one block per cycle
        # (a shift register, so each step tests one bit): block ``kb`` is emitted as
        # [kb * block, min(kb * block + block, end)) if its bit is set and it starts before
        # ``end``. ``p_done`` after the final candidate.
        setup = Signal(range(_SETUP_CYCLES + 1))
        # ``p_go``: producing (from the end of the setup until ``p_done``), one register
        p_go, p_done, p_cand = Signal(name="p_go"), Signal(name="p_done"), Signal(name="p_cand")
        # the slot: a register slice of intervals as their first row and their length minus
        # one, so the walk's take reaches only its registers (no subtract); the producer
        # steps while the slot's skid entry is empty
        slot_l = data.StructLayout({"lo": range(T + 1), "n_m1": range(T + 1)})
        m.submodules.slot = slot = SkidBuffer(slot_l)
        rem = Signal(self.n_blocks)         # block bits not yet scanned (bit 0 = this block)
        # ``rem[1:] != 0`` as a register, computed like ``lo_in`` (below) for the bits ``rem``
        # will hold, with no start term (the scan starts _SETUP_CYCLES after ``rem`` is set)
        rem_more = Signal(name="rem_more")
        b_lo = Signal(range(self.n_blocks * self.block + 1))
        b_hi = Signal(range(self.n_blocks * self.block + self.block + 1))   # b_lo + block
        # ``b_lo < end`` and ``b_hi >= end`` as registers, each computed for the bounds it
        # will hold (the next block's after a step: ``b_lo`` becomes ``b_hi``, ``b_hi``
        # grows by ``block``), so no compare sits between the scan and the slot
        b_end_mb = Signal(signed(TW + 1), name="b_end_mb")     # end - block
        b_end_m1 = Signal(signed(TW + 1), name="b_end_m1")     # end - 1
        b_end_mbm1 = Signal(signed(TW + 1), name="b_end_mbm1")  # end - block - 1
        m.d.sync += [b_end_mb.eq(b_end - self.block), b_end_m1.eq(b_end - 1),
                     b_end_mbm1.eq(b_end - (self.block + 1))]
        lo_in, hi_out = Signal(name="lo_in"), Signal(name="hi_out")
        # a block cut by ``end``: its length minus one (``end - 1 - b_lo``)
        cut_nm1 = Signal(range(T + 1))
        # the producer's flags clear on the registered start (the combinational one came
        # from the job port's handshake across the die: v37's critical path); the front
        # reads ``p_done`` from the cycle after ``start_r`` on
        with m.If(start_r):
            m.d.sync += [p_go.eq(0), p_done.eq(0), p_cand.eq(0)]
            m.d.sync += [setup.eq(_SETUP_CYCLES - 1), rem.eq(brow), b_lo.eq(0), b_hi.eq(self.block)]
        with m.Elif(setup != 0):
            m.d.sync += setup.eq(setup - 1)
            with m.If(setup == 1):
                m.d.sync += p_go.eq(1)
        step = Signal()
        m.d.comb += step.eq(p_go & slot.i_stream.ready)
        # ``lo_in`` and ``hi_out`` as the sign of one carry chain each, whose look-up tables
        # also choose the operand by ``step`` (``mux_sub``): no look-up table after the chain
        # (v76 seed 3: ``b_lo < end`` or ``b_hi < end`` by ``step`` after the two chains)
        # ``b_hi >= e`` is ``e - 1 - b_hi < 0``
        cw = max(len(b_hi) + 1, TW + 1) + 1
        m.d.sync += [rem_more.eq(Mux(step, rem[2:].any(), rem[1:].any())),
                     lo_in.eq(mux_sub(m, step, b_hi, b_lo, b_end, cw, impl, "lo_in_d")[-1]),
                     hi_out.eq(mux_sub(m, step, b_end_mbm1, b_end_m1, b_hi, cw, impl,
                                       "hi_out_d")[-1]),
                     cut_nm1.eq(Mux(step, b_end_m1 - b_hi, b_end_m1 - b_lo))]
        si_ = slot.i_stream
        # the static candidate (``p_cand`` chooses) in registers written for the candidate
        # they will hold, so the slot's input is one look-up table of registers per bit
        # (``p_cand``, ``is_block`` and ``hi_out`` choosing in series was 3 levels into the
        # slot's registers: v76 seeds 1, 2, 4, 5, up to 5.6 ns)
        st_ne = Signal(name="st_ne")
        st_lo = Signal.like(d_lo[0], name="st_lo")
        st_nm1 = Signal.like(e_nm1[0], name="st_nm1")
        cand_next = ~start_r & (p_cand | step)
        m.d.sync += [st_ne.eq(Mux(cand_next, e_ne[1], e_ne[0])),
                     st_lo.eq(Mux(cand_next, d_lo[1], d_lo[0])),
                     st_nm1.eq(Mux(cand_next, e_nm1[1], e_nm1[0]))]
        with m.If(is_block):
            m.d.comb += [si_.valid.eq(p_go & rem[0] & lo_in),
                         si_.payload.lo.eq(b_lo),
                         si_.payload.n_m1.eq(Mux(hi_out, cut_nm1, self.block - 1))]
        with m.Else():
            m.d.comb += [si_.valid.eq(p_go & st_ne), si_.payload.lo.eq(st_lo),
                         si_.payload.n_m1.eq(st_nm1)]
        with m.If(step):
            # the scan's registers step in every mode (only block mode reads them), so their
            # enable is the step alone (v39's critical path: step -> the bitmap's shift)
            m.d.sync += [rem.eq(rem >> 1), b_lo.eq(b_lo + self.block), b_hi.eq(b_hi + self.block)]
            with m.If(is_block):
                with m.If(~rem_more | hi_out):
                    m.d.sync += [p_done.eq(1), p_go.eq(0)]
            with m.Else():
                m.d.sync += p_cand.eq(1)
                with m.If(~d_two | p_cand):
                    m.d.sync += [p_done.eq(1), p_go.eq(0)]

        # ------------------------------------------------------------ front: issue K reads
        j = Signal(range(T + 1))
        beat = Signal(range(B))
        pred = Signal()                       # predict pass 1 (high nibbles only)
        cand_last = Signal()                  # predict pass 2: this candidate was the last
        # ``credit``: a new row's score has a FIFO slot: fewer than ``_SCORE_FIFO - 2`` rows
        # started and not yet read from the FIFO (the scorer pipeline and the FIFO hold
        # them), a register (``updown_counter``'s flag)
        row_start = Signal()
        s_read = Signal()
        row_start_r = Signal()
        credit = updown_counter(m, row_start_r, s_read, _SCORE_FIFO, "score_rows",
                                {"credit": ("<", _SCORE_FIFO - 2)})["credit"]

        iss = Signal()                        # a beat is issued this cycle
        iss_first = Signal()
        iss_lastbeat = Signal()
        iss_mask = Signal()
        iss_last = Signal()
        iss_j = Signal(range(T + 1))
        # the K read address straight from the walk's registers (``j`` is the row in every
        # state that reads; the dummy row's read is masked), bits side by side when B is a
        # power of two: no state multiplexer or adder in front of the block-RAM pins
        m.d.comb += [khr.addr.eq(_row_addr(j, beat, B)), klr.addr.eq(_row_addr(j, beat, B)),
                     khr.en.eq(1), klr.en.eq(~pred)]
        m.d.comb += [x for r_ in qrs for x in (r_.addr.eq(beat), r_.en.eq(1))]
        m.d.comb += row_start.eq(iss & iss_first)
        # the credit counter counts a row start one cycle late (a register), so the issue
        # decision reaches no counter; ``credit`` may then admit one row more than its bound
        m.d.sync += row_start_r.eq(row_start)
        # the row counters count one cycle late (a registered event), so the issue decision
        # does not fan out to their 32 enables; the last counted row starts long before the
        # job ends (the dummy row is masked), and none starts in the cycle after ``start_r``
        count_k, count_k4 = Signal(name="count_k"), Signal(name="count_k4")
        job_counter(self.k4_rows, count_k4, "k4_rows_next")
        job_counter(self.k_rows, count_k, "k_rows_next")

        # the top-k output drains into a FIFO that holds a whole drain (at most ``k_max``
        # beats), so the unit's ``o_stream.ready`` is the constant 1 and its pop, which
        # enables every entry register, is its ``drain`` register alone (the softmax feed's
        # ready reached it through logic: 11.3 ns at -6 in v10; through a register slice's
        # ready, 7.6 ns in v18). It is empty whenever a drain starts: one top-k row per job,
        # and the job ends only after its consumer (the softmax feed, or predict's candidate
        # walk) has read every beat, the last one included.
        m.submodules.topk_out = topk_out = LutFifo(topk.o_stream.payload.shape().size,
                                                   self.k_max + 1)
        m.d.comb += [topk.o_stream.ready.eq(1), topk_out.w_en.eq(topk.o_stream.valid),
                     topk_out.w_data.eq(topk.o_stream.payload)]
        to = stream.Signature(topk.o_stream.payload.shape()).create()
        m.d.comb += [to.valid.eq(topk_out.r_stream.valid), topk_out.r_stream.ready.eq(to.ready),
                     to.payload.eq(topk_out.r_stream.payload)]
        # The walk takes an interval from the slot (NEXT, one cycle per interval) and walks
        # its rows; ``rows_m1`` counts the rows left, so no bound compare sits in WALK.
        rows_m1 = Signal(range(T + 1))
        # ``beat == 0``, ``beat == B - 1`` and ``rows_m1 == 0`` as registers, each written
        # with the value it describes, so the issue decision reads no compare
        b_first = Signal(init=1, name="b_first")
        b_last = Signal(init=int(B == 1), name="b_last")
        rows_z = Signal(name="rows_z")
        # the beat advances on every issue of WALK and CANDROW, back to 0 after a row's last
        # beat; a row starts only in those states after a row's end (or the reset), so the
        # beat is 0 wherever a row starts and no other state writes it (one enable, not
        # every state's conditions, in front of the beat registers: v32's critical path)
        adv = Signal()
        with m.If(adv):
            with m.If(b_last):
                m.d.sync += [beat.eq(0), b_first.eq(1), b_last.eq(B == 1)]
            with m.Else():
                m.d.sync += [beat.eq(beat + 1), b_first.eq(0), b_last.eq(beat == B - 2)]

        # The front state machine with one flag register per state (``one_hot_states``),
        # so each state's decisions read one flag instead of a decode of an encoded state.
        st, goto = one_hot_states(
            ("IDLE", "NEXT", "WALK", "DUMMY", "CAND", "CANDROW", "CANDEND", "DONE"), "front")

        with m.If(st["IDLE"]):
            # one cycle after the start (``start_r``; the configuration registers hold
            # the job's mode then): the combinational start drives no state logic, and
            # NEXT waits _SETUP_CYCLES for the first interval anyway
            with m.If(start_r):
                m.d.sync += pred.eq(mode == MODE_CODES["predict"])
                m.d.sync += goto("IDLE", "NEXT")
        with m.If(st["NEXT"]):
            so_ = slot.o_stream
            with m.If(so_.valid):
                m.d.comb += so_.ready.eq(1)
                m.d.sync += [j.eq(so_.payload.lo), rows_m1.eq(so_.payload.n_m1),
                             rows_z.eq(so_.payload.n_m1 == 0)]
                m.d.sync += goto("NEXT", "WALK")
            with m.Elif(p_done):
                m.d.sync += goto("NEXT", "DUMMY")
        with m.If(st["WALK"]):
            m.d.comb += [iss_j.eq(j), iss_first.eq(b_first), iss_lastbeat.eq(b_last)]
            with m.If(~b_first | credit):
                m.d.comb += [iss.eq(1), adv.eq(1)]
                with m.If(b_last):
                    m.d.sync += [j.eq(j + 1), rows_m1.eq(rows_m1 - 1), rows_z.eq(rows_m1 == 1)]
                    with m.If(rows_z):
                        m.d.sync += goto("WALK", "NEXT")
        with m.If(st["DUMMY"]):
            m.d.comb += [iss_first.eq(1), iss_lastbeat.eq(1), iss_mask.eq(1), iss_last.eq(1)]
            with m.If(credit):
                m.d.comb += iss.eq(1)
                with m.If(pred):
                    m.d.sync += pred.eq(0)
                    m.d.sync += goto("DUMMY", "CAND")
                with m.Else():
                    m.d.sync += goto("DUMMY", "DONE")
        with m.If(st["CAND"]):             # predict pass 2: exact scores of the candidates
            m.d.comb += to.ready.eq(credit)
            with m.If(to.valid & credit):
                with m.If(to.payload.empty):
                    m.d.sync += goto("CAND", "DUMMY")
                with m.Else():
                    m.d.sync += [j.eq(to.payload.index[:iw]), cand_last.eq(to.payload.last)]
                    m.d.sync += goto("CAND", "CANDROW")
        with m.If(st["CANDROW"]):
            m.d.comb += [iss_j.eq(j), iss_first.eq(b_first), iss_lastbeat.eq(b_last),
                         iss.eq(1), adv.eq(1)]
            with m.If(b_last):
                m.d.sync += goto("CANDROW", "CANDEND")
        with m.If(st["CANDEND"]):
            with m.If(cand_last):
                m.d.sync += goto("CANDEND", "DUMMY")
            with m.Else():
                m.d.sync += goto("CANDEND", "CAND")
        # back to IDLE one cycle after the job's end (a register: the end is a compare of
        # the output FIFO's level, v25's critical path into every state flag); the next job
        # cannot start before then (``q_stream`` waits for ``busy`` to fall, and the front
        # leaves IDLE on ``start_r``)
        job_done_r = Signal()
        m.d.sync += job_done_r.eq(job_done)
        with m.If(st["DONE"]):
            with m.If(job_done_r):
                m.d.sync += goto("DONE", "IDLE")
        # the row counters' events (``row_start`` of an unmasked row, by pass) written out
        # from the state flags: WALK starts a row when ``b_first & credit``, CANDROW (never
        # in pass 1) when ``b_first``; one look-up table each instead of the logic
        walk_row = st["WALK"] & b_first & credit
        m.d.sync += [count_k.eq((walk_row | (st["CANDROW"] & b_first)) & ~pred),
                     count_k4.eq(walk_row & pred)]

        # ------------------------------------------------------------ scorer pipeline
        ctl_l = data.StructLayout({"valid": 1, "first": 1, "lastbeat": 1, "mask": 1, "last": 1,
                                   "pred": 1, "j": unsigned(iw)})
        c0 = Signal(ctl_l)
        m.d.comb += [c0.valid.eq(iss), c0.first.eq(iss_first), c0.lastbeat.eq(iss_lastbeat),
                     c0.mask.eq(iss_mask), c0.last.eq(iss_last), c0.pred.eq(pred), c0.j.eq(iss_j)]
        # stages: c0 issue -> c2 K words (RegisteredRAM) -> c2 + MULT18_LATENCY products
        # (Mult18, registered DSPs) -> adder tree, one register per level -> accumulate
        cs = [c0]
        for k in range(RAM_READ_LATENCY + MULT18_LATENCY + _tree_stages(L)):
            nc = Signal(ctl_l, name=f"sc{k + 1}")
            m.d.sync += nc.eq(cs[-1])
            cs.append(nc)
        c_tree = cs[-2]                           # one cycle before the tree's sum
        c3 = cs[-1]                               # the adder tree's sum is registered
        # ``pred`` of the read stage, one copy per lane: it chooses both multiplier operands
        # (some 26 look-up tables a lane, the lanes' DSP blocks spread along the band; one
        # register for all had 3.3 ns of routing, v61 seed 1)
        pred_rd = [distinct_register(m, cs[RAM_READ_LATENCY - 1].pred, f"pred_rd{i}", impl,
                                     reset_less=True) for i in range(L)]
        # one dot product per query of the block, all from the same K read
        new_scores = []
        for qi in range(Q):
            sfx = f"_q{qi}" if Q > 1 else ""
            q_rd = delay(m, qrs[qi].data, RAM_READ_LATENCY - 1, f"q_rd{sfx}",   # align with K
                         reset_less=True)
            prods = []
            for i in range(L):
                qv = q_rd[i]
                kfull = Cat(klr.data[i], khr.data[i]).as_signed()
                mul = Mult18(self.dsp)
                m.submodules[f"smul{i}{sfx}"] = mul
                m.d.comb += [mul.a.eq(Mux(pred_rd[i], qv >> 4, qv)),
                             mul.b.eq(Mux(pred_rd[i], khr.data[i], kfull))]
                prods.append(mul.p[:16].as_signed())
            tree = _pipelined_sum(m, prods, 16, f"tree{sfx}")
            acc = Signal(signed(sw), name=f"acc{sfx}")
            # a row's first beat replaces the sum: the choice inside the carry chain's look-up
            # tables (``gated_add``; a multiplexer in front of the adder was v44's critical
            # path)
            acc_new = gated_add(m, acc, c3.first, tree, sw, impl, f"acc_new{sfx}").as_signed()
            with m.If(c3.valid):
                m.d.sync += acc.eq(acc_new)
            new_scores.append(acc_new)
        # prefill: does query qi's own pattern keep key j? (registered next to c3)
        qmask = Signal(Q, name="qmask")          # 1 = query qi excludes this key
        if Q > 1:
            jj = Signal(signed(TW + 1))
            m.d.comb += jj.eq(c_tree.j)
            for qi in range(Q):
                p_i = pos_s + qi
                end_i = Mux(causal & (p_i + 1 < t_s), p_i + 1, t_s)
                lo_i = b_wlo + qi                # query 0's window start (setup pipeline)
                in_win = (jj >= lo_i) & (jj < lo_i + win_s)
                keep = Signal(name=f"keep_q{qi}")
                with m.Switch(mode):
                    with m.Case(MODE_CODES["window"]):
                        m.d.comb += keep.eq(in_win)
                    with m.Case(MODE_CODES["global_window"]):
                        m.d.comb += keep.eq(in_win | (jj < n_glob))
                    with m.Default():
                        m.d.comb += keep.eq(1)
                m.d.sync += qmask[qi].eq(c_tree.mask | ~keep | (jj >= end_i))
        else:
            m.d.comb += qmask.eq(c3.mask)
        # data registers without reset (their valid bits travel beside them): the reset
        # net's fan-out was v38's and v42's critical path
        out_r = Signal(sel_l, reset_less=True)
        out_x = [Signal(signed(sw), name=f"score_q{qi}") for qi in range(1, Q)]
        out_v = Signal()
        m.d.sync += out_v.eq(c3.valid & c3.lastbeat)
        with m.If(c3.valid & c3.lastbeat):
            m.d.sync += [out_r.score.eq(Mux(qmask[0], 0, new_scores[0])), out_r.index.eq(c3.j),
                         out_r.mask.eq(c3.mask), out_r.last.eq(c3.last), out_r.pred.eq(c3.pred),
                         out_r.to_topk.eq(c3.pred | is_topk)]
            if Q > 1:
                m.d.sync += out_r.qmask.eq(qmask)
                m.d.sync += [x.eq(Mux(qmask[qi + 1], 0, new_scores[qi + 1]))
                             for qi, x in enumerate(out_x)]
        # requantize the scores into the softmax input format (3 stages, no backpressure:
        # the credit counter covers every row in flight)
        logits_p = [requantize(m, sc, smult, sshift, cfg.in_fmt.max_int, self.dsp,
                               "srq" if qi == 0 else f"srq_q{qi}")
                    for qi, sc in enumerate([out_r.score, *out_x])]
        pipe_v, pipe_r = out_v, out_r
        for k in range(REQUANT_LATENCY):
            nv, nr = Signal(name=f"srq_v{k}"), Signal(sel_l, name=f"srq_r{k}", reset_less=True)
            m.d.sync += [nv.eq(pipe_v), nr.eq(pipe_r)]
            # the threshold verdict in two stages: the exact difference (one carry chain),
            # then its sign (in one stage with the compare it was v21's critical path)
            if k == 0:
                thr_diff = Signal(signed(sw + 1), name="thr_diff", reset_less=True)
                m.d.sync += thr_diff.eq(pipe_r.score - thr)
            if k == 1:
                m.d.sync += nr.below.eq(use_thr & pipe_r.pred & thr_diff[-1])
            pipe_v, pipe_r = nv, nr
        wr = Signal(sel_l)
        m.d.comb += [wr.eq(pipe_r), wr.logit.eq(logits_p[0]),
                     sfifo.w_en.eq(pipe_v), sfifo.w_data.eq(wr)]
        if Q > 1:
            m.d.comb += [wr.xlogit[qi].eq(lp) for qi, lp in enumerate(logits_p[1:])]

        # ------------------------------------------------------------ routing
        sr = data.View(sel_l, sfifo.r_stream.payload)
        s_valid = sfifo.r_stream.valid
        m.d.comb += s_read.eq(s_valid & sfifo.r_stream.ready)
        # (the consumer, ``is_topk | pred``, travels with the score: after the FIFO it is one
        # register, so the FIFO's ready is one choice of two registered readies by it and the
        # output slice's enable one look-up table: v68 / v69, 2 levels)
        to_topk = sr.to_topk
        # into the top-k unit through a register slice: its valid and mask (which start the
        # unit's settle logic) are then registers, and its ready is a register
        m.submodules.topk_in = topk_in = SkidBuffer(topk.i_stream.payload.shape())
        wiring.connect(m, topk_in.o_stream, topk.i_stream)
        ti = topk_in.i_stream
        m.d.comb += [ti.payload.score.eq(sr.score), ti.payload.index.eq(Cat(sr.index, sr.logit)),
                     ti.payload.mask.eq(sr.mask | sr.below), ti.payload.last.eq(sr.last),
                     ti.valid.eq(s_valid & to_topk)]
        # softmax feed: from the top-k unit (topk mode) or the score FIFO, through a register
        # slice, so the softmax's and the index FIFO's readies reach neither source
        feed_fields = {"logit": signed(lw), "index": unsigned(iw), "mask": 1, "last": 1}
        if Q > 1:
            feed_fields.update({"xlogit": data.ArrayLayout(signed(lw), Q - 1), "qmask": Q})
        m.submodules.feed_buf = fbuf = SkidBuffer(data.StructLayout(feed_fields))
        fi, fo = fbuf.i_stream, fbuf.o_stream
        if Q > 1:
            m.d.comb += [fi.payload.xlogit.eq(sr.xlogit), fi.payload.qmask.eq(sr.qmask)]
        with m.If(is_topk):
            m.d.comb += [fi.valid.eq(to.valid),
                         fi.payload.logit.eq(to.payload.index[iw:].as_signed()),
                         fi.payload.index.eq(to.payload.index[:iw]),
                         fi.payload.mask.eq(to.payload.empty), fi.payload.last.eq(to.payload.last),
                         to.ready.eq(fi.ready)]
        with m.Else():
            m.d.comb += [fi.valid.eq(s_valid & ~to_topk), fi.payload.logit.eq(sr.logit),
                         fi.payload.index.eq(sr.index), fi.payload.mask.eq(sr.mask),
                         fi.payload.last.eq(sr.last)]
        m.d.comb += sfifo.r_stream.ready.eq(Mux(to_topk, ti.ready, fi.ready))
        src = fo.payload
        feed = Signal()
        si = smx.i_stream
        if Q == 1:
            # the slice's ready does not wait for its own valid (that loop was 3 look-up
            # table levels, the critical path of v49 seed 2)
            m.d.comb += [fo.ready.eq(si.ready & idx_w_rdy), feed.eq(fo.valid & fo.ready)]
        else:
            # prefill: a stream fork to the Q softmax units (static modes only, so the source
            # is the score FIFO); ``took`` remembers the units that already accepted the
            # element, so each gets it exactly once and no valid waits for a ready
            took = Signal(Q)
            m.d.comb += [feed.eq(fo.valid & idx_w_rdy & Cat(took[qi] | sm.i_stream.ready
                                                            for qi, sm in enumerate(smxs)).all()),
                         fo.ready.eq(feed)]
            for qi, sm in enumerate(smxs):
                m.d.comb += [sm.i_stream.valid.eq(fo.valid & idx_w_rdy & ~took[qi]),
                             sm.i_stream.payload.last.eq(src.last),
                             sm.i_stream.payload.mask.eq(src.qmask[qi])]
                if qi:
                    m.d.comb += sm.i_stream.payload.logit.eq(src.xlogit[qi - 1])
            with m.If(feed):
                m.d.sync += took.eq(0)
            with m.Else():
                m.d.sync += took.eq(took | Cat(sm.i_stream.valid & sm.i_stream.ready for sm in smxs))
        # the index FIFO is written a cycle after the feed, from registers: the feed (a look-up
        # table of the slice's valid and the readies) reached the FIFO's pointer and count and
        # the writer's count through two more levels (v76 seeds 2, 4 and 5: up to 6.0 ns)
        idx_w = Signal(name="idx_w")
        idx_wd = Signal(idx_l, name="idx_wd", reset_less=True)
        m.d.sync += [idx_w.eq(feed), idx_wd.index.eq(src.index), idx_wd.mask.eq(src.mask)]
        m.d.comb += [si.payload.logit.eq(src.logit), ififo.w_en.eq(idx_w),
                     ififo.w_data.eq(idx_wd)]
        if Q == 1:
            m.d.comb += [si.valid.eq(fo.valid & idx_w_rdy), si.payload.mask.eq(src.mask),
                         si.payload.last.eq(src.last)]

        # ------------------------------------------------------------ V stage
        # Each kept row's V words are read once; every query of the block multiplies them
        # by its own probability into its own d accumulators.
        # the softmax outputs and the index FIFO joined into one register slice: both are
        # taken when both are valid and the slice's skid entry is empty (registers only), and
        # the V stage's pop reaches only the slice (not the FIFOs' counters and slices)
        pw = cfg.out_fmt.width
        join_l = data.StructLayout({"prob": data.ArrayLayout(unsigned(pw), Q),
                                    "flags": Q, "last": 1, "index": unsigned(iw), "mask": 1})
        m.submodules.v_join = v_join = SkidBuffer(join_l)
        ji, jo = v_join.i_stream, v_join.o_stream
        sos = [sm.o_stream for sm in smxs]
        ri = data.View(idx_l, ififo.r_stream.payload)
        both = Cat(o.valid for o in sos).all() & ififo.r_stream.valid
        m.d.comb += [ji.valid.eq(both), ji.payload.last.eq(sos[0].payload.last),
                     ji.payload.index.eq(ri.index), ji.payload.mask.eq(ri.mask),
                     ji.payload.flags.eq(Cat(o.payload.all_masked for o in sos))]
        # each side's ready reads only the *other* sides' valids (a transfer needs its own
        # valid anyway): a side's valid no longer goes out to the join and back to its own
        # enable (the softmax output slice's loop, v61 seed 3 and v67 seed 1)
        m.d.comb += ififo.r_stream.ready.eq(Cat(o.valid for o in sos).all() & ji.ready)
        for qi, o in enumerate(sos):
            others = Cat(*(x.valid for k, x in enumerate(sos) if k != qi), ififo.r_stream.valid)
            m.d.comb += o.ready.eq(others.all() & ji.ready)
        m.d.comb += [ji.payload.prob[qi].eq(o.payload.prob) for qi, o in enumerate(sos)]
        jp = jo.payload
        accw = 8 + pw + ceil_log2(T + 2) + 1
        prodw = 8 + pw + 1
        vj = Signal(range(T + 1))
        vb = Signal(range(B))
        vps = [Signal(unsigned(pw), name="vp" if Q == 1 else f"vp_q{qi}") for qi in range(Q)]
        vlast = Signal()
        flags = Signal(Q)                         # per query: its row was fully masked
        viss = Signal()
        m.d.comb += [vr.addr.eq(_row_addr(vj, vb, B)), vr.en.eq(1)]
        # stages: issue -> V words (RegisteredRAM) -> products (Mult18, one more register)
        # -> accumulate; the probability travels with the beat (the next row's may already
        # be popped)
        vl = data.StructLayout({"valid": 1, "b": range(B)})
        v0 = Signal(vl)
        m.d.comb += [v0.valid.eq(viss), v0.b.eq(vb)]
        # Accumulators: per query and lane, a ring of B registers (``vring{q}_{i}_{k}``) and
        # one adder. Each product of the lane adds into the ring's head (stage B - 1) and the
        # sum enters stage 0 while every stage moves up one, so the B beats of a row meet
        # their own accumulators in turn and a row's B products rotate the ring once. After
        # the job's last product, beat ``bb``'s sum is in stage ``B - 1 - bb``: beat 0 at the
        # head. Each lane's product register thus feeds one adder beside it (64 separate
        # accumulators, each with a copy of the product, put the copy up to 4.6 ns of routing
        # from its accumulator: the most frequent failing group of v57-v73).
        # ``vfresh`` travels with each slot: the slot holds no product of this job yet, so
        # the head adds as 0 (in the carry chain's look-up tables, ``gated_add``); the output
        # stage rotates each ring B more times, shifting in fresh slots for the next job.
        # Enables: per stage a registered copy (``distinct_register``) of the lane's product
        # valid or its output load, so no net reaches more than one stage's flip-flops.
        # ``ring_go[qi]``: a product of this beat reaches the rings next cycle, or the output
        # stage loads from query ``qi``'s heads (``o_ld_pre``, below); ``pv_n``: no product
        v_pre = delay(m, v0.valid, RAM_READ_LATENCY + MULT18_LATENCY - 1, "vs")
        o_ld_pre = [Signal(name=f"o_ld_pre{qi}") for qi in range(Q)]
        ring_go = [Signal(name=f"ring_go{qi}") for qi in range(Q)]
        pv_n = Signal(init=1, name="pv_n")
        m.d.sync += [g.eq(v_pre | ld) for g, ld in zip(ring_go, o_ld_pre)]
        m.d.sync += pv_n.eq(~v_pre)
        # ``o_copy``: the drain's end (all products in)
        o_copy = Signal()
        heads = []
        for qi in range(Q):
            sfx = f"_q{qi}" if Q > 1 else ""
            p_rd = delay(m, vps[qi], RAM_READ_LATENCY, f"vp_rd{sfx}", reset_less=True)
            heads.append([])
            for i in range(L):
                mul = Mult18(self.dsp)
                m.submodules[f"vmul{i}{sfx}"] = mul
                m.d.comb += [mul.a.eq(p_rd), mul.b.eq(vr.data[i])]
                # one register after the DSP (its output reached the accumulators it feeds
                # across the die: 4.3 ns of routing at -6, v15's critical path)
                vprod = Signal(signed(prodw), name=f"vprod{i}{sfx}", reset_less=True)
                m.d.sync += vprod.eq(mul.p[:prodw].as_signed())
                ring = [Signal(signed(accw), name=f"vring{qi}_{i}_{k}", reset_less=True)
                        for k in range(B)]
                fresh = [Signal(init=1, name=f"vfresh{qi}_{i}_{k}") for k in range(B)]
                ens = [distinct_register(m, ring_go[qi], f"vring_en{qi}_{i}_{k}", impl)
                       for k in range(B)]
                npv = distinct_register(m, pv_n, f"vring_npv{qi}_{i}", impl)
                ext = Signal(signed(accw), name=f"vprod_ext{qi}_{i}")
                m.d.comb += ext.eq(vprod)
                total = gated_add(m, ring[-1], fresh[-1], ext, accw, impl, f"vacc{qi}_{i}")
                with m.If(ens[0]):
                    m.d.sync += [ring[0].eq(total), fresh[0].eq(npv)]
                for k in range(1, B):
                    with m.If(ens[k]):
                        m.d.sync += [ring[k].eq(ring[k - 1]), fresh[k].eq(fresh[k - 1])]
                heads[qi].append(ring[-1])
        # output: query by query, d elements each
        oc = Signal(range(Q * d + 1))            # element index over the whole block
        ocol = Signal(range(d))                   # ... within its query
        oq = Signal(range(Q))                     # ... its query
        # ``oc < Q * d`` and ``ocol == d - 1`` as registers, each written with the value it
        # describes, so the issue decision reads no compare
        o_more, ocol_last = Signal(name="o_more"), Signal(name="ocol_last")
        ol = data.StructLayout({"data": signed(8), "last": 1, "all_masked": 1})
        m.submodules.out_fifo = ofifo = SyncFIFOBuffered(width=ol.size, depth=_OUT_FIFO)
        o_iss = Signal()
        # beats issued and not yet taken by the consumer (in the pipeline or the FIFO), with
        # "room for one more" and "none left" as registers (``updown_counter``'s flags; the
        # sum of an in-flight count and the FIFO's level was v29's estimated worst path)
        o_pop = Signal()
        o_flags = updown_counter(m, o_iss, o_pop, _OUT_FIFO, "o_outstanding",
                                 {"credit": ("<", _OUT_FIFO), "none": ("==", 0)})
        o_credit = o_flags["credit"]
        # cycles from the final V issue until its products are in the accumulators
        v_drain = RAM_READ_LATENCY + MULT18_LATENCY + _VPROD_STAGES + _VACC_CYCLES
        drain = Signal(range(v_drain + 1))
        # stage 1: a shift chain of L elements in output order is loaded from the ring heads
        # of one query (beat ``bb``'s L columns) while those rings rotate once (``o_ld_pre``,
        # two cycles ahead: in the cycle after the drain, then with the shift of each group's
        # last element), and
        # shifts one element per issue (no Q * d-way select). The load and shift enables are
        # registered, in one copy per 2 elements that synthesis keeps apart
        # (``distinct_register``), so no net fans out to the whole chain (one copy per 8
        # elements put 280 flip-flop enables behind each look-up table: v69 seed 1, 194
        # endpoints over 5 ns)
        seg_o = 2
        acc_sel = Signal(signed(accw), reset_less=True)
        outs = [Signal(signed(accw), name=f"oshadow{n}", reset_less=True) for n in range(L)]
        n_sh = -(-L // seg_o)
        # (the shift copies come from ``o_iss_r``, a register: ``o_iss``, a look-up table, to
        # the 32 copies along the chain was 4.0 ns of routing, v70; the credit loop's round
        # trip is one cycle longer: ``d / 4`` cycles per job)
        o_iss_r = Signal(name="o_iss_r")
        m.d.sync += o_iss_r.eq(o_iss)
        shift = [distinct_register(m, o_iss_r, f"oshift{k}", impl) for k in range(n_sh)]
        ld_go = [Signal(name=f"ld_go{qi}") for qi in range(Q)]
        m.d.sync += [g.eq(ld) for g, ld in zip(ld_go, o_ld_pre)]
        o_load = [[distinct_register(m, ld_go[qi], f"oload{qi}_{k}", impl) for k in range(n_sh)]
                  for qi in range(Q)]
        with m.If(shift[0]):
            m.d.sync += acc_sel.eq(outs[0])
        for n, nxt in enumerate(outs[1:] + [0]):
            for qi in range(Q):
                with (m.If if qi == 0 else m.Elif)(o_load[qi][n // seg_o]):
                    m.d.sync += outs[n].eq(heads[qi][n])
            with m.Elif(shift[n // seg_o]):
                m.d.sync += outs[n].eq(nxt)
        oval = requantize(m, acc_sel, omult, oshift, 127, self.dsp, "orq")   # after stage 1
        # issue, "last column" and "fully masked" travel beside the value: ``o_iss_r``, shift
        # enable, chain head, requantizer
        o_w, o_last, o_flag = delay(m, Cat(o_iss, ocol_last, flags.bit_select(oq, 1)),
                                    REQUANT_LATENCY + 3, "oflags")
        m.d.comb += o_pop.eq(ofifo.r_rdy & self.o_stream.ready)
        wo = data.View(ol, ofifo.w_data)
        ro = data.View(ol, ofifo.r_data)
        m.d.comb += [ofifo.w_en.eq(o_w), wo.data.eq(Mux(o_flag, 0, oval)), wo.last.eq(o_last),
                     wo.all_masked.eq(o_flag),
                     self.o_stream.valid.eq(ofifo.r_rdy), ofifo.r_en.eq(self.o_stream.ready),
                     self.o_stream.payload.data.eq(ro.data), self.o_stream.payload.last.eq(ro.last),
                     self.o_stream.payload.all_masked.eq(ro.all_masked)]
        # the V-row counter counts from a registered event, like the K-row counters (the
        # issue reached its 32 enables across the die: v23's critical path, 3.7 ns of routing)
        count_v = Signal()
        m.d.sync += count_v.eq(viss & (vb == 0))
        job_counter(self.v_rows, count_v, "v_rows_next")
        # The V stage's state machine, one flag register per state (``one_hot_states``),
        # with ``vb == B - 1`` as a register (``vb_last``) and the drain count loaded in
        # every other state, so no state decision reads a decode or a compare (the encoded
        # machine's drain load was v28's critical path: 5 LUT levels)
        vst, vgoto = one_hot_states(("POP", "READ", "DRAIN", "OUT"), "vstage")

        vb_last = Signal(init=int(B == 1))
        with m.If(vst["DRAIN"]):
            m.d.sync += drain.eq(drain - 1)
        with m.Else():
            m.d.sync += drain.eq(v_drain)
        m.d.comb += jo.ready.eq(vst["POP"])
        with m.If(vst["POP"] & jo.valid):
            m.d.sync += [vj.eq(jp.index), vb.eq(0), vb_last.eq(B == 1), vlast.eq(jp.last),
                         flags.eq(jp.flags)]
            m.d.sync += [vp.eq(jp.prob[qi]) for qi, vp in enumerate(vps)]
            with m.If(jp.mask):
                with m.If(jp.last):
                    m.d.sync += vgoto("POP", "DRAIN")
            with m.Else():
                m.d.sync += vgoto("POP", "READ")
        with m.If(vst["READ"]):
            m.d.comb += viss.eq(1)
            m.d.sync += [vb.eq(vb + 1), vb_last.eq(vb == B - 2)]
            with m.If(vb_last):
                with m.If(vlast):
                    m.d.sync += vgoto("READ", "DRAIN")
                with m.Else():
                    m.d.sync += vgoto("READ", "POP")
        # ``o_copy`` (the drain's last cycle, ``DRAIN & drain == 0``) as a register: the
        # state stays DRAIN from a ``drain == 1`` cycle to the next, and entering DRAIN loads
        # ``v_drain`` >= 2 (the compare and the state flag -> the output counters' clears
        # was v58's second path, 6.0 ns)
        copy_now = vst["DRAIN"] & (drain == 1)
        m.d.sync += o_copy.eq(copy_now)
        # ``og_last``: the next issue is the last element of its group of L (a register); the
        # chain's first load is with ``o_copy`` (query 0), the next ones with the shift of each
        # group's last element, from the query the following group belongs to
        og_pos = Signal(range(L))
        og_last = Signal(init=int(L == 1))
        grp_end = o_iss & og_last
        for qi in range(Q):
            nxt_q = Mux(ocol_last, oq == qi - 1, oq == qi) if Q > 1 else ~ocol_last
            m.d.comb += o_ld_pre[qi].eq((copy_now if qi == 0 else 0) | (grp_end & nxt_q))
        with m.If(o_copy):
            m.d.sync += [oc.eq(0), ocol.eq(0), oq.eq(0), o_more.eq(1), ocol_last.eq(d == 1),
                         og_pos.eq(0), og_last.eq(L == 1)]
            m.d.sync += vgoto("DRAIN", "OUT")
        with m.If(vst["OUT"]):
            with m.If(o_more):
                with m.If(o_credit):
                    m.d.comb += o_iss.eq(1)
                    m.d.sync += [oc.eq(oc + 1), o_more.eq(oc != Q * d - 1)]
                    with m.If(og_last):
                        m.d.sync += [og_pos.eq(0), og_last.eq(L == 1)]
                    with m.Else():
                        m.d.sync += [og_pos.eq(og_pos + 1), og_last.eq(og_pos == L - 2)]
                    with m.If(ocol_last):
                        m.d.sync += [ocol.eq(0), oq.eq(oq + 1), ocol_last.eq(d == 1)]
                    with m.Else():
                        m.d.sync += [ocol.eq(ocol + 1), ocol_last.eq(ocol == d - 2)]
            with m.Elif(o_flags["none"]):
                m.d.comb += job_done.eq(1)
                m.d.sync += vgoto("OUT", "POP")
        return m


def q_beats(q, lanes: int) -> list:
    """``q_stream`` payloads (lists of ``lanes`` ints) for a query vector."""
    q = [int(v) for v in q]
    return [q[b * lanes:(b + 1) * lanes] for b in range(len(q) // lanes)]


def kv_beats(K, V, lanes: int) -> list:
    """``kv_stream`` payloads writing every row of ``K`` and ``V``."""
    out = []
    for sel, M in ((0, K), (1, V)):
        for j, row in enumerate(M):
            for b, chunk in enumerate(q_beats(row, lanes)):
                out.append({"sel": sel, "addr": j * (len(row) // lanes) + b, "data": chunk})
    return out


def job_ports(eng: AttentionEngine, sel: Selection, T: int, pos: int, *, score_mult: int,
              score_shift: int, out_mult: int, out_shift: int) -> dict:
    """Configuration port values for one job of ``eng`` (names as the ports): a decode
    query at ``pos``, or with ``eng.queries > 1`` a prefill block at ``pos .. pos + queries - 1``."""
    if not isinstance(sel, Selection):
        raise TypeError(f"sel must be a Selection, not {sel!r}")
    if not 1 <= T <= eng.t_max:
        raise ValueError(f"T must be in 1..{eng.t_max}, not {T!r}")
    Q = eng.queries
    if not 0 <= pos <= T - Q:
        raise ValueError(f"pos must be in 0..{T - Q}, not {pos!r}" + (
            f" (a block of {Q} queries at pos .. pos + {Q - 1})" if Q > 1 else ""))
    if Q > 1 and sel.dynamic:
        raise ValueError(f"mode {sel.mode!r} needs an engine with queries=1 (prefill blocks "
                         f"support the static modes)")
    if Q > 1 and sel.mode == "block" and pos // sel.block != (pos + Q - 1) // sel.block:
        raise ValueError(f"block mode: the queries at {pos}..{pos + Q - 1} must share one "
                         f"bitmap row (block size {sel.block})")
    row = 0
    if sel.mode == "block":
        if sel.block != eng.block:
            raise ValueError(f"sel.block must be the engine's block size {eng.block}, not {sel.block!r}")
        bits = sel.bitmap[pos // sel.block] if pos // sel.block < len(sel.bitmap) else ()
        for kb, on in enumerate(bits[:eng.n_blocks]):
            row |= int(on) << kb
    if sel.dynamic and sel.k > eng.k_max:
        if sel.mode == "predict" or sel.k < T:
            raise ValueError(f"sel.k must be at most k_max={eng.k_max}, not {sel.k!r}")
    mode = MODE_CODES[sel.mode]
    k = min(sel.k, eng.k_max)
    if sel.mode == "topk" and sel.k > eng.k_max:
        mode, k = MODE_CODES["dense"], 0       # k >= T > k_max: top-k keeps all = dense
    thr = sel.threshold if sel.threshold is not None else 0
    lim = 1 << (eng.pred_width - 1)
    return dict(mode=mode, causal=int(sel.causal), t_len=T, pos=pos,
                window=min(sel.window, 2 * eng.t_max + 1), n_global=min(sel.n_global, eng.t_max),
                block_row=row, k=k, threshold=max(-lim, min(lim - 1, thr)),
                use_threshold=int(sel.threshold is not None),
                score_mult=score_mult, score_shift=score_shift, out_mult=out_mult,
                out_shift=out_shift)
