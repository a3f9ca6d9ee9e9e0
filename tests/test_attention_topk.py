"""Streaming top-k unit (hdl/topk.py) against the golden top-k rule, with and without stalls."""

import numpy as np
import pytest

from attnkit.golden.attention import topk_keep
from attnkit.hdl.topk import TopK
from attnkit.sim.streams import (STALL_CASES, Stalls, run_simulation, stream_get, stream_put,
                                  stream_through_timed)

SEEDS = range(10)


def golden_rows(rows, k):
    """Expected output beats: kept (score, index) sorted by (-score, index); empty rows."""
    out = []
    for scores, mask in rows:
        keep = topk_keep(scores[None], ~mask[None], k)[0]
        idx = sorted(np.flatnonzero(keep), key=lambda j: (-scores[j], j))
        if not idx:
            out.append({"empty": 1, "last": 1, "index": None, "score": None})
        for n, j in enumerate(idx):
            out.append({"score": int(scores[j]), "index": int(j), "empty": 0,
                        "last": int(n == len(idx) - 1)})
    return out


def random_rows(seed, n_rows=6, max_len=12, span=20):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_rows):
        L = 1 if r == 0 else int(rng.integers(1, max_len + 1))
        s = rng.integers(-span, span, L)        # narrow range: many ties
        mask = rng.random(L) < (0.3 if r % 2 else 0.0)
        if r == 3:
            mask[:] = True                      # a row that keeps nothing
        rows.append((s, mask))
    return rows


def run_topk(rows, k, k_max, p, seed, sw=12, iw=6):
    dut = TopK(k_max=k_max, score_width=sw, index_width=iw)
    exp = golden_rows(rows, k)
    got = []
    stalls = Stalls(seed, p)

    async def producer(ctx):
        ctx.set(dut.k, k)
        st = stalls.fork(1)
        for scores, mask in rows:
            for j, (s, mk) in enumerate(zip(scores, mask)):
                await stream_put(ctx, dut.i_stream, {"score": int(s), "index": j, "mask": int(mk),
                                                     "last": int(j == len(scores) - 1)}, st)

    async def consumer(ctx):
        st = stalls.fork(2)
        for _ in range(len(exp)):
            got.append(await stream_get(ctx, dut.o_stream, st))

    run_simulation(dut, [producer, consumer], deadline_cycles=20000)
    return exp, got


@pytest.mark.parametrize("p", STALL_CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_topk_matches_golden(seed, p):
    k_max = 5
    k = 1 + seed % k_max
    exp, got = run_topk(random_rows(seed), k, k_max, p, seed)
    for e, g in zip(exp, got):
        if e["empty"]:
            assert g["empty"] == 1 and g["last"] == 1, (seed, p)
        else:
            assert g == e, f"seed {seed} p {p}: {g} != {e}"
    assert len(got) == len(exp)


def test_topk_ties_lower_index_wins():
    rows = [(np.array([3, 7, 7, 1, 7, 3]), np.zeros(6, bool))]
    exp, got = run_topk(rows, 2, 4, 0.0, 0)
    assert [g["index"] for g in got] == [1, 2]
    exp, got = run_topk(rows, 4, 4, 0.0, 0)
    assert [g["index"] for g in got] == [1, 2, 4, 0]


def test_topk_k_ge_row_keeps_all():
    rows = [(np.array([5, -2, 9]), np.zeros(3, bool))]
    exp, got = run_topk(rows, 4, 4, 0.0, 0)
    assert [g["index"] for g in got] == [2, 0, 1] and got[-1]["last"] == 1


def test_topk_bad_parameters():
    with pytest.raises(ValueError, match="k_max must be in 1..256, not 0"):
        TopK(k_max=0)
    with pytest.raises(TypeError, match="score_width must be an int, not 3.5"):
        TopK(score_width=3.5)
    with pytest.raises(ValueError, match="index_width must be in 1..40, not 41"):
        TopK(index_width=41)
    with pytest.raises(ValueError, match="impl must be one of"):
        TopK(impl="fast")


# ---------------------------------------------------------------- k_max = 32, k per row

BIG_SEEDS = range(4)


def big_case(seed, n_rows=7, max_len=80, span=6):
    """Rows of 1..80 elements, scores in -6..5 (many ties), masks (one row fully masked,
    some with masked tails), and a k per row in 1..32 (1 and 32 always among them)."""
    rng = np.random.default_rng(1000 + seed)
    rows = []
    for r in range(n_rows):
        L = int(rng.integers(1, max_len + 1))
        s = rng.integers(-span, span, L)
        mask = rng.random(L) < (0.0, 0.2, 0.6)[r % 3]
        if r == 2:
            mask[:] = True
        if r == 4:
            mask[-int(rng.integers(1, 6)):] = True      # masked tail
        rows.append((s, mask))
    ks = [1, 32] + [int(k) for k in rng.integers(1, 33, n_rows - 2)]
    rng.shuffle(ks)
    return rows, ks


def run_topk_per_row_k(rows, ks, k_max, p, seed, sw=12, iw=7):
    """Like :func:`run_topk` with a k per row: the producer sets row r's k only after the
    consumer has taken row r - 1's last beat (k must be stable during a row)."""
    dut = TopK(k_max=k_max, score_width=sw, index_width=iw)
    exp = [golden_rows([row], k) for row, k in zip(rows, ks)]
    got = [[] for _ in rows]
    stalls = Stalls(seed, p)
    done = [0]

    async def producer(ctx):
        st = stalls.fork(1)
        for r, ((scores, mask), k) in enumerate(zip(rows, ks)):
            while done[0] < r:
                await ctx.tick()
            ctx.set(dut.k, k)
            for j, (s, mk) in enumerate(zip(scores, mask)):
                await stream_put(ctx, dut.i_stream, {"score": int(s), "index": j, "mask": int(mk),
                                                     "last": int(j == len(scores) - 1)}, st)

    async def consumer(ctx):
        st = stalls.fork(2)
        for r, e in enumerate(exp):
            for _ in range(len(e)):
                got[r].append(await stream_get(ctx, dut.o_stream, st))
            done[0] = r + 1

    run_simulation(dut, [producer, consumer], deadline_cycles=20000)
    return exp, got


@pytest.mark.parametrize("p", STALL_CASES)
@pytest.mark.parametrize("seed", BIG_SEEDS)
def test_topk_kmax32_long_rows_many_ties(seed, p):
    rows, ks = big_case(seed)
    exp, got = run_topk_per_row_k(rows, ks, 32, p, seed)
    for r, (e, g, k) in enumerate(zip(exp, got, ks)):
        tag = f"seed {seed} p {p} row {r} k {k}"
        assert len(g) == len(e), tag
        if e[0]["empty"]:
            assert g == [{**g[0], "empty": 1, "last": 1}], tag
        else:
            assert g == e, f"{tag}: {g} != {e}"


# ---------------------------------------------------------------- exact cycle count

def row_cost(scores, mask, k):
    """The TopK docstring's cost of a row with no backpressure: ``N + settle +
    max(1, kept)``, ``settle = max(0, kk - m)`` (``m`` masked elements after the last
    unmasked one; 0 if there is none), ``kept = min(kk, #unmasked)``, ``kk = max(k, 1)``."""
    kk, N = max(k, 1), len(scores)
    unmasked = np.flatnonzero(~mask)
    kept = min(kk, len(unmasked))
    settle = max(0, kk - (N - 1 - int(unmasked[-1]))) if len(unmasked) else 0
    return N, settle, max(1, kept)


def cycle_rows(seed):
    rng = np.random.default_rng(2000 + seed)
    rows = [(np.array([4]), np.array([False])),                  # N = 1
            (np.array([4]), np.array([True])),                   # N = 1, nothing kept
            (rng.integers(-5, 5, 9), np.ones(9, bool))]          # nothing kept
    for L in (3, 20, 45, 80):
        s = rng.integers(-5, 5, L)
        mask = rng.random(L) < 0.3
        mask[-int(rng.integers(0, min(L, 40) + 1)):] = True      # masked tails, 0..40 long
        mask[int(rng.integers(0, L))] = False                    # at least one candidate
        rows.append((s, mask))
    s = rng.integers(-5, 5, 40)
    rows.append((s, np.zeros(40, bool)))                         # last element unmasked
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize("k_max,k", [(32, 0), (32, 1), (32, 7), (32, 32), (5, 5), (1, 1)])
def test_topk_exact_cycles_per_row(k_max, k):
    rows = cycle_rows(k_max + k)
    dut = TopK(k_max=k_max, score_width=8, index_width=7)
    exp = golden_rows(rows, max(k, 1))
    payloads = [{"score": int(s), "index": j, "mask": int(mk), "last": int(j == len(sc) - 1)}
                for sc, ma in rows for j, (s, mk) in enumerate(zip(sc, ma))]
    res = {}

    async def tb(ctx):
        ctx.set(dut.k, k)
        res["r"] = await stream_through_timed(ctx, dut.i_stream, dut.o_stream, payloads,
                                              count=len(exp))

    run_simulation(dut, [tb], deadline_cycles=20000)
    got, in_cycles, out_cycles = res["r"]
    for e, g in zip(exp, got):
        assert g == e if not e["empty"] else (g["empty"], g["last"]) == (1, 1), (g, e)
    start, i, o = 0, 0, 0       # a row's first cycle; its first input and output number
    for r, (scores, mask) in enumerate(rows):
        N, settle, beats = row_cost(scores, mask, k)
        assert in_cycles[i:i + N] == list(range(start, start + N)), (r, in_cycles[i:i + N])
        drain = start + N + settle
        assert out_cycles[o:o + beats] == list(range(drain, drain + beats)), \
            (r, N, settle, beats, out_cycles[o:o + beats])
        i, o, start = i + N, o + beats, start + N + settle + beats
    assert (i, o) == (len(payloads), len(got)) and out_cycles[-1] + 1 == start


def test_topk_displaced_entry_keeps_tie_order():
    """9 displaces 7 (index 0), which must stay ahead of the equal 7 (index 1) below it:
    a displaced entry is shifted down without a compare (the cell's ``shift`` bit)."""
    rows = [(np.array([7, 7, 9]), np.zeros(3, bool))]
    exp, got = run_topk(rows, 2, 3, 0.0, 0)
    assert [g["index"] for g in got] == [2, 0]
    exp, got = run_topk(rows, 3, 3, 0.0, 0)
    assert [g["index"] for g in got] == [2, 0, 1]


@pytest.mark.parametrize("seed", range(4))
def test_topk_full_score_range(seed):
    # Scores drawn from the ends of a 5-bit signed range (-16, -15, 14, 15) and around 0:
    # differences of up to 31 overflow 5 bits, so a compare that dropped the difference's
    # extra bit (or wrapped) would order -16 above 15.
    sw = 5
    lo, hi = -(1 << (sw - 1)), (1 << (sw - 1)) - 1
    rng = np.random.default_rng(100 + seed)
    choices = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi])
    lengths = rng.integers(4, 20, 5)
    rows = [(rng.choice(choices, n), rng.random(n) < 0.2) for n in lengths]
    k_max = 6
    exp, got = run_topk(rows, 1 + seed % k_max + 2, k_max, 0.3, seed, sw=sw)
    assert len(got) == len(exp)
    for e, g in zip(exp, got):
        assert (g["empty"], g["last"]) == (1, 1) if e["empty"] else g == e, (seed, g, e)


def test_topk_reset_mid_row_empties_the_queue():
    """A reset in the middle of a row (the cells full of its entries) leaves no entry behind:
    the rows after it come out exactly as from a fresh unit (the cells' entry data have no
    reset: only their valid bits are cleared)."""
    from amaranth.hdl import ResetInserter, Signal
    rst = Signal()
    dut = TopK(k_max=6, score_width=8, index_width=5)
    top = ResetInserter({"sync": rst})(dut)
    rows = [(np.array([5, -3, 2, 7, 7, -1, 0]), np.zeros(7, bool)),
            (np.array([-4, -2, -9]), np.array([False, True, False]))]
    exp = golden_rows(rows, 4)
    got = []

    async def tb(ctx):
        ctx.set(dut.k, 4)
        ctx.set(dut.o_stream.ready, 1)
        for j, s in enumerate([9, 8, 9, 8, 9]):          # part of a row: never finished
            await stream_put(ctx, dut.i_stream, {"score": s, "index": j, "mask": 0, "last": 0})
        await ctx.tick().repeat(8)                         # every wave settled in the cells
        ctx.set(rst, 1)
        await ctx.tick()
        ctx.set(rst, 0)
        for scores, mask in rows:
            for j, (s, mk) in enumerate(zip(scores, mask)):
                await stream_put(ctx, dut.i_stream, {"score": int(s), "index": j, "mask": int(mk),
                                                     "last": int(j == len(scores) - 1)})
            got.append(await stream_get(ctx, dut.o_stream))
            while not got[-1]["last"]:
                got.append(await stream_get(ctx, dut.o_stream))

    run_simulation(top, [tb], deadline_cycles=2000)
    assert got == exp
