"""cocotb tests for :class:`attnkit.hdl.attention.AttentionEngine` on its exported Verilog.

Parameters (``run_cocotb(parameters=...)``): the engine's ``d``, ``lanes``, ``t_max``,
``k_max``, ``block``, optional ``queries`` (prefill block size, default 1), plus ``seeds``
(random data; one query per selection of :func:`attnkit.golden.attention.selection_suite`,
or with ``queries > 1`` one block per static selection of
:func:`attnkit.golden.attention.prefill_suite`) and ``minilm`` (``[sentence, layer, head]``
of a real all-MiniLM-L6-v2 head, or null). Expected outputs and row counts come from
:func:`attnkit.golden.attention.engine` (each query of a block at its own position; the
block reads the union of its rows once, :func:`attnkit.golden.attention.prefill_rows`).
"""

import cocotb
import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from attnkit.golden.attention import (Selection, engine, prefill_rows, prefill_suite,
                                      quantize_head, random_case, selection_suite)
from attnkit.hdl.attention import AttentionEngine, job_ports, kv_beats, q_beats
from attnkit.sim.cocotb_streams import (STALL_CASES, Stalls, StreamSink, StreamSource, reset,
                                        run_seed, start_clock, test_parameters)
from cocotb.triggers import RisingEdge


def _engine(params):
    eng = AttentionEngine(**{k: params[k] for k in ("d", "lanes", "t_max", "k_max", "block")},
                          queries=params.get("queries", 1))
    eng._MustUse__silence = True            # used only for its parameters here
    for sm in eng.softmaxes:
        for obj in (sm, sm._exp, sm._div):
            obj._MustUse__silence = True
    return eng


def cases(params):
    """``[(K, V, jobs)]`` with ``jobs = [(q, sel, pos, rq)]``."""
    out = []
    Q = params.get("queries", 1)
    if Q > 1:
        for seed in params["seeds"]:
            T = max(Q, params["t_max"] - seed % 4)
            q, K, V, rq = random_case(seed, T, params["d"])
            out.append((K, V, [(q[pos:pos + Q], sel, pos, rq)
                               for sel, pos in prefill_suite(T, params["block"], Q, seed)]))
        return out
    for seed in params["seeds"]:
        T = max(1, params["t_max"] - seed % 4)
        q, K, V, rq = random_case(seed, T, params["d"])
        rng = np.random.default_rng(seed)
        jobs = [(q[int(i)], sel, int(i), rq)
                for sel in selection_suite(T, params["block"], seed, params["k_max"])
                for i in rng.choice(T, 1)]
        out.append((K, V, jobs))
    if params.get("minilm"):
        from attnkit.golden.minilm import head_qkv
        hd = head_qkv(*params["minilm"])
        qh = quantize_head(hd.q, hd.k, hd.v)
        T = min(qh.K.shape[0], params["t_max"])
        K, V = qh.K[:T], qh.V[:T]
        k = min(params["k_max"], 3)
        sels = [Selection("dense"), Selection("window", window=4), Selection("topk", k=k),
                Selection("predict", k=k), Selection("global_window", window=3, n_global=1),
                Selection("causal")]
        out.append((K, V, [(qh.q[i % T], s, i % T, qh.requant) for i, s in enumerate(sels)]))
    return out


@cocotb.test()
@cocotb.parametrize(p=list(STALL_CASES))
async def attention_matches_golden(dut, p):
    params = test_parameters()
    eng = _engine(params)
    start_clock(dut)
    for n, (K, V, jobs) in enumerate(cases(params)):
        await run_case(dut, eng, K, V, jobs, p, run_seed() * 1000 + n)


async def run_case(dut, eng, K, V, jobs, p, seed):
    await reset(dut)
    st = Stalls(seed, p)
    L = eng.lanes
    kvl = data.StructLayout({"sel": 1, "addr": range(eng.t_max * eng.beats),
                             "data": data.ArrayLayout(signed(8), L)})
    kv = StreamSource(dut, "kv_stream", st.fork(1), layout=kvl)
    qs = StreamSource(dut, "q_stream", st.fork(2), layout=data.ArrayLayout(signed(8), L))
    os_ = StreamSink(dut, "o_stream", st.fork(3),
                     layout=data.StructLayout({"data": signed(8), "last": 1, "all_masked": 1}))
    await kv.send(kv_beats(K, V, L))
    T = K.shape[0]
    for j, (q, sel, pos, rq) in enumerate(jobs):
        for name, val in job_ports(eng, sel, T, pos, **rq).items():
            width = len(getattr(dut, name))
            getattr(dut, name).value = int(val) & ((1 << width) - 1)
        dut._log.info(f"job {j}: {sel.mode} pos {pos} T {T}")
        Q = eng.queries
        qb = np.reshape(q, (Q, eng.d))
        await qs.send([b for qq in qb for b in q_beats(qq, L)])
        got = await os_.recv(Q * eng.d)
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        positions = list(range(pos, pos + Q))
        g = engine(qb, K, V, sel, positions, **rq)
        tag = f"job {j} {sel} pos {pos} (p={p}, seed={seed})"
        data_ = [x["data"] for x in got]
        assert data_ == g.o.reshape(-1).tolist(), f"{tag}: {data_} != {g.o.tolist()}"
        assert [x["last"] for x in got] == ([0] * (eng.d - 1) + [1]) * Q, tag
        assert [x["all_masked"] for x in got] == [int(f) for f in g.all_masked for _ in range(eng.d)], tag
        rows = tuple(int(getattr(dut, c).value) for c in ("k_rows", "k4_rows", "v_rows"))
        if Q == 1:
            assert rows == (g.k_rows[0], g.k4_rows[0], g.v_rows[0]), f"{tag}: rows {rows}"
        else:
            union = prefill_rows(sel, positions, T)["rows"]
            assert rows == (union, 0, union), f"{tag}: rows {rows}, union {union}"
        assert int(dut.busy.value) == 0, tag
