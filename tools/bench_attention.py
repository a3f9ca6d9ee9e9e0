#!/usr/bin/env python3
"""Sparse-attention engine benchmark: simulated cycles and K/V rows read per mode.

Runs :class:`attnkit.hdl.attention.AttentionEngine` in Amaranth's simulator (no stalls) for
one decode query (position ``T - 1``) of

* a Llama-2-7B-shaped head: ``d = 128``, ``T = 2048``, random int8 data;
* a real all-MiniLM-L6-v2 head (sentence 4, layer 2, head 5; ``d = 32``, ``T = 111``).

and prints, per mode: cycles (job start to the last output beat), K rows, K high-nibble
rows (predict), V rows, kept fraction and cycles relative to dense. Every result is checked
against the golden model (bit-exact output and row counts) before it is printed.

Note: K and V of the Llama-shaped head take ``2 * T * d = 512 KiB``, more than the 468 KiB
of block RAM of an LFE5U-85F; the simulation does not care, a real build would need
``t_max * d <= ~200k``.

    python tools/bench_attention.py              # both heads (several minutes)
    python tools/bench_attention.py --only minilm
    python tools/bench_attention.py --prefill 4  # MiniLM head: blocks of 4 queries vs decode
    python tools/bench_attention.py --synth build/attention-85f   # OOC build, LFE5U-85F
"""

import argparse
import json
import sys
import time

import numpy as np

from attnkit.boards.toolchain import PLACERS
from attnkit.golden.attention import Selection, engine, prefill_rows, quantize_head
from attnkit.hdl.attention import AttentionEngine
from attnkit.sim.attention_driver import bench_selections as selections, simulate_attention


def run_head(name, q, K, V, rq, lanes, block, k):
    T, d = K.shape
    eng = AttentionEngine(d=d, lanes=lanes, t_max=T, k_max=k, block=block)
    sels = selections(T, block, k)
    jobs = [(q, sel, T - 1, rq) for _, sel in sels]
    t0 = time.monotonic()
    print(f"[{name}] simulating {len(jobs)} jobs (d={d}, T={T}, lanes={lanes}) ...", flush=True)
    res = simulate_attention(eng, K, V, jobs, deadline=5_000_000)
    print(f"[{name}] simulated in {time.monotonic() - t0:.0f} s")
    dense = res[0]["cycles"]
    print(f"{'mode':28s} {'cycles':>8s} {'K rows':>7s} {'K4 rows':>8s} {'V rows':>7s} "
          f"{'kept':>6s} {'cyc/dense':>9s}")
    for (label, sel), (qq, _, pos, _), r in zip(sels, jobs, res):
        g = engine(qq, K, V, sel, pos, **rq)
        assert r["o"] == g.o.tolist() and (r["k_rows"], r["k4_rows"], r["v_rows"]) == \
            (g.k_rows, g.k4_rows, g.v_rows), f"{label}: hardware differs from the golden model"
        print(f"{label:28s} {r['cycles']:8d} {r['k_rows']:7d} {r['k4_rows']:8d} {r['v_rows']:7d} "
              f"{r['v_rows'] / T:6.3f} {r['cycles'] / dense:9.3f}")
    print()


def run_prefill(name, q, K, V, rq, lanes, block, queries):
    """The last ``queries`` positions as one prefill block vs as ``queries`` decode jobs."""
    T, d = K.shape
    pos = T - queries
    sels = [("causal", Selection("causal")),
            ("window T/8 causal", Selection("window", window=max(1, T // 8), causal=True))]
    pre = AttentionEngine(d=d, lanes=lanes, t_max=T, k_max=1, block=block, queries=queries)
    dec = AttentionEngine(d=d, lanes=lanes, t_max=T, k_max=1, block=block)
    print(f"[{name}] prefill block of {queries} queries at {pos}..{T - 1} vs {queries} decode "
          f"jobs (d={d}, T={T}, lanes={lanes}) ...", flush=True)
    t0 = time.monotonic()
    rp = simulate_attention(pre, K, V, [(q[pos:], sel, pos, rq) for _, sel in sels],
                            deadline=5_000_000)
    rd = simulate_attention(dec, K, V, [(q[p], sel, p, rq) for _, sel in sels
                                        for p in range(pos, T)], deadline=5_000_000)
    print(f"[{name}] simulated in {time.monotonic() - t0:.0f} s")
    print(f"{'mode':22s} {'prefill cyc':>11s} {'decode cyc':>10s} {'ratio':>6s} "
          f"{'prefill K/V rows':>16s} {'decode K/V rows':>15s}")
    for n, (label, sel) in enumerate(sels):
        r, ds = rp[n], rd[n * queries:(n + 1) * queries]
        g = engine(q[pos:], K, V, sel, list(range(pos, T)), **rq)
        union = prefill_rows(sel, range(pos, T), T)
        assert r["o"] == g.o.tolist() and [x["o"] for x in ds] == g.o.tolist(), label
        assert r["k_rows"] == r["v_rows"] == union["rows"], label
        assert sum(x["k_rows"] for x in ds) == union["per_query_sum"], label
        dc = sum(x["cycles"] for x in ds)
        print(f"{label:22s} {r['cycles']:11d} {dc:10d} {r['cycles'] / dc:6.3f} "
              f"{r['k_rows']:>7d} + {r['v_rows']:<6d} {union['per_query_sum']:>6d} + "
              f"{sum(x['v_rows'] for x in ds):<6d}")
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("llama", "minilm"))
    ap.add_argument("--lanes", type=int, default=16, help="lanes of the Llama-shaped engine")
    ap.add_argument("--synth", metavar="OUT_DIR",
                    help="instead: build the engine with its default parameters out of context "
                         "on an LFE5U-85F (Yosys + nextpnr) and print resources and Fmax")
    ap.add_argument("--clock", type=float, default=50.0, help="--synth target clock, MHz")
    ap.add_argument("--seed", type=int, default=1, help="--synth nextpnr placer seed")
    ap.add_argument("--placer", choices=sorted(PLACERS), default="heap",
                    help="--synth nextpnr placer settings (attnkit.boards.toolchain.PLACERS)")
    ap.add_argument("--floorplan", action="store_true",
                    help="--synth with the block RAMs and DSPs on fixed sites "
                         "(attnkit.boards.floorplan.attention_sites)")
    ap.add_argument("--reset-fanout", type=int, metavar="N",
                    help="--synth with the reset flip-flop replicated, at most N loads a copy "
                         "(attnkit.boards.replicate)")
    ap.add_argument("--prefill", type=int, metavar="Q",
                    help="instead: MiniLM head, a prefill block of Q queries vs Q decode jobs")
    a = ap.parse_args(argv)
    if a.prefill:
        from attnkit.golden.minilm import head_qkv
        hd = head_qkv(4, 2, 5)
        qh = quantize_head(hd.q, hd.k, hd.v)
        run_prefill("MiniLM s4.L2.H5", qh.q, qh.K, qh.V, qh.requant, lanes=8, block=8,
                    queries=a.prefill)
        return 0
    if a.synth:
        from attnkit.boards import designs
        from attnkit.boards.toolchain import Progress, build_ooc
        # the registry's design, so the parameters and the floorplan are build.py's
        att = designs.get("attention")
        params = designs.resolve_params(att, {"floorplan": "LFE5U-85F" if a.floorplan else None})
        rep = build_ooc(att.factory(params), out_dir=a.synth, design="attention", params=params,
                        device="LFE5U-85F", clock_mhz=a.clock,
                        ops_per_cycle=att.ops_per_cycle(params), allow_timing_fail=True,
                        progress=Progress(), seed=a.seed, placer=a.placer,
                        sites=att.sites(params), reset_fanout=a.reset_fanout)
        print(json.dumps({k: rep.get(k) for k in ("utilization", "fmax_mhz", "clocks", "device")},
                         indent=1, default=str))
        return 0
    if a.only in (None, "minilm"):
        from attnkit.golden.minilm import head_qkv
        hd = head_qkv(4, 2, 5)
        qh = quantize_head(hd.q, hd.k, hd.v)
        T = qh.K.shape[0]
        run_head("MiniLM s4.L2.H5", qh.q[T - 1], qh.K, qh.V, qh.requant, lanes=8, block=8,
                 k=T // 4)
    if a.only in (None, "llama"):
        rng = np.random.default_rng(0)
        T, d = 2048, 128
        K, V = rng.integers(-128, 128, (T, d)), rng.integers(-128, 128, (T, d))
        q = rng.integers(-128, 128, d)
        rq = dict(score_mult=40000, score_shift=26, out_mult=40000, out_shift=30)
        run_head("Llama-2-7B-shaped head", q, K, V, rq, lanes=a.lanes, block=64, k=256)
    return 0


if __name__ == "__main__":
    sys.exit(main())
