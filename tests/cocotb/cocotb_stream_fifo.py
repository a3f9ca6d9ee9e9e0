"""cocotb tests for ``tests.sim_fixtures.StreamFIFO``: data out == data in, in order.

Parameters: ``width``, ``depth``, ``n``, ``seed``. Covers the FIFO running full (sink stalls)
and empty (source stalls) under each stall case of ``STALL_CASES``.
"""

import cocotb
import numpy as np

from attnkit.sim.cocotb_streams import (STALL_CASES, Stalls, StreamSink, StreamSource, reset,
                                        run_seed, start_clock, stream_through, test_parameters)


@cocotb.test()
@cocotb.parametrize(p=list(STALL_CASES))
async def fifo_preserves_order(dut, p):
    params = test_parameters()
    rng = np.random.default_rng(params["seed"])
    words = [int(v) for v in rng.integers(0, 1 << params["width"], params["n"])]
    start_clock(dut)
    await reset(dut)
    seed = run_seed()
    src = StreamSource(dut, "i_stream", Stalls(seed, p))
    # The sink stalls more than the source, so the FIFO also fills up.
    snk = StreamSink(dut, "o_stream", Stalls(seed, min(0.9, 2 * p)).fork(1))
    sender = cocotb.start_soon(src.send(words))
    got = await snk.recv(len(words))
    await sender
    assert got == words, f"FIFO output differs (p={p}, seed={seed}): {got[:8]} vs {words[:8]}"


@cocotb.test()
@cocotb.parametrize(p=list(STALL_CASES))
async def fifo_stream_through(dut, p):
    """Same check through the one-line helper."""
    params = test_parameters()
    rng = np.random.default_rng(params["seed"] + 1)
    words = [int(v) for v in rng.integers(0, 1 << params["width"], params["n"])]
    got = await stream_through(dut, words, len(words), p=p)
    assert got == words, f"FIFO output differs (p={p}, seed={run_seed()})"
