"""Host driver for the attnkit accelerator: one API, two transports (serial port, simulator).

::

    from attnkit.boards.host import Board

    with Board.open("/dev/ttyUSB0", baud=1_000_000) as acc:     # a programmed board
        y = acc.gemv(W, x)

    with Board.simulate(lanes=8) as acc:                         # the same gateware, simulated
        y = acc.gemv(W, x)
        print(acc.last_counters)                                 # cycles and rows of the job

The protocol (frames, CRC, commands, address map) is :mod:`attnkit.golden.hostlink`. Every
call sends one command frame and waits for its reply. An error reply raises
:class:`DeviceError` (with the device's status code and its meaning); no reply within the
transport's timeout raises :class:`LinkTimeout`. After either, the driver drains the line
(waits until the device has been quiet for longer than its own frame timeout and discards
what arrived), so the next call starts on a clean link.

The simulator transport (:class:`SimTransport`) runs Amaranth's simulator on
:class:`attnkit.hdl.accelerator.AcceleratorSystem` and moves bytes through its UART pins:
a background testbench bit-bangs the ``rx`` pin from a queue, another decodes ``tx`` into a
queue, and :meth:`SimTransport.read` advances simulated time until enough bytes arrived or
the timeout (in simulated seconds) runs out. Cycle counts are exactly those of the hardware.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from attnkit.golden import hostlink as hl
from attnkit.golden.gemv import weight_beats

__all__ = ["Board", "SerialTransport", "SimTransport", "HostLinkError", "DeviceError",
           "LinkTimeout", "ProtocolError", "Counters", "uart_frame_bits"]


class HostLinkError(Exception):
    """Base class of host-link failures."""


class DeviceError(HostLinkError):
    """The device answered with an error status."""

    def __init__(self, status, command):
        self.status = status
        text = hl.STATUS_TEXT.get(status, "unknown status code")
        name = hl.Status(status).name if status in hl.Status._value2member_map_ else \
            f"0x{int(status):02X}"
        try:
            cname = hl.Cmd(command).name
        except ValueError:
            cname = f"0x{int(command):02X}"
        super().__init__(f"device replied {name} to {cname}: {text}")


class LinkTimeout(HostLinkError):
    """No (complete) reply within the timeout."""


class ProtocolError(HostLinkError):
    """The reply was malformed (bad sync byte or CRC on the way back)."""


@dataclass(frozen=True)
class Counters:
    """Counters of an engine's last job: cycles it was busy, output rows it wrote."""
    cycles: int
    rows: int


def uart_frame_bits(byte: int) -> list[int]:
    """8N1 line levels of one byte: start bit 0, 8 data bits LSB first, stop bit 1."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


# ---------------------------------------------------------------------------- transports

class SerialTransport:
    """A real serial port (pyserial). Timeouts are wall-clock seconds.

    ``port`` is a device (``/dev/ttyUSB0``, ``COM3``) or any pyserial URL (``loop://``,
    ``socket://host:port``, ``rfc2217://...``).
    """

    def __init__(self, port: str, *, baud: int = 1_000_000, timeout: float = 1.0,
                 quiet: float = 0.1):
        import serial  # pyserial; imported here so the simulator needs no serial port support
        self.port = serial.serial_for_url(port, baudrate=baud, timeout=0.01)
        self.timeout = timeout
        self.quiet = quiet
        self.name = f"serial port {port} at {baud} baud"

    def write(self, data: bytes):
        self.port.write(bytes(data))
        self.port.flush()

    def read(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < n:
            chunk = self.port.read(n - len(buf))
            buf += chunk
            if not chunk and time.monotonic() > deadline:
                raise LinkTimeout(
                    f"no reply within {timeout:.3g} s on {self.name} (expected {n} bytes, got "
                    f"{len(buf)}): is the board programmed with an attnkit bitstream, and do "
                    f"the baud rate and port match?")
        return bytes(buf)

    def drain(self):
        """Wait until the line has been quiet for ``quiet`` seconds; drop what arrived."""
        last = time.monotonic()
        while time.monotonic() - last < self.quiet:
            if self.port.read(256):
                last = time.monotonic()
        self.port.reset_input_buffer()

    def seconds(self, cycles: int) -> float:
        return 0.0      # the device clock is unknown here; callers add wall-clock margins

    def close(self):
        self.port.close()


class SimTransport:
    """The simulated board: :class:`~attnkit.hdl.accelerator.AcceleratorSystem` in Amaranth's
    simulator, driven through its UART pins. Timeouts are simulated seconds.

    Parameters
    ----------
    system : AcceleratorSystem
        The design (its ``divisor`` sets the bit time).
    clk_hz : float
        Simulated clock frequency (only scales time; cycle counts do not depend on it).
    vcd : str or None
        Write a waveform file.
    """

    def __init__(self, system, *, clk_hz: float = 100e6, vcd: str | None = None):
        from amaranth.sim import Simulator
        self.system = system
        self.clk_hz = clk_hz
        self.period_fs = round(1e15 / clk_hz)
        self.divisor = system.divisor
        self.cycle = 0
        self.to_dev: deque[int] = deque()
        self.from_dev: deque[int] = deque()
        self.line_errors = 0
        self.name = f"simulated board ({self.divisor} cycles per bit)"
        self.sim = Simulator(system)
        self.sim.add_clock(self.period_fs / 1e15)
        self._vcd = None
        d = self.divisor

        async def drive_rx(ctx):
            ctx.set(system.rx, 1)
            while True:
                if self.to_dev:
                    for bit in uart_frame_bits(self.to_dev.popleft()):
                        ctx.set(system.rx, bit)
                        await ctx.tick().repeat(d)
                else:
                    await ctx.tick()

        async def decode_tx(ctx):
            while True:
                await ctx.negedge(system.tx)
                await ctx.tick().repeat(d // 2)
                if ctx.get(system.tx):
                    continue                          # glitch
                byte = 0
                for i in range(8):
                    await ctx.tick().repeat(d)
                    byte |= ctx.get(system.tx) << i
                await ctx.tick().repeat(d)
                if ctx.get(system.tx):
                    self.from_dev.append(byte)
                else:
                    self.line_errors += 1             # framing error on the way back

        self.sim.add_testbench(drive_rx, background=True)
        self.sim.add_testbench(decode_tx, background=True)
        if vcd:
            self._vcd = self.sim.write_vcd(vcd)
            self._vcd.__enter__()

    @property
    def byte_time(self) -> float:
        return 10 * self.divisor * self.period_fs / 1e15

    def seconds(self, cycles: int) -> float:
        return cycles * self.period_fs / 1e15

    def run_cycles(self, cycles: int):
        """Advance the simulation by ``cycles`` clock cycles."""
        self.cycle += int(cycles)
        self.sim.run_until((self.cycle * self.period_fs + 0.5) / 1e15)

    def write(self, data: bytes):
        self.to_dev.extend(bytes(data))

    def read(self, n: int, timeout: float) -> bytes:
        budget = int(timeout * 1e15 / self.period_fs)
        step = 10 * self.divisor
        spent = 0
        while len(self.from_dev) < n:
            if spent >= budget:
                got = bytes(self.from_dev)
                self.from_dev.clear()
                raise LinkTimeout(
                    f"no reply within {budget} simulated cycles on the {self.name} (expected "
                    f"{n} bytes, got {len(got)})")
            self.run_cycles(step)
            spent += step
        return bytes(self.from_dev.popleft() for _ in range(n))

    def drain(self):
        """Run until the device has been quiet longer than its frame timeout; drop input."""
        quiet_needed = self.system.bridge.timeout + 20 * self.divisor
        quiet = 0
        while quiet < quiet_needed or self.to_dev:
            before = len(self.from_dev)
            self.run_cycles(10 * self.divisor)
            quiet = 0 if len(self.from_dev) != before else quiet + 10 * self.divisor
            self.from_dev.clear()

    def close(self):
        if self._vcd is not None:
            self._vcd.__exit__(None, None, None)
            self._vcd = None


# ---------------------------------------------------------------------------- driver

class Board:
    """Driver for an attnkit accelerator behind the host link.

    Use :meth:`open` for a board on a serial port and :meth:`simulate` for the simulated
    design; both return a :class:`Board` with the same methods. ``timeout`` (seconds; device
    time for the simulator) bounds every reply; WAIT adds the job's own cycle budget.
    """

    def __init__(self, transport, *, timeout: float | None = None, clk_hz: float | None = None):
        self.transport = transport
        self.clk_hz = clk_hz
        self.timeout = timeout if timeout is not None else transport.timeout
        self.last_counters: Counters | None = None
        self.last_attention_rows: dict | None = None
        self._info = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def open(cls, port: str, *, baud: int = 1_000_000, timeout: float = 1.0,
             clk_hz: float | None = None) -> "Board":
        """A board on serial port ``port`` (e.g. ``"/dev/ttyUSB0"``)."""
        return cls(SerialTransport(port, baud=baud, timeout=timeout), timeout=timeout,
                   clk_hz=clk_hz)

    @classmethod
    def simulate(cls, *, lanes: int = 8, weight_bits: int = 8, requant: bool = False,
                 max_n: int = 64, max_m: int = 32, w_words: int = 256, divisor: int = 4,
                 max_payload: int = 64, clk_hz: float = 100e6, vcd: str | None = None,
                 timeout_cycles: int = 20000, softmax: dict | None = None,
                 attention: dict | None = None) -> "Board":
        """The accelerator in Amaranth's simulator, driven through its UART pins.

        Small memories and a fast UART (``divisor`` cycles per bit) keep it quick: the
        simulator manages a few thousand cycles per second. ``timeout_cycles`` bounds each
        reply in simulated cycles (plus the WAIT budget). ``softmax`` (a dict of
        :class:`~attnkit.hdl.accelerator.SoftmaxEngine` parameters, e.g.
        ``{"l_max": 16, "depth": 64}``) adds the softmax engine, ``attention`` (a dict of
        :class:`~attnkit.hdl.accelerator.AttentionBlock` parameters) the attention engine.
        """
        from attnkit.hdl.accelerator import AcceleratorSystem
        system = AcceleratorSystem(divisor=divisor, timeout=40 * divisor,
                                   max_payload=max_payload, lanes=lanes,
                                   weight_bits=weight_bits, requant=requant, max_n=max_n,
                                   max_m=max_m, w_words=w_words, softmax=softmax,
                                   attention=attention)
        transport = SimTransport(system, clk_hz=clk_hz, vcd=vcd)
        return cls(transport, timeout=transport.seconds(timeout_cycles), clk_hz=clk_hz)

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- protocol ----------------------------------------------------------------------------
    def transact(self, cmd: int, payload: bytes = b"", *, extra_timeout: float = 0.0) -> bytes:
        """Send one command, return the reply payload; raise on an error reply or timeout."""
        self.transport.write(hl.encode_command(cmd, payload))
        timeout = self.timeout + extra_timeout
        try:
            head = self.transport.read(4, timeout)
            if head[0] != hl.SYNC_REPLY:
                raise ProtocolError(f"reply starts with 0x{head[0]:02X}, not 0x5A")
            rest = self.transport.read(hl.reply_length(head) - 4, timeout)
            try:
                status, data = hl.decode_reply(head + rest)
            except hl.FrameError as e:
                raise ProtocolError(f"corrupted reply: {e}") from None
        except HostLinkError:
            self.transport.drain()
            raise
        if status != hl.Status.OK:
            self.transport.drain()
            raise DeviceError(status, cmd)
        return data

    def send_raw(self, data: bytes):
        """Send raw bytes (for link tests); follow with :meth:`read_reply`."""
        self.transport.write(data)

    def read_reply(self) -> tuple:
        """Read one reply frame: ``(status, payload)`` (no exception on error status)."""
        head = self.transport.read(4, self.timeout)
        rest = self.transport.read(hl.reply_length(head) - 4, self.timeout)
        return hl.decode_reply(head + rest)

    def ping(self) -> dict:
        data = self.transact(hl.Cmd.PING)
        if data[:2] != b"AK":
            raise ProtocolError(f"PING answered {data!r}: not an attnkit device")
        return {"version": data[2], "max_payload": int.from_bytes(data[3:5], "little")}

    @property
    def max_payload(self) -> int:
        return self.info()["max_payload"]

    def write(self, addr: int, data: bytes):
        """Write bytes from ``addr`` on, in as many frames as needed."""
        data = bytes(data)
        chunk = self.max_payload - hl.ADDR_BYTES
        for off in range(0, len(data), chunk):
            self.transact(hl.Cmd.WRITE, (addr + off).to_bytes(3, "little") +
                          data[off:off + chunk])

    def read(self, addr: int, count: int) -> bytes:
        out = bytearray()
        chunk = self.max_payload
        for off in range(0, count, chunk):
            n = min(chunk, count - off)
            out += self.transact(hl.Cmd.READ, (addr + off).to_bytes(3, "little") +
                                 n.to_bytes(2, "little"))
        return bytes(out)

    def write_reg(self, addr: int, value: int):
        self.write(addr, int(value).to_bytes(4, "little"))

    def read_reg(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def start(self, engine: int = hl.Engine.GEMV):
        self.transact(hl.Cmd.START, bytes([int(engine)]))

    def wait(self, engine: int = hl.Engine.GEMV, *, max_cycles: int = 10_000_000) -> Counters:
        """Wait (in the device) until ``engine`` is done; its counters."""
        extra = self.transport.seconds(max_cycles)
        data = self.transact(hl.Cmd.WAIT, bytes([int(engine)]) +
                             int(max_cycles).to_bytes(4, "little"), extra_timeout=extra)
        self.last_counters = Counters(int.from_bytes(data[:4], "little"),
                                      int.from_bytes(data[4:], "little"))
        return self.last_counters

    def counters(self, engine: int = hl.Engine.GEMV) -> Counters:
        data = self.transact(hl.Cmd.COUNTERS, bytes([int(engine)]))
        return Counters(int.from_bytes(data[:4], "little"), int.from_bytes(data[4:], "little"))

    def info(self) -> dict:
        """Device description (cached): version, max_payload and the global registers."""
        if self._info is None:
            info = self.ping()
            self._info = info     # max_payload is known from here on
            regs = self.read(0, 32)          # all global registers in one frame
            word = {r.name: int.from_bytes(regs[r:r + 4], "little") for r in hl.Reg}
            if word["ID"] != hl.ID_MAGIC:
                raise ProtocolError(f"ID register reads 0x{word['ID']:08X}, "
                                    f"not 0x{hl.ID_MAGIC:08X}")
            for name in ("ENGINES", "LANES", "W_WORDS", "X_DEPTH", "Y_DEPTH", "WEIGHT_BITS",
                         "FLAGS"):
                info[name.lower()] = word[name]
            info["requant"] = bool(info["flags"] & 1)
        return self._info

    # -- high level --------------------------------------------------------------------------
    def gemv(self, W, x, *, requant: tuple[int, int] | None = None,
             max_cycles: int = 10_000_000) -> np.ndarray:
        """``y = W @ x`` on the GEMV engine; bit-exact with :func:`attnkit.golden.gemv.gemv`.

        ``W``: (M, N) weight codes (int8, or int4 on an int4 build); ``x``: (N,) int8 codes.
        ``requant=(mult, shift)`` is required on a requantizing build and rejected otherwise.
        The job's counters are left in :attr:`last_counters`.
        """
        info = self.info()
        W = np.asarray(W)
        x = np.asarray(x)
        if W.ndim != 2 or x.ndim != 1 or W.shape[1] != x.shape[0]:
            raise ValueError(f"shapes do not match: W {W.shape}, x {x.shape}")
        M, N = W.shape
        lanes = info["lanes"]
        wb = info["weight_bits"]
        lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
        if W.size and (W.min() < lo or W.max() > hi):
            raise ValueError(f"W codes must be in {lo}..{hi} (int{wb}), not "
                             f"{W.min()}..{W.max()}")
        if x.size and (x.min() < -128 or x.max() > 127):
            raise ValueError(f"x codes must be int8, not {x.min()}..{x.max()}")
        tiles = -(-M // lanes)
        if not 1 <= M <= info["y_depth"]:
            raise ValueError(f"M must be in 1..{info['y_depth']} on this device, not {M}")
        if not 1 <= N <= info["x_depth"]:
            raise ValueError(f"N must be in 1..{info['x_depth']} on this device, not {N}")
        if tiles * N > info["w_words"]:
            raise ValueError(f"W needs {tiles * N} words of {lanes} lanes, the device has "
                             f"{info['w_words']}")
        if info["requant"] != (requant is not None):
            raise ValueError("requant=(mult, shift) is required on a requantizing build "
                             "and not allowed otherwise" if info["requant"] else
                             "this build has no requantizer: pass requant=None")
        beats = weight_beats(W, lanes).astype(np.int64)
        self.write(hl.MEM_W, (beats & 0xFF).astype(np.uint8).tobytes())
        self.write(hl.MEM_X, (x.astype(np.int64) & 0xFF).astype(np.uint8).tobytes())
        base = hl.engine_base(hl.Engine.GEMV)
        self.write_reg(base + hl.EngineReg.M, M)
        self.write_reg(base + hl.EngineReg.N, N)
        if requant is not None:
            self.write_reg(base + hl.EngineReg.REQ_MULT, requant[0])
            self.write_reg(base + hl.EngineReg.REQ_SHIFT, requant[1])
        self.start(hl.Engine.GEMV)
        self.wait(hl.Engine.GEMV, max_cycles=max_cycles)
        y = np.frombuffer(self.read(hl.MEM_Y, 4 * M), dtype="<i4").astype(np.int64)
        return y

    def softmax(self, x, mask=None, *, max_cycles: int = 10_000_000):
        """Row softmax on the softmax engine (engine 1); bit-exact with
        :func:`attnkit.golden.softmax.softmax_fixed` for the build's ``SoftmaxConfig``.

        ``x``: (R, L) logit codes of the build's input format (at most 16 bits); ``mask``:
        (R, L) booleans, True = excluded. Returns ``(p, all_masked)``: (R, L) probability
        codes and an (R,) flag per row.
        """
        info = self.info()
        if not info["engines"] & (1 << hl.Engine.SOFTMAX):
            raise NotImplementedError(f"this device has no softmax engine (ENGINES register "
                                      f"0x{info['engines']:X})")
        x = np.asarray(x)
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"x must be a non-empty 2-D array (rows, length), not shape "
                             f"{x.shape}")
        mask = np.zeros(x.shape, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != x.shape:
            raise ValueError(f"mask shape {mask.shape} does not match x {x.shape}")
        if x.min() < -(1 << 15) or x.max() >= 1 << 15:
            raise ValueError(f"x codes must fit 16 bits, not {x.min()}..{x.max()}")
        R, L = x.shape
        elems = np.zeros((R * L, 4), np.uint8)
        codes = (x.reshape(-1).astype(np.int64) & 0xFFFF)
        elems[:, 0] = codes & 0xFF
        elems[:, 1] = codes >> 8
        elems[:, 2] = mask.reshape(-1)
        self.write(hl.SOFTMAX_IN, elems.tobytes())
        base = hl.engine_base(hl.Engine.SOFTMAX)
        self.write_reg(base + hl.SoftmaxReg.LEN, L)
        self.write_reg(base + hl.SoftmaxReg.NROWS, R)
        self.start(hl.Engine.SOFTMAX)
        self.wait(hl.Engine.SOFTMAX, max_cycles=max_cycles)
        out = np.frombuffer(self.read(hl.SOFTMAX_OUT, 4 * R * L), np.uint8).reshape(R, L, 4)
        p = out[..., 0].astype(np.int64) | (out[..., 1].astype(np.int64) << 8)
        flags = (out[..., 2] & 1).astype(bool)
        return p, flags[:, 0]

    def attention(self, q, K, V, *, mode: str = "dense", pos: int | None = None,
                  score_mult: int, score_shift: int, out_mult: int, out_shift: int,
                  selection=None, max_cycles: int = 10_000_000, **selection_args):
        """One decode query on the attention engine (engine 2); bit-exact with
        :func:`attnkit.golden.attention.engine`.

        ``q``: (d,) int8 codes; ``K``, ``V``: (T, d) int8 codes, T <= the build's ``t_max``;
        ``mode`` and ``selection_args`` (``window``, ``n_global``, ``block``, ``bitmap``,
        ``k``, ``threshold``, ``causal``) build a :class:`attnkit.golden.attention.Selection`,
        or pass ``selection``; ``pos`` defaults to ``T - 1``; the requantization parameters
        are the golden model's. Returns ``(o, all_masked)``: (d,) int8 codes and the flag of
        a query that kept no key. :attr:`last_counters` holds the engine's cycles and
        ``k_rows``; :attr:`last_attention_rows` the K, K-high-nibble and V row counts.
        """
        from types import SimpleNamespace
        from attnkit.golden.attention import Selection
        from attnkit.hdl.attention import job_ports

        info = self.info()
        if not info["engines"] & (1 << hl.Engine.ATTENTION):
            raise NotImplementedError(
                f"this device has no attention engine (ENGINES register "
                f"0x{info['engines']:X}); build it with the attention engine included")
        base = hl.engine_base(hl.Engine.ATTENTION)
        A = hl.AttentionReg
        caps = {name: self.read_reg(base + A[name]) for name in
                ("D", "LANES", "T_MAX", "K_MAX", "BLOCK", "PRED_WIDTH")}
        q, K, V = np.asarray(q), np.asarray(K), np.asarray(V)
        d = caps["D"]
        if q.shape != (d,) or K.ndim != 2 or K.shape[1] != d or V.shape != K.shape:
            raise ValueError(f"shapes must be q ({d},), K and V (T, {d}) on this device, not "
                             f"q {q.shape}, K {K.shape}, V {V.shape}")
        T = K.shape[0]
        if not 1 <= T <= caps["T_MAX"]:
            raise ValueError(f"T must be in 1..{caps['T_MAX']} on this device, not {T}")
        for name, a in (("q", q), ("K", K), ("V", V)):
            if a.min() < -128 or a.max() > 127:
                raise ValueError(f"{name} codes must be int8, not {a.min()}..{a.max()}")
        sel = selection if selection is not None else Selection(mode=mode, **selection_args)
        pos = T - 1 if pos is None else int(pos)
        eng = SimpleNamespace(t_max=caps["T_MAX"], block=caps["BLOCK"], k_max=caps["K_MAX"],
                              n_blocks=-(-caps["T_MAX"] // caps["BLOCK"]),
                              pred_width=caps["PRED_WIDTH"], queries=1)   # the board engine decodes
        ports = job_ports(eng, sel, T, pos, score_mult=score_mult, score_shift=score_shift,
                          out_mult=out_mult, out_shift=out_shift)

        def codes(a):
            return (np.asarray(a, np.int64).reshape(-1) & 0xFF).astype(np.uint8).tobytes()

        self.write(hl.ATT_K, codes(K))
        self.write(hl.ATT_V, codes(V))
        self.write(hl.ATT_Q, codes(q))
        for name, value in ports.items():
            self.write_reg(base + A[name.upper()], int(value) & 0xFFFFFFFF)
        self.start(hl.Engine.ATTENTION)
        self.wait(hl.Engine.ATTENTION, max_cycles=max_cycles)
        out = np.frombuffer(self.read(hl.ATT_OUT, 2 * d), np.uint8).reshape(d, 2)
        o = out[:, 0].astype(np.int8).astype(np.int64)
        self.last_attention_rows = {name.lower(): self.read_reg(base + A[name])
                                    for name in ("K_ROWS", "K4_ROWS", "V_ROWS")}
        return o, bool(out[0, 1] & 1)
