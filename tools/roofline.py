#!/usr/bin/env python3
"""Roofline of LLM layers on GPUs, edge SoCs, our FPGA builds and measured devices.

Examples
--------
The talk's table (Llama-2 7B on an A6000, LLM-Viewer conventions)::

    python tools/roofline.py table --model llama-2-7b --hardware nvidia-a6000 \
        --seqlen 2048 --batch 1 --w-bits 16 --a-bits 16 --kv-bits 16

Side by side, with an FPGA build report::

    python tools/roofline.py compare --model llama-2-7b --w-bits 4 \
        --hardware nvidia-a6000 snapdragon-8-gen-3 --fpga build/<dir>/report.json

The plot committed under docs/::

    python tools/roofline.py plot --model llama-2-7b --seqlen 2048 \
        --hardware nvidia-a6000 nvidia-h100-sxm --fpga docs/gemv128_85f_report.json \
        --dram-bandwidth 332e6 --dram-source "ULX3S SDRAM (boards/registry.py)" \
        --out docs/roofline_llama2_7b

Attention-variant costs::

    python tools/roofline.py variants --T 2048 --d 128

The logic lives in attnkit.golden.workload / .roofline / .attention_variants and
attnkit.boards.hardware; this script parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from attnkit.boards import hardware as hwmod
from attnkit.golden import attention_variants as av
from attnkit.golden import llm_models
from attnkit.golden.roofline import format_ai, format_si
from attnkit.golden.workload import STAGES, Workload


def _workload_args(p):
    p.add_argument("--model", default="llama-2-7b", help="model name (see --list-models)")
    p.add_argument("--seqlen", type=int, default=2048,
                   help="prompt length (prefill) / KV-cache length (decode)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--w-bits", type=int, default=16)
    p.add_argument("--a-bits", type=int, default=16)
    p.add_argument("--kv-bits", type=int, default=None, help="default: --a-bits")
    p.add_argument("--flash-attention", action="store_true",
                   help="fuse qk_matmul/softmax/sv_matmul (FlashAttention-2 traffic)")
    p.add_argument("--flash-block", type=int, default=128,
                   help="query rows per flash-attention tile")
    p.add_argument("--physical", action="store_true",
                   help="count what hardware moves (residual add reads 2 tensors) "
                        "instead of the talk's conventions")
    p.add_argument("--stage", choices=("prefill", "decode", "both"), default="both")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--dram-bandwidth", type=float, default=None,
                   help="FPGA board DRAM bandwidth in bytes/s (when the board registry "
                        "has none)")
    p.add_argument("--dram-source", default=None, help="source of --dram-bandwidth")
    p.add_argument("--bram-mode", choices=("tdp", "pdp"), default="tdp")
    p.add_argument("--memory-level", default=None,
                   help="use this memory level's bandwidth (e.g. bram for an FPGA)")
    p.add_argument("--build-dir", default="build",
                   help="where board names look for */report.json")


def _setup(args):
    model = llm_models.get_model(args.model)
    wl = Workload(seqlen=args.seqlen, batch=args.batch, w_bits=args.w_bits,
                  a_bits=args.a_bits, kv_bits=args.kv_bits,
                  flash_attention=args.flash_attention, flash_block=args.flash_block,
                  conventions="physical" if args.physical else "talk")
    stages = STAGES if args.stage == "both" else (args.stage,)
    if not model.decoder:
        if args.stage == "decode":
            raise ValueError(f"--stage decode does not apply to encoder model {model.name!r}")
        stages = ("prefill",)
    return model, wl, stages


def _resolve(spec, args):
    kw = dict(bram_mode=args.bram_mode)
    if args.dram_bandwidth is not None:
        kw.update(dram_bandwidth=args.dram_bandwidth,
                  dram_source=args.dram_source or "command line --dram-bandwidth")
    return hwmod.resolve_hardware(spec, build_dir=args.build_dir, **kw)


def _hardware_list(args):
    specs = list(args.hardware or []) + list(getattr(args, "fpga", None) or [])
    if not specs:
        raise SystemExit("error: give at least one --hardware (or --fpga)")
    return [_resolve(s, args) for s in specs]


def _fmt_time(t):
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t:.3g} s"


def _totals_lines(a):
    out = []
    for stage, t in a["totals"].items():
        out.append(f"  {stage:8s} total: {t['ops'] / 1e9:.4g} GOPs ({t['ops']}), "
                   f"{t['memory_access'] / 1e9:.4g} GB ({t['memory_access']}), "
                   f"time {_fmt_time(t['time_s'])}, {t['tokens_per_s']:.4g} tokens/s")
    out.append(f"  weights {a['weight_bytes']} B, KV cache {a['kv_cache_bytes']} B "
               f"({a['kv_cache_bytes'] / 2**30:.3g} GiB) at seqlen {a['workload']['seqlen']}")
    return out


def cmd_table(args):
    model, wl, stages = _setup(args)
    if len(args.hardware) != 1:
        raise SystemExit("error: table takes exactly one --hardware (use compare for more)")
    hw = _resolve(args.hardware[0], args)
    a = hwmod.analyze(model, wl, hw, stages, memory_level=args.memory_level)
    if args.json:
        json.dump(a, sys.stdout, indent=1, default=str)
        print()
        return
    print(f"{model.name} on {hw.name}: peak {a['peak']['precision']} "
          f"{a['peak']['ops_per_s']:.4g} OPs/s, {a['bandwidth_bytes_per_s']:.4g} B/s, "
          f"ridge {a['ridge_point']:.4g} OPs/B; seqlen {wl.seqlen}, batch {wl.batch}, "
          f"W{wl.w_bits}A{wl.a_bits}KV{wl.kv_bits}"
          f"{', flash attention' if wl.flash_attention else ''}, {wl.conventions} conventions")
    hdr = f"{'stage':8s} {'layer':16s} {'OPs':>6s} {'Memory':>7s} {'AI':>6s} {'Perf':>6s} " \
          f"{'bound':8s} {'x/model':>7s} {'OPs (exact)':>14s} {'bytes (exact)':>14s}"
    print(hdr)
    print("-" * len(hdr))
    for r in a["rows"]:
        mult = r["count"] * (1 if r["per_model"] else model.num_layers)
        ai = r["arithmetic_intensity"]
        print(f"{r['stage']:8s} {r['layer']:16s} {format_si(r['ops']):>6s} "
              f"{format_si(r['memory_access']):>7s} "
              f"{format_ai(ai) if math.isfinite(ai) else 'inf':>6s} "
              f"{format_si(r['performance']):>6s} {r['bound']:8s} {mult:>7d} "
              f"{r['ops']:>14d} {r['memory_access']:>14d}")
    print("\n".join(_totals_lines(a)))


def cmd_compare(args):
    model, wl, stages = _setup(args)
    hws = _hardware_list(args)
    results = [hwmod.analyze(model, wl, hw, stages, memory_level=None) for hw in hws]
    if args.json:
        json.dump({"analyses": results}, sys.stdout, indent=1, default=str)
        print()
        return
    print(f"{model.name}, seqlen {wl.seqlen}, batch {wl.batch}, "
          f"W{wl.w_bits}A{wl.a_bits}KV{wl.kv_bits}: per-instance time (bound)")
    for i, hw in enumerate(hws):
        print(f"  [{i}] {hw.name}: {results[i]['peak']['ops_per_s']:.4g} OPs/s "
              f"({results[i]['peak']['precision']}), {hw.bandwidth:.4g} B/s"
              + (f"  -- {hw.notes}" if hw.notes else ""))
    head = f"{'stage':8s} {'layer':16s}" + "".join(f" {'[' + str(i) + ']':>16s}"
                                                   for i in range(len(hws)))
    print(head)
    print("-" * len(head))
    for j, r0 in enumerate(results[0]["rows"]):
        cells = "".join(f" {_fmt_time(a['rows'][j]['time_s']) + ' ' + a['rows'][j]['bound'][0]:>16s}"
                        for a in results)
        print(f"{r0['stage']:8s} {r0['layer']:16s}{cells}")
    for stage in results[0]["totals"]:
        print(f"{stage:8s} {'model time':16s}" + "".join(
            f" {_fmt_time(a['totals'][stage]['time_s']):>16s}" for a in results))
        print(f"{stage:8s} {'tokens/s':16s}" + "".join(
            f" {a['totals'][stage]['tokens_per_s']:>16.4g}" for a in results))
    print("(m = memory bound, c = compute bound; times are one instance of the layer)")


def cmd_plot(args):
    model, wl, stages = _setup(args)
    hws = _hardware_list(args)
    results = [hwmod.analyze(model, wl, hw, stages) for hw in hws]
    title = args.title or (f"{model.name} layers, seqlen {wl.seqlen}, batch {wl.batch}, "
                           f"W{wl.w_bits}A{wl.a_bits}KV{wl.kv_bits}")
    paths = hwmod.plot_roofline(results, hws, args.out, title=title)
    for p in paths:
        print(f"wrote {p}")


def cmd_variants(args):
    costs = av.variant_costs(args.T, args.d, args.bits)
    if args.json:
        json.dump([c.as_dict() for c in costs], sys.stdout, indent=1)
        print()
        return
    print(f"attention variants, one head, T={args.T}, d={args.d}, {args.bits}-bit elements")
    print(f"{'variant':20s} {'time':14s} {'space':18s} {'OPs':>16s} {'memory (B)':>14s}")
    for c in costs:
        ops = f"{c.ops}" if c.exact else "-"
        mem = f"{c.memory_bytes}" if c.exact else "-"
        print(f"{c.name:20s} {c.time_complexity:14s} {c.space_complexity:18s} "
              f"{ops:>16s} {mem:>14s}")
    print("('-': cost depends on implementation choices; big-O only)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list-models", action="store_true")
    ap.add_argument("--list-hardware", action="store_true")
    sub = ap.add_subparsers(dest="cmd")
    p = sub.add_parser("table", help="per-layer roofline table on one hardware")
    _workload_args(p)
    p.add_argument("--hardware", nargs=1, default=["nvidia-a6000"])
    p.set_defaults(func=cmd_table)
    for name, func, hlp in (("compare", cmd_compare, "per-layer time side by side"),
                            ("plot", cmd_plot, "roofline plot (PNG and SVG)")):
        p = sub.add_parser(name, help=hlp)
        _workload_args(p)
        p.add_argument("--hardware", nargs="+", default=[])
        p.add_argument("--fpga", nargs="+", default=[],
                       help="FPGA build report.json paths (or board names)")
        if name == "plot":
            p.add_argument("--out", default="roofline", help="output path without suffix")
            p.add_argument("--title", default=None)
        p.set_defaults(func=func)
    p = sub.add_parser("variants", help="attention-variant cost (talk's complexity table)")
    p.add_argument("--T", type=int, default=2048)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--bits", type=int, default=16)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_variants)
    args = ap.parse_args(argv)
    if args.list_models:
        for m in llm_models.MODELS.values():
            print(f"{m.name:18s} layers {m.num_layers:3d} hidden {m.hidden_size:5d} heads "
                  f"{m.num_heads:3d} kv_heads {m.num_kv_heads:3d}  {m.source}")
    if args.list_hardware:
        for h in hwmod.HARDWARE.values():
            peaks = ", ".join(f"{k} {v / 1e12:.4g} T" for k, v in h.peak_ops.items())
            print(f"{h.name:24s} {h.kind:5s} {h.bandwidth / 1e9:8.4g} GB/s  {peaks}"
                  + (f"  ({h.notes})" if h.notes else ""))
        print("FPGA: a board name with a build/*/report.json (ulx3s-85f, ...) or a report "
              "path; user/measured profiles: a .json/.toml path")
    if args.list_models or args.list_hardware:
        return 0
    if not args.cmd:
        ap.print_help()
        return 2
    try:
        args.func(args)
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
