"""Host link protocol: the specification shared by the gateware, the host driver and the tests.

Pure Python (no Amaranth, no NumPy needed). The gateware in :mod:`attnkit.hdl.host_bridge`
implements the device side of this protocol; :mod:`attnkit.boards.host` is the host side.

Framing
-------
Every exchange is one *command frame* from the host followed by exactly one *reply frame*
from the device. Multi-byte fields are little endian.

Command frame (host -> device)::

    0xA5 | cmd (1) | len (2, LE) | payload (len bytes) | crc (2, big endian)

Reply frame (device -> host)::

    0x5A | status (1) | len (2, LE) | payload (len bytes) | crc (2, big endian)

``crc`` is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection,
no final XOR; check value ``crc16(b"123456789") == 0x29B1``) computed over every byte after
the sync byte and before the CRC itself (``cmd``/``status``, ``len`` and ``payload``).

Error handling (device side)
----------------------------
* A byte other than ``0xA5`` where a frame must start, a ``len`` above the device's
  ``max_payload``: the device enters *discard* mode, swallowing bytes until the line has been
  quiet for ``timeout`` cycles, then sends one reply with :attr:`Status.ERR_SYNC` or
  :attr:`Status.ERR_LENGTH` and an empty payload. This resynchronises the link: the host
  waits for that reply before sending the next frame.
* A frame that stops mid-way (a dropped byte): after ``timeout`` quiet cycles the device
  abandons it and replies :attr:`Status.ERR_TIMEOUT`.
* A CRC mismatch: :attr:`Status.ERR_CRC`; the command is **not** executed. Write data is held
  in a frame buffer and only committed after the CRC has been checked, so a corrupted frame
  never writes anything.
* A well-formed frame with an unknown command, a payload of the wrong length for its command,
  or a read count above ``max_payload``: :attr:`Status.ERR_COMMAND` / :attr:`Status.ERR_ARGS`.
* A bus access to an unmapped or read-only address, to the memories of a busy engine, or a
  start with invalid engine parameters: :attr:`Status.ERR_BUS`. Reads are checked over the
  whole range before the reply starts; a write stops at the first failing byte (bytes before
  it are written).
* ``WAIT`` that runs out of its cycle budget: :attr:`Status.ERR_WAIT_TIMEOUT`.

Commands
--------
========  ====  ==================================  ==========================================
name      code  payload                              reply payload
========  ====  ==================================  ==========================================
PING      0x01  (none)                              ``b"AK"``, version, max_payload (2, LE)
WRITE     0x02  addr (3) + data (1..max_payload-3)  (none)
READ      0x03  addr (3) + count (2), 1..max_pl     count bytes
START     0x04  engine (1)                          (none); = write 0x01 to the engine's CTRL
WAIT      0x05  engine (1) + max_cycles (4)         cycles (4) + rows (4) of the finished job
COUNTERS  0x06  engine (1)                          cycles (4) + rows (4)
========  ====  ==================================  ==========================================

Address map (byte addresses, 24 bits)
-------------------------------------
Registers are 32-bit little endian words, accessed byte by byte; reads have no side effects.

* ``0x000000`` global registers: ``ID`` (``0x314B5441`` = ``b"ATK1"``), ``ENGINES`` (bit e set
  when engine e is present), ``LANES``, ``W_WORDS``, ``X_DEPTH``, ``Y_DEPTH``,
  ``WEIGHT_BITS``, ``FLAGS`` (bit 0: GEMV output requantized to int8).
* ``0x000100 * (e + 1)``: register block of engine ``e``: ``CTRL`` (+0x00, write bit 0 to
  start; reads 0), ``STATUS`` (+0x04: bit 0 busy, bit 1 done since the last start),
  ``CYCLES`` (+0x08, cycles of the last job), ``ROWS`` (+0x0C, output rows of the last job),
  then engine parameters from +0x10 (GEMV: ``M``, ``N``, ``REQ_MULT``, ``REQ_SHIFT``).
* GEMV memories: ``MEM_W`` (``0x100000``, word ``t*N + n`` holds ``W[t*lanes + p, n]`` in
  byte ``p`` of the word; word ``w`` starts at byte ``w * lanes``), ``MEM_X`` (``0x200000``,
  one int8 per byte), ``MEM_Y`` (``0x300000``, one 32-bit little-endian signed word per
  output row, sign-extended when requantized).
* Engine 1 (softmax, optional in a build): registers ``LEN`` (+0x10) and ``NROWS`` (+0x14),
  memories ``SOFTMAX_IN`` (``0x400000``) and ``SOFTMAX_OUT`` (``0x500000``), 4 bytes per
  element (see the constants). Engine 2 (attention, optional): :class:`AttentionReg`,
  memories ``ATT_K``/``ATT_V``/``ATT_Q``/``ATT_OUT`` (``0x600000``..``0x7FFFFF``).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "SYNC_CMD", "SYNC_REPLY", "VERSION", "ADDR_BYTES", "Cmd", "Status", "Engine", "Reg",
    "EngineReg", "SoftmaxReg", "MEM_W", "MEM_X", "MEM_Y", "SOFTMAX_IN", "SOFTMAX_OUT",
    "AttentionReg", "ATT_K", "ATT_V", "ATT_Q", "ATT_OUT", "ID_MAGIC", "crc16", "encode_command",
    "decode_command", "encode_reply", "decode_reply", "FrameError", "engine_base",
]

SYNC_CMD = 0xA5
SYNC_REPLY = 0x5A
VERSION = 1
ADDR_BYTES = 3
ID_MAGIC = int.from_bytes(b"ATK1", "little")


class Cmd(IntEnum):
    PING = 0x01
    WRITE = 0x02
    READ = 0x03
    START = 0x04
    WAIT = 0x05
    COUNTERS = 0x06


class Status(IntEnum):
    OK = 0x00
    ERR_SYNC = 0x01
    ERR_LENGTH = 0x02
    ERR_CRC = 0x03
    ERR_TIMEOUT = 0x04
    ERR_COMMAND = 0x05
    ERR_ARGS = 0x06
    ERR_BUS = 0x07
    ERR_WAIT_TIMEOUT = 0x08


STATUS_TEXT = {
    Status.OK: "ok",
    Status.ERR_SYNC: "frame did not start with the sync byte 0xA5 (bytes discarded)",
    Status.ERR_LENGTH: "frame length above the device's max_payload (frame discarded)",
    Status.ERR_CRC: "CRC mismatch (command not executed)",
    Status.ERR_TIMEOUT: "frame incomplete: the line went quiet mid-frame (dropped byte?)",
    Status.ERR_COMMAND: "unknown command code",
    Status.ERR_ARGS: "payload length or count invalid for this command",
    Status.ERR_BUS: "bus error: unmapped or read-only address, engine busy, or bad parameters",
    Status.ERR_WAIT_TIMEOUT: "engine not done within the WAIT cycle budget",
}


class Engine(IntEnum):
    GEMV = 0
    SOFTMAX = 1
    ATTENTION = 2


class Reg(IntEnum):
    """Global registers (byte addresses of 32-bit words)."""
    ID = 0x00
    ENGINES = 0x04
    LANES = 0x08
    W_WORDS = 0x0C
    X_DEPTH = 0x10
    Y_DEPTH = 0x14
    WEIGHT_BITS = 0x18
    FLAGS = 0x1C


class EngineReg(IntEnum):
    """Offsets inside an engine's register block (see :func:`engine_base`)."""
    CTRL = 0x00
    STATUS = 0x04
    CYCLES = 0x08
    ROWS = 0x0C
    # GEMV parameters
    M = 0x10
    N = 0x14
    REQ_MULT = 0x18
    REQ_SHIFT = 0x1C


STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1

MEM_W = 0x100000
MEM_X = 0x200000
MEM_Y = 0x300000

#: Softmax engine (engine 1) memories: input element ``i`` at ``SOFTMAX_IN + 4*i`` (bytes 0-1:
#: logit code, little endian, two's complement; byte 2 bit 0: mask; byte 3 unused), output
#: element ``i`` at ``SOFTMAX_OUT + 4*i`` (bytes 0-1: probability code; byte 2 bit 0: the row
#: was fully masked).
SOFTMAX_IN = 0x400000
SOFTMAX_OUT = 0x500000


class SoftmaxReg(IntEnum):
    """Softmax engine parameters inside its register block."""
    LEN = 0x10       # row length L
    NROWS = 0x14     # rows R


#: Attention engine (engine 2) memories, byte addressed: ``ATT_K + row*d + i`` and
#: ``ATT_V + row*d + i`` (int8; a row's ``lanes``-byte word goes to the engine when its last
#: byte is written), ``ATT_Q + i`` (int8 query), ``ATT_OUT + 2*i`` (byte 0: output int8,
#: byte 1 bit 0: the query kept no key).
ATT_K = 0x600000
ATT_V = 0x680000
ATT_Q = 0x700000
ATT_OUT = 0x780000


class AttentionReg(IntEnum):
    """Attention engine registers inside its block (``ROWS`` holds ``k_rows``). The job
    registers are the ports of :class:`attnkit.hdl.attention.AttentionEngine` (see
    :func:`attnkit.hdl.attention.job_ports`); the capability registers are read-only."""
    MODE = 0x10
    CAUSAL = 0x14
    T_LEN = 0x18
    POS = 0x1C
    WINDOW = 0x20
    N_GLOBAL = 0x24
    BLOCK_ROW = 0x28
    K = 0x2C
    THRESHOLD = 0x30
    USE_THRESHOLD = 0x34
    SCORE_MULT = 0x38
    SCORE_SHIFT = 0x3C
    OUT_MULT = 0x40
    OUT_SHIFT = 0x44
    K_ROWS = 0x48
    K4_ROWS = 0x4C
    V_ROWS = 0x50
    D = 0x60
    LANES = 0x64
    T_MAX = 0x68
    K_MAX = 0x6C
    BLOCK = 0x70
    PRED_WIDTH = 0x74


def engine_base(engine: int) -> int:
    """Byte address of engine ``engine``'s register block."""
    return 0x100 * (int(engine) + 1)


class FrameError(Exception):
    """A frame could not be decoded. ``status`` is the error code the device would send."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = Status(status)


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF, no reflection, xorout 0)."""
    for byte in bytes(data):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _frame(sync: int, code: int, payload: bytes) -> bytes:
    payload = bytes(payload)
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload length must be <= 65535, not {len(payload)}")
    body = bytes([code]) + len(payload).to_bytes(2, "little") + payload
    return bytes([sync]) + body + crc16(body).to_bytes(2, "big")


def encode_command(cmd: int, payload: bytes = b"") -> bytes:
    """The command frame for ``cmd`` with ``payload``."""
    if not 0 <= int(cmd) <= 0xFF:
        raise ValueError(f"cmd must be a byte, not {cmd!r}")
    return _frame(SYNC_CMD, int(cmd), payload)


def encode_reply(status: int, payload: bytes = b"") -> bytes:
    """The reply frame with ``status`` and ``payload``."""
    if not 0 <= int(status) <= 0xFF:
        raise ValueError(f"status must be a byte, not {status!r}")
    return _frame(SYNC_REPLY, int(status), payload)


def _decode(frame: bytes, sync: int, max_payload: int | None):
    frame = bytes(frame)
    if len(frame) < 1 or frame[0] != sync:
        raise FrameError(Status.ERR_SYNC, f"frame must start with 0x{sync:02X}, "
                         f"got {frame[:1].hex() or 'nothing'}")
    if len(frame) < 4:
        raise FrameError(Status.ERR_TIMEOUT, f"frame header incomplete ({len(frame)} bytes)")
    length = int.from_bytes(frame[2:4], "little")
    if max_payload is not None and length > max_payload:
        raise FrameError(Status.ERR_LENGTH, f"length {length} above max_payload {max_payload}")
    if len(frame) < 4 + length + 2:
        raise FrameError(Status.ERR_TIMEOUT,
                         f"frame incomplete: {len(frame)} of {4 + length + 2} bytes")
    if len(frame) > 4 + length + 2:
        raise FrameError(Status.ERR_SYNC, f"{len(frame) - (4 + length + 2)} trailing bytes")
    body = frame[1:4 + length]
    got = int.from_bytes(frame[4 + length:], "big")
    want = crc16(body)
    if got != want:
        raise FrameError(Status.ERR_CRC, f"CRC 0x{got:04X} != computed 0x{want:04X}")
    return frame[1], frame[4:4 + length]


def decode_command(frame: bytes, max_payload: int | None = None) -> tuple[int, bytes]:
    """``(cmd, payload)`` of a complete command frame, or :class:`FrameError`."""
    return _decode(frame, SYNC_CMD, max_payload)


def decode_reply(frame: bytes) -> tuple[Status | int, bytes]:
    """``(status, payload)`` of a complete reply frame, or :class:`FrameError`."""
    status, payload = _decode(frame, SYNC_REPLY, None)
    try:
        status = Status(status)
    except ValueError:
        pass
    return status, payload


def reply_length(header: bytes) -> int:
    """Total reply frame length given its first 4 bytes."""
    if len(header) < 4:
        raise ValueError(f"header must have 4 bytes, not {len(header)}")
    return 4 + int.from_bytes(header[2:4], "little") + 2
