"""Every endpoint's timing from nextpnr's SDF: how many paths miss the clock, and where.

nextpnr reports one critical path per clock. When a design misses its target by a few
hundred picoseconds, that path is one of tens or hundreds, and removing it shows only the
next one (``docs/attention_engine.md``: one fix per 4-minute build). nextpnr also writes the
routed design's delays as an SDF file (``--sdf``, written by the build flow as ``top.sdf``):
the delay of every cell arc (``IOPATH``), every routed connection (``INTERCONNECT``) and
every setup check (``SETUPHOLD``). This module propagates arrival times through them (a
static timing analysis of a single clock domain, maximum delays, no clock skew: the clock
is on the global network, whose SDF delays nextpnr writes as 0) and lists every endpoint
that misses the period, grouped by the unit of the path's start and end register. On the
attention engine its worst path equals nextpnr's own to the picosecond (v51 seed 2: 5,568
ps = 179.6 MHz).

Startpoints: the outputs of clocked arcs (``IOPATH CLK Q`` of a flip-flop, a block RAM's
or a DSP's clock-to-output, a LUT RAM's write clock), with their clock-to-output delay.
Endpoints: the pins of a setup check, with their setup time. A cell's unit is its netlist
name with the cell suffixes nextpnr and Yosys add removed and digits replaced by ``#``
(:func:`attnkit.boards.netlist_timing.group_name`), so the 64 accumulators of one kind are
one unit.

``python -m attnkit.boards.sta build/<dir>/top.sdf --mhz 200 [--groups N] [--paths N]``.
"""

from __future__ import annotations

import argparse
import collections
import re
from dataclasses import dataclass, field
from pathlib import Path

from .netlist_timing import CLOCK_PINS, group_name

__all__ = ["Timing", "analyse", "summary", "unit_of", "main"]

_CELL = re.compile(r'\(CELLTYPE "[^"]+"\)\s*\(INSTANCE ([^)]*)\)(.*)', re.S)
_INTERCONNECT = re.compile(r"\(INTERCONNECT (\S+) (\S+) \(([\d.:]+)\)")
_IOPATH = re.compile(r"\(IOPATH (\(posedge \w+\)|\w+) (\w+) \(([\d.:]+)\)")
_SETUP = re.compile(r"\(SETUPHOLD \((?:pos|neg)edge (\w+)\) \(posedge \w+\) \(([\d.:]+)\)")
_TIMESCALE = re.compile(r"\(TIMESCALE (\d+)\s*(ps|ns)\)")


def _max(triple: str) -> float:
    """The maximum of an SDF ``min:typ:max`` triple (or a single value)."""
    return float(triple.split(":")[-1])


def _unescape(name: str) -> str:
    return name.strip().replace("\\", "")


@dataclass
class Timing:
    """Arrival times (ns) of a design's pins; ``endpoints`` maps each setup-checked pin to
    its required arrival plus setup, i.e. the clock period it needs."""
    endpoints: dict                               # pin -> ns (arrival + setup)
    arrival: dict                                 # pin -> ns
    previous: dict = field(repr=False)            # pin -> the pin its worst arrival came from

    def path(self, pin: str) -> list:
        """``[(pin, arrival ns), ...]`` from the startpoint to ``pin``."""
        out = []
        while pin is not None:
            out.append((pin, self.arrival[pin]))
            pin = self.previous.get(pin)
        return out[::-1]


def analyse(sdf: str) -> Timing:
    """Propagate the maximum arrival time through an SDF's arcs (see the module docstring).

    :class:`ValueError` when the SDF has no setup checks, or its arcs form a loop."""
    scale = 1.0
    m = _TIMESCALE.search(sdf)
    if m:
        scale = float(m.group(1)) * (1e-3 if m.group(2) == "ps" else 1.0)
    edges = collections.defaultdict(list)          # pin -> [(pin, delay)]
    starts, setup = {}, {}
    for chunk in re.split(r"\(CELL\s*\n", sdf)[1:]:
        cell = _CELL.match(chunk.lstrip())
        if cell is None:
            raise ValueError(f"unreadable SDF cell: {chunk[:120]!r}")
        inst, body = _unescape(cell.group(1)), cell.group(2)
        if not inst:                              # the top level: the routed connections
            for a, b, d in _INTERCONNECT.findall(body):
                edges[_unescape(a)].append((_unescape(b), _max(d) * scale))
            continue
        for i, o, d in _IOPATH.findall(body):
            i = i.replace("(posedge ", "").rstrip(")")
            pin = f"{inst}/{o}"
            if i in CLOCK_PINS:
                starts[pin] = max(starts.get(pin, 0.0), _max(d) * scale)
            else:
                edges[f"{inst}/{i}"].append((pin, _max(d) * scale))
        for p, d in _SETUP.findall(body):
            pin = f"{inst}/{p}"
            setup[pin] = max(setup.get(pin, 0.0), _max(d) * scale)
    if not setup:
        raise ValueError("the SDF has no setup checks (not a routed nextpnr design?)")
    indegree = collections.Counter(b for lst in edges.values() for b, _ in lst)
    pins = set(edges) | set(indegree) | set(starts)
    ready = [p for p in pins if indegree[p] == 0]
    arrival = dict(starts)
    previous = dict.fromkeys(starts)
    seen = 0
    while ready:
        p = ready.pop()
        seen += 1
        t = arrival.get(p)
        for q, d in edges.get(p, ()):
            if t is not None and t + d > arrival.get(q, -1.0):
                arrival[q], previous[q] = t + d, p
            indegree[q] -= 1
            if indegree[q] == 0:
                ready.append(q)
    if seen != len(pins):
        raise ValueError(f"the SDF's arcs form a loop ({len(pins) - seen} pins never ordered)")
    endpoints = {p: arrival[p] + s for p, s in setup.items() if p in arrival}
    return Timing(endpoints, arrival, previous)


def unit_of(pin: str) -> str:
    """The unit of a cell pin: ``core.vprod5_b7_ff7/Q`` -> ``core.vprod#_b#_ff#`` (the cell's
    :func:`~attnkit.boards.netlist_timing.group_name`)."""
    return group_name(pin.rsplit("/", 1)[0])


def summary(timing: Timing, period_ns: float, *, groups: int = 20, paths: int = 0) -> dict:
    """The endpoints that need more than ``period_ns``, grouped by (start unit, end unit).

    Returns ``{"period_ns", "endpoints", "failing", "worst_ns", "groups": [{"from", "to",
    "endpoints", "worst_ns"}, ...] (most endpoints first, at most ``groups``), "paths":
    [[[pin, ns], ...], ...]}`` (the worst path of the first ``paths`` groups)."""
    ordered = sorted(timing.endpoints.items(), key=lambda kv: -kv[1])
    failing = [(p, t) for p, t in ordered if t > period_ns]
    count, worst = collections.Counter(), {}
    for p, t in failing:
        key = (unit_of(timing.path(p)[0][0]), unit_of(p))
        count[key] += 1
        worst.setdefault(key, (t, p))
    top = count.most_common(groups)
    return {
        "period_ns": period_ns,
        "endpoints": len(ordered),
        "failing": len(failing),
        "worst_ns": round(ordered[0][1], 3) if ordered else None,
        "groups": [{"from": a, "to": b, "endpoints": n, "worst_ns": round(worst[(a, b)][0], 3)}
                   for (a, b), n in top],
        "paths": [[[pin, round(t, 3)] for pin, t in timing.path(worst[key][1])]
                  for key, _ in top[:paths]],
    }


def format_summary(s: dict) -> str:
    lines = [f"{s['failing']} of {s['endpoints']} endpoints need more than "
             f"{s['period_ns']:g} ns; worst {s['worst_ns']:.3f} ns "
             f"({1000 / s['worst_ns']:.1f} MHz)"]
    for g in s["groups"]:
        lines.append(f"{g['endpoints']:6d}  worst {g['worst_ns']:6.3f} ns  {g['from']} -> {g['to']}")
    for path in s["paths"]:
        lines.append("")
        prev = 0.0
        for pin, t in path:
            if t - prev >= 0.005 or pin == path[-1][0]:
                lines.append(f"  {t:6.3f} (+{t - prev:5.3f})  {pin}")
            prev = t
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m attnkit.boards.sta", description=__doc__.split("\n\n")[0])
    ap.add_argument("sdf", type=Path, help="nextpnr's --sdf output (a build's top.sdf)")
    ap.add_argument("--mhz", type=float, required=True, help="the clock target")
    ap.add_argument("--groups", type=int, default=20, help="groups to list (default 20)")
    ap.add_argument("--paths", type=int, default=0, help="print the worst path of the first N groups")
    args = ap.parse_args(argv)
    s = summary(analyse(args.sdf.read_text()), 1000 / args.mhz, groups=args.groups,
                paths=args.paths)
    print(format_summary(s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
