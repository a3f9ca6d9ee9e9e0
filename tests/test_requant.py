"""``attnkit.hdl.requant.requantize`` against the golden model at the clamp boundaries: every
value of ``acc * mult >> shift`` from a few below ``-lim`` to a few above ``lim``, with and
without rounding (shift 0, 1, 2, 7), for the int8 and the softmax-input limits; and random
accumulators, multipliers and shifts over the whole range."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from attnkit.golden.fixed import FixedFormat
from attnkit.golden.quant import requantize as golden_requantize
from attnkit.hdl.requant import REQUANT_LATENCY, requantize


@pytest.mark.parametrize("lim", [127, 32767])
def test_requantize_clamp_boundaries(lim):
    m = Module()
    acc = Signal(signed(40))
    mult = Signal(16)
    shift = Signal(6)
    y = requantize(m, acc, mult, shift, lim, "behavioural", "rq")
    fmt = FixedFormat(True, lim.bit_length(), 0)
    assert fmt.max_int == lim
    cases = []
    for s in (0, 1, 2, 7):
        for mlt in (1, 3):
            # products around +-lim after the shift, both rounding directions and the tie
            centre = [lim << s, -(lim << s)]
            for c in centre:
                for off in range(-(3 << s) - 1, (3 << s) + 2, max(1, 1 << max(0, s - 2))):
                    a = (c + off) // mlt
                    cases.append((a, mlt, s))
    # and values far outside the clamp (high bits set) and anywhere in between
    rng = np.random.default_rng(lim)
    for _ in range(150):
        a = int(rng.integers(-(1 << 39), 1 << 39)) >> int(rng.integers(0, 39))
        cases.append((a, int(rng.integers(0, 1 << 16)), int(rng.integers(0, 64))))
    expected = [int(golden_requantize(np.array([a]), mlt, s, fmt)[0]) for a, mlt, s in cases]
    got = []

    async def bench(ctx):
        for i in range(len(cases) + REQUANT_LATENCY):
            if i < len(cases):
                a, mlt, s = cases[i]
                ctx.set(acc, a)
                ctx.set(mult, mlt)
                ctx.set(shift, s)
            await ctx.tick()
            if i + 1 >= REQUANT_LATENCY:
                got.append(ctx.get(y))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    got = got[:len(cases)]
    bad = [(c, e, g) for c, e, g in zip(cases, expected, got) if e != g]
    assert not bad, bad[:10]
    # the cases reach both clamps and values just inside them
    assert {lim, -lim, lim - 1, -lim + 1} <= set(expected)
