"""Synth tier: real Yosys + nextpnr-ecp5 runs of the out-of-context flow (marker ``synth``).

Small designs on LFE5U-25F, a few seconds each: a bank of MAC units places and routes and
reports one MULT18X18D per MAC; one MAC too many for the device fails with the overflow
message; an impossible clock fails timing (and ``tools/build.py`` exits non-zero); the
registered ``gemv`` design builds (it also guards the YosysHQ/yosys#4349 workaround in
``synth_script``: without it, ABC9 asserts on GemvArray inside the harness).
"""

import json

import pytest
from toolchain_fixtures import MacBank

from attnkit.boards import designs, ecp5
from attnkit.boards.report import REPORT_KEYS, SCHEMA
from attnkit.boards.toolchain import (DeviceOverflowError, Progress, TimingError,
                                      build_ooc)
from tool_modules import load_tool

pytestmark = pytest.mark.synth



def test_macbank_builds_with_one_dsp_per_mac(tmp_path):
    rep = build_ooc(MacBank(4), out_dir=tmp_path, design="macbank", params={"n": 4},
                    device="LFE5U-25F", clock_mhz=50, seed=1, ops_per_cycle=8)
    assert tuple(rep) == REPORT_KEYS and rep["schema"] == SCHEMA
    assert rep["status"] == "ok" and rep["timing_met"] is True
    assert rep["utilization"]["MULT18X18D"] == {"used": 4, "available": 28}
    assert rep["core_utilization"]["MULT18X18D"]["used"] == 4
    assert rep["utilization_stage"] == "post-route"
    # Harness: 2 reset + 1 si + 65 chain + 128 capture + 43 fold registers; 43 fold LUTs
    # and 64 chain inverters.
    assert rep["harness"]["cells"] == {"TRELLIS_FF": 239, "TRELLIS_COMB": 107, "TRELLIS_IO": 4}
    # The core: 4 x (8 + 8 + 16 + 32) registers; nothing of it was optimised away.
    assert rep["core_utilization"]["TRELLIS_FF"]["used"] == 4 * 64
    assert rep["utilization"]["TRELLIS_IO"]["used"] == 4
    sync = rep["clocks"]["sync"]
    assert sync["met"] and sync["achieved_mhz"] > 50
    assert rep["peak_gops"] == pytest.approx(8 * sync["achieved_mhz"] / 1000, abs=1e-3)
    assert rep["tools"]["yosys"].startswith("Yosys 0.69")
    assert rep["tools"]["nextpnr"].startswith("nextpnr-0.11")
    assert rep["critical_path"][0].startswith("Critical path report for clock")
    # every endpoint from the routed delays (attnkit.boards.sta): none over the period, and
    # the worst path is nextpnr's own (its Fmax to within rounding)
    ep = rep["endpoints"]
    assert ep["failing"] == 0 and ep["groups"] == [] and ep["endpoints"] > 4 * 64
    assert 1000 / ep["worst_ns"] == pytest.approx(sync["achieved_mhz"], rel=2e-3)
    assert set(rep["elapsed_s"]) == {"elaborate", "synth", "pnr", "total"}
    for name in rep["logs"].values():
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "report.json").read_text()) == rep
    assert "| MULT18X18D | 4 | 4 | 0 | 28 |" in (tmp_path / "report.md").read_text()


def test_too_many_dsps_is_an_overflow(tmp_path):
    dev = ecp5.device("LFE5U-25F")
    with pytest.raises(DeviceOverflowError) as info:
        build_ooc(MacBank(dev.mult18 + 1), out_dir=tmp_path, device=dev.name, clock_mhz=50)
    assert str(info.value) == "design needs 29 MULT18X18D but LFE5U-25F has 28"
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["status"] == "overflow" and rep["error"] == str(info.value)
    assert rep["utilization"]["MULT18X18D"] == {"used": 29, "available": 28}


def test_impossible_clock_fails_timing(tmp_path):
    progress_out = []

    class Capture:
        def write(self, text):
            progress_out.append(text)

        def flush(self):
            pass

    with pytest.raises(TimingError, match=r"^clock sync: achieved \d+\.\d MHz < target 2000 MHz$"):
        build_ooc(MacBank(1), out_dir=tmp_path, clock_mhz=2000,
                  progress=Progress(Capture(), tty=False))
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["status"] == "timing_failed" and rep["timing_met"] is False
    assert rep["clocks"]["sync"]["target_mhz"] == 2000 and rep["clocks"]["sync"]["met"] is False
    text = "".join(progress_out)
    for stage in ("elaborate", "synth", "pnr"):
        assert f"[{stage}] started" in text
    # Accepted on request:
    rep = build_ooc(MacBank(1), out_dir=tmp_path, clock_mhz=2000, allow_timing_fail=True)
    assert rep["status"] == "timing_failed"


def test_cli_exits_non_zero_on_timing_failure(tmp_path, capsys, monkeypatch):
    build_py = load_tool("build")
    monkeypatch.setitem(designs.DESIGNS, "macbank-test", designs.Design(
        "macbank-test", lambda p: MacBank(**p), defaults={"n": 1},
        ops_per_cycle=lambda p: 2 * p["n"]))
    argv = ["--design", "macbank-test", "--clock", "2000", "--out", str(tmp_path), "--quiet"]
    assert build_py.main(argv) == 1
    captured = capsys.readouterr()
    assert "build.py: timing not met: clock sync: achieved" in captured.err
    assert "< target 2000 MHz" in captured.err
    assert "TIMING_FAILED" in captured.out and "NOT MET" in captured.out
    assert build_py.main([*argv, "--allow-timing-fail"]) == 0


@pytest.mark.parametrize("weight_bits, lanes, dsps", [(8, 2, 2), (4, 4, 2)])
def test_registered_gemv_builds(tmp_path, weight_bits, lanes, dsps):
    """A small GEMV array places and routes on an LFE5U-25F with the DSPs it should: one
    MULT18X18D per lane for int8, one per two lanes for int4; one DP16KD activation buffer
    and the output FIFO's DP16KDs (9-bit slices of the 32-bit result plus ``last``)."""
    gemv = designs.get("gemv")
    params = designs.resolve_params(gemv, {"lanes": lanes, "weight_bits": weight_bits, "max_n": 64})
    rep = build_ooc(lambda: gemv.factory(params), out_dir=tmp_path, design="gemv",
                    params=params, clock_mhz=50, ops_per_cycle=gemv.ops_per_cycle(params))
    assert rep["status"] == "ok"
    assert rep["core_utilization"]["MULT18X18D"]["used"] == dsps
    assert rep["core_utilization"]["DP16KD"]["used"] == 1 + -(-(params["acc_width"] + 1) // 9)
    assert rep["ops_per_cycle"] == 2 * lanes
