"""Register replication on a synthesised netlist: the loads of one flip-flop split over copies.

A design's reset is one flip-flop (the out-of-context harness's or the board top's
synchroniser) whose output reaches every flip-flop with a reset: on the attention engine
some 1,850 clear pins over 70 rows of the die, up to 4.7 ns of routing from the one driver
(v69 seed 1: 156 MHz, most failing endpoints on the reset). Neither Yosys nor nextpnr
replicates registers, so :func:`replicate_driver` does it on the Yosys JSON netlist before
place and route: each copy is the same cell (same type, parameters, clock and data input)
with its own output net, and takes the loads of a few units of the design, so nextpnr can
place it among them. The copies switch in the same cycle as the original: the netlist's
function is unchanged (``tests/test_replicate.py`` simulates a replicated netlist against
the original).

Loads are grouped by unit: the cell's hierarchical path up to three levels, digits
folded (``core.softmax.div``, ``core.topk``, ``core.sc#``), units in name order packed into
copies of at most ``max_fanout`` loads (a big unit split over several).
"""

import re
from collections import defaultdict

__all__ = ["replicate_driver", "unit_of"]


def unit_of(cell_name: str, depth: int = 3) -> str:
    """The unit a cell belongs to: its first ``depth`` path components (``.``-separated,
    the last component, the cell's own name, excluded) with digit runs folded to ``#``."""
    parts = cell_name.split(".")
    return re.sub(r"\d+", "#", ".".join(parts[:min(depth, max(1, len(parts) - 1))]))


def replicate_driver(netlist: dict, net_name: str, *, max_fanout: int = 64,
                     top: str = "top") -> int:
    """Split the loads of the flip-flop driving ``net_name`` (a net name of the JSON netlist)
    over copies of it, at most ``max_fanout`` loads each, grouped by :func:`unit_of`; the
    original keeps the first group. Returns the number of copies added (0 when the net has
    no more than ``max_fanout`` loads, or is a constant: Yosys ties a net off when its
    flip-flop has no loads, as the harness's reset in a core without reset registers).
    :class:`ValueError` if the net is unknown, is not one bit, or is not driven by a
    flip-flop (a cell whose type ends in ``FF``)."""
    if not isinstance(max_fanout, int) or isinstance(max_fanout, bool) or max_fanout < 1:
        raise ValueError(f"max_fanout must be a positive int, not {max_fanout!r}")
    mod = netlist["modules"][top]
    cells, nets = mod["cells"], mod["netnames"]
    if net_name not in nets:
        raise ValueError(f"no net {net_name!r} in the netlist")
    bits = nets[net_name]["bits"]
    if bits in (["0"], ["1"]):
        return 0
    if len(bits) != 1 or not isinstance(bits[0], int):
        raise ValueError(f"net {net_name!r} is not one signal bit: {bits!r}")
    bit = bits[0]
    drivers = [n for n, c in cells.items()
               if any(c.get("port_directions", {}).get(p) == "output" and bit in b
                      for p, b in c["connections"].items())]
    if len(drivers) != 1 or not cells[drivers[0]]["type"].endswith("FF"):
        raise ValueError(f"net {net_name!r} is driven by {drivers!r}, not one flip-flop")
    driver = drivers[0]
    loads = defaultdict(list)                        # unit -> [(cell, port)]
    for name, cell in cells.items():
        for port, conn in cell["connections"].items():
            if bit in conn and cell.get("port_directions", {}).get(port) != "output":
                loads[unit_of(name)].append((name, port))
    if sum(len(v) for v in loads.values()) <= max_fanout:
        return 0
    groups, cur = [], []
    for unit in sorted(loads):
        pending = sorted(loads[unit])
        while pending:
            room = max_fanout - len(cur)
            cur, pending = cur + pending[:room], pending[room:]
            if len(cur) == max_fanout:
                groups.append(cur)
                cur = []
    if cur:
        groups.append(cur)
    next_bit = 1 + max(b for c in cells.values() for conn in c["connections"].values()
                       for b in conn if isinstance(b, int))
    drv = cells[driver]
    outs = {p for p, c in drv["connections"].items()
            if drv.get("port_directions", {}).get(p) == "output" and bit in c}
    for k, group in enumerate(groups[1:], start=1):
        copy = dict(drv, parameters=dict(drv.get("parameters", {})),
                    port_directions=dict(drv.get("port_directions", {})),
                    attributes={a: v for a, v in drv.get("attributes", {}).items() if a != "BEL"},
                    connections={p: [next_bit] if p in outs else list(c)
                                 for p, c in drv["connections"].items()})
        cells[f"{driver}$copy{k}"] = copy
        nets[f"{net_name}$copy{k}"] = {"hide_name": 0, "bits": [next_bit], "attributes": {}}
        for name, port in group:
            cells[name]["connections"][port] = [next_bit if b == bit else b
                                                for b in cells[name]["connections"][port]]
        next_bit += 1
    return len(groups) - 1
