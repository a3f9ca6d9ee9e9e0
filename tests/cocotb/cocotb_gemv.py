"""cocotb tests for :class:`attnkit.hdl.gemv.GemvArray` on its exported Verilog.

Parameters (from ``run_cocotb(parameters=...)``): the array's ``lanes``, ``weight_bits``,
``acc_width``, ``requant``, ``max_n``, ``group``, plus ``seeds`` and ``shapes`` (list of
``[M, N]``; jobs run back to back). For each seed (one simulation, one Verilog build) and
each stall case, inputs are drawn from the seed; expected outputs come from
:func:`attnkit.golden.gemv.gemv`. Every job list also ends with an all-extremes job
(``-128 x -128`` products, or the int4 minimum, accumulated over N).
"""

import cocotb
import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from attnkit.golden.gemv import gemv, weight_beats
from attnkit.golden.quant import requant_params
from attnkit.sim.cocotb_streams import (STALL_CASES, Stalls, StreamSink, StreamSource, reset,
                                        run_seed, start_clock, test_parameters)


def make_jobs(params, seed):
    rng = np.random.default_rng(seed)
    wb = params["weight_bits"]
    lo = -(1 << (wb - 1))
    jobs = []
    for M, N in params["shapes"]:
        W = rng.integers(lo, -lo, (M, N))
        x = rng.integers(-128, 128, N)
        rq = requant_params(float(rng.uniform(0.5, 4)) / (128 * np.sqrt(N) * -lo)) if params["requant"] else None
        jobs.append((W, x, rq))
    M, N = params["shapes"][0]
    jobs.append((np.full((M, N), lo), np.full(N, -128), (1, 0) if params["requant"] else None))
    return jobs


@cocotb.test()
@cocotb.parametrize(p=list(STALL_CASES))
async def gemv_matches_golden(dut, p):
    params = test_parameters()
    start_clock(dut)
    for data_seed in params["seeds"]:
        await run_jobs(dut, params, data_seed, p)


async def run_jobs(dut, params, data_seed, p):
    jobs = make_jobs(params, data_seed)
    lanes, wb = params["lanes"], params["weight_bits"]
    out_w = 8 if params["requant"] else params["acc_width"]
    await reset(dut)
    seed = run_seed() * 1000 + data_seed
    st = Stalls(seed, p)
    xs = StreamSource(dut, "x_stream", st.fork(1), layout=signed(8))
    ws = StreamSource(dut, "w_stream", st.fork(2), layout=data.ArrayLayout(signed(wb), lanes))
    ys = StreamSink(dut, "y_stream", st.fork(3),
                    layout=data.StructLayout({"data": signed(out_w), "last": unsigned(1)}))

    async def feed_x():
        # m, n and the requant settings are sampled at job start, before the first x beat
        # is accepted: change them only after the previous job's x beats are all in.
        for W, x, rq in jobs:
            dut.m.value, dut.n.value = W.shape
            if rq is not None:
                dut.req_mult.value, dut.req_shift.value = rq
            await xs.send([int(v) for v in x])

    async def feed_w():
        for W, _, _ in jobs:
            await ws.send([[int(v) for v in beat] for beat in weight_beats(W, lanes)])

    fx, fw = cocotb.start_soon(feed_x()), cocotb.start_soon(feed_w())
    for j, (W, x, rq) in enumerate(jobs):
        got = await ys.recv(W.shape[0])
        exp = gemv(W, x, weight_bits=wb, acc_width=params["acc_width"], requant=rq)
        data_ = [g["data"] for g in got]
        assert data_ == [int(v) for v in exp], \
            f"job {j} (M, N = {W.shape}, p={p}, seed={seed}): got {data_[:8]}..., expected {list(exp[:8])}..."
        assert [g["last"] for g in got] == [0] * (W.shape[0] - 1) + [1], f"job {j}: last flags wrong"
    await fx
    await fw
