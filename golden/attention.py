"""Bit-exact model of the sparse-attention engine (:mod:`attnkit.hdl.attention`).

One attention head: int8 query rows ``q[i]`` (query position ``pos[i]``), an int8 KV cache
``K[T, d]``, ``V[T, d]``. For each query the engine

1. **selects** candidate keys (the pattern of :class:`Selection`, below);
2. **scores** them: ``s_j = q . k_j``, exact int32 (``d <= 128``: ``|s| <= 128 * 128**2``);
3. for the dynamic modes, **keeps** the best candidates (top-k, below);
4. **requantizes** the kept scores into the softmax input format, folding ``1/sqrt(d)`` and
   the q/k scales into ``(score_mult, score_shift)``:
   ``x_j = requantize(s_j, score_mult, score_shift, out=cfg.in_fmt)``;
5. takes the **softmax over the kept keys only**, exactly
   :func:`attnkit.golden.softmax.softmax_fixed` (so the hardware reuses the softmax unit);
6. accumulates ``acc_c = sum_j p_j * V[j, c]`` over the kept rows only (exact integers;
   ``p`` in ``cfg.out_fmt``, default ``u1.15``);
7. **requantizes** the output: ``o_c = requantize(acc_c, out_mult, out_shift)`` (int8,
   symmetric, round half up, saturating).

A query with no kept key (e.g. an all-zero block-bitmap row, or a predict threshold that
nothing reaches) outputs ``o = 0`` and sets its ``all_masked`` flag.

Selection (``j`` ranges over ``0..T-1``; ``causal`` additionally requires ``j <= pos``)
-----------------------------------------------------------------------------------------
* ``dense``: every key. ``causal``: ``dense`` with ``causal=True``.
* ``window`` (``w`` tokens): the interval ``[lo, lo + w)`` clipped to ``[0, T)`` with
  ``lo = pos - w + 1`` when ``causal`` (the last ``w`` tokens up to and including ``pos``)
  and ``lo = pos - w // 2`` otherwise (a centred window, for bidirectional encoders).
* ``global_window``: keys ``j < g`` (attention sinks / Longformer globals) plus the window.
* ``block``: block size ``b``; key ``j`` is kept when ``bitmap[pos // b][j // b]``.
* ``topk``: every candidate is scored; keep the ``k`` highest ``s_j``. **Tie rule: among
  equal scores the lower index wins** (equivalently: sort by ``(-s_j, j)``, keep the first
  ``k``). ``k >= #candidates`` keeps all of them (identical to ``dense``).
* ``predict`` (Sanger/Energon style): predicted scores ``ps_j = q4 . k4_j`` with the 4-bit
  high nibbles ``q4 = q >> 4``, ``k4 = k >> 4`` (arithmetic shift: floor, range -8..7; the
  hardware stores K as separate high/low-nibble memories so the prediction pass reads only
  half the bits). Candidates with ``ps_j >= threshold`` (if a threshold is given) are ranked
  by ``(-ps_j, j)`` and the first ``k`` kept; only those get exact scores, softmax and V.

Rows read (per query, decode)
-----------------------------
* static modes: ``k_rows = v_rows = #kept`` (skipped rows are never read), ``k4_rows = 0``;
* ``topk``: ``k_rows = #candidates``, ``v_rows = #kept``;
* ``predict``: ``k4_rows = #candidates`` (high nibbles only), ``k_rows = v_rows = #kept``.

For prefill (a block of queries sharing each loaded row), :func:`prefill_rows` counts the
union of the rows the block needs: each K/V row is read once per block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fixed import FixedFormat
from .params import check_int
from .quant import quantize, requant_params, requantize
from .softmax import SoftmaxConfig, exp2_coefficients, softmax_fixed

__all__ = ["MODES", "Selection", "ENGINE_SOFTMAX", "EngineResult", "engine",
           "attention_float", "QuantHead", "quantize_head", "prefill_rows", "topk_keep",
           "predicted_scores", "D_MAX", "cycle_estimate", "relative_l2", "cosine",
           "RATIOS", "report_selections", "accuracy_report", "random_case", "selection_suite",
           "prefill_suite"]

MODES = ("dense", "causal", "window", "global_window", "block", "topk", "predict")
#: Largest head dimension.
D_MAX = 128
#: Softmax of the engine: logits ``s7.8`` (16 bits), probabilities ``u1.15`` (1.0 exact).
ENGINE_SOFTMAX = SoftmaxConfig(in_fmt=FixedFormat(True, 7, 8), out_fmt=FixedFormat(False, 1, 15))


@dataclass(frozen=True)
class Selection:
    """Which keys a query attends to (see the module docstring for the exact rules).

    Parameters
    ----------
    mode : str
        One of :data:`MODES`.
    causal : bool
        Also require ``j <= pos`` (``mode="causal"`` forces it).
    window : int
        ``w >= 1`` for ``window`` and ``global_window``.
    n_global : int
        ``g >= 0`` global tokens for ``global_window``.
    block : int
        Block size ``b >= 1`` for ``block``.
    bitmap : tuple of tuples of bool
        ``bitmap[query_block][key_block]`` for ``block``.
    k : int
        Keys kept per query for ``topk`` / ``predict`` (``>= 1``).
    threshold : int or None
        ``predict`` only: minimum predicted score of a candidate.
    """

    mode: str = "dense"
    causal: bool = False
    window: int = 0
    n_global: int = 0
    block: int = 0
    bitmap: tuple = ()
    k: int = 0
    threshold: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if not isinstance(self.causal, bool):
            raise TypeError(f"causal must be a bool, not {self.causal!r}")
        if self.mode == "causal":
            object.__setattr__(self, "causal", True)
        if self.mode in ("window", "global_window"):
            check_int("window", self.window, 1)
        if self.mode == "global_window":
            check_int("n_global", self.n_global, 0)
        if self.mode == "block":
            check_int("block", self.block, 1)
            bm = tuple(tuple(bool(b) for b in row) for row in self.bitmap)
            if not bm or len({len(r) for r in bm}) != 1 or not bm[0]:
                raise ValueError(f"bitmap must be a non-empty rectangular 2-D array of bools, "
                                 f"not {self.bitmap!r}")
            object.__setattr__(self, "bitmap", bm)
        if self.mode in ("topk", "predict"):
            check_int("k", self.k, 1)
        if self.threshold is not None:
            if self.mode != "predict":
                raise ValueError(f"threshold is only for mode 'predict', not {self.mode!r}")
            check_int("threshold", self.threshold, -(1 << 31))

    @property
    def dynamic(self) -> bool:
        return self.mode in ("topk", "predict")

    def intervals(self, pos: int, T: int) -> list[tuple[int, int]]:
        """Static modes: the kept keys of a query as disjoint ascending ``[lo, hi)`` ranges.

        Dynamic modes: the candidate range. This is exactly what the hardware address
        generator walks.
        """
        end = min(T, pos + 1) if self.causal else T
        if self.mode in ("dense", "causal", "topk", "predict"):
            iv = [(0, end)]
        elif self.mode in ("window", "global_window"):
            lo = pos - self.window + 1 if self.causal else pos - self.window // 2
            hi = lo + self.window
            g = min(self.n_global, end) if self.mode == "global_window" else 0
            iv = [(0, g), (max(lo, g, 0), min(hi, end))]
        else:  # block
            b = self.block
            row = self.bitmap[pos // b] if pos // b < len(self.bitmap) else ()
            iv = []
            for kb, on in enumerate(row):
                if on:
                    lo, hi = kb * b, min((kb + 1) * b, end)
                    if iv and iv[-1][1] == lo and lo < hi:
                        iv[-1] = (iv[-1][0], hi)
                    else:
                        iv.append((lo, hi))
        return [(lo, hi) for lo, hi in iv if lo < hi]

    def candidate_mask(self, pos: int, T: int) -> np.ndarray:
        m = np.zeros(T, dtype=bool)
        for lo, hi in self.intervals(pos, T):
            m[lo:hi] = True
        return m


def predicted_scores(q, K) -> np.ndarray:
    """``ps = (q >> 4) @ (K >> 4).T``: the 4-bit high-nibble prediction (exact)."""
    return (np.asarray(q, np.int64) >> 4) @ (np.asarray(K, np.int64) >> 4).T


def topk_keep(scores, cand, k: int, threshold=None) -> np.ndarray:
    """Rows of ``scores`` (shape ``(n, T)``): mask of the ``k`` best candidates.

    Order ``(-score, index)``: higher score first, the lower index wins a tie. With a
    ``threshold`` only candidates with ``score >= threshold`` take part.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=np.int64))
    cand = np.atleast_2d(np.asarray(cand, dtype=bool)).copy()
    if threshold is not None:
        cand &= s >= threshold
    n, T = s.shape
    idx = np.broadcast_to(np.arange(T), s.shape)
    order = np.lexsort((idx, -s, ~cand), axis=-1)           # last key is primary
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(T), s.shape), axis=-1)
    return cand & (rank < k)


@dataclass
class EngineResult:
    """Engine output for ``n`` queries.

    ``o`` int8 codes ``(n, d)``; ``all_masked`` bool ``(n,)``; ``keep`` bool ``(n, T)`` (the
    kept keys); ``scores`` int64 ``(n, T)`` (exact scores, 0 where not computed); ``p``
    softmax codes ``(n, T)``; ``acc`` int64 ``(n, d)``; row counts per query
    ``k_rows``, ``k4_rows``, ``v_rows`` (int arrays ``(n,)``).
    """

    o: np.ndarray
    all_masked: np.ndarray
    keep: np.ndarray
    scores: np.ndarray
    p: np.ndarray
    acc: np.ndarray
    k_rows: np.ndarray
    k4_rows: np.ndarray
    v_rows: np.ndarray


def _check_codes(name, a, ndim, bits=8):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer codes, not dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, not shape {a.shape}")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(f"{name} out of int{bits} range: [{a.min()}, {a.max()}]")
    return a.astype(np.int64)


def engine(q, K, V, sel: Selection, pos, *, score_mult: int, score_shift: int,
           out_mult: int, out_shift: int, cfg: SoftmaxConfig = ENGINE_SOFTMAX) -> EngineResult:
    """The bit-exact engine for queries ``q`` (``(n, d)`` or ``(d,)``) at positions ``pos``.

    Every query is independent (decode semantics); prefill runs the same arithmetic for a
    block of queries (:func:`prefill_rows` gives its row traffic).
    """
    one = np.asarray(q).ndim == 1
    q = _check_codes("q", np.atleast_2d(q), 2)
    K = _check_codes("K", K, 2)
    V = _check_codes("V", V, 2)
    n, d = q.shape
    T = K.shape[0]
    if not 1 <= d <= D_MAX:
        raise ValueError(f"d must be in 1..{D_MAX}, not {d}")
    if K.shape != (T, d) or V.shape != (T, d) or T < 1:
        raise ValueError(f"K and V must both have shape (T >= 1, {d}), not {K.shape}, {V.shape}")
    if not isinstance(sel, Selection):
        raise TypeError(f"sel must be a Selection, not {sel!r}")
    pos = np.broadcast_to(np.asarray(pos, dtype=np.int64), (n,))
    if pos.min() < 0 or pos.max() >= T:
        raise ValueError(f"pos must be in 0..{T - 1}, not {pos.tolist()}")
    cand = np.stack([sel.candidate_mask(int(p), T) for p in pos])
    exact = q @ K.T
    if sel.mode == "topk":
        keep = topk_keep(exact, cand, sel.k)
        k_rows, k4_rows = cand.sum(1), np.zeros(n, np.int64)
    elif sel.mode == "predict":
        keep = topk_keep(predicted_scores(q, K), cand, sel.k, sel.threshold)
        k_rows, k4_rows = keep.sum(1), cand.sum(1)
    else:
        keep = cand
        k_rows, k4_rows = cand.sum(1), np.zeros(n, np.int64)
    scores = np.where(cand if sel.mode == "topk" else keep, exact, 0)
    x = requantize(np.where(keep, exact, 0), score_mult, score_shift, out=cfg.in_fmt)
    p, full = softmax_fixed(x, ~keep, cfg, exp2_coefficients(cfg))
    acc = p @ V
    o = np.where(full[:, None], 0, requantize(acc, out_mult, out_shift))
    res = EngineResult(o=o, all_masked=np.asarray(full), keep=keep, scores=scores, p=p, acc=acc,
                       k_rows=np.asarray(k_rows), k4_rows=np.asarray(k4_rows),
                       v_rows=keep.sum(1))
    if one:
        res = EngineResult(**{f: getattr(res, f)[0] for f in res.__dataclass_fields__})
    return res


def prefill_rows(sel: Selection, positions, T: int) -> dict:
    """K/V rows read by a prefill block (each row loaded once and reused by the block).

    Static modes: the union of the block's kept rows for K and V. Dynamic modes: the union
    of candidates for K (``topk``) or K high nibbles (``predict``); V and exact K rows are
    data dependent (see :func:`engine`'s per-query ``keep``) and reported as the union of
    candidates here as an upper bound.
    """
    u = np.zeros(T, dtype=bool)
    for p in positions:
        u |= sel.candidate_mask(int(p), T)
    return {"rows": int(u.sum()), "per_query_sum": int(sum(sel.candidate_mask(int(p), T).sum()
                                                           for p in positions))}


# Float reference and quantization of real heads ---------------------------------------

def attention_float(q, K, V, mask=None) -> np.ndarray:
    """float64 ``softmax(q K^T / sqrt(d)) V``; ``mask`` (True = excluded) optional;
    fully masked rows give zeros."""
    q = np.atleast_2d(np.asarray(q, np.float64))
    s = q @ np.asarray(K, np.float64).T / math.sqrt(q.shape[1])
    if mask is not None:
        s = np.where(mask, -np.inf, s)
    mx = s.max(axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    e = np.exp(s - mx)
    z = e.sum(axis=1, keepdims=True)
    return (e / np.where(z > 0, z, 1.0)) @ np.asarray(V, np.float64)


@dataclass(frozen=True)
class QuantHead:
    """int8 codes of one head and the engine's requantization parameters."""

    q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    q_scale: float
    k_scale: float
    v_scale: float
    o_scale: float
    score_mult: int
    score_shift: int
    out_mult: int
    out_shift: int

    @property
    def requant(self) -> dict:
        return dict(score_mult=self.score_mult, score_shift=self.score_shift,
                    out_mult=self.out_mult, out_shift=self.out_shift)


def quantize_head(q, K, V, o_scale: float | None = None,
                  cfg: SoftmaxConfig = ENGINE_SOFTMAX) -> QuantHead:
    """Our int8 scheme for one head: symmetric per-tensor int8 for ``q``, ``K``, ``V``.

    Score requantization: real factor ``q_scale * k_scale / sqrt(d) * 2**F`` (``F`` =
    softmax input fraction bits). Output: int8 with ``o_scale`` (default: calibrated as
    ``max |float dense attention output| / 127`` of this head), real factor
    ``v_scale * 2**-OF / o_scale``.
    """
    q = np.atleast_2d(np.asarray(q, np.float64))
    d = q.shape[1]
    tq, tk, tv = quantize(q), quantize(K), quantize(V)
    if o_scale is None:
        amax = np.abs(attention_float(q, K, V)).max()
        o_scale = float(amax / 127) if amax > 0 else 1.0
    sm, ss = requant_params(float(tq.scale * tk.scale / math.sqrt(d)) * 2.0 ** cfg.in_fmt.frac_bits)
    om, osh = requant_params(float(tv.scale) * 2.0 ** -cfg.out_fmt.frac_bits / o_scale)
    return QuantHead(q=tq.q, K=tk.q, V=tv.q, q_scale=float(tq.scale), k_scale=float(tk.scale),
                     v_scale=float(tv.scale), o_scale=float(o_scale), score_mult=sm,
                     score_shift=ss, out_mult=om, out_shift=osh)


def relative_l2(x, ref) -> float:
    """``||x - ref|| / ||ref||`` over all elements."""
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(x - ref) / max(np.linalg.norm(ref), 1e-300))


def cosine(x, ref) -> float:
    """Cosine similarity of the flattened arrays."""
    x, ref = np.ravel(np.asarray(x, np.float64)), np.ravel(np.asarray(ref, np.float64))
    return float(x @ ref / max(np.linalg.norm(x) * np.linalg.norm(ref), 1e-300))


def cycle_estimate(res_rows: dict, d: int, lanes: int, softmax_latency: int = 0) -> int:
    """Rough cycle model of the hardware (one query): ``beats = d / lanes`` per row read,
    plus the softmax's row latency; the hardware tests assert the measured bounds."""
    beats = -(-d // lanes)
    return (res_rows["k_rows"] + res_rows["k4_rows"] + res_rows["v_rows"]) * beats + softmax_latency


# Accuracy on real attention heads -------------------------------------------------------

#: Keep ratios of the accuracy report.
RATIOS = (0.125, 0.25, 0.5)


def report_selections(T: int, ratio: float) -> list[tuple[str, Selection]]:
    """The selections of the accuracy report for a sequence of ``T`` tokens and a keep ratio.

    ``window``: centred window of ``ceil(ratio*T)`` tokens; ``global_window``: the first
    token ([CLS], an attention sink) plus a window of ``ceil(ratio*T) - 1``; ``block``:
    blocks of 8, a diagonal band of blocks plus key block 0; ``topk``/``predict``:
    ``k = ceil(ratio*T)``.
    """
    n = max(1, math.ceil(ratio * T))
    b = 8
    nb = -(-T // b)
    band = max(0, (math.ceil(ratio * nb) - 1) // 2)
    bm = tuple(tuple(abs(i - j) <= band or j == 0 for j in range(nb)) for i in range(nb))
    return [("window", Selection("window", window=n)),
            ("global_window", Selection("global_window", window=max(1, n - 1), n_global=1)),
            ("block", Selection("block", block=b, bitmap=bm)),
            ("topk", Selection("topk", k=n)),
            ("predict", Selection("predict", k=n))]


def _float_topk(qf, Kf, k):
    s = qf @ Kf.T
    T = s.shape[1]
    return topk_keep(np.floor(s * 2 ** 20).astype(np.int64), np.ones(s.shape, bool), min(k, T))


def accuracy_report(heads, ratios=RATIOS, progress=None) -> dict:
    """Output error of the int8 engine against float64 dense attention on real heads.

    ``heads``: objects with float64 ``q, k, v`` ``(T, d)`` and a ``name`` (e.g.
    :func:`attnkit.golden.minilm.real_heads`). Every query position of every head is run
    (decode at position ``i`` over the whole sequence; MiniLM is bidirectional).
    Per mode and keep ratio: relative L2 error and cosine similarity of the head output
    (``o * o_scale`` vs float64 dense attention), the kept fraction, the error of float64
    attention restricted to the *same* keys (the selection's own error, without
    quantization), and for ``topk``/``predict`` the recall of the true (float64) top-k keys.
    """
    rows: dict = {}

    def add(key, **vals):
        d = rows.setdefault(key, {})
        for k, v in vals.items():
            d.setdefault(k, []).append(v)

    for hi, hd in enumerate(heads):
        qf, Kf, Vf = (np.asarray(a, np.float64) for a in (hd.q, hd.k, hd.v))
        T = Kf.shape[0]
        ref = attention_float(qf, Kf, Vf)
        qh = quantize_head(qf, Kf, Vf)
        pos = np.arange(T)
        dense = engine(qh.q, qh.K, qh.V, Selection("dense"), pos, **qh.requant)
        add(("dense", 1.0), rel_l2=relative_l2(dense.o * qh.o_scale, ref),
            cos=cosine(dense.o * qh.o_scale, ref), kept=1.0, sel_err=0.0, recall=None,
            acc_rel_l2=relative_l2(dense.acc * qh.v_scale * 2.0 ** -ENGINE_SOFTMAX.out_fmt.frac_bits, ref))
        causal = engine(qh.q, qh.K, qh.V, Selection("causal"), pos, **qh.requant)
        add(("causal", 0.5), rel_l2=relative_l2(causal.o * qh.o_scale, ref),
            cos=cosine(causal.o * qh.o_scale, ref), kept=float(causal.keep.mean()),
            sel_err=relative_l2(attention_float(qf, Kf, Vf, ~causal.keep), ref), recall=None,
            acc_rel_l2=None)
        for ratio in ratios:
            for name, sel in report_selections(T, ratio):
                r = engine(qh.q, qh.K, qh.V, sel, pos, **qh.requant)
                o = r.o * qh.o_scale
                rec = None
                if sel.dynamic:
                    true = _float_topk(qf, Kf, sel.k)
                    rec = float((true & r.keep).sum() / true.sum())
                add((name, ratio), rel_l2=relative_l2(o, ref), cos=cosine(o, ref),
                    kept=float(r.keep.mean()),
                    sel_err=relative_l2(attention_float(qf, Kf, Vf, ~r.keep), ref), recall=rec,
                    acc_rel_l2=None)
        if progress:
            progress(hi + 1, hd.name)
    results = []
    for (mode, ratio), d in rows.items():
        e = np.array(d["rel_l2"])
        c = np.array(d["cos"])
        res = {"mode": mode, "keep_ratio": ratio, "kept_fraction_mean": float(np.mean(d["kept"])),
               "rel_l2": {"mean": float(e.mean()), "median": float(np.median(e)),
                          "p90": float(np.quantile(e, 0.9)), "max": float(e.max())},
               "cosine": {"mean": float(c.mean()), "min": float(c.min())},
               "rel_l2_float_same_keys_mean": float(np.mean(d["sel_err"])),
               "recall_true_topk_mean": (None if d["recall"][0] is None
                                         else float(np.mean(d["recall"])))}
        if d["acc_rel_l2"][0] is not None:
            res["rel_l2_before_output_requant_mean"] = float(np.mean(d["acc_rel_l2"]))
        results.append(res)
    return {"heads": len(heads), "softmax": {"in_fmt": str(ENGINE_SOFTMAX.in_fmt),
                                             "out_fmt": str(ENGINE_SOFTMAX.out_fmt)},
            "quantization": "int8 symmetric per tensor for q, K, V; o int8 with o_scale "
                            "calibrated as max|float dense output|/127 per head",
            "results": results}


# Test vectors shared by the simulator and cocotb tests ---------------------------------

def random_case(seed: int, T: int, d: int):
    """Seeded int8 ``q (T, d)``, ``K``, ``V`` and requantization parameters for tests.

    Even seeds copy ``K[1]`` to ``K[T // 2]`` (exact top-k ties). The score scale keeps the
    logits mostly within a few units (a non-degenerate softmax); the output scale keeps
    most outputs unsaturated.
    """
    rng = np.random.default_rng(seed)
    K = rng.integers(-128, 128, (T, d))
    V = rng.integers(-128, 128, (T, d))
    q = rng.integers(-128, 128, (T, d))
    if seed % 2 == 0 and T > 2:
        K[T // 2] = K[1]
    rq = dict(score_mult=int(rng.integers(1 << 15, 1 << 16)),
              score_shift=int(21 + seed % 3 + (d // 16).bit_length()),
              out_mult=int(rng.integers(1 << 15, 1 << 16)), out_shift=int(30 + seed % 2))
    return q, K, V, rq


def selection_suite(T: int, block: int, seed: int, k_max: int) -> list[Selection]:
    """One selection of every mode (and causal variants) for hardware tests."""
    rng = np.random.default_rng(1000 + seed)
    nb = -(-T // block)
    bm = rng.random((nb, nb)) < 0.5
    if nb > 1:
        bm[1] = False                       # queries in block 1 keep nothing
    k = min(k_max, 1 + seed % 4)
    return [Selection("dense"), Selection("causal"),
            Selection("window", window=3, causal=True), Selection("window", window=5),
            Selection("global_window", window=3, n_global=2, causal=True),
            Selection("block", block=block, bitmap=bm),
            Selection("block", block=block, bitmap=bm, causal=True),
            Selection("topk", k=k), Selection("topk", k=min(3, k_max), causal=True),
            Selection("predict", k=min(k_max, 2 + seed % 3)),
            Selection("predict", k=min(3, k_max), threshold=int(rng.integers(0, 40)))]


def prefill_suite(T: int, block: int, queries: int, seed: int) -> list[tuple[Selection, int]]:
    """Every static mode with a random legal first position for a prefill block of
    ``queries`` consecutive queries (``[(selection, pos)]``, ``pos + queries <= T``; block
    mode: the whole block in one bitmap row) for hardware tests."""
    rng = np.random.default_rng(2000 + seed)
    nb = -(-T // block)
    bm = rng.random((nb, nb)) < 0.5
    sels = [Selection("dense"), Selection("causal"),
            Selection("window", window=int(rng.integers(1, 6))),
            Selection("window", window=int(rng.integers(1, 6)), causal=True),
            Selection("global_window", window=int(rng.integers(1, 4)),
                      n_global=int(rng.integers(0, 3)), causal=bool(seed % 2)),
            Selection("block", block=block, bitmap=bm, causal=bool(seed % 2))]
    out = []
    for sel in sels:
        starts = [p for p in range(T - queries + 1)
                  if sel.mode != "block" or p // block == (p + queries - 1) // block]
        out.append((sel, int(rng.choice(starts))))
    return out
