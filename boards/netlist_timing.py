"""Estimated register-to-register delays of a synthesised ECP5 netlist, all endpoints at once.

nextpnr reports one critical path per clock after placement and routing (minutes per run);
timing closure of a large control-heavy design (the attention engine) then finds one path
per build. This estimate reads the Yosys ``synth_ecp5`` JSON netlist (``top.json`` of a
build) instead and gives every flip-flop, block-RAM and DSP input its longest path in
seconds, grouped by signal name, so the deep paths can be fixed together.

The model is deliberately simple and is an *estimate*, not a timing analysis: cell delays
are the ones nextpnr-ecp5 reports for speed grade -6 (read off its critical-path reports in
``build/attention-85f-v*/nextpnr.log``: flip-flop clock-to-output 0.52 ns, LUT4 0.24 ns,
carry entry 0.45 ns, 0.07 ns per CCU2C along the chain, carry-to-sum 0.40 ns, DSP output
register 0.74 ns), and every net between two cells costs one fixed ``hop`` (placement
decides the real value: 0.1-3 ns, about 1 ns typical in the attention engine's builds) plus
``fanout`` per doubling of the net's sinks (a net that enables a thousand flip-flops spans
an area), plus the endpoint's setup (taken as 0). It ranks paths by logic depth weighted
with those delays; the absolute figures are only as good as ``hop``.

    python -m attnkit.boards.netlist_timing build/attention-85f-v22t/top.json --over 6 --paths 5
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from dataclasses import dataclass

__all__ = ["Endpoint", "CLOCK_PINS", "estimate", "group_name", "main"]

CLK_TO_Q = {"TRELLIS_FF": 0.52, "MULT18X18D": 0.74, "ALU54B": 0.74}
#: DP16KD clock-to-output: with the output register (REGMODE OUTREG) and without it
EBR_CLK_TO_Q = {"OUTREG": 0.8, "NOREG": 5.6}
LUT = 0.24
MUX = 0.15                     # PFUMX / L6MUX21 (the LUT5/6 muxes)
CARRY_IN, CARRY_STEP, CARRY_SUM = 0.45, 0.07, 0.40
LUTRAM_READ = 0.5              # TRELLIS_DPR16X4 read address -> data
_SEQUENTIAL = ("TRELLIS_FF", "DP16KD", "MULT18X18D", "ALU54B")
#: Clock inputs of cells: an arc from one of them is a clock-to-output (a path's start).
CLOCK_PINS = {"CLK", "CLKA", "CLKB", "CLK0", "CLK1", "CLK2", "CLK3", "WCK"}


@dataclass(frozen=True)
class Endpoint:
    delay_ns: float            # estimated arrival at the endpoint's input
    cell: str                  # the endpoint cell (flip-flop, EBR, DSP, LUT RAM write port)
    group: str                 # its signal name with indices folded (see group_name)
    path: tuple                # (arrival ns, driver cell) from the start point on


def group_name(cell: str) -> str:
    """``core.oacc12_TRELLIS_FF_Q_3`` -> ``core.oacc#``: the signal a mapped cell came from,
    with numbers folded, so the bits and copies of one register count as one group (also
    the unit names of :mod:`attnkit.boards.sta`, whose cells are nextpnr's)."""
    name = re.split(r"_TRELLIS_FF|_TRELLIS_IO|_DP16KD|\.mult\b|_LUT4|_CCU2C|\$CCU2|_PFUMX|_L6MUX",
                    cell)[0]
    return re.sub(r"\d+", "#", name)


def estimate(netlist, hop: float = 1.0, fanout: float = 0.1) -> list:
    """Every endpoint of the top module of ``netlist`` (a parsed Yosys JSON netlist, or its
    text), longest estimated path first."""
    if isinstance(netlist, (str, bytes)):
        netlist = json.loads(netlist)
    mods = netlist["modules"]
    tops = [n for n, mod in mods.items() if mod.get("attributes", {}).get("top")]
    if len(tops) != 1:
        raise ValueError(f"expected one top module, found {tops}")
    cells = mods[tops[0]]["cells"]
    driver = {}                # net bit -> (cell, port)
    sinks = collections.Counter()
    for name, c in cells.items():
        for port, bits in c["connections"].items():
            for b in bits:
                if isinstance(b, str):
                    continue
                if c["port_directions"].get(port) == "output":
                    driver[b] = (name, port)
                else:
                    sinks[b] += 1
    memo = {}

    def net(bit):
        """The routing estimate of the net ``bit``: one hop, longer with more sinks."""
        return hop + fanout * max(0, sinks[bit] - 1).bit_length()

    def inputs(c):
        for port, bits in c["connections"].items():
            if c["port_directions"].get(port) == "input":
                for b in bits:
                    if not isinstance(b, str):
                        yield port, b

    def arrival(bit):
        """(ns, previous bit or None, driver cell) at the output that drives ``bit``."""
        if bit in memo:
            return memo[bit]
        if bit not in driver:
            memo[bit] = (0.0, None, None)        # a port of the top module
            return memo[bit]
        name, port = driver[bit]
        c = cells[name]
        kind = c["type"]
        memo[bit] = (0.0, None, name)            # breaks combinational loops
        if kind in _SEQUENTIAL:
            t = CLK_TO_Q.get(kind)
            if kind == "DP16KD":
                regmode = c.get("parameters", {}).get(f"REGMODE_{port[2]}" if port.startswith("DO")
                                                      else "REGMODE_A", "NOREG")
                t = EBR_CLK_TO_Q.get(str(regmode).strip(), EBR_CLK_TO_Q["NOREG"])
            result = (t, None, name)
        elif kind == "TRELLIS_DPR16X4" and port.startswith("DO"):
            result = max(((arrival(b)[0] + net(b) + LUTRAM_READ, b, name)
                          for p, b in inputs(c) if p.startswith("RAD")),
                         default=(LUTRAM_READ, None, name))
        elif kind == "CCU2C":
            best = (CARRY_SUM, None, name)
            for p, b in inputs(c):
                if p == "CIN":
                    t = arrival(b)[0] + CARRY_STEP + (0 if port == "COUT" else CARRY_SUM)
                else:
                    t = arrival(b)[0] + net(b) + (CARRY_IN if port == "COUT" else CARRY_SUM)
                best = max(best, (t, b, name))
            result = best
        elif kind in ("PFUMX", "L6MUX21"):
            # the LUT-to-mux connections are inside the slice: no routing hop
            inside = ("ALUT", "BLUT", "D0", "D1")
            result = max(((arrival(b)[0] + (0 if p in inside else net(b)) + MUX, b, name)
                          for p, b in inputs(c)), default=(MUX, None, name))
        elif kind == "LUT4":
            result = max(((arrival(b)[0] + net(b) + LUT, b, name) for p, b in inputs(c)),
                         default=(LUT, None, name))
        else:
            result = (0.0, None, name)           # unknown cells start paths
        memo[bit] = result
        return result

    ends = []
    for name, c in cells.items():
        kind = c["type"]
        if kind not in _SEQUENTIAL and kind != "TRELLIS_DPR16X4":
            continue
        worst, wbit = 0.0, None
        for port, b in inputs(c):
            if port in CLOCK_PINS or (kind == "TRELLIS_DPR16X4" and port.startswith("RAD")):
                continue
            t = arrival(b)[0] + net(b)
            if t > worst:
                worst, wbit = t, b
        path, seen = [], set()
        while wbit is not None and wbit not in seen:     # (a combinational loop ends it)
            seen.add(wbit)
            t, prev, drv = memo[wbit]
            path.append((round(t, 3), drv))
            wbit = prev
        ends.append(Endpoint(round(worst, 3), name, group_name(name), tuple(reversed(path))))
    ends.sort(key=lambda e: (-e.delay_ns, e.cell))
    return ends


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("netlist", help="Yosys JSON netlist (a build's top.json)")
    ap.add_argument("--hop", type=float, default=1.0, help="ns per net between two cells")
    ap.add_argument("--fanout", type=float, default=0.1, help="ns per doubling of a net's sinks")
    ap.add_argument("--over", type=float, default=5.0, help="list endpoints above this, ns")
    ap.add_argument("--groups", type=int, default=30, help="groups to list")
    ap.add_argument("--paths", type=int, default=5, help="worst groups to show a path of")
    a = ap.parse_args(argv)
    with open(a.netlist) as f:
        ends = estimate(json.load(f), a.hop, a.fanout)
    bad = [e for e in ends if e.delay_ns > a.over]
    print(f"{len(ends)} endpoints, {len(bad)} above {a.over:g} ns (hop {a.hop:g} ns)")
    worst = {}
    for e in bad:
        worst.setdefault(e.group, e)
    counts = collections.Counter(e.group for e in bad)
    for g, n in sorted(counts.items(), key=lambda x: (-worst[x[0]].delay_ns, x[0]))[:a.groups]:
        print(f"{n:6d} endpoints  worst {worst[g].delay_ns:5.2f} ns  {g}")
    for e in list(worst.values())[:a.paths]:
        print(f"\n{e.delay_ns:.2f} ns  {e.cell}")
        for i, (t, drv) in enumerate(e.path):
            nxt = e.path[i + 1][1] if i + 1 < len(e.path) else None
            if "CCU2C" in str(drv) and "CCU2C" in str(nxt) \
                    and group_name(drv) == group_name(nxt):
                continue                         # a carry chain: its last cell only
            print(f"  {t:6.2f}  {drv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
