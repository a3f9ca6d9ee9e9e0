"""Roofline arithmetic, hardware profiles (datasheet, FPGA report, user, measured) and the
tools/roofline.py command line."""

import json
import math
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from attnkit.boards.hardware import (HARDWARE, HardwareProfile, analyze, bram_bandwidth,
                                     fpga_profile_from_report, get_hardware,
                                     load_profile_file, resolve_hardware)
from attnkit.golden import roofline as rl
from attnkit.golden.llm_models import get_model
from attnkit.golden.workload import Workload, layer_costs, stage_totals

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "roofline.py"


# ---- arithmetic --------------------------------------------------------------------

@pytest.mark.parametrize("peak,bw", [(154.8e12, 768e9), (38.4e9, 200e6), (10, 3)])
def test_bound_is_memory_iff_ai_below_ridge(peak, bw):
    ridge = rl.ridge_point(peak, bw)
    assert ridge == Fraction(peak) / Fraction(bw)
    mem = 10**6
    for ops in (1, mem // 4, mem, mem * 100, mem * 1000, mem * 10**6):
        ai = Fraction(ops, mem)
        b = rl.bound(ops, mem, peak, bw)
        assert (b == "memory") == (ai < ridge)
        perf = rl.attainable(ops, mem, peak, bw)
        assert perf == min(Fraction(peak), ai * Fraction(bw))
        assert perf <= Fraction(peak)
        assert rl.roofline_time(ops, mem, peak, bw) == Fraction(ops) / perf
    # exactly at the ridge: compute bound (LLM-Viewer's rule: memory iff AI < ridge)
    r = rl.ridge_point(10, 4)
    assert rl.bound(r.numerator * 7, r.denominator * 7, 10, 4) == "compute"
    assert rl.bound(r.numerator * 7 - 1, r.denominator * 7, 10, 4) == "memory"


def test_roofline_time_with_zero_ops_and_errors():
    assert rl.roofline_time(0, 100, 1e9, 50) == 2
    assert rl.bound(5, 0, 1e9, 1) == "compute"
    with pytest.raises(ValueError, match=r"peak_ops_per_s must be positive, not 0"):
        rl.ridge_point(0, 1)
    with pytest.raises(TypeError, match=r"bandwidth_bytes_per_s must be a number"):
        rl.ridge_point(1, "fast")


@pytest.mark.parametrize("value,text", [
    (68_719_476_736, "69G"), (1.344e12, "1T"), (154.8e12, "155T"), (262_144, "262K"),
    (4096, "4K"), (768, "768"), (8_388_608, "8M"), (999, "999"), (1500, "2K")])
def test_format_si(value, text):
    assert rl.format_si(value) == text


@pytest.mark.parametrize("value,text", [
    (1024, "1024"), (Fraction(11378, 100), "114"), (Fraction(9995, 10000), "1"),
    (Fraction(9918, 10000), "0.99"), (1.25, "1.25"), (0.25, "0.25"), (1.75, "1.75"),
    (Fraction(125, 1000), "0.13"), (10, "10"), (Fraction(95, 10), "9.5")])
def test_format_ai(value, text):
    assert rl.format_ai(value) == text


# ---- datasheet profiles ------------------------------------------------------------

EXPECTED_NAMES = ["nvidia-a6000", "nvidia-a100-40g", "nvidia-a100-80g", "nvidia-h100-sxm",
                  "nvidia-h100-pcie", "nvidia-h200", "nvidia-v100", "nvidia-l40",
                  "nvidia-rtx-4090", "nvidia-jetson-agx-orin", "snapdragon-8-gen-3"]


def test_hardware_names_and_sources():
    assert list(HARDWARE) == EXPECTED_NAMES
    for h in HARDWARE.values():
        assert set(h.peak_ops) == {"fp16", "int8"}
        for key in ("bandwidth", "fp16", "int8"):
            assert len(h.sources[key]) > 20, (h.name, key)


def test_a6000_matches_talk():
    h = get_hardware("nvidia-a6000")
    assert (h.bandwidth, h.peak_ops["fp16"], h.peak_ops["int8"]) == (768e9, 154.8e12,
                                                                     309.7e12)


@pytest.mark.parametrize("bits,key", [((16, 16, 16), "fp16"), ((8, 8, 8), "int8"),
                                      ((4, 8, 8), "int8"), ((4, 16, 16), "fp16"),
                                      ((8, 8, 16), "fp16")])
def test_peak_chosen_by_precision(bits, key):
    h = get_hardware("nvidia-a6000")
    assert h.peak_for(*bits) == (key, h.peak_ops[key])


def test_profile_validation_messages():
    with pytest.raises(ValueError, match=r"sources\['int8'\] missing for hardware 'x'"):
        HardwareProfile("x", "gpu", 1e9, {"fp16": 1e12, "int8": 2e12},
                        {"bandwidth": "a", "fp16": "b"})
    with pytest.raises(ValueError, match=r"bandwidth must be positive and finite, not -1"):
        HardwareProfile("x", "gpu", -1, {"fp16": 1e12}, {"bandwidth": "a", "fp16": "b"})
    with pytest.raises(ValueError, match=r"kind must be one of .* not 'tpu'"):
        HardwareProfile("x", "tpu", 1, {"fp16": 1}, {"bandwidth": "a", "fp16": "b"})
    with pytest.raises(ValueError, match=r"unknown hardware 'nvidia-b200'"):
        get_hardware("nvidia-b200")


# ---- FPGA profiles from build reports -----------------------------------------------

def _report(**over):
    r = {"schema": "attnkit.build_report/1", "design": "gemv", "params": {"lanes": 64},
         "mode": "board", "board": "ulx3s-85f",
         "device": {"name": "LFE5U-85F", "package": "CABGA381", "speed": 6},
         "utilization": {"MULT18X18D": {"used": 64, "available": 156},
                         "DP16KD": {"used": 40, "available": 208}},
         "clocks": {"sync": {"target_mhz": 100.0, "achieved_mhz": 125.0, "met": True}},
         "timing_met": True, "ops_per_cycle": 128, "peak_gops": 16.0}
    r.update(over)
    return r


def test_fpga_profile_from_report_dict():
    p = fpga_profile_from_report(_report(), dram_bandwidth=200e6,
                                 dram_source="ULX3S SDRAM, hand-written test figure")
    assert p.kind == "fpga"
    assert p.peak_ops == {"design": 128 * 125e6}
    assert p.memory_levels["bram"] == 40 * 36 * 125e6 / 8
    assert p.memory_levels["dram"] == 200e6 == p.bandwidth
    assert p.peak_for(16, 16, 16) == ("design", 16e9)
    assert "achieved Fmax 125.0 MHz" in p.sources["design"]
    assert bram_bandwidth(1, 100e6, "pdp") == 2 * bram_bandwidth(1, 100e6, "tdp") == 900e6


def test_fpga_profile_without_dram_uses_bram_and_errors():
    p = fpga_profile_from_report(_report(board=None, mode="ooc"))
    assert p.bandwidth == p.memory_levels["bram"] and "dram" not in p.memory_levels
    with pytest.raises(ValueError, match=r"report schema must be 'attnkit.build_report/1'"):
        fpga_profile_from_report(_report(schema="other/1"))
    with pytest.raises(ValueError, match=r"ops_per_cycle must be a positive number, not 0"):
        fpga_profile_from_report(_report(ops_per_cycle=0))
    with pytest.raises(ValueError, match=r"dram_source is required"):
        fpga_profile_from_report(_report(), dram_bandwidth=1e8)
    with pytest.raises(ValueError, match=r"no memory roof"):
        fpga_profile_from_report(_report(board=None, utilization={}))


def test_board_name_finds_newest_report(tmp_path):
    d = tmp_path / "build" / "gemv_ulx3s"
    d.mkdir(parents=True)
    (d / "report.json").write_text(json.dumps(_report()))
    p = resolve_hardware("ulx3s-85f", build_dir=tmp_path / "build", dram_bandwidth=1e8,
                         dram_source="test")
    assert p.peak_ops["design"] == 16e9
    with pytest.raises(ValueError, match=r"no build report for board 'orangecrab-25f'"):
        resolve_hardware("orangecrab-25f", build_dir=tmp_path / "build")
    with pytest.raises(ValueError, match=r"unknown hardware 'nvidia-b200'"):
        resolve_hardware("nvidia-b200", build_dir=tmp_path / "build")


def test_fpga_dram_from_board_registry():
    from attnkit.boards import registry
    mem = registry.board("ulx3s-85f").memory
    p = fpga_profile_from_report(_report())
    assert p.memory_levels["dram"] == mem.peak_bandwidth == p.bandwidth
    assert mem.peak_bandwidth == mem.width_bits / 8 * mem.clock_mhz * 1e6
    assert "attnkit.boards.registry ulx3s-85f" in p.sources["dram"]


# ---- user-defined and measured profiles ---------------------------------------------

def test_user_profile_json_and_toml(tmp_path):
    data = {"name": "my-npu", "bandwidth_bytes_per_s": 100e9,
            "peak_ops_per_s": {"fp16": 50e12, "int8": 100e12},
            "sources": {"bandwidth": "my datasheet p.3", "fp16": "p.4", "int8": "p.4"}}
    j = tmp_path / "npu.json"
    j.write_text(json.dumps(data))
    t = tmp_path / "npu.toml"
    t.write_text('name = "my-npu"\nbandwidth_bytes_per_s = 100e9\n'
                 '[peak_ops_per_s]\nfp16 = 50e12\nint8 = 100e12\n'
                 '[sources]\nbandwidth = "my datasheet p.3"\nfp16 = "p.4"\nint8 = "p.4"\n')
    for path in (j, t):
        p = resolve_hardware(str(path))
        assert (p.name, p.kind, p.bandwidth, p.peak_for(8, 8, 8)[1]) == \
            ("my-npu", "user", 100e9, 100e12)
    del data["sources"]["int8"]
    j.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"sources\['int8'\] missing"):
        load_profile_file(j)


def test_measured_profile_example_loads():
    p = load_profile_file(REPO / "docs" / "roofline_measured_profile_example.json")
    assert p.kind == "measured"
    assert p.bandwidth > 0 and p.peak_ops["measured"] > 0


# ---- analysis -----------------------------------------------------------------------

def test_analyze_totals_and_rows():
    m, wl = get_model("llama-2-7b"), Workload(2048, w_bits=4)
    h = get_hardware("snapdragon-8-gen-3")
    a = analyze(m, wl, h)
    dec = stage_totals(m, wl, "decode")
    assert a["totals"]["decode"]["ops"] == dec["ops"]
    assert a["totals"]["decode"]["memory_access"] == dec["memory_access"]
    # decode is memory bound on every layer, so time = bytes / bandwidth exactly
    assert all(r["bound"] == "memory" for r in a["rows"] if r["stage"] == "decode")
    assert math.isclose(a["totals"]["decode"]["time_s"], dec["memory_access"] / 76.8e9,
                        rel_tol=1e-12)
    assert math.isclose(a["totals"]["decode"]["tokens_per_s"],
                        76.8e9 / dec["memory_access"], rel_tol=1e-12)
    for r in a["rows"]:
        assert r["arithmetic_intensity"] == r["ops"] / r["memory_access"]
        assert (r["bound"] == "memory") == (Fraction(r["ops"], r["memory_access"])
                                            < Fraction(h.peak_ops["fp16"]) / Fraction(76.8e9))


def test_fpga_memory_level_changes_bound():
    p = fpga_profile_from_report(_report(), dram_bandwidth=200e6, dram_source="test")
    m, wl = get_model("llama-2-7b"), Workload(2048, w_bits=8, a_bits=8)
    dram = analyze(m, wl, p, ("prefill",))
    bram = analyze(m, wl, p, ("prefill",), memory_level="bram")
    assert bram["ridge_point"] < dram["ridge_point"]
    with pytest.raises(ValueError, match=r"has no memory level 'hbm'"):
        analyze(m, wl, p, memory_level="hbm")


# ---- command line --------------------------------------------------------------------

def _run(*args):
    r = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                       cwd=REPO, timeout=120)
    return r


def test_cli_table_json_exact_integers():
    r = _run("table", "--model", "llama-2-7b", "--hardware", "nvidia-a6000", "--seqlen",
             "2048", "--batch", "1", "--w-bits", "16", "--a-bits", "16", "--kv-bits", "16",
             "--stage", "decode", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    rows = {x["layer"]: x for x in data["rows"]}
    assert {x["stage"] for x in data["rows"]} == {"decode"}
    for key in ("stage", "layer", "ops", "memory_access", "arithmetic_intensity",
                "performance", "bound"):
        assert key in rows["q_proj"]
    expect = {c.layer: c for c in layer_costs(get_model("llama-2-7b"), Workload(2048),
                                              "decode")}
    for name, c in expect.items():
        assert rows[name]["ops"] == c.ops and rows[name]["memory_access"] == c.memory_access
    assert isinstance(data["totals"]["decode"]["ops"], int)


def test_cli_lists_and_errors():
    r = _run("--list-models", "--list-hardware")
    assert r.returncode == 0
    for name in ["llama-2-70b", "all-minilm-l6-v2", *EXPECTED_NAMES]:
        assert name in r.stdout
    r = _run("table", "--model", "gpt-5", "--hardware", "nvidia-a6000")
    assert r.returncode == 2 and "unknown model 'gpt-5'" in r.stderr
    r = _run("table", "--model", "all-minilm-l6-v2", "--stage", "decode")
    assert r.returncode == 2 and "does not apply to encoder model" in r.stderr
    r = _run("table", "--seqlen", "0")
    assert r.returncode == 2 and "seqlen must be positive, not 0" in r.stderr


def test_cli_plot_and_compare(tmp_path):
    prof = tmp_path / "fpga.json"
    prof.write_text(json.dumps({"name": "test-fpga", "kind": "fpga",
                                "bandwidth_bytes_per_s": 2e8,
                                "peak_ops_per_s": {"design": 3.84e10},
                                "memory_levels": {"bram": 1.4e11},
                                "sources": {"bandwidth": "t", "design": "t", "bram": "t"}}))
    out = tmp_path / "roof"
    r = _run("plot", "--model", "llama-2-7b", "--hardware", "nvidia-a6000", str(prof),
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    png, svg = Path(f"{out}.png"), Path(f"{out}.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert b"<svg" in svg.read_bytes()[:2000]
    r = _run("compare", "--model", "llama-2-7b", "--w-bits", "4", "--stage", "decode",
             "--hardware", "nvidia-a6000", "snapdragon-8-gen-3", str(prof))
    assert r.returncode == 0, r.stderr
    assert re.search(r"decode\s+tokens/s", r.stdout)


def test_cli_variants_json():
    r = _run("variants", "--T", "1024", "--d", "64", "--json")
    assert r.returncode == 0, r.stderr
    data = {v["name"]: v for v in json.loads(r.stdout)}
    assert data["transformer"]["ops"] == 4 * 1024 * 1024 * 64 + 5 * 1024 * 1024
    assert data["hyena"]["ops"] is None
