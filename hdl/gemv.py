"""Systolic GEMV array: ``y = W x`` with int8 activations and int8 or int4 weights.

Data flow
---------
::

    x_stream --> [issue] --> grp0 --> grp1 --> ... --> grpG-1      (x + control, 1 register/group)
    w_stream --> [issue] --> +0      +1              +G-1          (weight skew, registers)
                              |        |                |
                            DSPs     DSPs             DSPs  -> split -> acc
                                                                         |
              y_stream <- FIFO <- requant <- res0 <- res1 <- ... <- resP-1   (result shift chain)

The ``lanes`` (P) processing elements are output-stationary: lane ``p`` accumulates row
``t * P + p`` of tile ``t``. PEs are grouped by ``group`` (default 8); the activation and its
control bits move group to group through one register per group (systolic: no P-wide
fan-out; each activation register drives at most ``group`` DSP inputs), and each group's
weights are delayed by the same number of cycles so they meet their activation.

Tile 0 of a job consumes ``x_stream`` directly (and stores ``x`` in a ``max_n``-deep
buffer); later tiles replay ``x`` from the buffer, so there is no separate load phase.

Results drain through a shift chain: lane ``p``'s result register loads its accumulator when
the lane finishes a tile and otherwise takes lane ``p + 1``'s value, so a tile's results
leave lane 0 in row order, one per cycle, with one empty slot per group boundary (groups
finish one cycle apart). No drain signal reaches all lanes (no read-index fan-out, no
P-input multiplexer); the chain never stops, so a tile's final column issues only when the
output FIFO (``P + 4`` entries in block RAM with a short LUT-RAM output queue,
:class:`~attnkit.hdl.fifo.BlockFifo`) has room for the whole tile and the previous tile has
left the chain. No register of the lanes or of the result chain has a reset (data, control
and valid bits alike): the reset net reaches only the control plane, and a reset starts a
flush of :attr:`GemvArray.flush_cycles` cycles in which no job starts and nothing leaving
the chain counts (see ``_reset_flush``).

Formats
-------
* ``x``: int8. ``W``: int8 or int4 (``weight_bits``). Lanes past row ``M - 1`` of the last
  tile are ignored (send anything).
* Products: exact. With ``weight_bits=4`` two lanes share one MULT18X18D: the DSP computes
  ``(w_hi * 2**12 + w_lo) * x`` and the two products are split exactly *before*
  accumulation (``lo = sext(p[0:12])``, ``hi = (p + 2**11) >> 12``; valid because
  ``|w_lo * x| <= 1024 < 2**11``).
* Accumulators: ``acc_width`` bits, two's complement, wrap on overflow (exact for
  ``N <= 2**(acc_width - 16)`` with int8 weights; see :func:`attnkit.golden.gemv.min_acc_width`).
* Output: the accumulator (``signed(acc_width)``), or with ``requant=True`` int8 from
  ``clamp(round_shift(acc * req_mult, req_shift), -127, 127)`` (round half up), exactly
  :func:`attnkit.golden.quant.requantize`.

Interface and timing
--------------------
* ``m`` (rows, 1..65535) and ``n`` (columns, 1..``max_n``) are sampled when a job starts, which
  is the cycle after the array is idle and ``x_stream.valid`` is seen; the job's first issue
  slot follows :attr:`GemvArray.start_cycles` (2) cycles after that sample. ``m = 0`` or
  ``n = 0`` are not supported. After a reset no job starts for
  :attr:`GemvArray.flush_cycles` cycles (``busy`` is high meanwhile); at power-up, with no
  reset, a job may start at once.
* A job consumes ``N`` beats of ``x_stream`` and ``ceil(M/P) * N`` beats of ``w_stream``
  (beat ``t*N + n`` holds ``W[t*P + p, n]`` in lane ``p``, see
  :func:`attnkit.golden.gemv.weight_beats`) and produces ``M`` beats of ``y_stream`` in row
  order, ``last`` set on row ``M - 1``.
* Throughput: ``P`` MACs per cycle (one weight beat per cycle) while both input streams
  are valid and ``N >= P + G + latency`` (``G`` groups); a tile's results drain in
  :attr:`GemvArray.drain_cycles` cycles and a tile's final column waits until the previous
  tile has left the chain and the output FIFO has room for it, so small ``N`` costs extra
  cycles. The array itself never stalls: missing input beats become bubbles.
* Latency: the first result of a job leaves :attr:`GemvArray.latency` cycles after the final
  weight beat of tile 0 is accepted (plus output backpressure).
* All streams follow :mod:`amaranth.lib.stream` rules; ``x_stream.ready`` and
  ``w_stream.ready`` depend combinationally on their ``valid`` (allowed for consumers).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from attnkit.golden.params import check_bool, check_choice, check_int
from attnkit.golden.quant import REQUANT_MULT_BITS

from .dsp import MULT18_LATENCY, Mult18, resolve_impl
from .ebr import RAM_READ_LATENCY, RegisteredRAM
from .fifo import BlockFifo
from .carry_chain import gated_add
from .pipeline import delay, distinct_register
from .requant import REQUANT_LATENCY, requantize

__all__ = ["GemvArray", "MAX_LANES", "gemv_dsp_count"]

#: Every MULT18X18D of the largest ECP5 (LFE5U-85F: 156).
MAX_LANES = 312
_INT4_SPLIT = 12          # bit position of the high int4 product inside the packed product
# Fabric registers between a DSP's output and its accumulator: the split/product register
# (placed by the DSP) and one retiming register, so the placer can bridge the distance from
# the DSP column to the accumulator in two hops (at 156 DSPs the single hop was the
# critical path: 2.8 ns of routing).
_PROD_STAGES = 2


def gemv_dsp_count(lanes: int, weight_bits: int) -> int:
    """DSPs of an array: one per lane for int8 weights, one per two lanes for int4."""
    return lanes if weight_bits == 8 else lanes // 2


class GemvArray(wiring.Component):
    """Systolic int8/int4 GEMV array (see the module docstring for the full contract).

    Parameters
    ----------
    lanes : int
        Processing elements P (output rows computed in parallel), 1..312. With
        ``weight_bits=4`` it must be even and the array uses ``lanes / 2`` DSPs.
    weight_bits : 4 or 8
    acc_width : int
        Accumulator width, 18..48 bits.
    requant : bool
        Add the requantize-to-int8 output stage (``req_mult``, ``req_shift`` ports).
    max_n : int
        Largest N (activation buffer depth), 1..16384.
    group : int
        PEs per systolic stage (activation fan-out), 1..``lanes``; even for int4.
    dsp : ``"auto"``, ``"primitive"`` or ``"behavioural"``
        Multiplier and activation-buffer implementation (:class:`attnkit.hdl.dsp.Mult18`,
        :class:`attnkit.hdl.ebr.RegisteredRAM`); ``"auto"`` uses the ECP5 primitives when
        elaborated for an ECP5 platform.
    dsp_bels : sequence of str, optional
        A placement for the lanes' DSPs: one nextpnr site per DSP (:attr:`dsp_count`), in
        lane order (:func:`attnkit.boards.floorplan.serpentine_sites`).
    """

    def __init__(self, *, lanes: int = 16, weight_bits: int = 8, acc_width: int = 32,
                 requant: bool = False, max_n: int = 4096, group: int = 8, dsp: str = "auto",
                 dsp_bels=None):
        check_int("lanes", lanes, 1, MAX_LANES)
        check_choice("weight_bits", weight_bits, (4, 8))
        check_int("acc_width", acc_width, 18, 48)
        check_bool("requant", requant)
        if requant and acc_width > 35:
            raise ValueError(f"acc_width must be <= 35 with requant=True, not {acc_width!r}")
        check_int("max_n", max_n, 1, 16384)
        check_int("group", group, 1)
        group = min(group, lanes)
        if weight_bits == 4:
            if lanes % 2:
                raise ValueError(f"lanes must be even with weight_bits=4, not {lanes!r}")
            if group % 2:
                raise ValueError(f"group must be even with weight_bits=4, not {group!r}")
        resolve_impl(dsp, None)
        self.lanes = lanes
        self.weight_bits = weight_bits
        self.acc_width = acc_width
        self.requant = requant
        self.max_n = max_n
        self.group = group
        self.dsp = dsp
        self.n_groups = -(-lanes // group)
        if dsp_bels is not None:
            dsp_bels = tuple(dsp_bels)
            if len(dsp_bels) != self.dsp_count or not all(isinstance(b, str) for b in dsp_bels):
                raise ValueError(f"dsp_bels must be {self.dsp_count} site names (one per DSP), "
                                 f"not {len(dsp_bels)} entries")
            if len(set(dsp_bels)) != len(dsp_bels):
                raise ValueError("dsp_bels names a site twice")
        self.dsp_bels = dsp_bels
        self.out_width = 8 if requant else acc_width
        members = {
            "m": In(16),
            "n": In(bits_for(max_n)),
            "x_stream": In(stream.Signature(signed(8))),
            "w_stream": In(stream.Signature(data.ArrayLayout(signed(weight_bits), lanes))),
            "y_stream": Out(stream.Signature(data.StructLayout({
                "data": signed(self.out_width), "last": unsigned(1)}))),
            "busy": Out(1),
        }
        if requant:
            members["req_mult"] = In(REQUANT_MULT_BITS)
            members["req_shift"] = In(6)
        super().__init__(members)

    # -- derived figures ---------------------------------------------------------------------
    @property
    def macs_per_cycle(self) -> int:
        return self.lanes

    @property
    def dsp_count(self) -> int:
        return gemv_dsp_count(self.lanes, self.weight_bits)

    # Pipeline, counted from the cycle an issue handshake happens (cycle 0):
    #   1: issue register; 2: block-RAM output register; 3 + g: group g's activation
    #   register; +3: DSP; +1: split/product; +1: product retiming register; +1: acc;
    #   +1: result register.
    @property
    def _capture_delay(self) -> int:
        """Cycles from a tile's final issue until lane 0's result register holds it.

        Lane ``p`` (group ``p // group``) captures ``p // group`` cycles later, and its
        result reaches lane 0 of the shift chain ``p`` cycles after that.
        """
        return 3 + MULT18_LATENCY + _PROD_STAGES + 2

    @property
    def _out_latency(self) -> int:
        return REQUANT_LATENCY if self.requant else 0

    @property
    def latency(self) -> int:
        """Cycles from the final weight beat of a tile to its first result on ``y_stream``."""
        return self._capture_delay + 1 + self._out_latency + BlockFifo.latency - 1

    #: Cycles from the cycle that samples a job's ports to its first issue slot.
    start_cycles = 2

    @property
    def drain_cycles(self) -> int:
        """Cycles from a tile's first result leaving the chain to its last (inclusive):
        ``P`` results plus one empty slot per group boundary."""
        return self.lanes + self.n_groups - 1

    @property
    def _fifo_depth(self) -> int:
        return self.lanes + 4

    @property
    def flush_cycles(self) -> int:
        """Cycles after a reset during which the array takes no job (:meth:`_reset_flush`)."""
        return self._capture_delay + self.drain_cycles

    def _reset_flush(self, m):
        """The lane pipeline (control bits, ``done``, the result chain's valid bits) has no
        reset, so the reset net reaches only the control plane (at 156 lanes the net to
        about a thousand lane flip-flops was the critical path). A reset instead starts a
        flush: for :attr:`flush_cycles` cycles, longer than any bit takes to leave the
        chain, no job starts and nothing leaving the chain counts as a result. The counter
        samples the reset as data and has no reset itself, so at power-up (registers at
        their initial values, the lane pipeline empty) there is no flush.
        Returns the registered ``flushing`` flag."""
        n = self.flush_cycles
        assert n >= 2
        # counts n - 2 .. 0 then rests at -1: "still flushing" is the sign bit, and the
        # decrement's enable is that bit (an ``== 0`` / ``> 1`` compare on the count was a
        # critical path of the floorplanned 156-lane build: 5.1 ns at -6, 3.9 ns at -8)
        count = Signal(signed(bits_for(n) + 1), name="flush_count", init=-1, reset_less=True)
        flushing = Signal(name="flushing", reset_less=True)
        rst = ResetSignal("sync")
        with m.If(rst):
            m.d.sync += count.eq(n - 2)
        with m.Elif(~count[-1]):
            m.d.sync += count.eq(count - 1)
        m.d.sync += flushing.eq(rst | ~count[-1])
        return flushing

    # -- gateware -------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        P, G, wb = self.lanes, self.group, self.weight_bits
        nb = bits_for(self.max_n)
        impl = resolve_impl(self.dsp, platform)

        # ---- issue: job/tile/column counters ---------------------------------------------------
        active = Signal()
        m_r = Signal(16)
        n_last = Signal(nb)           # n - 1
        col = Signal(nb)
        # n - 3 - col: after issuing a column that is not the last, the next one is the last
        # exactly when this was -1 (cols left == 1), so ``last_col`` loads its sign bit
        # instead of an equality compare (3 LUT levels, the critical path at -6)
        cl_m2 = Signal(signed(nb + 2))
        n_m3 = Signal(signed(nb + 2))   # n - 3
        n_is1 = Signal()
        tile0 = Signal()
        # m - 1 - (first row of the current tile): the tile's rows minus 1 when it is the
        # last tile, so a drained tile's row count is a multiplexer, not an adder (the adder
        # on the final-column path was the critical path at -6 once the DSPs were placed)
        rows_m1 = Signal(signed(18))
        pending = Signal()            # the last tile's results are still in the result chain
        issue = Signal()

        # ``last_col``/``last_tile`` are registered flags, recomputed whenever ``col`` or
        # the tile changes, so no comparator sits on the issue path (``row_base``: the
        # current tile's first row, kept only as ``rows_m1`` and ``row_base2``).
        last_col = Signal()           # col == n - 1
        last_tile = Signal()          # row_base + P >= m
        # row_base + 2P >= m, one cycle late: row_base2 changes once per tile and tile
        # switches are >= capture_delay cycles apart (they wait for the previous drain).
        next_last_tile = Signal()
        row_base2 = Signal(18)        # row_base + 2P
        m.d.sync += next_last_tile.eq(row_base2 >= m_r)
        x_ok = ~tile0 | self.x_stream.valid
        # ``pending | ~credit_ok`` (credit_ok: the output FIFO has room for a whole tile) as
        # one register computed from both next values, so the issue decision, which fans out
        # to every counter's enable, is one term shorter
        final_wait = Signal()
        m.d.comb += issue.eq(active & self.w_stream.valid & x_ok & ~(last_col & final_wait))
        m.d.comb += [
            self.w_stream.ready.eq(issue),
            self.x_stream.ready.eq(issue & tile0),
        ]

        # Drain bookkeeping captured when a tile's final column issues.
        d_rows_m1 = Signal(range(max(P, 2)))   # rows in the tile being drained, minus 1
        d_job_last = Signal()
        set_pending = Signal()

        rq_r = Signal(REQUANT_MULT_BITS + 6)      # job's (req_mult, req_shift)
        d_rq = Signal.like(rq_r)                  # ... of the tile being drained
        # Job start, two cycles: the first samples the ports (``m``, ``n``, requant; ``n - 1``,
        # ``n - 3`` and ``m <= P`` go straight into registers), the second derives the flags
        # from those registers, so no port reaches the issue logic.
        starting = Signal()
        # ``m <= P`` sampled with ``m``: the compare on ``m_r`` in the start cycle was the
        # critical path once the DSPs were floorplanned (5.1 ns at -6)
        m_le_p = Signal()
        flushing = self._reset_flush(m)
        with m.If(~active & ~starting & ~flushing & self.x_stream.valid):
            m.d.sync += [starting.eq(1), m_r.eq(self.m), n_last.eq(self.n - 1), n_m3.eq(self.n - 3),
                         m_le_p.eq(self.m <= P), row_base2.eq(2 * P)]
            if self.requant:
                m.d.sync += rq_r.eq(Cat(self.req_mult, self.req_shift))
        with m.If(starting):
            m.d.sync += [starting.eq(0), active.eq(1), col.eq(0),
                         cl_m2.eq(n_m3), n_is1.eq(n_last == 0),
                         tile0.eq(1), rows_m1.eq(m_r - 1),
                         last_col.eq(n_last == 0), last_tile.eq(m_le_p)]
            # (``next_last_tile`` needs no start value: ``row_base2`` is 2P from the
            # sampling cycle on, so the free-running compare is right from here)
        with m.If(issue):
            with m.If(last_col):
                m.d.sync += [col.eq(0), tile0.eq(0), rows_m1.eq(rows_m1 - P), row_base2.eq(row_base2 + P),
                             cl_m2.eq(n_m3), last_col.eq(n_is1), last_tile.eq(next_last_tile)]
                m.d.comb += set_pending.eq(1)
                m.d.sync += [d_rows_m1.eq(Mux(last_tile, rows_m1, P - 1)), d_job_last.eq(last_tile),
                             d_rq.eq(rq_r)]
                with m.If(last_tile):
                    m.d.sync += active.eq(0)
            with m.Else():
                m.d.sync += [col.eq(col + 1), cl_m2.eq(cl_m2 - 1), last_col.eq(cl_m2[-1])]

        # ---- activation buffer --------------------------------------------------------------
        # The issue decision reaches no block-RAM pin: the write happens one cycle later from
        # the issue register (tile 1 reads column c at least n >= 2 cycles after tile 0
        # issued it, or for n = 1 after the final column's ``hold``), and the read port
        # reads every cycle: ``col`` only moves on an issue and the data two cycles later is
        # used only behind an issue (``c_ctl``).
        m.submodules.xmem = xmem = RegisteredRAM(8, self.max_n, impl=self.dsp)
        b_col = Signal.like(col)
        m.d.sync += b_col.eq(col)

        # ---- issue register (cycle 1) ----------------------------------------------------------
        b_valid, b_first, b_last, b_tile0 = Signal(), Signal(), Signal(), Signal()
        b_x = Signal(signed(8), reset_less=True)
        b_w = Signal(self.w_stream.payload.shape(), reset_less=True)
        m.d.sync += [
            b_valid.eq(issue), b_first.eq(col == 0), b_last.eq(last_col), b_tile0.eq(tile0),
            b_x.eq(self.x_stream.payload), b_w.eq(self.w_stream.payload),
        ]
        m.d.comb += [
            xmem.w_addr.eq(b_col), xmem.w_data.eq(b_x), xmem.w_en.eq(b_valid & b_tile0),
            xmem.r_addr.eq(col), xmem.r_en.eq(1),
        ]
        # ---- cycle 2: the buffer's registered output meets the second x register --------------
        assert RAM_READ_LATENCY == 2
        c_x = Signal(signed(8), reset_less=True)
        c_tile0, c_ctl = Signal(), Signal(3)
        m.d.sync += [c_x.eq(b_x), c_tile0.eq(b_tile0), c_ctl.eq(Cat(b_valid, b_first, b_last))]
        c_mem = xmem.r_data.as_signed()

        # ---- systolic groups -------------------------------------------------------------------
        lane_out = []                 # per lane: (lane, accumulator, done)
        prev_x, prev_ctl = Mux(c_tile0, c_x, c_mem), c_ctl
        for g in range(self.n_groups):
            lo, hi = g * G, min(P, (g + 1) * G)
            gx = Signal(signed(8), name=f"g{g}_x", reset_less=True)
            gctl = Signal(3, name=f"g{g}_ctl", reset_less=True)
            m.d.sync += [gx.eq(prev_x), gctl.eq(prev_ctl)]
            prev_x, prev_ctl = gx, gctl
            # weights of this group, delayed g + 2 cycles after the issue register
            w_lanes = [b_w[p] for p in range(lo, hi)]
            for d in range(g + 2):
                nxt = [Signal(signed(wb), name=f"g{g}_w{p}_d{d}", reset_less=True)
                       for p in range(lo, hi)]
                m.d.sync += [n_.eq(w_) for n_, w_ in zip(nxt, w_lanes)]
                w_lanes = nxt
            # control at the accumulate stage: DSP latency + product registers; the last stage
            # is one register per lane so no control net fans out to a whole group's accumulators
            ctl = delay(m, gctl, MULT18_LATENCY + _PROD_STAGES - 1, f"g{g}_ctl_d", reset_less=True)
            for prods in self._products(m, g, gx, w_lanes):
                for p_idx, prod in prods:
                    lane_ctl = distinct_register(m, ctl, f"ctl{p_idx}", impl, reset_less=True)
                    a_valid, a_first, a_last = lane_ctl[0], lane_ctl[1], lane_ctl[2]
                    acc = Signal(signed(self.acc_width), name=f"acc{p_idx}", reset_less=True)
                    prod_r = Signal.like(prod, name=f"prod{p_idx}_r", reset_less=True)
                    m.d.sync += prod_r.eq(prod)
                    # the "first column" choice gates the adder's input inside the carry
                    # chain, so the sum goes straight into the accumulator register
                    acc_next = gated_add(m, acc, a_first, prod_r, self.acc_width, impl,
                                         f"acc{p_idx}_sum").as_signed()
                    done = Signal(name=f"done{p_idx}", reset_less=True)   # acc holds the row's final sum
                    m.d.sync += done.eq(a_valid & a_last)
                    with m.If(a_valid):
                        m.d.sync += acc.eq(acc_next)
                    lane_out.append((p_idx, acc, done))
        lane_out.sort(key=lambda t: t[0])

        # ---- drain: result shift chain -> (requant) -> FIFO -------------------------------------
        # Lane p captures at capture_delay + p // group after its tile's final issue and its
        # result leaves lane 0 p cycles later; the last leaves at capture_delay + drain_cycles
        # - 1. A following tile's final column may issue drain_cycles cycles after this one:
        # its lane 0 captures just after the chain has emptied (``pending`` holds it back).
        chain = [Signal(signed(self.acc_width), name=f"res{p}", reset_less=True) for p in range(P)]
        chain_v = [Signal(name=f"res_valid{p}", reset_less=True) for p in range(P)]
        for p, acc, done in lane_out:
            up, up_v = (chain[p + 1], chain_v[p + 1]) if p + 1 < P else (0, 0)
            m.d.sync += [chain[p].eq(Mux(done, acc, up)), chain_v[p].eq(done | up_v)]

        hold = max(self.drain_cycles - 1, 3)
        chain_wait = Signal(range(hold))
        with m.If(set_pending):
            m.d.sync += [pending.eq(1), chain_wait.eq(hold - 1)]
        with m.Elif(pending):
            m.d.sync += chain_wait.eq(chain_wait - 1)
            with m.If(chain_wait == 0):
                m.d.sync += pending.eq(0)

        # ``room``: FIFO slots neither filled nor reserved, minus P, so "room for a tile" is
        # its sign bit and each update is one adder. A tile reserves its rows two cycles
        # after its final column issues (``reserve``, then ``rsv_rows``), its sign reaches
        # ``final_wait`` two cycles after that; ``pending`` blocks the next final column for
        # at least that long (``hold >= 3``), so the credit is never stale when it matters.
        depth = self._fifo_depth
        # one output register (``out_slice=False``): the consumer's ready is a port, a
        # register outside the array (the 156-lane builds of docs/gemv_fmax_156.md)
        m.submodules.fifo = fifo = BlockFifo(self.out_width + 1, depth, impl, out_slice=False)
        room_init = depth - P
        room = Signal(range(-P - 1, depth - P + 1), init=room_init)
        room_next = Signal.like(room)
        reserve = Signal()
        rsv_rows = Signal(range(P + 1))
        freed = Signal()
        m.d.comb += [freed.eq(fifo.r_stream.valid & self.y_stream.ready),
                     room_next.eq(room - rsv_rows + freed)]
        m.d.sync += [reserve.eq(set_pending), rsv_rows.eq(Mux(reserve, d_rows_m1 + 1, 0)),
                     room.eq(room_next)]
        # ``final_wait`` takes the credit from ``room``'s sign bit, one cycle old: no adder or
        # compare before it. What the old value misses is safe or covered: a FIFO read in
        # the last cycle only frees a slot (waiting one cycle longer is safe), and a
        # reservation in ``rsv_rows`` now (two cycles after its ``set_pending``) is covered by
        # ``pending_next``, which stays high for ``hold - 1 >= 2`` cycles after it.
        pending_next = Signal()
        m.d.comb += pending_next.eq(set_pending | (pending & (chain_wait != 0)))
        m.d.sync += final_wait.eq(pending_next | room[-1])

        # The tile's bookkeeping, delayed to the cycles its results leave the chain: lane 0's
        # result is in res0 capture_delay cycles after the final issue (d_* change one cycle
        # after it), and the next tile's results follow only after this tile's last one.
        t_book = delay(m, Cat(d_rows_m1, d_job_last, d_rq), self._capture_delay - 1, "tile_book")
        t_rows_m1 = t_book[:len(d_rows_m1)]
        t_job_last = t_book[len(d_rows_m1)]
        t_rq = t_book[len(d_rows_m1) + 1:]
        cnt = Signal(range(max(P, 2)))          # results of this tile already out of the chain
        out_v = Signal()                        # a real result leaves the chain
        m.d.comb += out_v.eq(chain_v[0] & ~flushing)
        with m.If(out_v):
            m.d.sync += cnt.eq(Mux(cnt == P - 1, 0, cnt + 1))
        o_data = Signal(signed(self.acc_width), reset_less=True)
        o_valid, o_last = Signal(), Signal()
        o_rq = Signal.like(d_rq)
        m.d.sync += [o_data.eq(chain[0]), o_valid.eq(out_v & (cnt <= t_rows_m1)),
                     o_last.eq(t_job_last & (cnt == t_rows_m1)), o_rq.eq(t_rq)]

        out_data, out_valid, out_last = self._requant(
            m, o_data, o_valid, o_last, o_rq[:REQUANT_MULT_BITS], o_rq[REQUANT_MULT_BITS:])
        m.d.comb += [
            fifo.w_en.eq(out_valid),
            fifo.w_data.eq(Cat(out_data, out_last)),
            self.y_stream.valid.eq(fifo.r_stream.valid),
            self.y_stream.payload.eq(fifo.r_stream.payload),
            fifo.r_stream.ready.eq(self.y_stream.ready),
            # (``pending`` spans the two cycles before a reservation reaches ``room``)
            self.busy.eq(active | starting | pending | flushing | (room != room_init)),
        ]
        return m

    # -- pieces ---------------------------------------------------------------------------------
    def _bel(self, k):
        return None if self.dsp_bels is None else self.dsp_bels[k]

    def _products(self, m, g, gx, w_lanes):
        """Yield ``[(lane, product)]`` per DSP of group ``g``; products are registered (split stage)."""
        lo = g * self.group
        if self.weight_bits == 8:
            for i, w in enumerate(w_lanes):
                mul = Mult18(self.dsp, self._bel(lo + i))
                m.submodules[f"mul{lo + i}"] = mul
                m.d.comb += [mul.a.eq(w), mul.b.eq(gx)]
                prod = Signal(signed(16), name=f"prod{lo + i}", reset_less=True)
                m.d.sync += prod.eq(mul.p)
                yield [(lo + i, prod)]
        else:
            for i in range(0, len(w_lanes), 2):
                w_lo, w_hi = w_lanes[i], w_lanes[i + 1]
                mul = Mult18(self.dsp, self._bel((lo + i) // 2))
                m.submodules[f"mul{lo + i}_{lo + i + 1}"] = mul
                m.d.comb += [mul.a.eq((w_hi << _INT4_SPLIT) + w_lo), mul.b.eq(gx)]
                p_lo = Signal(signed(_INT4_SPLIT), name=f"prod{lo + i}", reset_less=True)
                p_hi = Signal(signed(_INT4_SPLIT), name=f"prod{lo + i + 1}", reset_less=True)
                m.d.sync += [
                    p_lo.eq(mul.p[:_INT4_SPLIT].as_signed()),
                    p_hi.eq((mul.p + (1 << (_INT4_SPLIT - 1))) >> _INT4_SPLIT),
                ]
                yield [(lo + i, p_lo), (lo + i + 1, p_hi)]

    def _requant(self, m, acc, valid, last, mult, shift_in):
        """Requantize stage when enabled (:data:`~attnkit.hdl.requant.REQUANT_LATENCY`
        cycles, :func:`attnkit.hdl.requant.requantize`); identity otherwise."""
        if not self.requant:
            return acc, valid, last
        side = delay(m, Cat(valid, last), REQUANT_LATENCY, "rq_side")
        y = requantize(m, acc, mult, shift_in, 127, self.dsp, "rq")
        return y, side[0], side[1]
