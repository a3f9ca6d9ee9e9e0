"""cocotb tests for :class:`attnkit.hdl.softmax.Softmax` on its exported Verilog.

Parameters (from ``run_cocotb(parameters=...)``): ``cfg`` (``config_to_dict`` form),
``l_max``, ``score_requant`` (``[multiplier, shift]`` or null), ``seeds`` and ``n_rows``.
For each data seed and stall case the rows come from
:func:`attnkit.golden.softmax.random_row_set` (lengths 1, ``l_max`` and non-powers of two,
masked and fully masked rows) and the expected outputs from the golden model.
"""

import cocotb
import numpy as np

from attnkit.golden.softmax import (config_from_dict, expected_payloads, random_row_set,
                                    stream_payloads)
from attnkit.sim.cocotb_streams import (STALL_CASES, Stalls, StreamSink, StreamSource, reset,
                                        run_seed, start_clock, test_parameters)
from attnkit.hdl.softmax import softmax_in_layout, softmax_out_layout


@cocotb.test()
@cocotb.parametrize(p=list(STALL_CASES))
async def softmax_matches_golden(dut, p):
    params = test_parameters()
    cfg = config_from_dict(params["cfg"])
    req = tuple(params["score_requant"]) if params.get("score_requant") else None
    in_w = 32 if req else cfg.in_fmt.width
    start_clock(dut)
    for data_seed in params["seeds"]:
        rows = random_row_set(data_seed, cfg, params["l_max"], params["n_rows"])
        if req:
            rng = np.random.default_rng(data_seed)
            rows = [(rng.integers(-(1 << 31), 1 << 31, len(q)) >> int(rng.integers(0, 12)), mk)
                    for q, mk in rows]
        ins = stream_payloads(rows)
        want = expected_payloads(rows, cfg, req)
        await reset(dut)
        seed = run_seed() * 1000 + data_seed
        st = Stalls(seed, p)
        src = StreamSource(dut, "i_stream", st.fork(1), layout=softmax_in_layout(in_w))
        snk = StreamSink(dut, "o_stream", st.fork(2),
                         layout=softmax_out_layout(cfg.out_fmt.width))
        sender = cocotb.start_soon(src.send(ins))
        got = await snk.recv(len(want))
        await sender
        for i, (a, b) in enumerate(zip(got, want)):
            assert a == b, f"element {i}: got {a}, want {b} (data seed {data_seed}, stall seed {seed}, p={p})"
