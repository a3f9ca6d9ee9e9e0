"""The register helpers of ``hdl/pipeline.py`` against Python models, cycle by cycle:
``one_hot_states`` (exactly one flag, the transitions taken) and ``updown_counter`` (each
flag equals its compare of the count)."""

import random

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from attnkit.hdl.pipeline import one_hot_states, updown_counter
from attnkit.sim.streams import run_simulation

# a four-state machine: A -a-> B, B -b-> C or -a-> A, C -a-> D, D -b-> A (a has priority)
_NAMES = ("A", "B", "C", "D")
_EDGES = {"A": (("a", "B"),), "B": (("a", "A"), ("b", "C")), "C": (("a", "D"),),
          "D": (("b", "A"),)}


class _Fsm(wiring.Component):
    a: In(1)
    b: In(1)
    state: Out(len(_NAMES))

    def elaborate(self, platform):
        m = Module()
        st, goto = one_hot_states(_NAMES, "t")
        for cur, edges in _EDGES.items():
            with m.If(st[cur]):
                (c0, t0), *rest = edges
                with m.If(getattr(self, c0)):
                    m.d.sync += goto(cur, t0)
                for c, t in rest:
                    with m.Elif(getattr(self, c)):
                        m.d.sync += goto(cur, t)
        m.d.comb += self.state.eq(sum(st[n] << i for i, n in enumerate(_NAMES)))
        return m


def test_one_hot_states_follow_the_transitions():
    dut = _Fsm()
    rng = random.Random(3)
    seen = set()

    async def bench(ctx):
        state = "A"
        for _ in range(400):
            assert ctx.get(dut.state) == 1 << _NAMES.index(state)
            seen.add(state)
            a, b = rng.random() < 0.4, rng.random() < 0.5
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            for c, t in _EDGES[state]:
                if {"a": a, "b": b}[c]:
                    state = t
                    break

    run_simulation(dut, [bench], deadline_cycles=1000)
    assert seen == set(_NAMES)


class _Counter(wiring.Component):
    inc: In(1)
    dec: In(1)
    lt: Out(1)
    ne: Out(1)
    eq: Out(1)

    def elaborate(self, platform):
        m = Module()
        f = updown_counter(m, self.inc, self.dec, 6, "n",
                           {"lt": ("<", 4), "ne": ("!=", 0), "eq": ("==", 6)})
        m.d.comb += [self.lt.eq(f["lt"]), self.ne.eq(f["ne"]), self.eq.eq(f["eq"])]
        return m


def test_updown_counter_flags_equal_their_compares():
    dut = _Counter()
    rng = random.Random(5)
    counts = set()

    async def bench(ctx):
        n = 0
        for _ in range(500):
            assert (ctx.get(dut.lt), ctx.get(dut.ne), ctx.get(dut.eq)) == (n < 4, n != 0, n == 6)
            counts.add(n)
            inc = n < 6 and rng.random() < 0.5
            dec = n > 0 and rng.random() < 0.5
            ctx.set(dut.inc, inc)
            ctx.set(dut.dec, dec)
            await ctx.tick()
            n += inc - dec

    run_simulation(dut, [bench], deadline_cycles=1000)
    assert counts == set(range(7))
