"""Board top level: PLL, reset synchroniser, the accelerator system, UART pins, status LEDs.

::

    board clock --EHXPLLL--> sync (design clock)          uart.rx --> AcceleratorSystem --> uart.tx
                  LOCK --> ResetSynchronizer --> sync reset           (UART, host bridge,
                                                                       GEMV engine + memories)

Status LEDs (as many as the board has free, in this order): heartbeat (about 1.5 Hz, shows
the PLL runs), engine busy, engine done, host-link activity (stretched to ~50 ms), PLL lock.
On a board with one RGB LED (OrangeCrab) red = heartbeat, green = done, blue = link activity.
"""

from __future__ import annotations

from amaranth.build import ResourceError
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from attnkit.hdl.accelerator import AcceleratorSystem
from attnkit.hdl.uart import baud_divisor

from .pll import PLLParams, pll_params
from .registry import BoardProfile, board

__all__ = ["BoardTop", "default_params", "BOARD_SOFTMAX", "BOARD_ATTENTION"]

#: Engine configurations a board top adds with ``softmax=True`` / ``attention=True``.
BOARD_SOFTMAX = {"l_max": 256, "depth": 4096}
BOARD_ATTENTION = {"d": 64, "lanes": 8, "t_max": 512, "k_max": 32, "block": 16}


def default_params(profile: BoardProfile | str) -> dict:
    """Accelerator parameters that fit a board: the largest power-of-two lane count that
    leaves a few multipliers spare, and memories sized in block RAM."""
    prof = board(profile)
    dsps = prof.device.mult18
    lanes = 1
    while lanes * 2 <= dsps - 4:
        lanes *= 2
    return {"lanes": lanes, "weight_bits": 8, "requant": False, "max_n": 2048,
            "max_m": 2048, "w_words": 512, "softmax": False, "attention": False}


class BoardTop(Elaboratable):
    """The accelerator on a board.

    Parameters
    ----------
    board : str or BoardProfile
        Board name from :mod:`attnkit.boards.registry`.
    clock_mhz : float or None
        Design clock; ``None`` keeps the board clock (no PLL). Raises ``ValueError`` (a
        :class:`~attnkit.boards.pll.PLLError`) when the PLL cannot make it.
    baud : int
        Host link baud rate; ``ValueError`` when the design clock cannot make it within 2 %.
    max_payload : int
        Host bridge frame buffer (bytes).
    frame_timeout_ms : float
        Quiet-line time after which the bridge abandons a partial frame.
    **params
        :class:`~attnkit.hdl.accelerator.GemvAccelerator` parameters (defaults from
        :func:`default_params`), and ``softmax``/``attention`` (bool) to add those engines
        with :data:`BOARD_SOFTMAX`/:data:`BOARD_ATTENTION`.
    """

    def __init__(self, board_name, *, clock_mhz: float | None = None, baud: int = 1_000_000,
                 max_payload: int = 256, frame_timeout_ms: float = 20.0, **params):
        self._MustUse__silence = True      # no "never used" warning if a check below raises
        self.profile = board(board_name)
        self.clock_mhz = float(clock_mhz) if clock_mhz is not None else self.profile.clock_mhz
        self.pll: PLLParams | None = None
        if clock_mhz is not None and abs(self.clock_mhz - self.profile.clock_mhz) > 1e-9:
            self.pll = pll_params(self.profile.clock_mhz, self.clock_mhz)
        f_clk = (self.pll.f_out if self.pll else self.profile.clock_mhz) * 1e6
        self.f_clk = f_clk
        self.baud = baud
        self.divisor = baud_divisor(f_clk, baud)
        self.params = {**default_params(self.profile), **params}
        accel = dict(self.params)
        softmax, attention = accel.pop("softmax"), accel.pop("attention")
        for name, value in (("softmax", softmax), ("attention", attention)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, not {value!r}")
        self.system = AcceleratorSystem(divisor=self.divisor,
                                        timeout=max(2, int(f_clk * frame_timeout_ms / 1e3)),
                                        max_payload=max_payload,
                                        softmax=BOARD_SOFTMAX if softmax else None,
                                        attention=BOARD_ATTENTION if attention else None,
                                        **accel)
        self._MustUse__silence = False

    @property
    def ops_per_cycle(self) -> int:
        return self.system.accel.ops_per_cycle

    def elaborate(self, platform):
        m = Module()
        prof = self.profile
        m.domains.sync = cd_sync = ClockDomain("sync")
        clk_in = _buffer(m, "i", platform.request(prof.clock_resource, 0, dir="-"))
        locked = Signal()
        if self.pll is None:
            m.d.comb += [cd_sync.clk.eq(clk_in), locked.eq(1)]
        else:
            m.submodules.pll = Instance(
                "EHXPLLL",
                i_CLKI=clk_in, i_CLKFB=ClockSignal("sync"), o_CLKOP=ClockSignal("sync"),
                i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1,
                i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_LOCK=locked, **self.pll.instance_params())
        platform.add_clock_constraint(cd_sync.clk, self.f_clk)

        rst_req = ~locked
        try:
            rst_req = rst_req | _buffer(m, "i", platform.request("rst", 0, dir="-"))
        except ResourceError:
            pass
        m.submodules.rst_sync = ResetSynchronizer(rst_req, domain="sync")

        m.submodules.system = sys_ = self.system
        uart = platform.request("uart", 0, dir="-")
        m.d.comb += [sys_.rx.eq(_buffer(m, "i", uart.rx)), _buffer(m, "o", uart.tx).eq(sys_.tx)]

        # status LEDs
        beat = Signal(range(int(self.f_clk // 3) + 1))
        heart = Signal()
        with m.If(beat == 0):
            m.d.sync += [beat.eq(int(self.f_clk // 3)), heart.eq(~heart)]
        with m.Else():
            m.d.sync += beat.eq(beat - 1)
        stretch = Signal(range(int(self.f_clk // 20) + 1))
        with m.If(sys_.link_active):
            m.d.sync += stretch.eq(int(self.f_clk // 20))
        with m.Elif(stretch != 0):
            m.d.sync += stretch.eq(stretch - 1)
        link = stretch != 0
        indicators = [heart, sys_.busy, sys_.done, link, locked]
        leds = []
        if prof.leds:
            for i in range(len(indicators)):
                try:
                    leds.append(_buffer(m, "o", platform.request("led", i, dir="-")))
                except ResourceError:
                    break
            if not leds:
                try:
                    rgb = platform.request("rgb_led", 0, dir="-")
                    leds = [_buffer(m, "o", rgb.r), _buffer(m, "o", rgb.g), _buffer(m, "o", rgb.b)]
                    indicators = [heart, sys_.done, link]
                except ResourceError:
                    pass
        for led, ind in zip(leds, indicators):
            m.d.comb += led.eq(ind)
        return m


def _buffer(m, direction, port):
    """An io.Buffer on ``port`` added to ``m``; its ``i`` (input) or ``o`` (output) signal."""
    buf = io.Buffer(direction, port)
    m.submodules += buf
    return buf.i if direction == "i" else buf.o
