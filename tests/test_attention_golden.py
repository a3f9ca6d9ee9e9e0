"""Golden model of the sparse-attention engine: selection rules, edge cases, and the
vectorised model against an independent per-query loop implementation."""


import numpy as np
import pytest

from attnkit.golden.attention import (ENGINE_SOFTMAX, Selection, attention_float, cosine,
                                      engine, predicted_scores, prefill_rows, quantize_head,
                                      relative_l2, topk_keep)
from attnkit.golden.minilm import head_qkv
from attnkit.golden.quant import requantize
from attnkit.golden.softmax import softmax_scores

SEEDS = range(10)


def reference_query(q, K, V, sel, pos, rq, cfg=ENGINE_SOFTMAX):
    """Independent per-query reference written from the docstring with Python loops."""
    T, d = K.shape
    end = min(T, pos + 1) if sel.causal else T
    if sel.mode in ("dense", "causal", "topk", "predict"):
        cand = list(range(end))
    elif sel.mode in ("window", "global_window"):
        lo = pos - sel.window + 1 if sel.causal else pos - sel.window // 2
        win = [j for j in range(lo, lo + sel.window) if 0 <= j < end]
        glob = list(range(min(sel.n_global, end))) if sel.mode == "global_window" else []
        cand = sorted(set(win) | set(glob))
    else:
        row = sel.bitmap[pos // sel.block] if pos // sel.block < len(sel.bitmap) else ()
        cand = [j for j in range(end) if j // sel.block < len(row) and row[j // sel.block]]
    exact = {j: int(sum(int(a) * int(b) for a, b in zip(q, K[j]))) for j in cand}
    k_rows, k4_rows = len(cand), 0
    if sel.mode == "topk":
        kept = sorted(sorted(cand, key=lambda j: (-exact[j], j))[:sel.k])
    elif sel.mode == "predict":
        ps = {j: sum((int(a) >> 4) * (int(b) >> 4) for a, b in zip(q, K[j])) for j in cand}
        c2 = [j for j in cand if sel.threshold is None or ps[j] >= sel.threshold]
        kept = sorted(sorted(c2, key=lambda j: (-ps[j], j))[:sel.k])
        k_rows, k4_rows = len(kept), len(cand)
    else:
        kept = cand
    if not kept:
        return np.zeros(d, np.int64), True, kept, (k_rows, k4_rows, 0)
    p, flag = softmax_scores(np.array([exact[j] for j in kept]), rq["score_mult"],
                             rq["score_shift"], cfg=cfg)
    assert not flag
    acc = [sum(int(p[i]) * int(V[j, c]) for i, j in enumerate(kept)) for c in range(d)]
    o = requantize(np.array(acc), rq["out_mult"], rq["out_shift"])
    return o, False, kept, (k_rows, k4_rows, len(kept))


def random_case(seed, T=13, d=8):
    rng = np.random.default_rng(seed)
    K = rng.integers(-127, 128, (T, d))
    V = rng.integers(-127, 128, (T, d))
    q = rng.integers(-127, 128, (T, d))
    if seed % 3 == 0:                      # duplicate rows: exact ties in top-k
        K[T // 2] = K[1]
        K[T - 1] = K[1]
    rq = dict(score_mult=40000 + 1000 * seed, score_shift=19 + seed % 3, out_mult=33000,
              out_shift=15 + seed % 2)
    return q, K, V, rq


def selections(T, seed):
    rng = np.random.default_rng(100 + seed)
    b = 4
    nb = -(-T // b)
    bm = rng.random((nb, nb)) < 0.5
    bm[0] = False                          # fully masked rows for queries 0..b-1
    return [Selection("dense"), Selection("causal"), Selection("dense", causal=False),
            Selection("window", window=3, causal=True), Selection("window", window=4),
            Selection("window", window=T + 5, causal=True),
            Selection("global_window", window=3, n_global=2, causal=True),
            Selection("global_window", window=5, n_global=3),
            Selection("block", block=b, bitmap=bm), Selection("block", block=b, bitmap=bm, causal=True),
            Selection("topk", k=3), Selection("topk", k=1 + seed % 5, causal=True),
            Selection("topk", k=T + 2),
            Selection("predict", k=4), Selection("predict", k=3, threshold=int(rng.integers(-5, 30))),
            Selection("predict", k=2, causal=True)]


@pytest.mark.parametrize("seed", SEEDS)
def test_engine_matches_per_query_reference_random(seed):
    q, K, V, rq = random_case(seed)
    T = K.shape[0]
    for sel in selections(T, seed):
        pos = np.arange(T)
        res = engine(q, K, V, sel, pos, **rq)
        for i in range(T):
            o, flag, kept, rows = reference_query(q[i], K, V, sel, i, rq)
            assert np.array_equal(res.o[i], o), (seed, sel, i)
            assert bool(res.all_masked[i]) == flag
            assert list(np.flatnonzero(res.keep[i])) == kept, (seed, sel, i)
            assert (res.k_rows[i], res.k4_rows[i], res.v_rows[i]) == rows, (seed, sel, i)


@pytest.mark.parametrize("layer,head", [(0, 3), (5, 7)])
def test_engine_matches_reference_real_minilm(layer, head):
    hd = head_qkv(3, layer, head)
    qh = quantize_head(hd.q, hd.k, hd.v)
    T = qh.K.shape[0]
    for sel in selections(T, layer):
        pos = np.arange(0, T, 3)
        res = engine(qh.q[pos], qh.K, qh.V, sel, pos, **qh.requant)
        for n, i in enumerate(pos):
            o, flag, kept, rows = reference_query(qh.q[i], qh.K, qh.V, sel, int(i), qh.requant)
            assert np.array_equal(res.o[n], o) and bool(res.all_masked[n]) == flag


def test_intervals_hand_cases():
    assert Selection("window", window=3, causal=True).intervals(5, 10) == [(3, 6)]
    assert Selection("window", window=4).intervals(5, 10) == [(3, 7)]
    assert Selection("window", window=4).intervals(0, 10) == [(0, 2)]
    assert Selection("window", window=50, causal=True).intervals(5, 10) == [(0, 6)]
    assert Selection("window", window=50).intervals(5, 10) == [(0, 10)]
    assert Selection("global_window", window=3, n_global=2, causal=True).intervals(7, 10) == [(0, 2), (5, 8)]
    assert Selection("global_window", window=3, n_global=2, causal=True).intervals(2, 10) == [(0, 2), (2, 3)]
    assert Selection("global_window", window=3, n_global=4, causal=True).intervals(1, 10) == [(0, 2)]
    bm = ((1, 0, 1), (0, 1, 1), (0, 0, 0))
    assert Selection("block", block=4, bitmap=bm).intervals(1, 10) == [(0, 4), (8, 10)]
    assert Selection("block", block=4, bitmap=bm).intervals(5, 10) == [(4, 10)]
    assert Selection("block", block=4, bitmap=bm, causal=True).intervals(5, 10) == [(4, 6)]
    assert Selection("block", block=4, bitmap=bm).intervals(9, 10) == []
    assert Selection("causal").intervals(3, 10) == [(0, 4)]
    assert Selection("topk", k=2, causal=True).intervals(3, 10) == [(0, 4)]


def test_edge_cases():
    rng = np.random.default_rng(7)
    rq = dict(score_mult=50000, score_shift=20, out_mult=40000, out_shift=16)
    # T = 1: the single key gets p = 1.0 exactly (u1.15), o = requant(2**15 * v)
    K = rng.integers(-127, 128, (1, 8))
    V = rng.integers(-127, 128, (1, 8))
    q = rng.integers(-127, 128, 8)
    for sel in (Selection("dense"), Selection("topk", k=1), Selection("window", window=9),
                Selection("predict", k=5)):
        r = engine(q, K, V, sel, 0, **rq)
        assert r.p[0] == 1 << 15
        assert np.array_equal(r.o, requantize(V[0] << 15, 40000, 16))
    # k >= T: top-k equals dense, bit for bit
    q, K, V, _ = random_case(3, T=11)
    for k in (11, 12, 100):
        a = engine(q, K, V, Selection("topk", k=k), np.arange(11), **rq)
        b = engine(q, K, V, Selection("dense"), np.arange(11), **rq)
        assert np.array_equal(a.o, b.o) and a.v_rows.sum() == b.v_rows.sum() == 121
    # window larger than T == dense (non-causal) / causal (causal)
    a = engine(q, K, V, Selection("window", window=40), np.arange(11), **rq)
    assert np.array_equal(a.o, engine(q, K, V, Selection("dense"), np.arange(11), **rq).o)
    a = engine(q, K, V, Selection("window", window=40, causal=True), np.arange(11), **rq)
    assert np.array_equal(a.o, engine(q, K, V, Selection("causal"), np.arange(11), **rq).o)
    # fully masked query rows: zeros and the flag
    bm = ((0, 0, 0), (1, 1, 1), (1, 1, 1))
    r = engine(q, K, V, Selection("block", block=4, bitmap=bm), np.arange(11), **rq)
    assert r.all_masked.tolist() == [True] * 4 + [False] * 7
    assert not r.o[:4].any() and r.v_rows[:4].sum() == 0 and r.k_rows[:4].sum() == 0
    r = engine(q, K, V, Selection("predict", k=3, threshold=10 ** 6), np.arange(11), **rq)
    assert r.all_masked.all() and not r.o.any() and r.k4_rows.sum() == 121 and r.k_rows.sum() == 0


def test_topk_tie_rule_lower_index_wins():
    s = np.array([[5, 7, 7, 3, 7, 5]])
    cand = np.ones_like(s, dtype=bool)
    assert np.flatnonzero(topk_keep(s, cand, 1)[0]).tolist() == [1]
    assert np.flatnonzero(topk_keep(s, cand, 2)[0]).tolist() == [1, 2]
    assert np.flatnonzero(topk_keep(s, cand, 4)[0]).tolist() == [0, 1, 2, 4]
    cand[0, 1] = False
    assert np.flatnonzero(topk_keep(s, cand, 2)[0]).tolist() == [2, 4]
    assert np.flatnonzero(topk_keep(s, cand, 9, threshold=6)[0]).tolist() == [2, 4]
    # in the engine: three identical K rows, k = 2 keeps the two lowest indices
    K = np.zeros((6, 4), np.int64)
    K[[1, 3, 4]] = [10, 20, 30, 40]
    q = np.array([1, 1, 1, 1])
    V = np.arange(24).reshape(6, 4)
    r = engine(q, K, V, Selection("topk", k=2), 5, score_mult=1, score_shift=0,
               out_mult=1, out_shift=15)
    assert np.flatnonzero(r.keep).tolist() == [1, 3]


def test_predicted_scores_are_high_nibbles():
    q = np.array([[127, -128, 15, -1, 16, -17]])
    K = np.array([[127, 127, 127, 127, 127, 127]])
    hi = np.array([7, -8, 0, -1, 1, -2])
    assert predicted_scores(q, K)[0, 0] == int(hi.sum() * 7)


def test_float_reference_and_metrics():
    rng = np.random.default_rng(1)
    q, K, V = rng.normal(size=(5, 16)), rng.normal(size=(9, 16)), rng.normal(size=(9, 16))
    s = q @ K.T / 4.0
    p = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    assert np.allclose(attention_float(q, K, V), p @ V, atol=1e-12)
    m = np.zeros((5, 9), bool)
    m[2] = True
    out = attention_float(q, K, V, m)
    assert not out[2].any()
    assert relative_l2(p @ V, p @ V) == 0 and abs(cosine(p @ V, p @ V) - 1) < 1e-12
    # int8 engine vs float64 dense on random Gaussian data: a few percent at most
    qh = quantize_head(q, K, V)
    r = engine(qh.q, qh.K, qh.V, Selection("dense"), np.full(5, 8), **qh.requant)
    assert relative_l2(r.o * qh.o_scale, p @ V) < 0.05


def test_prefill_row_reuse():
    sel = Selection("window", window=4, causal=True)
    r = prefill_rows(sel, range(8, 16), 32)
    assert r == {"rows": 11, "per_query_sum": 32}


def test_bad_parameters():
    with pytest.raises(ValueError, match="mode must be one of .* not 'sparse'"):
        Selection("sparse")
    with pytest.raises(ValueError, match="window must be >= 1, not 0"):
        Selection("window", window=0)
    with pytest.raises(ValueError, match="k must be >= 1, not 0"):
        Selection("topk", k=0)
    with pytest.raises(TypeError, match="causal must be a bool, not 1"):
        Selection("dense", causal=1)
    with pytest.raises(ValueError, match="threshold is only for mode 'predict', not 'topk'"):
        Selection("topk", k=2, threshold=3)
    with pytest.raises(ValueError, match="bitmap must be a non-empty"):
        Selection("block", block=4, bitmap=())
    K = np.zeros((4, 8), np.int64)
    rq = dict(score_mult=1, score_shift=0, out_mult=1, out_shift=0)
    with pytest.raises(ValueError, match=r"pos must be in 0..3, not \[4\]"):
        engine(np.zeros(8, np.int64), K, K, Selection("dense"), 4, **rq)
    with pytest.raises(ValueError, match="q out of int8 range"):
        engine(np.full(8, 200), K, K, Selection("dense"), 0, **rq)
    with pytest.raises(ValueError, match="d must be in 1..128, not 130"):
        engine(np.zeros(130, np.int64), np.zeros((2, 130), np.int64), np.zeros((2, 130), np.int64),
               Selection("dense"), 0, **rq)


def test_accuracy_tool_writes_json_and_markdown(tmp_path):
    import json
    import subprocess
    import sys
    js, md = tmp_path / "acc.json", tmp_path / "acc.md"
    r = subprocess.run([sys.executable, "tools/attention_accuracy.py", "--sentences", "1",
                        "--ratios", "0.25", "--json", str(js), "--md", str(md)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["heads"] == 72 and rep["tokens"] == [10]
    modes = {(x["mode"], x["keep_ratio"]) for x in rep["results"]}
    assert modes == {("dense", 1.0), ("causal", 0.5)} | {
        (m, 0.25) for m in ("window", "global_window", "block", "topk", "predict")}
    dense = next(x for x in rep["results"] if x["mode"] == "dense")
    # int8 engine vs float64 on real heads: a few percent, cosine > 0.99 (measured ~2 %)
    assert dense["rel_l2"]["mean"] < 0.05 and dense["cosine"]["min"] > 0.99
    topk = next(x for x in rep["results"] if x["mode"] == "topk")
    assert 0.9 <= topk["recall_true_topk_mean"] <= 1.0
    assert "| dense | 1 |" in md.read_text()
    r = subprocess.run([sys.executable, "tools/attention_accuracy.py", "--sentences", "7"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--sentences: 7 is not in 0..4" in r.stderr
