#!/usr/bin/env python3
"""Softmax error budget: accuracy (and with --synth, ECP5 resources) per configuration.

Usage::

    python tools/softmax_budget.py                         # default sweep, 20,000 rows each
    python tools/softmax_budget.py --rows 100000 --out-bits 16
    python tools/softmax_budget.py --methods 6:1 0:3 --synth --device LFE5U-25F
    python tools/softmax_budget.py --report-default        # the 100,000-row default report

For every configuration (output width x exponent method ``TB:D`` x ``E`` x ``G``) the golden
model (:mod:`attnkit.golden.softmax`) is compared with float64 over ``--rows`` random rows
(six distributions, lengths 1..``--max-len``): max absolute error in output LSBs, RMSE,
argmax agreement on rows whose top two float probabilities differ by more than 1 LSB.
``--synth`` also builds :class:`attnkit.hdl.softmax.Softmax` (``--l-max``) out of context
with :func:`attnkit.boards.toolchain.build_ooc` and records LUT4/FF/DSP/EBR and nextpnr's
post-route Fmax. Writes JSON (the data), Markdown (made from it) and a plot of error vs
resources (vs exponent-table size when there is no synthesis data).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from attnkit.golden.fixed import FixedFormat
from attnkit.golden.softmax import (BUDGET_METHODS, SoftmaxConfig, budget_configs,
                                    budget_markdown, config_to_dict, error_report, method_name)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = "attnkit.softmax_budget/1"


def parser():
    p = argparse.ArgumentParser(prog="softmax_budget.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=20_000, help="rows per configuration")
    p.add_argument("--max-len", type=int, default=4096, help="longest row (default 4096)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mask-p", type=float, default=0.0, help="fraction of masked elements")
    p.add_argument("--out-bits", type=int, nargs="+", default=[8, 16], choices=[8, 16])
    p.add_argument("--methods", nargs="+", metavar="TB:D",
                   help="exponent methods as table_bits:degree (default: a sweep of "
                        f"{len(BUDGET_METHODS)})")
    p.add_argument("--exp-frac-bits", type=int, nargs="+", default=[16], metavar="E")
    p.add_argument("--sum-guard-bits", type=int, nargs="+", default=[10], metavar="G")
    p.add_argument("--report-default", action="store_true",
                   help="only the default SoftmaxConfig (u0.8) and its u0.16 variant")
    p.add_argument("--synth", action="store_true", help="out-of-context ECP5 build per config")
    p.add_argument("--device", default="LFE5U-25F")
    p.add_argument("--clock", type=float, default=200.0, help="synthesis target MHz")
    p.add_argument("--l-max", type=int, default=256, help="hardware row buffer size for --synth")
    p.add_argument("--replot", type=Path, metavar="JSON",
                   help="only redraw STEM.png from an existing STEM.json")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "softmax_budget",
                   help="output stem: writes STEM.json, STEM.md, STEM.png")
    return p


def parse_methods(items):
    out = []
    for it in items:
        try:
            tb, deg = (int(v) for v in it.split(":"))
        except ValueError:
            raise SystemExit(f"--methods entries must be TB:D integers, not {it!r}") from None
        out.append((tb, deg))
    return out


def synth(cfg, args, build_dir):
    from attnkit.boards.toolchain import build_ooc
    from attnkit.hdl.softmax import Softmax
    rep = build_ooc(lambda: Softmax(cfg, args.l_max), out_dir=build_dir, design="softmax",
                    params={**config_to_dict(cfg), "l_max": args.l_max}, device=args.device,
                    clock_mhz=args.clock, allow_timing_fail=True, ops_per_cycle=None)
    u = rep.get("core_utilization") or rep.get("utilization") or {}

    def used(k):
        return (u.get(k) or {}).get("used")
    return {"lut4": used("TRELLIS_COMB"), "ff": used("TRELLIS_FF"), "dsp": used("MULT18X18D"),
            "ebr": used("DP16KD"), "fmax_mhz": rep["clocks"]["sync"]["achieved_mhz"],
            "device": args.device, "l_max": args.l_max, "status": rep["status"],
            "source": f"nextpnr post-route report, {build_dir}/report.json"}


def plot(entries, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    have_synth = all(e.get("synth") and e["synth"].get("lut4") for e in entries)
    for ob, marker in ((8, "o"), (16, "s")):
        pts = [e for e in entries if e["config"]["out_fmt"][2] + e["config"]["out_fmt"][1] == ob]
        if not pts:
            continue
        if have_synth:
            xs = [e["synth"]["lut4"] for e in pts]
        else:
            xs = [(2 ** e["config"]["table_bits"]) * (e["config"]["degree"] + 1) for e in pts]
        ys = [max(e["accuracy"]["max_abs_err_lsb_vs_saturated_ref"], 1e-3) for e in pts]
        ax.scatter(xs, ys, marker=marker, label=f"{ob}-bit output")
        for x, y, e in zip(xs, ys, pts):
            label = e["method"]
            if have_synth:
                label += f" ({e['synth']['dsp']} DSP, {e['synth']['ebr']} EBR)"
            ax.annotate(label, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    if not have_synth:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("LUT4 (nextpnr, out-of-context build; DSP/EBR in the labels)" if have_synth
                  else "exponent ROM words (segments x coefficients)")
    ax.set_ylabel("max abs error vs float64 (output LSBs)")
    ax.set_title("attnkit softmax: error vs resources (golden model, float64 reference)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None):
    args = parser().parse_args(argv)
    if args.replot:
        doc = json.loads(args.replot.read_text())
        plot(doc["entries"], args.replot.with_suffix(".png"))
        print(f"wrote {args.replot.with_suffix('.png')}")
        return 0
    if args.report_default:
        cfgs = [SoftmaxConfig(), SoftmaxConfig(out_fmt=FixedFormat(False, 0, 16))]
    else:
        methods = parse_methods(args.methods) if args.methods else BUDGET_METHODS
        try:
            cfgs = budget_configs(tuple(args.out_bits), methods, tuple(args.exp_frac_bits),
                                  tuple(args.sum_guard_bits))
        except (TypeError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    t0 = time.monotonic()
    entries = []
    for i, cfg in enumerate(cfgs):
        t = time.monotonic()
        acc = error_report(cfg, rows=args.rows, max_len=args.max_len, seed=args.seed,
                           mask_p=args.mask_p)
        en = {"config": config_to_dict(cfg), "method": method_name(cfg), "accuracy": acc,
              "synth": None}
        msg = (f"[{i + 1}/{len(cfgs)} {time.monotonic() - t0:6.1f}s] {cfg.out_fmt} "
               f"{method_name(cfg):12s} E={cfg.exp_frac_bits} G={cfg.sum_guard_bits}: "
               f"max {acc['max_abs_err_lsb']:.3f} LSB, rmse {acc['rmse_lsb']:.4f}, "
               f"argmax {acc['argmax_agree']:.6f} ({time.monotonic() - t:.1f}s)")
        print(msg, file=sys.stderr, flush=True)
        if args.synth:
            bdir = REPO / "build" / f"softmax_budget-{args.device}-{i}"
            en["synth"] = synth(cfg, args, bdir)
            print(f"    synth: {en['synth']}", file=sys.stderr, flush=True)
        entries.append(en)
    doc = {"schema": SCHEMA, "rows_per_config": args.rows, "max_len": args.max_len,
           "seed": args.seed, "mask_p": args.mask_p,
           "command": "python tools/softmax_budget.py " + " ".join(argv or sys.argv[1:]),
           "source": "golden model vs float64 (attnkit.golden.softmax.error_report); synth "
                     "figures from nextpnr post-route reports where present",
           "entries": entries}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    js, md, png = (args.out.with_suffix(s) for s in (".json", ".md", ".png"))
    js.write_text(json.dumps(doc, indent=1) + "\n")
    table = budget_markdown(entries)
    md.write_text(f"# Softmax error budget\n\nGenerated by `{doc['command']}` "
                  f"({args.rows} rows per configuration, lengths 1..{args.max_len}, seed "
                  f"{args.seed}). Errors are in output LSBs against a float64 softmax of the "
                  f"same quantized logits; 'vs sat. ref' clamps the reference to the format "
                  f"maximum (u0.* cannot hold 1.0).\n\n{table}")
    plot(entries, png)
    print(table)
    print(f"wrote {js}, {md}, {png} in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
