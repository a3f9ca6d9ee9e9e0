"""cocotb tests for ``tests.sim_fixtures.SatAdder`` (exported to Verilog by ``run_cocotb``).

Parameters (``ATTNKIT_PARAMS``): ``width``, ``n`` (pairs per test), ``seed`` (input data).
The expected outputs come from the golden rule ``FixedFormat.integer(width).saturate(a + b)``
(:mod:`attnkit.golden.fixed`), computed here from the same seeded inputs.
Each stall case of ``STALL_CASES`` is one cocotb test; every test resets the DUT first.
"""

import cocotb
import numpy as np
from amaranth import signed
from amaranth.lib import data

from attnkit.golden.fixed import FixedFormat
from attnkit.sim.cocotb_streams import (STALL_CASES, Stalls, StreamSink, StreamSource, reset,
                                        run_seed, start_clock, test_parameters)


def make_case(params):
    """Seeded inputs and their golden outputs (list of dicts, list of ints)."""
    width, n = params["width"], params["n"]
    fmt = FixedFormat.integer(width)
    rng = np.random.default_rng(params["seed"])
    a = rng.integers(fmt.min_int, fmt.max_int + 1, n)
    b = rng.integers(fmt.min_int, fmt.max_int + 1, n)
    expected = fmt.saturate(a + b)
    pairs = [{"a": int(x), "b": int(y)} for x, y in zip(a, b)]
    return pairs, [int(v) for v in expected]


async def run_case(dut, p, *, corrupt=False):
    """Send the seeded pairs with stall probability ``p`` and compare with the golden model.

    ``corrupt`` deliberately perturbs one expected value (used only to prove that a wrong
    expectation makes the runner report failure)."""
    params = test_parameters()
    width = params["width"]
    pairs, expected = make_case(params)
    if corrupt:
        expected[len(expected) // 2] += 1
    start_clock(dut)
    await reset(dut)
    seed = run_seed()
    layout = data.StructLayout({"a": signed(width), "b": signed(width)})
    src = StreamSource(dut, "i_stream", Stalls(seed, p), layout=layout)
    snk = StreamSink(dut, "o_stream", Stalls(seed, p).fork(1), layout=signed(width))
    sender = cocotb.start_soon(src.send(pairs))
    got = await snk.recv(len(expected))
    await sender
    bad = [(i, g, e) for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, (f"{len(bad)} of {len(expected)} outputs differ from the golden model "
                     f"(p={p}, seed={seed}); first (index, got, expected): {bad[:5]}")


@cocotb.test()
@cocotb.parametrize(p=list(STALL_CASES))
async def sat_adder_matches_golden(dut, p):
    await run_case(dut, p)
