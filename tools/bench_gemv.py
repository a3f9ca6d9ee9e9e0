#!/usr/bin/env python3
"""GEMV array benchmark: utilisation on large matrices (simulated) and OOC build figures.

Prints, for each configuration, the simulated cycles of one GEMV job (Amaranth simulator,
no stalls, cycle counted from the first cycle until the last output is accepted), the
ideal cycles M*N/P and utilisation = ideal / simulated. With ``--report`` it also prints
Fmax and resources from ``tools/build.py`` report.json files.

    python tools/bench_gemv.py                        # default sweep
    python tools/bench_gemv.py --lanes 64 --m 512 --n 512 --weight-bits 8
    python tools/bench_gemv.py --report build/gemv-85f/report.json
"""

import argparse
import json
import sys
import time

import numpy as np

from attnkit.golden.gemv import gemv, ideal_cycles
from attnkit.hdl.gemv import GemvArray
from attnkit.sim.gemv_driver import GemvJob, simulate_gemv

DEFAULT = [  # (lanes, weight_bits, M, N): M, N >= 8 P
    (16, 8, 128, 128),
    (16, 8, 256, 256),
    (16, 4, 256, 256),
    (64, 8, 512, 512),
    (156, 8, 1248, 1248),
]


def run_point(lanes, wb, M, N, seed=0):
    rng = np.random.default_rng(seed)
    lo = -(1 << (wb - 1))
    W = rng.integers(lo, -lo, (M, N))
    x = rng.integers(-128, 128, N)
    dut = GemvArray(lanes=lanes, weight_bits=wb, max_n=N)
    t0 = time.monotonic()
    (y,), _, cycles = simulate_gemv(dut, [GemvJob(W, x)])
    wall = time.monotonic() - t0
    exact = bool(np.array_equal(y, gemv(W, x, weight_bits=wb)))
    ideal = ideal_cycles(M, N, lanes)
    return {"lanes": lanes, "weight_bits": wb, "m": M, "n": N, "cycles": cycles,
            "ideal_cycles": ideal, "utilization": ideal / cycles, "bit_exact": exact,
            "sim_wall_s": round(wall, 2), "sim_cycles_per_s": round(cycles / wall)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lanes", type=int)
    ap.add_argument("--weight-bits", type=int, default=8, choices=(4, 8))
    ap.add_argument("--m", type=int)
    ap.add_argument("--n", type=int)
    ap.add_argument("--report", nargs="*", default=[], help="build report.json files to summarise")
    ap.add_argument("--json", help="write results to this JSON file")
    args = ap.parse_args(argv)
    points = DEFAULT
    if args.lanes:
        P = args.lanes
        points = [(P, args.weight_bits, args.m or 8 * P, args.n or 8 * P)]
    rows = []
    print(f"{'lanes':>5} {'wbits':>5} {'M':>6} {'N':>6} {'cycles':>9} {'ideal':>9} {'util':>7} {'exact':>5} {'sim c/s':>8}")
    for P, wb, M, N in points:
        r = run_point(P, wb, M, N)
        rows.append(r)
        print(f"{P:>5} {wb:>5} {M:>6} {N:>6} {r['cycles']:>9} {r['ideal_cycles']:>9.0f} "
              f"{r['utilization']:>7.4f} {str(r['bit_exact']):>5} {r['sim_cycles_per_s']:>8}", flush=True)
    builds = []
    for path in args.report:
        with open(path) as f:
            rep = json.load(f)
        clk = rep["clocks"].get("sync", next(iter(rep["clocks"].values())))
        util = rep.get("core_utilization") or rep["utilization"]
        cells = {k: v["used"] for k, v in util.items() if k in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D", "DP16KD")}
        builds.append({"report": path, "params": rep["params"], "device": rep["device"],
                       "fmax_mhz": clk["achieved_mhz"], "target_mhz": clk["target_mhz"], "cells": cells})
        print(f"build {path}: {rep['design']} {rep['params']} on {rep['device']['name']} -{rep['device']['speed']}: "
              f"Fmax {clk['achieved_mhz']:.1f} MHz (target {clk['target_mhz']}), {cells}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"simulation": rows, "builds": builds}, f, indent=2)
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
