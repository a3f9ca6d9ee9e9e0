"""Drive :class:`attnkit.hdl.gemv.GemvArray` in Amaranth's simulator.

One function, :func:`simulate_gemv`, runs one or more GEMV jobs back to back through the
array's three streams (with optional seeded random stalls on each) and returns the outputs
and the cycle count, for tests and for the utilisation benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnkit.golden.gemv import weight_beats

from .streams import NO_STALLS, Stalls, run_simulation, stream_get, stream_put

__all__ = ["GemvJob", "simulate_gemv"]


@dataclass
class GemvJob:
    W: np.ndarray                 # (M, N) weight codes
    x: np.ndarray                 # (N,) activation codes
    requant: tuple[int, int] | None = None


def simulate_gemv(dut, jobs: list[GemvJob], stalls: Stalls = NO_STALLS, *, deadline_cycles: int = 2_000_000):
    """Run ``jobs`` through ``dut``; returns ``(outputs, lasts, cycles)``.

    ``outputs[j]`` is the array of ``y`` for job ``j``, ``lasts[j]`` its ``last`` flags.
    ``cycles`` counts clock cycles from the first cycle of the simulation until the final
    output beat has been accepted (inclusive).
    """
    outputs, lasts = [], []
    done = {"flag": False}
    # The array samples m, n and the requant settings when a job starts, before it accepts
    # the job's first x beat: they may change once the previous job's x beats are all sent.
    async def tb_x(ctx):
        st = stalls.fork(1)
        for job in jobs:
            M, N = job.W.shape
            ctx.set(dut.m, M)
            ctx.set(dut.n, N)
            if job.requant is not None:
                ctx.set(dut.req_mult, job.requant[0])
                ctx.set(dut.req_shift, job.requant[1])
            for v in job.x:
                await stream_put(ctx, dut.x_stream, int(v), st)

    async def tb_w(ctx):
        st = stalls.fork(2)
        for job in jobs:
            for beat in weight_beats(job.W, dut.lanes):
                await stream_put(ctx, dut.w_stream, [int(v) for v in beat], st)

    async def tb_y(ctx):
        st = stalls.fork(3)
        for job in jobs:
            M = job.W.shape[0]
            ys, ls = [], []
            for _ in range(M):
                beat = await stream_get(ctx, dut.y_stream, st)
                ys.append(beat["data"])
                ls.append(beat["last"])
            outputs.append(np.array(ys, dtype=np.int64))
            lasts.append(ls)
        done["flag"] = True

    cycles = {"n": 0}

    async def tb_count(ctx):
        while not done["flag"]:
            await ctx.tick()
            cycles["n"] += 1

    run_simulation(dut, [tb_x, tb_w, tb_y, tb_count], deadline_cycles=deadline_cycles)
    return outputs, lasts, cycles["n"]
