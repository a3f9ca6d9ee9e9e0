#!/usr/bin/env python3
"""attnkit benchmark suite: prints a table per section and writes ``bench.json``.

Sections (logic in :mod:`attnkit.sim.fast_bench`):

1. simulator speed: one GEMV job on the 64-lane int8 array under Amaranth's simulator,
   cocotb + Verilator and the fast path (Verilator + C++ driver): simulated cycles/s, ratios;
2. GEMV utilisation at Llama-2 7B shapes (4096 x 4096, 11008 x 4096), int8 and int4, on the
   fast path (cycle accurate, every output checked against the golden model);
3. softmax sustained elements per cycle over rows of 128, 2048 and 4096 (Amaranth simulator);
4. attention head (d = 128, T = 2048): cycles and K/V rows read per selection mode;
5. build reports (``build/*/report.json`` and ``build/*/seed*/report.json``, newest per
   design and device): Fmax,
   resources, peak GOPS and the fraction of the device's DSP ceiling.

Compiles (Verilator, Yosys/nextpnr for the DSP clock limit) are cached under ``build/``; the
first run spends most of its time there. Wall times of simulations exclude compiles.

    python tools/bench.py                  # everything (tens of minutes on a 2-core machine)
    python tools/bench.py --quick          # short run: smaller simulator-speed job, 64-lane
                                           # GEMV arrays only, fewer softmax rows, no attention
    python tools/bench.py --markdown bench.json   # README "Performance" section from a JSON
    python tools/bench.py --only attention,builds # re-run these sections into bench.json
                                           # (the others kept; each re-run is recorded)
"""

import argparse
import json
import sys
import time

from attnkit.sim import fast_bench as fb


class Progress:
    def __init__(self):
        self.t0 = time.monotonic()

    def __call__(self, text):
        print(f"[{time.monotonic() - self.t0:7.1f} s] {text}", flush=True)


def print_speed(s):
    print(f"\nSimulator speed: GemvArray lanes={s['design']['lanes']} int{s['design']['weight_bits']}, "
          f"one {s['job']['m']} x {s['job']['n']} job")
    print(f"{'engine':18s} {'cycles':>8s} {'run s':>8s} {'cycles/s':>11s} {'x Amaranth':>10s} "
          f"{'CPU cycles/s':>12s} {'x Am. CPU':>9s} {'exact':>5s}  compile/notes")
    for name, e in s["engines"].items():
        extra = ""
        if name == "fast":
            extra = (f"build {e['build_s']} s{'' if e['built'] else ' (cached)'}; export {e['export_s']} s; "
                     f"call {e['call_s']} s")
        elif name == "cocotb_verilator":
            extra = f"build {e['build_s']} s{'' if e['built'] else ' (cached)'}; process {e['process_s']} s"
        elif name == "amaranth":
            extra = f"call {e['call_s']} s (elaboration included)"
        print(f"{name:18s} {e['cycles']:>8d} {e['run_s']:>8.3f} {e['cycles_per_s']:>11,} "
              f"{e['ratio_vs_amaranth'] or 0:>10.1f} {e['cycles_per_cpu_s'] or 0:>12,} "
              f"{e['cpu_ratio_vs_amaranth'] or 0:>9.1f} {str(e['bit_exact']):>5s}  {extra}")
    print("run s: wall time of the simulation run alone; CPU: processor time of the same span "
          "(the machine is shared: wall time includes waiting for a core)")
    print(f"cycle counts of Amaranth and the fast path agree: {s['cycles_agree']}")


def print_gemv(rows):
    print("\nGEMV at Llama-2 7B shapes (fast path, cycle accurate)")
    print(f"{'layer':10s} {'M':>6s} {'N':>5s} {'W':>4s} {'lanes':>5s} {'DSPs':>4s} {'cycles':>9s} "
          f"{'ideal':>9s} {'util':>7s} {'exact':>5s} {'sim s':>6s} {'call s':>6s} {'cycles/s':>10s} {'CPU cyc/s':>10s}")
    for r in rows:
        print(f"{r['layer']:10s} {r['m']:>6d} {r['n']:>5d} {'i' + str(r['weight_bits']):>4s} {r['lanes']:>5d} "
              f"{r['dsps']:>4d} {r['cycles']:>9d} {r['ideal_cycles']:>9.0f} {r['utilization']:>7.4f} "
              f"{str(r['bit_exact']):>5s} {r['sim_run_s']:>6.2f} {r['sim_call_s']:>6.1f} {r['sim_cycles_per_s']:>10,} "
              f"{r['sim_cycles_per_cpu_s'] or 0:>10,}")


def print_softmax(rows):
    print("\nSoftmax (Amaranth simulator, l_max=4096, no stalls)")
    print(f"{'row':>5s} {'rows':>4s} {'sustained el/cyc':>16s} {'input el/cyc':>12s} {'end-to-end':>10s} "
          f"{'1st-out latency':>15s} {'exact':>5s}")
    for r in rows:
        print(f"{r['row_length']:>5d} {r['rows']:>4d} {r['sustained_elements_per_cycle']:>16.4f} "
              f"{r['input_elements_per_cycle']:>12.4f} {r['end_to_end_elements_per_cycle']:>10.4f} "
              f"{r['first_output_latency_cycles']:>15d} {str(r['bit_exact']):>5s}")


def print_attention(a):
    if "error" in a or "skipped" in a:
        print(f"\nAttention: {a.get('error') or a.get('skipped')}")
        return
    print(f"\nAttention head d={a['d']}, T={a['T']}, lanes={a['lanes']}, one decode query "
          f"(position {a['query_position']}), Amaranth simulator")
    print(f"{'mode':28s} {'cycles':>8s} {'K rows':>7s} {'K4 rows':>8s} {'V rows':>7s} {'cyc/dense':>9s} {'exact':>5s}")
    for m in a["modes"]:
        print(f"{m['mode']:28s} {m['cycles']:>8d} {m['k_rows']:>7d} {m['k4_rows']:>8d} {m['v_rows']:>7d} "
              f"{m['cycles_vs_dense']:>9.3f} {str(m['bit_exact']):>5s}")


def print_builds(b):
    print("\nBuild reports (newest per design and device)")
    for k, v in b["dsp_clock_limit"].items():
        print(f"registered MULT18X18D clock limit {k}: "
              + (f"{v['fmax_mhz']:.1f} MHz ({v['report']})" if "fmax_mhz" in v else v.get("error", "?")))
    print(f"{'design':9s} {'params':44s} {'device':12s} {'status':14s} {'Fmax':>6s} {'LUT4':>6s} {'FF':>6s} {'DSP':>4s} "
          f"{'EBR':>4s} {'GOPS':>6s} {'ceiling':>7s} {'frac':>6s}")
    for r in b["reports"]:
        c = r["cells"]
        prm = ",".join(f"{k}={v}" for k, v in (r["params"] or {}).items())[:44]
        print(f"{r['design']:9s} {prm:44s} {r['device'] + ' -' + str(r['speed']):12s} {str(r['status']):14s} "
              f"{r['fmax_mhz'] or 0:>6.1f} {c.get('TRELLIS_COMB', 0):>6d} {c.get('TRELLIS_FF', 0):>6d} "
              f"{c.get('MULT18X18D', 0):>4d} {c.get('DP16KD', 0):>4d} {r['peak_gops'] or 0:>6.1f} "
              f"{r.get('device_ceiling_gops') or 0:>7.1f} {r.get('fraction_of_ceiling') or 0:>6.3f}")
    print(b["ceiling_definition"])


def carry_builds(new: dict, old: dict, when: str) -> None:
    """Keep the rows of ``old`` (a previous builds section) whose design, device, speed, mode
    and board have no report in ``new`` (their build folders are not in this checkout), each
    marked ``carried_from``."""
    def key(r):
        return (r["design"], r["device"], r["speed"], r["mode"], r["board"])
    have = {key(r) for r in new["reports"]}
    for r in old.get("reports", []):
        if key(r) not in have:
            new["reports"].append(dict(r, carried_from=r.get("carried_from")
                                       or f"bench.json of {when} (no build folder here)"))


#: bench.json's sections, in the order they run.
SECTIONS = ("sim_speed", "gemv", "softmax", "attention", "builds")


def markdown(res) -> str:
    """The README "Performance" section, made from a bench.json."""
    m = res["machine"]
    L = ["## Performance", "",
         f"Measured by `{res['command']}` on {res['generated']} ({m.get('cpu_model', '?')}, "
         f"{m.get('cpus')} cores, {m.get('mem_gib')} GiB; load average at start "
         f"{m.get('load_avg_1_5_15', ['?'])[0]}: the machine was shared). Figures come from "
         "`bench.json`; simulated cycle counts are exact, wall times depend on the machine.", ""]
    for name, r in res.get("rerun", {}).items():
        L[-1:-1] = [f"The {name} section was re-run on {r['generated']} (`{r['command']}`)."]
    s = res.get("sim_speed")
    if s:
        L += [f"**Simulator speed**: GemvArray ({s['design']['lanes']} lanes, int8), one "
              f"{s['job']['m']} x {s['job']['n']} GEMV, same design and job on each engine "
              "(compile time excluded; wall time of the run, and per second of processor time because "
              "the machine was shared):", "",
              "| engine | cycles | cycles/s (wall) | vs Amaranth | cycles/s (CPU) | vs Amaranth |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
        names = {"amaranth": "Amaranth simulator", "cocotb_verilator": "cocotb + Verilator",
                 "fast": "fast path (Verilator + C++ driver)"}
        for k, e in s["engines"].items():
            L.append(f"| {names.get(k, k)} | {e['cycles']} | {e['cycles_per_s']:,} | {e['ratio_vs_amaranth']}x | "
                     f"{e['cycles_per_cpu_s']:,} | {e['cpu_ratio_vs_amaranth']}x |")
        f = s["engines"].get("fast")
        if f:
            L += ["", "The fast path compiles each design once with Verilator (cached under "
                      "`build/fast/`); `sim/fast_gemv.py`'s `simulate_gemv_fast` is a drop-in for "
                      "`simulate_gemv`, cross-checked bit for bit (outputs and cycle counts) in "
                      "`tests/test_fast_sim.py`."]
        L.append("")
    g = res.get("gemv")
    if g:
        L += ["**GEMV at Llama-2 7B shapes** (fast path, cycle accurate, output checked bit for bit; "
              "utilisation = M·N/P over the cycles taken; whole-tile bound = M / (ceil(M/P)·P), the "
              "most any P-lane array can reach when M is not a multiple of P; simulation loop = "
              "the compiled simulation alone, median of the repeated runs, and its simulated cycles "
              "per second of processor time; whole call = wall time of the call with every run, "
              "compile excluded):", "",
              "| layer | M x N | weights | lanes (DSPs) | cycles | ideal M·N/P | utilisation | whole-tile bound "
              "| simulation loop | cycles/s (CPU) | whole call |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in g:
            bound = r["m"] / (-(-r["m"] // r["lanes"]) * r["lanes"])
            L.append(f"| {r['layer']} | {r['m']} x {r['n']} | int{r['weight_bits']} | {r['lanes']} ({r['dsps']}) | "
                     f"{r['cycles']:,} | {r['ideal_cycles']:,.0f} | {100 * r['utilization']:.2f} % | "
                     f"{100 * bound:.2f} % | {r['sim_run_s']} s | {r['sim_cycles_per_cpu_s']:,} | "
                     f"{r['sim_call_s']} s |")
        L.append("")
    sm = res.get("softmax")
    if sm:
        L += ["**Softmax** (l_max = 4096, Amaranth simulator): sustained = output elements per cycle "
              "from the first to the last output; end to end includes the two-row fill.", "",
              "| row length | rows | sustained el/cycle | end to end el/cycle | first-output latency |",
              "| ---: | ---: | ---: | ---: | ---: |"]
        for r in sm:
            L.append(f"| {r['row_length']} | {r['rows']} | {r['sustained_elements_per_cycle']} | "
                     f"{r['end_to_end_elements_per_cycle']} | {r['first_output_latency_cycles']} cycles |")
        L.append("")
    a = res.get("attention")
    if a and "modes" in a:
        L += [f"**Attention head** (d = {a['d']}, T = {a['T']}, {a['lanes']} lanes, one decode query):", "",
              "| mode | cycles | K rows | K hi-nibble rows | V rows | cycles vs dense |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for x in a["modes"]:
            L.append(f"| {x['mode']} | {x['cycles']:,} | {x['k_rows']} | {x['k4_rows']} | {x['v_rows']} | "
                     f"{x['cycles_vs_dense']} |")
        L.append("")
    b = res.get("builds")
    if b and b["reports"]:
        lim = "; ".join(f"{k}: {v['fmax_mhz']:.1f} MHz" for k, v in b["dsp_clock_limit"].items() if "fmax_mhz" in v)
        L += ["**Builds** (newest `build/*/report.json` or `build/*/seed*/report.json` per design "
              "and device; out of context; ceiling = device MULT18X18D count x registered-DSP clock limit x 2 OPs, the "
              f"limit measured as the nextpnr-ecp5 Fmax of one fully registered MULT18X18D: {lim}):", "",
              "| design | parameters | device | status | Fmax MHz (target) | LUT4 | FF | DSP | EBR | peak GOPS | of ceiling |",
              "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

        def cell(v):
            return "-" if v is None else v

        for r in b["reports"]:
            c = r["cells"]
            prm = ", ".join(f"{k}={v}" for k, v in (r["params"] or {}).items())
            frac = f"{100 * r['fraction_of_ceiling']:.1f} %" if r.get("fraction_of_ceiling") is not None else "-"
            L.append(f"| {r['design']}{' (carried: ' + r['carried_from'] + ')' if r.get('carried_from') else ''} | {prm} | {r['device']} -{r['speed']} | {r['status']} | "
                     f"{cell(r['fmax_mhz'])} ({cell(r['target_mhz'])}) | "
                     f"{cell(c.get('TRELLIS_COMB'))} | {cell(c.get('TRELLIS_FF'))} | {cell(c.get('MULT18X18D'))} | "
                     f"{cell(c.get('DP16KD'))} | {cell(r['peak_gops'])} | {frac} |")
        L.append("")
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (see above)")
    ap.add_argument("--json", default="bench.json", help="output file (default bench.json)")
    ap.add_argument("--no-cocotb", action="store_true", help="skip the cocotb + Verilator speed run")
    ap.add_argument("--no-attention", action="store_true", help="skip the attention section")
    ap.add_argument("--no-dsp-build", action="store_true",
                    help="do not build the MULT18X18D clock-limit designs (no ceiling fractions)")
    ap.add_argument("--markdown", metavar="BENCH_JSON", help="print the README section from a bench.json and exit")
    ap.add_argument("--only", metavar="SECTIONS",
                    help=f"comma-separated sections of {', '.join(SECTIONS)}: re-run only these and "
                         "merge them into the existing --json file (recorded under 'rerun')")
    a = ap.parse_args(argv)
    if a.markdown:
        with open(a.markdown) as f:
            print(markdown(json.load(f)))
        return 0
    only = None
    if a.only:
        only = [x.strip() for x in a.only.split(",") if x.strip()]
        bad = [x for x in only if x not in SECTIONS]
        if bad or not only:
            ap.error(f"--only takes sections of {', '.join(SECTIONS)}, not {a.only!r}")
        if a.quick:
            ap.error("--only re-runs full sections; it does not combine with --quick")
    prog = Progress()
    t0 = time.monotonic()
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if only:
        with open(a.json) as f:
            res = json.load(f)
        for name in only:
            res.setdefault("rerun", {})[name] = {
                "generated": now, "command": f"python tools/bench.py --only {','.join(only)}",
                "machine": fb.machine_info()}
    else:
        res = {"schema": "attnkit.bench/1",
               "command": "python tools/bench.py" + (" --quick" if a.quick else ""),
               "generated": now, "machine": fb.machine_info(), "elapsed_s": {}}

    def stage(name, fn):
        if only and name not in only:
            return
        t = time.monotonic()
        res[name] = fn()
        res["elapsed_s"][name] = round(time.monotonic() - t, 1)

    size = 256 if a.quick else 512
    engines = ("amaranth", "fast") if a.no_cocotb else ("amaranth", "cocotb", "fast")
    stage("sim_speed", lambda: fb.sim_speed(m=size, n=size, engines=engines, progress=prog))
    print_speed(res["sim_speed"])
    configs = [(64, 8), (64, 4)] if a.quick else [(64, 8), (64, 4), (156, 8), (312, 4)]
    stage("gemv", lambda: fb.gemv_utilization(configs, progress=prog))
    print_gemv(res["gemv"])
    rows = [(128, 8), (2048, 2), (4096, 2)] if a.quick else [(128, 32), (2048, 4), (4096, 4)]
    stage("softmax", lambda: fb.softmax_rate(rows, progress=prog))
    print_softmax(res["softmax"])
    if (a.quick or a.no_attention) and not only:
        res["attention"] = {"skipped": "--quick" if a.quick else "--no-attention"}
    else:
        stage("attention", lambda: fb.attention_modes(progress=prog))
    print_attention(res["attention"])
    old_builds = res.get("builds") if only else None
    stage("builds", lambda: fb.build_figures(measure_dsp=not a.no_dsp_build, progress=prog))
    if old_builds and res["builds"] is not old_builds:
        carry_builds(res["builds"], old_builds, res.get("generated", "an earlier run"))
    print_builds(res["builds"])
    if not only:
        res["machine"]["load_avg_end"] = fb.machine_info().get("load_avg_1_5_15")
        res["elapsed_s"]["total"] = round(time.monotonic() - t0, 1)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    ok = all(e["bit_exact"] for e in res["sim_speed"]["engines"].values()) \
        and res["sim_speed"]["cycles_agree"] is not False \
        and all(r["bit_exact"] for r in res["gemv"]) and all(r["bit_exact"] for r in res["softmax"]) \
        and all(m["bit_exact"] for m in res["attention"].get("modes", []))
    print(f"\nwrote {a.json} in {time.monotonic() - t0:.1f} s; every simulated result bit exact: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
