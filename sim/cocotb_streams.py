"""cocotb-side stream drivers, clock/reset helpers and parameter access.

Used by the cocotb test modules that :func:`attnkit.sim.cocotb_runner.run_cocotb` runs against
a component exported to Verilog. Importing this module requires cocotb (it only makes sense
inside a cocotb simulation).

Signal names
------------
Amaranth's Verilog export flattens each stream port ``<name>`` of a component into
``<name>__valid``, ``<name>__ready`` and ``<name>__payload`` (the payload is one flat vector,
even for a :class:`~amaranth.lib.data.StructLayout`; field ``a`` lives in the low bits). The
clock and reset of the ``sync`` domain are ``clk`` and ``rst`` (synchronous, active high). A
port of an ``always_valid``/``always_ready`` stream lacks the tied-off member; the drivers then
treat it as constant 1.

Timing discipline (race free on Verilator and Icarus)
-----------------------------------------------------
Every driver writes its signals right after the **falling** edge, then waits for the
``ReadOnly`` phase (all combinational logic settled) to sample valid/ready; a transfer happens
on the next rising edge iff both were high. Since nothing is written between the falling edge
and the rising edge, what was sampled is what the DUT sees at the rising edge, regardless of
the simulator's scheduling order.

Payload values
--------------
Plain ints, or (with ``layout=``) whatever :func:`attnkit.sim.streams.to_python` returns for
that layout: a ``dict`` for a ``StructLayout``, a ``list`` for an ``ArrayLayout``; signed
shapes come back signed. :func:`pack`/:func:`unpack` do the conversion.

Random stalls
-------------
:class:`StreamSource`/:class:`StreamSink` take a :class:`attnkit.sim.streams.Stalls` (seeded;
``Stalls(seed, p)``: each cycle is a stall with probability ``p``). Build seeds from
:func:`run_seed` (cocotb's ``COCOTB_RANDOM_SEED``, set by ``run_cocotb(seed=...)``) so a
failing run is reproducible; the seed is part of every assertion message the helpers raise.

Golden data
-----------
:func:`test_parameters` returns the ``parameters`` dict given to ``run_cocotb`` (passed as
JSON in ``ATTNKIT_PARAMS``). A test module rebuilds its inputs from it (e.g. a seed and a
size), imports :mod:`attnkit.golden` and computes the expected outputs itself; nothing is
hard-coded and nothing is read back from the hardware to make expectations.

Shortest form (clock, reset, seeded stalls on both sides, collect the outputs)::

    got = await stream_through(dut, payloads, len(expected), p=0.3,
                               i_layout=in_layout, o_layout=out_layout)

Example with explicit drivers::

    import cocotb
    from attnkit.sim.cocotb_streams import (StreamSource, StreamSink, start_clock, reset,
                                            test_parameters, run_seed)
    from attnkit.sim.streams import Stalls

    @cocotb.test()
    @cocotb.parametrize(p=[0.0, 0.3])
    async def passes_data(dut, p):
        params = test_parameters()
        start_clock(dut)
        await reset(dut)
        src = StreamSource(dut, "i_stream", Stalls(run_seed(), p))
        snk = StreamSink(dut, "o_stream", Stalls(run_seed() + 1, p))
        ...
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from .streams import NO_STALLS, STALL_CASES, Stalls, to_python

__all__ = ["test_parameters", "run_seed", "start_clock", "reset", "pack", "unpack", "stream_through",
           "StreamSource", "StreamSink", "STALL_CASES", "Stalls", "PARAMS_ENV", "PORTS_ENV", "ports"]

#: Environment variable that carries the JSON-encoded ``parameters`` of ``run_cocotb``.
PARAMS_ENV = "ATTNKIT_PARAMS"
#: Environment variable that carries the JSON-encoded top-level port directions and widths.
PORTS_ENV = "ATTNKIT_PORTS"


def test_parameters() -> dict:
    """The ``parameters`` dict that ``run_cocotb`` was called with (``{}`` if none)."""
    return json.loads(os.environ.get(PARAMS_ENV, "{}"))


# Not a pytest test even though the name starts with "test".
test_parameters.__test__ = False


def run_seed() -> int:
    """The run's random seed (``run_cocotb(seed=...)``, else the one cocotb picked)."""
    seed = os.environ.get("COCOTB_RANDOM_SEED")
    if seed is not None:
        return int(seed)
    return int(getattr(cocotb, "RANDOM_SEED", 0))


def start_clock(dut, clk: str = "clk", period_ns: int = 10):
    """Start a free-running clock on ``dut.<clk>`` (default 10 ns = 100 MHz)."""
    return cocotb.start_soon(Clock(getattr(dut, clk), period_ns, unit="ns").start())


async def reset(dut, rst: str = "rst", clk: str = "clk", cycles: int = 2):
    """Hold ``dut.<rst>`` high for ``cycles`` rising edges, release it after a falling edge.

    Also drives every ``*__valid``/``*__ready`` input of the DUT low first (the inputs are
    known from :func:`ports`), so no X reaches the design's handshakes. Returns after the falling edge that follows the release (drivers may start).
    """
    clk_h = getattr(dut, clk)
    await FallingEdge(clk_h)
    getattr(dut, rst).value = 1
    for h in _handshake_inputs(dut):
        h.value = 0
    for _ in range(cycles):
        await RisingEdge(clk_h)
    await FallingEdge(clk_h)
    getattr(dut, rst).value = 0


def ports() -> dict:
    """Top-level ports of the exported design: ``{name: {"dir": "i"|"o", "width": int}}``.

    Passed by ``run_cocotb`` as JSON in ``ATTNKIT_PORTS`` (from the Amaranth signature)."""
    return json.loads(os.environ.get(PORTS_ENV, "{}"))


def _handshake_inputs(dut):
    return [getattr(dut, name) for name, info in ports().items()
            if info["dir"] == "i" and (name.endswith("__valid") or name.endswith("__ready"))]


def _read(handle) -> int:
    v = handle.value
    if hasattr(v, "is_resolvable") and not v.is_resolvable:
        raise AssertionError(f"{handle._name} is not resolvable (X/Z): {v}")
    if hasattr(v, "to_unsigned"):
        return v.to_unsigned()
    return int(v)


def pack(value, layout=None) -> int:
    """Turn a payload (int / dict / list) into the flat unsigned bit pattern of the port."""
    if layout is None:
        return int(value)
    from amaranth.hdl import Shape
    from amaranth.lib import data
    if isinstance(layout, data.Layout):
        return layout.const(value).as_value().value & ((1 << layout.size) - 1)
    shape = Shape.cast(layout)
    return int(value) & ((1 << shape.width) - 1)


def unpack(bits: int, layout=None):
    """Inverse of :func:`pack`: flat bits to int / dict / list (signed fields signed)."""
    if layout is None:
        return int(bits)
    from amaranth.hdl import Shape
    from amaranth.lib import data
    if isinstance(layout, data.Layout):
        return to_python(layout.from_bits(bits))
    shape = Shape.cast(layout)
    if shape.signed and bits >> (shape.width - 1) & 1:
        return bits - (1 << shape.width)
    return bits


class _Port:
    def __init__(self, dut, prefix, clk):
        self.dut, self.prefix = dut, prefix
        self.clk = getattr(dut, clk)
        self.valid = getattr(dut, prefix + "__valid", None)
        self.ready = getattr(dut, prefix + "__ready", None)
        self.payload = getattr(dut, prefix + "__payload", None)
        if self.payload is None:
            raise AttributeError(f"DUT has no signal {prefix}__payload (is {prefix!r} a "
                                 f"stream port name?)")


class StreamSource(_Port):
    """Drives a DUT input stream ``<prefix>__valid/__payload`` and honours ``__ready``.

    Parameters
    ----------
    dut : cocotb handle of the toplevel
    prefix : str
        Port name, e.g. ``"i_stream"``.
    stalls : Stalls
        Seeded stall pattern: before each payload, the source idles (valid low) for as long
        as ``stalls.stall()`` returns True.
    layout : shape or Layout, optional
        Payload shape, for :func:`pack`.
    """

    def __init__(self, dut, prefix: str, stalls: Stalls = NO_STALLS, *, layout=None,
                 clk: str = "clk"):
        super().__init__(dut, prefix, clk)
        self.stalls, self.layout = stalls, layout
        self.sent = 0

    async def send(self, payloads, *, timeout_cycles: int = 100_000):
        """Send every payload in order; returns after the last transfer's rising edge.

        Must be started right after a falling edge (as :func:`reset` leaves it).
        """
        waited = 0
        for p in payloads:
            while self.stalls.stall():
                if self.valid is not None:
                    self.valid.value = 0
                await RisingEdge(self.clk)
                await FallingEdge(self.clk)
            self.payload.value = pack(p, self.layout)
            if self.valid is not None:
                self.valid.value = 1
            while True:
                await ReadOnly()
                ready = 1 if self.ready is None else _read(self.ready)
                await RisingEdge(self.clk)
                await FallingEdge(self.clk)
                if ready:
                    break
                waited += 1
                if waited > timeout_cycles:
                    raise AssertionError(
                        f"{self.prefix}: payload #{self.sent} not accepted within "
                        f"{timeout_cycles} cycles (stall seed {self.stalls.seed}, p={self.stalls.p})")
            self.sent += 1
        if self.valid is not None:
            self.valid.value = 0


class StreamSink(_Port):
    """Accepts from a DUT output stream ``<prefix>__valid/__payload``, driving ``__ready``.

    Each cycle ``ready`` is high unless ``stalls.stall()`` says to stall.
    """

    def __init__(self, dut, prefix: str, stalls: Stalls = NO_STALLS, *, layout=None,
                 clk: str = "clk"):
        super().__init__(dut, prefix, clk)
        self.stalls, self.layout = stalls, layout

    async def recv(self, count: int, *, timeout_cycles: int = 100_000) -> list:
        """Receive ``count`` payloads; returns after the last transfer's rising edge.

        Raises ``AssertionError`` if the DUT shows X/Z on valid, or on payload while valid,
        or if no transfer happens for ``timeout_cycles`` consecutive cycles.
        """
        out = []
        idle = 0
        while len(out) < count:
            ready = 0 if self.stalls.stall() else 1
            if self.ready is not None:
                self.ready.value = ready
            else:
                ready = 1
            await ReadOnly()
            valid = 1 if self.valid is None else _read(self.valid)
            bits = _read(self.payload) if (valid and ready) else None
            await RisingEdge(self.clk)
            await FallingEdge(self.clk)
            if bits is not None:
                out.append(unpack(bits, self.layout))
                idle = 0
            else:
                idle += 1
                if idle > timeout_cycles:
                    raise AssertionError(
                        f"{self.prefix}: got {len(out)} of {count} payloads, then nothing for "
                        f"{timeout_cycles} cycles (stall seed {self.stalls.seed}, p={self.stalls.p})")
        if self.ready is not None:
            self.ready.value = 0
        return out


async def stream_through(dut, payloads, count: int, *, p: float = 0.0, seed: int | None = None,
                         i_port: str = "i_stream", o_port: str = "o_stream", i_layout=None,
                         o_layout=None, timeout_cycles: int = 100_000) -> list:
    """Send ``payloads`` into ``i_port`` and collect ``count`` payloads from ``o_port``.

    The one-liner for "run these payloads with random stalls": the source and the sink get
    independent seeded stall patterns with probability ``p`` (seed defaults to
    :func:`run_seed`). Starts the clock and resets the DUT first, so call it at the start of
    a cocotb test. Returns the received payloads (unpacked with ``o_layout``).
    """
    seed = run_seed() if seed is None else seed
    start_clock(dut)
    await reset(dut)
    src = StreamSource(dut, i_port, Stalls(seed, p), layout=i_layout)
    snk = StreamSink(dut, o_port, Stalls(seed, p).fork(1), layout=o_layout)
    sender = cocotb.start_soon(src.send(payloads, timeout_cycles=timeout_cycles))
    got = await snk.recv(count, timeout_cycles=timeout_cycles)
    await sender
    return got
