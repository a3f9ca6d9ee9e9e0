"""cocotb module that times one GEMV job on :class:`attnkit.hdl.gemv.GemvArray` (benchmark only).

Run by :func:`attnkit.sim.fast_bench.cocotb_speed` through
:func:`attnkit.sim.cocotb_runner.run_cocotb` (Verilator). Parameters: the array's ``lanes``,
``weight_bits``, ``max_n`` (the build key); the job's ``m``, ``n``, ``seed`` come as JSON in
``$ATTNKIT_BENCH_JOB`` (the job is drawn exactly as :func:`attnkit.sim.fast_bench.gemv_job`
draws it). The streams are driven with the shared
:class:`~attnkit.sim.cocotb_streams.StreamSource`/``StreamSink`` helpers, no stalls; the
output is checked against :func:`attnkit.golden.gemv.gemv`. The wall time of the job (after
reset and the array's post-reset flush, from the first beat offered to the last output accepted), the processor time of the
simulator process over the same span (Verilator model and Python together) and the cycles
it took are written as JSON to the file named by ``$ATTNKIT_BENCH_OUT``.
"""

import json
import os
import time

import cocotb
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from cocotb.triggers import RisingEdge

from attnkit.golden.gemv import gemv, weight_beats
from attnkit.sim.cocotb_streams import StreamSink, StreamSource, reset, start_clock, test_parameters


@cocotb.test()
async def gemv_timed_job(dut):
    from attnkit.sim.fast_bench import gemv_job   # same job as the other engines
    prm = test_parameters()
    lanes, wb = prm["lanes"], prm["weight_bits"]
    jp = json.loads(os.environ["ATTNKIT_BENCH_JOB"])
    job = gemv_job(wb, jp["m"], jp["n"], jp["seed"])
    W, x = job.W, job.x
    start_clock(dut)
    await reset(dut)
    while int(dut.busy.value):           # the array's post-reset flush (GemvArray.flush_cycles)
        await RisingEdge(dut.clk)
    xs = StreamSource(dut, "x_stream", layout=signed(8))
    ws = StreamSource(dut, "w_stream", layout=data.ArrayLayout(signed(wb), lanes))
    ys = StreamSink(dut, "y_stream", layout=data.StructLayout({"data": signed(prm.get("acc_width", 32)), "last": unsigned(1)}))
    beats = [[int(v) for v in b] for b in weight_beats(W, lanes)]
    cycles = [0]

    async def count():
        while True:
            await RisingEdge(dut.clk)
            cycles[0] += 1

    dut.m.value, dut.n.value = W.shape
    t0, c0 = time.monotonic(), time.process_time()
    counter = cocotb.start_soon(count())
    fx = cocotb.start_soon(xs.send([int(v) for v in x], timeout_cycles=10 ** 7))
    fw = cocotb.start_soon(ws.send(beats, timeout_cycles=10 ** 7))
    got = await ys.recv(W.shape[0], timeout_cycles=10 ** 7)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    counter.cancel()
    await fx
    await fw
    exact = [g["data"] for g in got] == [int(v) for v in gemv(W, x, weight_bits=wb)]
    with open(os.environ["ATTNKIT_BENCH_OUT"], "w") as f:
        json.dump({"cycles": cycles[0], "wall_s": wall, "cpu_s": cpu, "bit_exact": exact}, f)
    assert exact, "cocotb GEMV output differs from the golden model"
