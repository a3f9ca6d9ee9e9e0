"""Host link: protocol spec (pure Python) and the HostBridge + GemvAccelerator gateware.

The gateware tests feed command frames straight into the bridge's byte stream (no UART, so
they are fast) and check every reply against :mod:`attnkit.golden.hostlink`; the GEMV result
is checked against :func:`attnkit.golden.gemv.gemv`.
"""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib.wiring import connect

from attnkit.golden import hostlink as hl
from attnkit.golden.gemv import gemv, weight_beats
from attnkit.hdl.accelerator import GemvAccelerator
from attnkit.hdl.host_bridge import HostBridge
from attnkit.sim.streams import stream_get, run_simulation

S = hl.Status
C = hl.Cmd
GEMV = hl.engine_base(hl.Engine.GEMV)


# ------------------------------------------------------------------ protocol spec (pure Python)

def test_crc16_check_value():
    # the published check value of CRC-16/CCITT-FALSE
    assert hl.crc16(b"123456789") == 0x29B1
    assert hl.crc16(b"") == 0xFFFF


def test_frame_roundtrip_and_errors():
    frame = hl.encode_command(C.WRITE, b"\x00\x00\x20\x01\x02")
    assert frame[0] == 0xA5 and frame[2:4] == b"\x05\x00"
    assert hl.decode_command(frame) == (C.WRITE, b"\x00\x00\x20\x01\x02")
    bad = bytearray(frame)
    bad[5] ^= 0x10
    with pytest.raises(hl.FrameError, match="CRC") as e:
        hl.decode_command(bytes(bad))
    assert e.value.status == S.ERR_CRC
    with pytest.raises(hl.FrameError) as e:
        hl.decode_command(frame[:-1])
    assert e.value.status == S.ERR_TIMEOUT
    with pytest.raises(hl.FrameError) as e:
        hl.decode_command(b"\x00" + frame[1:])
    assert e.value.status == S.ERR_SYNC
    with pytest.raises(hl.FrameError) as e:
        hl.decode_command(hl.encode_command(C.WRITE, bytes(20)), max_payload=16)
    assert e.value.status == S.ERR_LENGTH
    assert hl.decode_reply(hl.encode_reply(S.ERR_BUS)) == (S.ERR_BUS, b"")
    with pytest.raises(ValueError, match="cmd must be a byte, not 256"):
        hl.encode_command(256)


# ------------------------------------------------------------------ gateware

LANES = 8
MAX_PAYLOAD = 64
TIMEOUT = 40


def make_dut(requant=False):
    m = Module()
    m.submodules.bridge = bridge = HostBridge(max_payload=MAX_PAYLOAD, timeout=TIMEOUT)
    m.submodules.accel = accel = GemvAccelerator(lanes=LANES, max_n=32, max_m=24, w_words=80,
                                                 requant=requant)
    connect(m, bridge.bus, accel.bus)
    return m, bridge, accel


class Link:
    """Testbench-side helper: send raw bytes into the bridge, collect one reply frame."""

    def __init__(self, ctx, bridge):
        self.ctx, self.bridge = ctx, bridge

    async def send(self, data):
        ctx, i = self.ctx, self.bridge.i_stream
        for b in data:
            ctx.set(i.payload, b)
            ctx.set(i.valid, 1)
            await ctx.tick()
        ctx.set(i.valid, 0)

    async def reply(self):
        head = [await stream_get(self.ctx, self.bridge.o_stream) for _ in range(4)]
        rest = [await stream_get(self.ctx, self.bridge.o_stream)
                for _ in range(hl.reply_length(bytes(head)) - 4)]
        return hl.decode_reply(bytes(head + rest))

    async def cmd(self, cmd, payload=b""):
        await self.send(hl.encode_command(cmd, payload))
        return await self.reply()

    async def write(self, addr, data):
        return await self.cmd(C.WRITE, addr.to_bytes(3, "little") + bytes(data))

    async def read(self, addr, count):
        return await self.cmd(C.READ, addr.to_bytes(3, "little") + count.to_bytes(2, "little"))

    async def write32(self, addr, value):
        return await self.write(addr, int(value).to_bytes(4, "little"))

    async def ping_ok(self):
        status, payload = await self.cmd(C.PING)
        assert status == S.OK
        assert payload == b"AK" + bytes([hl.VERSION]) + MAX_PAYLOAD.to_bytes(2, "little")


def test_ping_registers_and_memory():
    dut, bridge, accel = make_dut()

    async def tb(ctx):
        link = Link(ctx, bridge)
        await link.ping_ok()
        status, payload = await link.read(hl.Reg.ID, 4)
        assert (status, payload) == (S.OK, b"ATK1")
        status, payload = await link.read(hl.Reg.LANES, 4)
        assert int.from_bytes(payload, "little") == LANES
        assert await link.write32(GEMV + hl.EngineReg.M, 0x1234) == (S.OK, b"")
        assert await link.read(GEMV + hl.EngineReg.M, 4) == (S.OK, b"\x34\x12\x00\x00")
        data = bytes(range(100, 130))
        assert await link.write(hl.MEM_X, data) == (S.OK, b"")
        assert await link.read(hl.MEM_X + 3, 20) == (S.OK, data[3:23])

    run_simulation(dut, [tb], deadline_cycles=20000)


def _gemv_session(link, W, x, requant=None):
    """Coroutine: load W and x, run, return (cycles, rows, y)."""
    async def run():
        M, N = W.shape
        beats = weight_beats(W, LANES).astype(np.int64)
        wbytes = (beats & 0xFF).astype(np.uint8).tobytes()
        for off in range(0, len(wbytes), MAX_PAYLOAD - 3):
            assert await link.write(hl.MEM_W + off, wbytes[off:off + MAX_PAYLOAD - 3]) == \
                (S.OK, b"")
        assert await link.write(hl.MEM_X, (np.asarray(x) & 0xFF).astype(np.uint8).tobytes()) \
            == (S.OK, b"")
        await link.write32(GEMV + hl.EngineReg.M, M)
        await link.write32(GEMV + hl.EngineReg.N, N)
        if requant is not None:
            await link.write32(GEMV + hl.EngineReg.REQ_MULT, requant[0])
            await link.write32(GEMV + hl.EngineReg.REQ_SHIFT, requant[1])
        assert await link.cmd(C.START, b"\x00") == (S.OK, b"")
        status, payload = await link.cmd(C.WAIT, b"\x00" + (10000).to_bytes(4, "little"))
        assert status == S.OK
        cycles = int.from_bytes(payload[:4], "little")
        rows = int.from_bytes(payload[4:], "little")
        assert await link.cmd(C.COUNTERS, b"\x00") == (S.OK, payload)
        status, ybytes = await link.read(hl.MEM_Y, 4 * M)
        assert status == S.OK
        y = np.frombuffer(ybytes, dtype="<i4").astype(np.int64)
        return cycles, rows, y
    return run()


@pytest.mark.parametrize("requant", [False, True])
def test_gemv_through_bridge(requant):
    rng = np.random.default_rng(5 + requant)
    M, N = 12, 20
    W = rng.integers(-128, 128, size=(M, N))
    x = rng.integers(-128, 128, size=N)
    rq = (23000, 20) if requant else None
    dut, bridge, accel = make_dut(requant=requant)
    result = {}

    async def tb(ctx):
        link = Link(ctx, bridge)
        result["out"] = await _gemv_session(link, W, x, rq)
        # STATUS: not busy, done
        assert await link.read(GEMV + hl.EngineReg.STATUS, 1) == (S.OK, bytes([2]))

    run_simulation(dut, [tb], deadline_cycles=40000)
    cycles, rows, y = result["out"]
    np.testing.assert_array_equal(y, gemv(W, x, requant=rq))
    assert rows == M
    # 2 tiles x N weight beats at most one per cycle, plus pipeline latency
    assert 2 * N <= cycles <= 2 * N + 60


def test_errors_and_recovery():
    dut, bridge, accel = make_dut()

    async def tb(ctx):
        link = Link(ctx, bridge)
        ok = hl.encode_command(C.WRITE, hl.MEM_X.to_bytes(3, "little") + b"\x11\x22")
        assert await link.write(hl.MEM_X, b"\x01\x02") == (S.OK, b"")

        # wrong CRC: error, and nothing written
        bad = bytearray(ok)
        bad[-1] ^= 0x5A
        await link.send(bad)
        assert await link.reply() == (S.ERR_CRC, b"")
        assert await link.read(hl.MEM_X, 2) == (S.OK, b"\x01\x02")
        # corrupted data byte (CRC catches it)
        bad = bytearray(ok)
        bad[8] ^= 0x01
        await link.send(bad)
        assert await link.reply() == (S.ERR_CRC, b"")
        assert await link.read(hl.MEM_X, 2) == (S.OK, b"\x01\x02")

        # dropped byte: the frame never completes -> timeout error, nothing written
        await link.send(ok[:6] + ok[7:])
        assert await link.reply() == (S.ERR_TIMEOUT, b"")
        assert await link.read(hl.MEM_X, 2) == (S.OK, b"\x01\x02")

        # garbage before a frame: discarded until the line is quiet, one ERR_SYNC reply
        await link.send(b"\x00\x13\x37" + ok)
        assert await link.reply() == (S.ERR_SYNC, b"")
        assert await link.read(hl.MEM_X, 2) == (S.OK, b"\x01\x02")

        # oversized length
        await link.send(hl.encode_command(C.WRITE, bytes(MAX_PAYLOAD + 1)))
        assert await link.reply() == (S.ERR_LENGTH, b"")

        # unknown command, bad argument lengths, read count limits
        assert await link.cmd(0x7E) == (S.ERR_COMMAND, b"")
        assert await link.cmd(C.PING, b"\x00") == (S.ERR_ARGS, b"")
        assert await link.cmd(C.WRITE, b"\x00\x00\x20") == (S.ERR_ARGS, b"")
        assert await link.cmd(C.READ, b"\x00\x00\x20\x01") == (S.ERR_ARGS, b"")
        assert await link.read(hl.MEM_X, 0) == (S.ERR_ARGS, b"")
        assert await link.read(hl.MEM_X, MAX_PAYLOAD + 1) == (S.ERR_ARGS, b"")
        assert await link.cmd(C.START, b"") == (S.ERR_ARGS, b"")

        # bus errors: unmapped, read-only, W readback, x past its depth, bad start params
        assert await link.read(0x0000F0, 4) == (S.ERR_BUS, b"")
        assert await link.read(0x900000, 1) == (S.ERR_BUS, b"")
        assert await link.write32(hl.Reg.ID, 0) == (S.ERR_BUS, b"")
        assert await link.read(hl.MEM_W, 1) == (S.ERR_BUS, b"")
        assert await link.read(hl.MEM_X + 30, 4) == (S.ERR_BUS, b"")   # depth 32
        assert await link.cmd(C.START, b"\x05") == (S.ERR_BUS, b"")    # no engine 5
        await link.write32(GEMV + hl.EngineReg.M, 0)
        await link.write32(GEMV + hl.EngineReg.N, 4)
        assert await link.cmd(C.START, b"\x00") == (S.ERR_BUS, b"")    # M = 0
        await link.write32(GEMV + hl.EngineReg.M, 24)
        await link.write32(GEMV + hl.EngineReg.N, 32)
        assert await link.cmd(C.START, b"\x00") == (S.ERR_BUS, b"")    # 3*32 W words > 80
        await link.write32(GEMV + hl.EngineReg.N, 33)
        await link.write32(GEMV + hl.EngineReg.M, 1)
        assert await link.cmd(C.START, b"\x00") == (S.ERR_BUS, b"")    # N > max_n
        await link.ping_ok()

    run_simulation(dut, [tb], deadline_cycles=30000)


def test_wait_timeout_and_busy():
    dut, bridge, accel = make_dut()

    async def tb(ctx):
        link = Link(ctx, bridge)
        await link.write32(GEMV + hl.EngineReg.M, 16)
        await link.write32(GEMV + hl.EngineReg.N, 32)
        assert await link.cmd(C.START, b"\x00") == (S.OK, b"")
        # the job needs > 2*32 cycles: a 5-cycle budget runs out, the engine stays busy
        assert await link.cmd(C.WAIT, b"\x00" + (5).to_bytes(4, "little")) == \
            (S.ERR_WAIT_TIMEOUT, b"")
        assert await link.read(hl.MEM_X, 1) == (S.ERR_BUS, b"")          # busy
        assert await link.cmd(C.START, b"\x00") == (S.ERR_BUS, b"")      # busy
        status, payload = await link.cmd(C.WAIT, b"\x00" + (5000).to_bytes(4, "little"))
        assert status == S.OK
        assert int.from_bytes(payload[4:], "little") == 16

    run_simulation(dut, [tb], deadline_cycles=20000)


def test_constructor_errors():
    with pytest.raises(ValueError, match="max_payload must be an int in 8..65535, not 4"):
        HostBridge(max_payload=4)
    with pytest.raises(ValueError, match="timeout must be an int >= 2 cycles, not 1"):
        HostBridge(timeout=1)
    with pytest.raises(ValueError, match="lanes must be a power of two, not 12"):
        GemvAccelerator(lanes=12)
    with pytest.raises(ValueError, match="acc_width must be in 18..32, not 40"):
        GemvAccelerator(acc_width=40)
