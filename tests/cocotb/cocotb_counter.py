"""cocotb test for ``tests.sim_fixtures.AlwaysReadyCounter``: an ``always_ready`` output port
(no ``o_stream__ready`` in the Verilog) must still be received by ``StreamSink``.

Parameters: ``width``, ``n``. Expected: the counts 0, 1, 2, ... modulo ``2**width``.
"""

import cocotb

from attnkit.sim.cocotb_streams import StreamSink, reset, start_clock, test_parameters


@cocotb.test()
async def counts_up(dut):
    params = test_parameters()
    width, n = params["width"], params["n"]
    assert not hasattr(dut, "o_stream__ready"), "always_ready port should have no ready signal"
    start_clock(dut)
    await reset(dut)
    got = await StreamSink(dut, "o_stream").recv(n)
    assert got == [k % (1 << width) for k in range(n)], got
