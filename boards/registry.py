"""Board registry: short names -> amaranth-boards platform + a board profile.

A :class:`BoardProfile` holds what the flow and the roofline need about a board: the ECP5
part (package, speed grade; LUT/FF/DSP/EBR counts from :func:`attnkit.boards.ecp5.device`),
the input clock, the UART pins the host link uses, the host-side USB-UART chip, and the
on-board memory (type, width, clock, peak bandwidth), each with where the figure comes from.

Peak memory bandwidth is ``width/8 * transfers per second``: SDR SDRAM moves one word per
clock, DDR3 two. For DDR3 the ECP5 I/O limit applies (800 Mb/s per pin, i.e. a 400 MHz
memory clock: ECP5 family data sheet, FPGA-DS-02012, "DDR3 ... 800 Mb/s"), which is below the
memory chips' own ratings on every board here.

Boards without a UART resource in amaranth-boards (OrangeCrab r0.2: its USB port goes straight
to the FPGA, there is no USB-UART chip) get one added on the documented pins, which need an
external 3.3 V USB-UART adapter; see :attr:`BoardProfile.uart`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from attnkit.boards.ecp5 import ECP5Device, device

__all__ = ["MemoryProfile", "UARTProfile", "BoardProfile", "BOARDS", "board", "board_names",
           "platform_for"]

# amaranth-boards package names -> nextpnr package names
_PACKAGES = {"BG256": "CABGA256", "BG381": "CABGA381", "BG554": "CABGA554",
             "BG756": "CABGA756", "MG285": "CSFBGA285"}


@dataclass(frozen=True)
class MemoryProfile:
    """Off-chip memory on a board."""
    type: str                  # "SDR SDRAM", "DDR3", "DDR3L", or "none"
    size_bytes: int
    width_bits: int
    clock_mhz: float           # memory clock the peak figure assumes
    transfers_per_clock: int   # 1 for SDR, 2 for DDR
    source: str

    @property
    def peak_bandwidth(self) -> float:
        """Peak bytes per second: ``width/8 * clock * transfers per clock``."""
        return self.width_bits / 8 * self.clock_mhz * 1e6 * self.transfers_per_clock


@dataclass(frozen=True)
class UARTProfile:
    """How the host link reaches the FPGA."""
    rx_pin: str                # FPGA ball receiving from the host
    tx_pin: str                # FPGA ball sending to the host
    bridge: str                # USB-UART chip on the board, or what to connect
    max_baud: int              # fastest rate of that bridge
    added: bool                # True when the UART resource is added by attnkit
    note: str
    source: str


@dataclass(frozen=True)
class BoardProfile:
    """One board target (see the module docstring)."""
    name: str
    title: str
    platform_module: str
    platform_class: str
    device_name: str
    package: str               # amaranth-boards spelling (e.g. "BG381")
    speed: int
    clock_resource: str
    clock_mhz: float
    uart: UARTProfile
    memory: MemoryProfile
    leds: int                  # status LEDs the top level drives (0 if none is free)
    source: str = "amaranth-boards 0.0.21 platform definition"
    notes: tuple = field(default=())
    #: openFPGALoader arguments selecting the board/cable (not tried here: no board, and
    #: openFPGALoader is not installed on the development machine)
    programmer: tuple = field(default=())

    @property
    def device(self) -> ECP5Device:
        return device(self.device_name)

    @property
    def nextpnr_package(self) -> str:
        return _PACKAGES[self.package]

    @property
    def resources(self) -> dict:
        d = self.device
        return {"lut4": d.lut4, "ff": d.ff, "mult18": d.mult18, "ebr": d.ebr}

    def as_dict(self) -> dict:
        m, u = self.memory, self.uart
        return {
            "name": self.name, "title": self.title,
            "platform": f"{self.platform_module}.{self.platform_class}",
            "device": self.device_name, "package": self.nextpnr_package, "speed": self.speed,
            "resources": self.resources, "resources_source": "attnkit.boards.ecp5 (datasheet)",
            "clock": {"resource": self.clock_resource, "mhz": self.clock_mhz,
                      "source": self.source},
            "uart": {"rx": u.rx_pin, "tx": u.tx_pin, "bridge": u.bridge,
                     "max_baud": u.max_baud, "added_by_attnkit": u.added, "note": u.note,
                     "source": u.source},
            "memory": {"type": m.type, "size_bytes": m.size_bytes, "width_bits": m.width_bits,
                       "clock_mhz": m.clock_mhz, "peak_bandwidth": m.peak_bandwidth,
                       "source": m.source},
        }


_DDR3_ECP5 = ("ECP5 DDR3 I/O limit 800 Mb/s/pin (400 MHz), ECP5 family data sheet "
              "FPGA-DS-02012")
_FT231X = ("FT231X", 3_000_000, "FTDI FT231X data sheet: UART up to 3 Mbaud")
_FT2232H = ("FT2232H channel B", 12_000_000, "FTDI FT2232H data sheet: UART up to 12 Mbaud")


def _ulx3s(size):
    return BoardProfile(
        name=f"ulx3s-{size.lower()}", title=f"Radiona ULX3S ({size})",
        platform_module="amaranth_boards.ulx3s", platform_class=f"ULX3S_{size}_Platform",
        device_name=f"LFE5U-{size}", package="BG381", speed=6,
        clock_resource="clk25", clock_mhz=25.0,
        uart=UARTProfile("M1", "L4", *_FT231X[:2], added=False,
                         note="FT231X on the US1 USB port (uart resource 0)",
                         source=_FT231X[2]),
        memory=MemoryProfile("SDR SDRAM", 32 << 20, 16, 166.0, 1,
                             "ULX3S manual/schematic: 32 MB 16-bit SDR SDRAM "
                             "(IS42S16160/MT48LC16M16 class, -6 grade 166 MHz)"),
        leds=8, programmer=("-b", "ulx3s"))


def _orangecrab(size):
    mem = (128 << 20) if size == "25F" else (512 << 20)
    return BoardProfile(
        name=f"orangecrab-{size.lower()}", title=f"Good Stuff Dept. OrangeCrab r0.2 ({size})",
        platform_module="amaranth_boards.orangecrab_r0_2",
        platform_class=f"OrangeCrabR0_2_{size}Platform",
        device_name=f"LFE5U-{size}", package="MG285", speed=8,
        clock_resource="clk", clock_mhz=48.0,
        uart=UARTProfile("N17", "M18", "external 3.3 V USB-UART adapter", 3_000_000,
                         added=True,
                         note="no USB-UART chip on the board (USB goes to the FPGA); attnkit "
                              "adds uart 0 on Feather header pins 0 (RX, ball N17) and 1 (TX, "
                              "ball M18), the Feather standard's serial pins",
                         source="OrangeCrab r0.2 pinout (amaranth-boards connector io 0)"),
        memory=MemoryProfile("DDR3L", mem, 16, 400.0, 2,
                             f"OrangeCrab r0.2 docs: {mem >> 20} MB 16-bit DDR3L; "
                             + _DDR3_ECP5),
        leds=3, programmer=("-b", "orangeCrab"))   # one RGB LED; DFU bootloader


def _ecpix5(size):
    return BoardProfile(
        name=f"ecpix5-{size.lower()}", title=f"LambdaConcept ECPIX-5 ({size})",
        platform_module="amaranth_boards.ecpix5", platform_class=f"ECPIX5{size[:2]}Platform",
        device_name=f"LFE5UM5G-{size}", package="BG554", speed=8,
        clock_resource="clk100", clock_mhz=100.0,
        uart=UARTProfile("R26", "R24", *_FT2232H[:2], added=False,
                         note="FT2232H second channel (uart resource 0)", source=_FT2232H[2]),
        memory=MemoryProfile("DDR3", 512 << 20, 16, 400.0, 2,
                             "ECPIX-5 docs: 512 MB 16-bit DDR3 (MT41K256M16); " + _DDR3_ECP5),
        leds=12, programmer=("-b", "ecpix5"))  # four RGB LEDs


BOARDS: dict[str, BoardProfile] = {b.name: b for b in [
    _ulx3s("12F"), _ulx3s("25F"), _ulx3s("45F"), _ulx3s("85F"),
    _orangecrab("25F"), _orangecrab("85F"),
    _ecpix5("45F"), _ecpix5("85F"),
    BoardProfile(
        name="versa-ecp5", title="Lattice ECP5 Versa Development Kit",
        platform_module="amaranth_boards.versa_ecp5", platform_class="VersaECP5Platform",
        device_name="LFE5UM-45F", package="BG381", speed=8,
        clock_resource="clk100", clock_mhz=100.0,
        uart=UARTProfile("C11", "A11", *_FT2232H[:2], added=False,
                         note="FT2232H channel B (uart resource 0)", source=_FT2232H[2]),
        memory=MemoryProfile("DDR3", 128 << 20, 16, 400.0, 2,
                             "ECP5 Versa user guide: 1 Gb x16 DDR3; " + _DDR3_ECP5),
        leds=8, programmer=("-c", "ft2232")),
    BoardProfile(
        name="ecp5-5g-evn", title="Lattice ECP5-5G Evaluation Board",
        platform_module="amaranth_boards.ecp5_5g_evn", platform_class="ECP55GEVNPlatform",
        device_name="LFE5UM5G-85F", package="BG381", speed=8,
        clock_resource="clk12", clock_mhz=12.0,
        uart=UARTProfile("P2", "P3", *_FT2232H[:2], added=False,
                         note="needs two resistor jumpers swapped and the FTDI reconfigured "
                              "(board user guide section 6.2), as amaranth-boards notes",
                         source=_FT2232H[2]),
        memory=MemoryProfile("none", 0, 0, 0.0, 1,
                             "ECP5-5G evaluation board user guide: no DRAM (SPI flash only); "
                             "block RAM is the only memory"),
        leds=8, programmer=("-b", "ecp5_evn")),
    BoardProfile(
        name="colorlight-5a75b", title="Colorlight 5A-75B r7.0",
        platform_module="amaranth_boards.colorlight_5a75b_r7_0",
        platform_class="Colorlight_5A75B_R70Platform",
        device_name="LFE5U-25F", package="BG256", speed=6,
        clock_resource="clk25", clock_mhz=25.0,
        uart=UARTProfile("M13", "P11", "external 3.3 V USB-UART adapter", 3_000_000,
                         added=False,
                         note="amaranth-boards maps uart 0 onto the J19 button (rx) and LED "
                              "(tx) pins; no USB-UART chip on the board, and the only LED "
                              "carries tx, so no status LED",
                         source="amaranth-boards colorlight_5a75b_r7_0"),
        memory=MemoryProfile("SDR SDRAM", 4 << 20, 32, 166.0, 1,
                             "2x 1M x 16 SDRAM as one 32-bit bus (M12L16161A-5T or "
                             "W9816G6JH-6, amaranth-boards comment); 166 MHz grade assumed"),
        leds=0, programmer=("-b", "colorlight")),
]}


def board_names() -> list[str]:
    return list(BOARDS)


def board(name: str) -> BoardProfile:
    """Profile of board ``name``; ``ValueError`` listing the valid names if unknown."""
    if isinstance(name, BoardProfile):
        return name
    if not isinstance(name, str):
        raise TypeError(f"board name must be a string, not {name!r}")
    found = BOARDS.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown board {name!r}; valid boards: {', '.join(BOARDS)}")
    return found


def platform_for(name: str):
    """An amaranth-boards platform instance for board ``name``, with attnkit's additions."""
    prof = board(name)
    module = importlib.import_module(prof.platform_module)
    platform = getattr(module, prof.platform_class)()
    if prof.uart.added:
        from amaranth.build import Attrs
        from amaranth_boards.resources import UARTResource
        platform.add_resources([UARTResource(0, rx="0", tx="1", conn=("io", 0),
                                             attrs=Attrs(IO_TYPE="LVCMOS33"))])
    return platform
