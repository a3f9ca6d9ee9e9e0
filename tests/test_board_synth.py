"""Board builds through tools/build.py: bitstream, report, reproducibility, failures.

The ``synth`` tests run Yosys, nextpnr-ecp5 and ecppack (about 1 minute per small ULX3S-25F
build on one core); the rest check the command line without running any tool.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from attnkit.boards.report import REPORT_KEYS, SCHEMA
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "tools" / "build.py"
SMALL = ["--param", "lanes=2", "--param", "max_n=32", "--param", "max_m=32",
         "--param", "w_words=32"]


def run_build(*args, timeout=900):
    return subprocess.run([sys.executable, str(BUILD), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.mark.synth
def test_board_bitstream_report_and_reproducibility(tmp_path):
    # seed 1 twice, in two folders: same inputs -> same bitstream (several seeds in one
    # call: test_board_ooc_builds_the_core_on_the_boards_part, a much smaller build)
    a = run_build("--board", "ulx3s-25f", "--design", "accelerator", *SMALL, "--clock", "40",
                  "--seed", "1", "--out", str(tmp_path / "a"), "--quiet")
    assert a.returncode == 0, a.stderr + a.stdout
    b = run_build("--board", "ulx3s-25f", "--design", "accelerator", *SMALL, "--clock", "40",
                  "--seed", "1", "--out", str(tmp_path / "b"), "--quiet")
    assert b.returncode == 0, b.stderr + b.stdout

    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert tuple(rep) == REPORT_KEYS and rep["schema"] == SCHEMA
    assert rep["status"] == "ok" and rep["mode"] == "board" and rep["board"] == "ulx3s-25f"
    assert rep["device"] == {"name": "LFE5U-25F", "package": "CABGA381", "speed": 6}
    assert rep["params"]["lanes"] == 2
    clk = rep["clocks"]["sync"]
    assert clk["target_mhz"] == 40 and clk["met"] and clk["achieved_mhz"] >= 40
    assert rep["ops_per_cycle"] == 4
    assert rep["peak_gops"] == pytest.approx(4 * clk["achieved_mhz"] / 1000, abs=1e-3)
    pll = rep["pll"]
    assert pll["f_out_mhz"] == pytest.approx(25 * pll["clkfb_div"] / pll["clki_div"])
    assert 400 <= pll["f_vco_mhz"] <= 800
    util = rep["utilization"]
    assert util["MULT18X18D"]["used"] >= 2 and util["EHXPLLL"]["used"] == 1
    assert util["TRELLIS_IO"]["used"] >= 3                 # clock in, UART rx/tx, LEDs
    for stage in ("elaborate", "synth", "pnr", "pack", "total"):
        assert rep["elapsed_s"][stage] > 0
    bit = tmp_path / "a" / rep["bitstream"]["path"]
    data = bit.read_bytes()
    assert rep["bitstream"]["bytes"] == len(data) > 100_000
    assert rep["bitstream"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert rep["bitstream"]["sha256"] in (tmp_path / "a" / "report.md").read_text()

    rep_b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep_b["bitstream"]["sha256"] == rep["bitstream"]["sha256"]
    assert (tmp_path / "b" / "top.bit").read_bytes() == data


@pytest.mark.synth
def test_board_oversized_design_names_the_resource(tmp_path):
    # 32 lanes need 32 MULT18X18D (+1 for the parameter check); the LFE5U-25F has 28
    r = run_build("--board", "ulx3s-25f", "--design", "accelerator", "--param", "lanes=32",
                  "--param", "max_n=32", "--param", "max_m=32", "--param", "w_words=16",
                  "--out", str(tmp_path), "--quiet")
    assert r.returncode == 3, r.stderr + r.stdout
    assert "MULT18X18D" in r.stderr and "LFE5U-25F" in r.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["status"] == "overflow" and rep["bitstream"] is None


def test_board_impossible_clock_names_the_clock(tmp_path):
    r = run_build("--board", "ulx3s-25f", "--design", "accelerator", "--clock", "450",
                  "--out", str(tmp_path))
    assert r.returncode == 2
    assert "--clock 450 MHz cannot be made on ulx3s-25f from its 25 MHz board clock" in r.stderr
    assert "outside the ECP5 PLL range 3.125..400 MHz" in r.stderr
    r = run_build("--board", "orangecrab-25f", "--design", "accelerator", "--clock", "50",
                  "--out", str(tmp_path))
    assert r.returncode == 2 and "cannot make 50 MHz from 48 MHz" in r.stderr


def test_board_cli_usage_errors(tmp_path):
    r = run_build("--board", "ulx3s-25f", "--design", "gemv", "--out", str(tmp_path))
    assert r.returncode == 2 and "design 'gemv' has no board top level" in r.stderr
    r = run_build("--board", "nope", "--out", str(tmp_path))
    assert r.returncode == 2 and "unknown board 'nope'; valid boards:" in r.stderr
    r = run_build("--board", "ulx3s-25f", "--device", "LFE5U-85F", "--out", str(tmp_path))
    assert r.returncode == 2 and "--board sets the device" in r.stderr
    r = run_build("--ooc", "--out", str(tmp_path))
    assert r.returncode == 2 and "--ooc needs --board" in r.stderr
    r = run_build("--board", "ulx3s-25f", "--design", "accelerator", "--seeds", "1,x")
    assert r.returncode == 2 and "--seeds must be comma-separated integers" in r.stderr


def test_list_boards():
    r = run_build("--list-boards")
    assert r.returncode == 0
    for name in ("ulx3s-85f", "orangecrab-25f", "ecpix5-85f", "versa-ecp5", "ecp5-5g-evn",
                 "colorlight-5a75b"):
        assert name in r.stdout
    assert "32 MB 16-bit SDR SDRAM, 332 MB/s" in r.stdout


def test_program_without_openfpgaloader(monkeypatch, tmp_path):
    build = load_tool("build")
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    status, message = build.program("ulx3s-85f", tmp_path / "top.bit")
    assert status == build.EXIT_TOOL
    assert "openFPGALoader is not installed" in message
    assert f"openFPGALoader -b ulx3s {tmp_path / 'top.bit'}" in message


@pytest.mark.synth
def test_board_ooc_builds_the_core_on_the_boards_part(tmp_path):
    # two placer seeds in one call: one folder and one report each, and the best named
    r = run_build("--board", "ulx3s-25f", "--ooc", "--design", "gemv", "--param", "lanes=2",
                  "--param", "max_n=64", "--clock", "100", "--seeds", "1,2",
                  "--out", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "seeds (2 built):" in r.stdout and "best: seed" in r.stdout
    reps = [json.loads((tmp_path / f"seed{n}" / "report.json").read_text()) for n in (1, 2)]
    assert [x["seed"] for x in reps] == [1, 2]
    mhz = [x["clocks"]["sync"]["achieved_mhz"] for x in reps]
    best = max(range(2), key=lambda i: mhz[i])
    assert f"best: seed {best + 1}, {mhz[best]:.1f} MHz" in r.stdout
    rep = reps[0]
    assert (rep["mode"], rep["board"], rep["device"]["name"]) == ("ooc", "ulx3s-25f",
                                                                  "LFE5U-25F")
    assert rep["bitstream"] is None and rep["harness"]["pins"]
