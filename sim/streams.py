"""Stream drivers for Amaranth's simulator (Amaranth 0.5 async testbench API).

``stream_put``/``stream_get`` move one payload over an :mod:`amaranth.lib.stream` interface;
``stream_send``/``stream_recv`` move many, optionally inserting seeded random stalls (the
producer withholds ``valid``, the consumer withholds ``ready``), so every stream test can run
both with and without backpressure. :class:`Stalls` carries the seed so a failing test can
print it and be rerun exactly.

Payloads are given and returned as plain Python values: ``int`` for a plain shape, ``dict``
for a :class:`~amaranth.lib.data.StructLayout`, ``list`` for an
:class:`~amaranth.lib.data.ArrayLayout` (nested as needed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from amaranth.lib import data
from amaranth.sim import Simulator

__all__ = ["Stalls", "NO_STALLS", "stream_put", "stream_get", "stream_send", "stream_recv",
           "stream_through_timed", "to_python", "run_simulation", "STALL_CASES"]


@dataclass
class Stalls:
    """Seeded random stall pattern. ``p`` is the probability that a cycle is a stall cycle."""

    seed: int = 0
    p: float = 0.0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        if not 0.0 <= self.p < 1.0:
            raise ValueError(f"p must be in [0, 1), not {self.p!r}")
        self.rng = random.Random(self.seed)

    def fork(self, salt: int) -> "Stalls":
        """An independent pattern for another port (same seed family, different stream)."""
        return Stalls(seed=self.seed * 1000003 + salt, p=self.p)

    def stall(self) -> bool:
        return self.p > 0 and self.rng.random() < self.p


NO_STALLS = Stalls(0, 0.0)

#: The stall probabilities every stream test runs with: none, and 30 % of cycles.
STALL_CASES = (0.0, 0.3)


def to_python(value):
    """Turn a value returned by ``ctx.get`` into plain ``int``/``dict``/``list``."""
    if isinstance(value, data.Const):
        layout = value.shape()
        if isinstance(layout, data.ArrayLayout):
            return [to_python(value[i]) for i in range(layout.length)]
        if isinstance(layout, data.StructLayout):
            return {name: to_python(value[name]) for name, _ in layout}
        return int(value.as_value().value)
    return int(value)


async def stream_put(ctx, stream, payload, stalls: Stalls = NO_STALLS):
    """Offer ``payload`` on ``stream`` (a producer-side interface) until it is accepted."""
    while stalls.stall():
        await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, stalls: Stalls = NO_STALLS):
    """Accept one payload from ``stream`` (a consumer-side interface) and return it."""
    while True:
        ready = not stalls.stall()
        ctx.set(stream.ready, int(ready))
        _, _, payload, valid = await ctx.tick().sample(stream.payload, stream.valid)
        if ready and valid:
            ctx.set(stream.ready, 0)
            return to_python(payload)


async def stream_send(ctx, stream, payloads, stalls: Stalls = NO_STALLS):
    """Send every payload in order."""
    for p in payloads:
        await stream_put(ctx, stream, p, stalls)


async def stream_recv(ctx, stream, count: int, stalls: Stalls = NO_STALLS) -> list:
    """Receive ``count`` payloads in order."""
    return [await stream_get(ctx, stream, stalls) for _ in range(count)]


async def stream_through_timed(ctx, i_stream, o_stream, payloads, count: int | None = None):
    """Offer ``payloads`` on ``i_stream`` back to back (no stalls) while ``o_stream`` is
    always ready, until ``count`` (default ``len(payloads)``) outputs arrived.

    Returns ``(outputs, in_cycles, out_cycles)``: the outputs as plain Python values, and the
    cycle (counted from the call) of every accepted input and of every output, for throughput
    and latency measurements.
    """
    count = len(payloads) if count is None else count
    got, in_cycles, out_cycles = [], [], []
    cyc, i = 0, 0
    ctx.set(o_stream.ready, 1)
    while len(got) < count:
        ctx.set(i_stream.valid, int(i < len(payloads)))
        if i < len(payloads):
            ctx.set(i_stream.payload, payloads[i])
        _, _, iv, ir, ov, pl = await ctx.tick().sample(
            i_stream.valid, i_stream.ready, o_stream.valid, o_stream.payload)
        if iv and ir:
            in_cycles.append(cyc)
            i += 1
        if ov:
            out_cycles.append(cyc)
            got.append(to_python(pl))
        cyc += 1
    ctx.set(o_stream.ready, 0)
    return got, in_cycles, out_cycles


def run_simulation(dut, testbenches, *, deadline_cycles: int = 1_000_000, vcd: str | None = None,
                   clk_period: float = 1e-8):
    """Run ``testbenches`` (async functions of ``ctx``) against ``dut`` on one ``sync`` clock.

    A background watchdog raises ``TimeoutError`` after ``deadline_cycles`` cycles, so a
    hung design fails its test instead of hanging it.
    """
    sim = Simulator(dut)
    sim.add_clock(clk_period)
    for tb in testbenches:
        sim.add_testbench(tb)

    async def watchdog(ctx):
        await ctx.delay(deadline_cycles * clk_period)
        raise TimeoutError(f"simulation did not finish within {deadline_cycles} cycles")

    sim.add_process(watchdog)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
