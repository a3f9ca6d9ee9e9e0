"""End to end in simulation: the host driver talks to the simulated accelerator system through
its UART pins (bit-banged by the simulator transport) and the results match the golden models.
"""

import numpy as np
import pytest

from attnkit.boards.host import Board, DeviceError, LinkTimeout
from attnkit.golden import hostlink as hl
from attnkit.golden.gemv import gemv
from attnkit.golden.attention import Selection, engine
from attnkit.golden.softmax import SoftmaxConfig, softmax_fixed

S = hl.Status


def test_gemv_end_to_end():
    rng = np.random.default_rng(2026)
    M, N, lanes = 12, 20, 8
    W = rng.integers(-128, 128, size=(M, N))
    x = rng.integers(-128, 128, size=N)
    with Board.simulate(lanes=lanes, divisor=4) as acc:
        info = acc.info()
        assert (info["lanes"], info["engines"], info["requant"]) == (lanes, 1, False)
        y = acc.gemv(W, x)
        np.testing.assert_array_equal(y, gemv(W, x))
        c = acc.last_counters
        assert c.rows == M
        # ceil(12/8) = 2 tiles of N weight beats, at most one beat per cycle, plus latency
        assert 2 * N <= c.cycles <= 2 * N + 60
        assert acc.counters() == c


def test_gemv_requant_end_to_end():
    rng = np.random.default_rng(7)
    M, N = 9, 16
    W = rng.integers(-128, 128, size=(M, N))
    x = rng.integers(-128, 128, size=N)
    rq = (30001, 21)
    with Board.simulate(lanes=8, divisor=4, requant=True) as acc:
        y = acc.gemv(W, x, requant=rq)
        np.testing.assert_array_equal(y, gemv(W, x, requant=rq))
        assert acc.last_counters.rows == M
        with pytest.raises(ValueError, match="requant=\\(mult, shift\\) is required"):
            acc.gemv(W, x)


def test_malformed_frames_and_recovery():
    with Board.simulate(lanes=8, divisor=4) as acc:
        acc.write(hl.MEM_X, b"\x05\x06\x07")
        good = hl.encode_command(hl.Cmd.WRITE, hl.MEM_X.to_bytes(3, "little") + b"\xAA\xBB")

        bad_crc = bytearray(good)
        bad_crc[-2] ^= 0x01
        acc.send_raw(bad_crc)
        assert acc.read_reply() == (S.ERR_CRC, b"")

        acc.send_raw(good[:5] + good[6:])                       # a dropped byte
        assert acc.read_reply() == (S.ERR_TIMEOUT, b"")

        acc.send_raw(b"\x42" + good)                            # junk before a frame
        assert acc.read_reply() == (S.ERR_SYNC, b"")

        acc.send_raw(hl.encode_command(hl.Cmd.PING, bytes(70)))  # above max_payload (64)
        assert acc.read_reply() == (S.ERR_LENGTH, b"")

        # none of the bad frames wrote anything, and the link works again
        assert acc.read(hl.MEM_X, 3) == b"\x05\x06\x07"
        assert acc.ping()["version"] == hl.VERSION

        # error replies through the driver API raise with the device's meaning
        with pytest.raises(DeviceError, match="ERR_COMMAND to 0x7F: unknown command"):
            acc.transact(0x7F)
        with pytest.raises(DeviceError, match="ERR_BUS to READ: bus error"):
            acc.read(0x0F0000, 4)
        acc.write(hl.MEM_X, b"\x01")
        assert acc.read(hl.MEM_X, 1) == b"\x01"


def test_host_timeout_is_clear_and_recovers():
    with Board.simulate(lanes=8, divisor=4) as acc:
        acc.ping()
        normal = acc.timeout
        acc.timeout = acc.transport.seconds(30)                # far less than one reply
        with pytest.raises(LinkTimeout, match=r"no reply within 30 simulated cycles .*"
                                              r"expected 4 bytes, got 0"):
            acc.ping()
        acc.timeout = normal
        assert acc.ping()["version"] == hl.VERSION             # the late reply was drained


def test_driver_checks_and_missing_engine():
    with Board.simulate(lanes=8, divisor=4, max_m=16) as acc:
        with pytest.raises(ValueError, match="M must be in 1..16 on this device, not 17"):
            acc.gemv(np.zeros((17, 4), int), np.zeros(4, int))
        with pytest.raises(ValueError, match="x codes must be int8, not 0..200"):
            acc.gemv(np.zeros((2, 2), int), np.array([0, 200]))
        with pytest.raises(NotImplementedError, match="no attention engine"):
            acc.attention(np.zeros(4), np.zeros((2, 4)), np.zeros((2, 4)), score_mult=1,
                          score_shift=6, out_mult=1, out_shift=15)


def test_softmax_end_to_end():
    cfg = SoftmaxConfig()                         # s7.8 logits -> u0.8 probabilities
    rng = np.random.default_rng(11)
    R, L = 3, 10
    x = rng.integers(-6 * 256, 6 * 256, size=(R, L))
    mask = rng.random((R, L)) < 0.25
    mask[1] = True                                # a fully masked row: all zeros, flagged
    with Board.simulate(lanes=4, divisor=4, max_n=16, max_m=16, w_words=16,
                        softmax={"cfg": cfg, "l_max": 12, "depth": 32}) as acc:
        assert acc.info()["engines"] == 0b11
        p, flags = acc.softmax(x, mask)
        want_p, want_flags = softmax_fixed(x, mask, cfg)
        np.testing.assert_array_equal(p, want_p)
        np.testing.assert_array_equal(flags, want_flags)
        assert flags.tolist() == [False, True, False] and not p[1].any()
        assert acc.last_counters.rows == R
        # both engines on one link: the GEMV engine still works after the softmax job
        W = rng.integers(-128, 128, size=(5, 6))
        v = rng.integers(-128, 128, size=6)
        np.testing.assert_array_equal(acc.gemv(W, v), gemv(W, v))
        # the device refuses bad parameters: rows longer than l_max (12) ...
        base = hl.engine_base(hl.Engine.SOFTMAX)
        acc.write_reg(base + hl.SoftmaxReg.LEN, 13)
        acc.write_reg(base + hl.SoftmaxReg.NROWS, 1)
        with pytest.raises(DeviceError, match="ERR_BUS to START"):
            acc.start(hl.Engine.SOFTMAX)
        # ... R * L above the memory depth (32), and elements past the input memory
        acc.write_reg(base + hl.SoftmaxReg.LEN, 11)
        acc.write_reg(base + hl.SoftmaxReg.NROWS, 3)
        with pytest.raises(DeviceError, match="ERR_BUS to START"):
            acc.start(hl.Engine.SOFTMAX)
        with pytest.raises(DeviceError, match="ERR_BUS to WRITE"):
            acc.write(hl.SOFTMAX_IN + 4 * 32, b"\x00")


ATT = {"d": 8, "lanes": 4, "t_max": 8, "k_max": 4, "block": 4}
RQ = {"score_mult": 1, "score_shift": 6, "out_mult": 1, "out_shift": 15}


@pytest.mark.parametrize("mode,args", [("causal", {}), ("topk", {"k": 3})])
def test_attention_end_to_end(mode, args):
    rng = np.random.default_rng(21 if mode == "causal" else 22)
    T, d = 7, ATT["d"]
    q = rng.integers(-128, 128, size=d)
    K = rng.integers(-128, 128, size=(T, d))
    V = rng.integers(-128, 128, size=(T, d))
    pos = 4
    with Board.simulate(lanes=4, divisor=4, max_n=16, max_m=16, w_words=16,
                        attention=ATT) as acc:
        o, empty = acc.attention(q, K, V, mode=mode, pos=pos, **RQ, **args)
        want = engine(q, K, V, Selection(mode=mode, **args), pos, **RQ)
        np.testing.assert_array_equal(o, want.o)
        assert empty == bool(want.all_masked)
        rows = acc.last_attention_rows
        assert (rows["k_rows"], rows["k4_rows"], rows["v_rows"]) == \
            (int(want.k_rows), int(want.k4_rows), int(want.v_rows))
        # skipped keys cost no V reads: causal keeps pos + 1 rows, top-k keeps k
        assert rows["v_rows"] == (pos + 1 if mode == "causal" else args["k"])
        assert acc.last_counters.cycles > 0


def test_serial_transport_errors_are_clear():
    # pyserial's loop:// echoes what is sent: the driver sees its own command frame come
    # back instead of a reply, and says so; with nothing sent, a read times out clearly.
    from attnkit.boards.host import ProtocolError
    with Board.open("loop://", baud=115200, timeout=0.2) as acc:
        with pytest.raises(ProtocolError, match="reply starts with 0xA5, not 0x5A"):
            acc.ping()
        with pytest.raises(LinkTimeout, match=r"no reply within 0.05 s on serial port loop:// "
                                              r"at 115200 baud \(expected 4 bytes, got 0\)"):
            acc.transport.read(4, 0.05)
