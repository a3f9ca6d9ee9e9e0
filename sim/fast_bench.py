"""Benchmark measurements behind ``tools/bench.py`` (each returns plain, JSON-ready dicts).

Sections
--------
* :func:`sim_speed`: one GEMV job on one design (the 64-lane int8 array), run by Amaranth's
  simulator, by cocotb + Verilator and by the fast path; simulated cycles per second of
  each (wall time of the run only; compile/export times reported separately), ratios to
  Amaranth's simulator. All three must give the golden output; the cycle counts of the
  Amaranth simulator and the fast path must agree exactly.
* :func:`gemv_utilization`: Llama-2 7B GEMV shapes on the fast path, cycles against the
  ideal ``M * N / P``, each output checked against :func:`attnkit.golden.gemv.gemv`.
  Fast-path speeds are the median of :data:`FAST_REPEATS` runs of the compiled simulation
  (every run listed in the JSON).
* :func:`softmax_rate`: the softmax unit in Amaranth's simulator over rows of a given length,
  no stalls; *sustained* rate = output elements / cycles from the first to the last output
  beat (the steady state), *end to end* = elements / cycles from the first input beat
  accepted to the last output beat (includes the two-row fill); outputs checked against
  :func:`attnkit.golden.softmax.expected_payloads`.
* :func:`attention_modes`: one decode query of a Llama-2-7B-shaped head (``d = 128``,
  ``T = 2048``) per selection mode, with the attention engine's benchmark modes and simulator
  driver (:mod:`attnkit.sim.attention_driver`), every result checked against the golden engine.
* :func:`dsp_clock_limit`, :func:`build_figures`: Fmax/resources/peak GOPS of the latest
  ``build/*/report.json`` (and ``build/*/seed*/report.json``) and the fraction of the
  device's ceiling ``MULT18X18D count x registered-DSP clock limit x 2`` OPs/s, where the clock limit is
  *measured*: the nextpnr-ecp5 Fmax of one fully registered MULT18X18D
  (:class:`attnkit.hdl.dsp.Mult18`, input, pipeline and output registers) built out of
  context on the same device and speed grade (no datasheet figure is used).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from attnkit.golden.gemv import gemv, ideal_cycles
from attnkit.hdl.gemv import GemvArray

from .cocotb_runner import REPO_ROOT, run_cocotb
from .fast_gemv import run_gemv_fast
from .gemv_driver import GemvJob, simulate_gemv
from .streams import run_simulation, stream_through_timed

__all__ = ["gemv_job", "sim_speed", "gemv_utilization", "softmax_rate", "attention_modes",
           "dsp_clock_limit", "build_figures", "machine_info", "LLAMA_GEMV_SHAPES"]

#: Llama-2 7B decode GEMVs: q/k/v/o projections (4096 x 4096) and gate/up (11008 x 4096).
LLAMA_GEMV_SHAPES = [("q_proj", 4096, 4096), ("gate_proj", 11008, 4096)]
#: Fast-path runs per measurement; the median is reported (the shared 2-core machine's
#: speed varies by up to 2x between runs of the same binary).
FAST_REPEATS = 3


def _say(progress, text):
    if progress:
        progress(text)


def gemv_job(weight_bits: int, m: int, n: int, seed: int) -> GemvJob:
    """The random benchmark job: ``W`` uniform over the weight format, ``x`` uniform int8."""
    rng = np.random.default_rng(seed)
    lo = -(1 << (weight_bits - 1))
    W = rng.integers(lo, -lo, (m, n), dtype=np.int8)
    x = rng.integers(-128, 128, n, dtype=np.int8)
    return GemvJob(W, x)


def machine_info() -> dict:
    """CPU model, core count, memory, load average, tool versions."""
    info = {"platform": platform.platform(), "python": sys.version.split()[0],
            "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()
        info["mem_gib"] = round(int(mem[1]) / 2 ** 20, 1)
        info["load_avg_1_5_15"] = [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        pass
    try:
        import subprocess

        from .cocotb_runner import verilator_root
        info["verilator"] = subprocess.run(
            [str(verilator_root() / "bin" / "verilator_bin"), "--version"],
            capture_output=True, text=True).stdout.strip()
        info["cxx"] = subprocess.run(["c++", "--version"], capture_output=True,
                                     text=True).stdout.splitlines()[0]
    except Exception as e:   # noqa: BLE001  (informational only)
        info["tool_error"] = repr(e)
    import amaranth
    info["amaranth"] = amaranth.__version__
    return info


# -- simulator speed ---------------------------------------------------------------------------
@contextlib.contextmanager
def _timed_amaranth_run():
    """Time ``Simulator.run()`` inside :func:`attnkit.sim.streams.run_simulation` (the shared
    driver), so elaboration and the simulator's construction are not counted as run time."""
    from amaranth.sim import Simulator

    from . import streams
    timing = {"run_s": 0.0, "cpu_s": 0.0}

    class TimedSimulator(Simulator):
        def run(self):
            t0, c0 = time.monotonic(), time.process_time()
            try:
                return super().run()
            finally:
                timing["run_s"] += time.monotonic() - t0
                timing["cpu_s"] += time.process_time() - c0

    saved = streams.Simulator
    streams.Simulator = TimedSimulator
    try:
        yield timing
    finally:
        streams.Simulator = saved


def cocotb_speed(cfg: dict, m: int, n: int, seed: int) -> dict:
    """Time the job on cocotb + Verilator (:mod:`attnkit.sim.fast_cocotb_bench`)."""
    out = REPO_ROOT / "build" / "bench" / f"cocotb-{cfg['lanes']}-{cfg['weight_bits']}-{m}x{n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    params = dict(cfg, m=m, n=n, seed=seed)
    t0 = time.monotonic()
    res = run_cocotb(GemvArray(**cfg), str(Path(__file__).with_name("fast_cocotb_bench.py")),
                     simulator="verilator", parameters=cfg,
                     extra_env={"ATTNKIT_BENCH_JOB": json.dumps({"m": m, "n": n, "seed": seed}),
                                "ATTNKIT_BENCH_OUT": str(out)},
                     build_root="build/bench/cocotb", seed=1, cxx_opt=None)
    total = time.monotonic() - t0
    r = json.loads(out.read_text())
    return {"cycles": r["cycles"], "run_s": round(r["wall_s"], 4), "cpu_s": round(r["cpu_s"], 4),
            "cycles_per_cpu_s": round(r["cycles"] / r["cpu_s"]), "bit_exact": r["bit_exact"],
            "build_s": round(res.build_s, 2), "built": res.built,
            "process_s": round(res.test_s, 2), "total_s": round(total, 2),
            "params": params}


def sim_speed(*, lanes: int = 64, weight_bits: int = 8, m: int = 512, n: int = 512,
              seed: int = 0, max_n: int = 4096, engines=("amaranth", "cocotb", "fast"),
              progress=None) -> dict:
    """Simulated cycles per second of each engine on the same design and the same job."""
    cfg = dict(lanes=lanes, weight_bits=weight_bits, max_n=max_n)
    job = gemv_job(weight_bits, m, n, seed)
    exp = gemv(job.W, job.x, weight_bits=weight_bits)
    res = {"design": dict(cfg, acc_width=32, group=8), "job": {"m": m, "n": n, "seed": seed},
           "engines": {}}
    if "amaranth" in engines:
        _say(progress, f"sim speed: Amaranth simulator, {lanes} lanes, {m} x {n}")
        dut = GemvArray(**cfg)
        t0 = time.monotonic()
        with _timed_amaranth_run() as timing:
            (y,), _, cycles = simulate_gemv(dut, [job], deadline_cycles=10 * m * n // lanes + 10_000)
        total = time.monotonic() - t0
        res["engines"]["amaranth"] = {"cycles": cycles, "run_s": round(timing["run_s"], 3),
                                      "cycles_per_s": round(cycles / timing["run_s"]),
                                      "cpu_s": round(timing["cpu_s"], 3),
                                      "cycles_per_cpu_s": round(cycles / timing["cpu_s"]),
                                      "call_s": round(total, 2),
                                      "bit_exact": bool(np.array_equal(y, exp)),
                                      "note": "run_s: Simulator.run() only; call_s: simulate_gemv "
                                              "including elaboration and Simulator construction"}
    if "cocotb" in engines:
        _say(progress, "sim speed: cocotb + Verilator (compiles once, cached under build/bench/cocotb)")
        r = cocotb_speed(cfg, m, n, seed)
        r["cycles_per_s"] = round(r["cycles"] / r["run_s"])
        r["note"] = ("run_s: wall time inside the cocotb test from the first beat to the last "
                     "output; process_s: the whole simulator process; cycles counted from the "
                     "first beat, after a 2-cycle reset")
        res["engines"]["cocotb_verilator"] = r
    if "fast" in engines:
        _say(progress, "sim speed: fast path (Verilator + C++ driver; compiles once, cached under build/fast)")
        r = run_gemv_fast(GemvArray(**cfg), [job], deadline_cycles=10 * m * n // lanes + 10_000,
                          repeats=FAST_REPEATS)
        res["engines"]["fast"] = {"cycles": r.cycles, "run_s": round(r.run_s, 6),
                                  "cpu_s": round(r.cpu_s, 6),
                                  "cycles_per_s": round(r.cycles / r.run_s),
                                  "cycles_per_cpu_s": round(r.cycles / r.cpu_s) if r.cpu_s else None,
                                  "call_s": round(r.wall_s, 3), "export_s": round(r.export_s, 2),
                                  "build_s": round(r.build.build_s, 1), "built": r.build.built,
                                  "bit_exact": bool(np.array_equal(r.outputs[0], exp)),
                                  "cpu_s_runs": [round(c, 6) for c in r.extra["cpu_s_runs"]],
                                  "note": f"run_s/cpu_s: the C++ simulation loop only, median of "
                                          f"{FAST_REPEATS} runs; call_s: packing, files, process "
                                          f"start, parsing and all runs"}
    base = res["engines"].get("amaranth", {}).get("cycles_per_s")
    base_cpu = res["engines"].get("amaranth", {}).get("cycles_per_cpu_s")
    for e in res["engines"].values():
        e["ratio_vs_amaranth"] = round(e["cycles_per_s"] / base, 1) if base else None
        e["cpu_ratio_vs_amaranth"] = round(e["cycles_per_cpu_s"] / base_cpu, 1) \
            if base_cpu and e.get("cycles_per_cpu_s") else None
    a, f = res["engines"].get("amaranth"), res["engines"].get("fast")
    res["cycles_agree"] = None if not (a and f) else a["cycles"] == f["cycles"]
    return res


# -- GEMV utilisation at Llama shapes ---------------------------------------------------------
def gemv_utilization(configs, shapes=LLAMA_GEMV_SHAPES, *, seed: int = 0, progress=None) -> list:
    """``configs``: list of ``(lanes, weight_bits)``; every shape runs on the fast path."""
    rows = []
    for lanes, wb in configs:
        for name, M, N in shapes:
            _say(progress, f"gemv: {name} {M} x {N}, int{wb}, {lanes} lanes (fast path)")
            job = gemv_job(wb, M, N, seed)
            r = run_gemv_fast(GemvArray(lanes=lanes, weight_bits=wb, max_n=max(N, 16)), [job],
                              deadline_cycles=4 * M * N // lanes + 100_000, repeats=FAST_REPEATS)
            exact = bool(np.array_equal(r.outputs[0], gemv(job.W, job.x, weight_bits=wb)))
            ideal = ideal_cycles(M, N, lanes)
            dsps = lanes if wb == 8 else lanes // 2
            rows.append({"layer": name, "m": M, "n": N, "weight_bits": wb, "lanes": lanes,
                         "dsps": dsps, "cycles": r.cycles, "ideal_cycles": ideal,
                         "utilization": round(ideal / r.cycles, 5),
                         # best possible with whole tiles: the last tile runs partly empty
                         # when M is not a multiple of P
                         "tile_bound": round(M / (-(-M // lanes) * lanes), 5), "bit_exact": exact,
                         "sim_run_s": round(r.run_s, 4), "sim_call_s": round(r.wall_s, 2),
                         "sim_cycles_per_s": round(r.cycles / r.run_s),
                         "sim_cpu_s": round(r.cpu_s, 4),
                         "sim_cpu_s_runs": [round(c, 4) for c in r.extra["cpu_s_runs"]],
                         "sim_cycles_per_cpu_s": round(r.cycles / r.cpu_s) if r.cpu_s else None,
                         "build_s": round(r.build.build_s, 1), "built": r.build.built})
    return rows


# -- softmax ------------------------------------------------------------------------------------
def softmax_rate(lengths_rows, *, l_max: int = 4096, seed: int = 0, progress=None) -> list:
    """``lengths_rows``: list of ``(row_length, n_rows)``; one Softmax design (``l_max``)."""
    from attnkit.golden.softmax import SoftmaxConfig, expected_payloads, make_rows, stream_payloads
    from attnkit.hdl.softmax import Softmax

    cfg = SoftmaxConfig()
    out = []
    for L, N in lengths_rows:
        _say(progress, f"softmax: {N} rows of {L} (Amaranth simulator, l_max={l_max})")
        rng = np.random.default_rng(seed + L)
        rows = [(q, np.zeros(L, dtype=bool)) for q in make_rows(rng, "uniform", N, L, cfg)[0]]
        ins = stream_payloads(rows)
        dut = Softmax(cfg, l_max=l_max)
        acc, outc, got = [], [], []

        async def bench(ctx, dut=dut, ins=ins, acc=acc, outc=outc, got=got):
            g, a, o = await stream_through_timed(ctx, dut.i_stream, dut.o_stream, ins)
            got.extend(g)
            acc.extend(a)
            outc.extend(o)

        t0 = time.monotonic()
        run_simulation(dut, [bench], deadline_cycles=(N + 3) * L * 2 + 10_000)
        wall = time.monotonic() - t0
        n_el = N * L
        out.append({"row_length": L, "rows": N, "elements": n_el,
                    "sustained_elements_per_cycle": round(n_el / (outc[-1] - outc[0] + 1), 4),
                    "input_elements_per_cycle": round(n_el / (acc[-1] - acc[0] + 1), 4),
                    "end_to_end_elements_per_cycle": round(n_el / (outc[-1] - acc[0] + 1), 4),
                    "first_output_latency_cycles": outc[0] - acc[0],
                    "bit_exact": got == expected_payloads(rows, cfg),
                    "sim_wall_s": round(wall, 1)})
    return out


# -- attention ----------------------------------------------------------------------------------
def attention_modes(*, T: int = 2048, d: int = 128, lanes: int = 16, block: int = 64, k: int = 256,
                    progress=None) -> dict:
    """Cycles and K/V rows per selection mode for one decode query (position ``T - 1``).

    The mode list and the simulator driver are the attention engine's own
    (:func:`attnkit.sim.attention_driver.bench_selections`, ``simulate_attention``, also used
    by ``tools/bench_attention.py`` and the attention tests).
    """
    from .attention_driver import bench_selections as selections
    from .attention_driver import simulate_attention
    from attnkit.golden.attention import engine
    from attnkit.hdl.attention import AttentionEngine

    rng = np.random.default_rng(0)
    K, V = rng.integers(-128, 128, (T, d)), rng.integers(-128, 128, (T, d))
    q = rng.integers(-128, 128, d)
    rq = dict(score_mult=40000, score_shift=26, out_mult=40000, out_shift=30)
    sels = selections(T, block, k)
    eng = AttentionEngine(d=d, lanes=lanes, t_max=T, k_max=k, block=block)
    _say(progress, f"attention: {len(sels)} modes, d={d}, T={T}, lanes={lanes} (Amaranth simulator, minutes)")
    t0 = time.monotonic()
    res = simulate_attention(eng, K, V, [(q, sel, T - 1, rq) for _, sel in sels], deadline=5_000_000)
    wall = time.monotonic() - t0
    modes = []
    dense = res[0]["cycles"]
    for (label, sel), r in zip(sels, res):
        g = engine(q, K, V, sel, T - 1, **rq)
        exact = r["o"] == g.o.tolist() and (r["k_rows"], r["k4_rows"], r["v_rows"]) == \
            (g.k_rows, g.k4_rows, g.v_rows)
        modes.append({"mode": label, "cycles": int(r["cycles"]), "k_rows": int(r["k_rows"]),
                      "k4_rows": int(r["k4_rows"]), "v_rows": int(r["v_rows"]),
                      "cycles_vs_dense": round(r["cycles"] / dense, 3), "bit_exact": bool(exact)})
    return {"d": d, "T": T, "lanes": lanes, "block": block, "k": k, "query_position": T - 1,
            "modes": modes, "sim_wall_s": round(wall, 1)}


# -- build reports ------------------------------------------------------------------------------
def dsp_clock_limit(device: str, speed: int, *, progress=None) -> dict:
    """Fmax of one registered MULT18X18D on ``device``/``speed`` (OOC build, cached)."""
    from attnkit.boards.toolchain import build_ooc
    from attnkit.hdl.dsp import Mult18

    out = REPO_ROOT / "build" / "bench" / f"dsp-{device}-s{speed}"
    rep_path = out / "report.json"
    rep = json.loads(rep_path.read_text()) if rep_path.exists() else None
    if rep is None or rep.get("status") not in ("ok", "timing_failed"):
        _say(progress, f"builds: measuring the registered MULT18X18D clock limit on {device} -{speed} "
                       "(Yosys + nextpnr, once)")
        rep = build_ooc(lambda: Mult18("primitive"), out_dir=out, design="mult18", params={},
                        device=device, speed=speed, clock_mhz=500.0, allow_timing_fail=True)
    return {"device": device, "speed": speed, "fmax_mhz": rep["clocks"]["sync"]["achieved_mhz"],
            "report": str(rep_path.relative_to(REPO_ROOT)),
            "source": "nextpnr-ecp5 post-route Fmax of one MULT18X18D with input, pipeline and "
                      "output registers (attnkit.hdl.dsp.Mult18), out of context"}


def build_figures(*, measure_dsp: bool = True, progress=None) -> dict:
    """The newest report per (design, device, speed, mode, board) under ``build/*/report.json``
    and ``build/*/seed*/report.json`` (the builds of ``tools/build.py --seeds``)."""
    from attnkit.boards import ecp5

    seen, reports = set(), []
    paths = sorted(glob.glob(str(REPO_ROOT / "build" / "*" / "report.json"))
                   + glob.glob(str(REPO_ROOT / "build" / "*" / "seed*" / "report.json")),
                   key=os.path.getmtime, reverse=True)
    for p in paths:
        try:
            rep = json.loads(Path(p).read_text())
        except (OSError, ValueError):
            continue
        if rep.get("design") in (None, "mult18") or "clocks" not in rep or not rep["clocks"]:
            continue
        dev = rep["device"]
        key = (rep["design"], dev["name"], dev["speed"], rep.get("mode"), rep.get("board"))
        if key in seen:
            continue
        seen.add(key)
        clk = rep["clocks"].get("sync") or next(iter(rep["clocks"].values()))
        util = rep.get("core_utilization") or rep.get("utilization") or {}
        cells = {k: util[k]["used"] for k in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D", "DP16KD")
                 if k in util}
        reports.append({"report": os.path.relpath(p, REPO_ROOT), "design": rep["design"],
                        "params": rep.get("params"), "mode": rep.get("mode"), "board": rep.get("board"),
                        "device": dev["name"], "speed": dev["speed"], "status": rep.get("status"),
                        "target_mhz": clk.get("target_mhz"), "fmax_mhz": clk.get("achieved_mhz"),
                        "cells": cells, "ops_per_cycle": rep.get("ops_per_cycle"),
                        "peak_gops": rep.get("peak_gops"),
                        "mtime": time.strftime("%Y-%m-%d %H:%M", time.gmtime(os.path.getmtime(p)))})
    limits = {}
    for r in reports:
        key = f"{r['device']}-{r['speed']}"
        if key not in limits and measure_dsp:
            try:
                limits[key] = dsp_clock_limit(r["device"], r["speed"], progress=progress)
            except Exception as e:   # noqa: BLE001  (a failed measurement is reported, not fatal)
                limits[key] = {"error": repr(e)}
        lim = limits.get(key, {})
        n_dsp = ecp5.device(r["device"]).mult18
        r["device_mult18"] = n_dsp
        if lim.get("fmax_mhz") and r.get("peak_gops"):
            ceiling = n_dsp * lim["fmax_mhz"] * 2 / 1e3
            r["device_ceiling_gops"] = round(ceiling, 1)
            r["fraction_of_ceiling"] = round(r["peak_gops"] / ceiling, 4)
    return {"reports": reports, "dsp_clock_limit": limits,
            "ceiling_definition": "device MULT18X18D count x registered-DSP clock limit (MHz) x 2 OPs "
                                  "per multiply; clock limit measured, see dsp_clock_limit[*].source; "
                                  "int4 arrays pack two MACs per DSP and can exceed 1.0"}
