"""Drive :class:`attnkit.hdl.attention.AttentionEngine` in Amaranth's simulator.

:func:`simulate_attention` loads K/V once and runs jobs (decode queries, or prefill blocks
on an engine with ``queries > 1``) through the engine's streams
(with optional seeded random stalls), checking the output stream's hold rule every cycle, and
returns outputs, flags, cycle and row counters. Used by the tests and the benchmarks.
"""

import numpy as np

from attnkit.golden.attention import Selection
from attnkit.hdl.attention import job_ports, kv_beats, q_beats

from .streams import Stalls, run_simulation, stream_get, stream_send, to_python

__all__ = ["simulate_attention", "bench_selections"]


def simulate_attention(eng, K, V, jobs, stalls=Stalls(0, 0.0), deadline=400_000):
    """Load ``K``/``V`` once, run ``jobs`` = ``[(q, sel, pos, requant_dict)]`` in order.

    Returns one dict per job: ``o`` (list of d ints), ``all_masked``, ``cycles``,
    ``k_rows``, ``k4_rows``, ``v_rows``. With ``eng.queries = Q > 1`` each job is a prefill
    block: ``q`` is ``(Q, d)`` (queries at ``pos .. pos + Q - 1``) and ``o``/``all_masked``
    are lists with one entry per query.
    """
    Q = eng.queries
    T = K.shape[0]
    results = []
    done = [0]

    async def producer(ctx):
        st = stalls.fork(1)
        await stream_send(ctx, eng.kv_stream, kv_beats(K, V, eng.lanes), st)
        for n, (q, sel, pos, rq) in enumerate(jobs):
            while done[0] < n:
                await ctx.tick()
            for name, val in job_ports(eng, sel, T, int(pos), **rq).items():
                ctx.set(getattr(eng, name), val)
            beats = [b for qq in np.reshape(q, (Q, eng.d)) for b in q_beats(qq, eng.lanes)]
            await stream_send(ctx, eng.q_stream, beats, st.fork(n))

    async def consumer(ctx):
        st = stalls.fork(2)
        for n in range(len(jobs)):
            beats = [await stream_get(ctx, eng.o_stream, st) for _ in range(Q * eng.d)]
            await ctx.tick()
            assert not ctx.get(eng.busy)
            rows = [beats[i * eng.d:(i + 1) * eng.d] for i in range(Q)]
            for row in rows:
                assert [b["last"] for b in row] == [0] * (eng.d - 1) + [1]
                assert len({b["all_masked"] for b in row}) == 1
            o = [[b["data"] for b in row] for row in rows]
            flags = [row[0]["all_masked"] for row in rows]
            results.append({"o": o if Q > 1 else o[0], "all_masked": flags if Q > 1 else flags[0],
                            **{c: ctx.get(getattr(eng, c)) for c in
                               ("cycles", "k_rows", "k4_rows", "v_rows")}})
            done[0] += 1

    async def monitor(ctx):
        """Stream rule on o_stream, every cycle: once valid, it stays valid with the same
        payload until ready (the formal check cannot reach o_stream; see test_attention_formal)."""
        prev = None
        while done[0] < len(jobs):
            _, _, valid, ready, payload = await ctx.tick().sample(
                eng.o_stream.valid, eng.o_stream.ready, eng.o_stream.payload)
            if prev is not None and prev[0] and not prev[1]:
                assert valid and to_python(payload) == prev[2], "o_stream broke the hold rule"
            prev = (valid, ready, to_python(payload))

    run_simulation(eng, [producer, consumer, monitor], deadline_cycles=deadline)
    return results


def bench_selections(T, block, k):
    """The benchmark's selection modes for one decode query at position ``T - 1``:
    ``[(label, Selection)]`` keeping about 1/8 of the keys in the static modes, ``k`` in the
    dynamic ones."""
    nb = -(-T // block)
    pos = T - 1
    bm = np.zeros((nb, nb), bool)
    keep = sorted({0, nb - 1} | set(range(max(0, nb - nb // 8), nb)))[: max(1, nb // 8)]
    bm[pos // block, keep] = True
    w = max(1, T // 8)
    return [("dense", Selection("dense")),
            ("window T/8", Selection("window", window=w, causal=True)),
            ("global 4 + window", Selection("global_window", window=w - 4, n_global=4, causal=True)),
            (f"block {block} (1/8 of blocks)", Selection("block", block=block, bitmap=bm)),
            (f"topk k={k}", Selection("topk", k=k)),
            (f"predict k={k}", Selection("predict", k=k))]
