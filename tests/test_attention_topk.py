"""Streaming top-k unit (hdl/topk.py) against the golden top-k rule, with and without stalls."""

import numpy as np
import pytest

from attnkit.golden.attention import topk_keep
from attnkit.hdl.topk import TopK
from attnkit.sim.streams import STALL_CASES, Stalls, run_simulation, stream_get, stream_put

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
