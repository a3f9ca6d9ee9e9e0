"""Synth tier: the softmax unit through Yosys + nextpnr-ecp5 on an LFE5U-25F (out of context).

The registered ``softmax`` design (default configuration, rows up to 4096 elements) must fit
the 25F, map its three multiplies (log2(e) scaling, one Horner step, normalisation) to
MULT18X18D, keep both row buffers in EBR (DP16KD) rather than LUT RAM, and place and route.
Fmax is reported (``report.json``), not asserted: it is a measurement, see the report.
"""

import pytest

from attnkit.boards import designs
from attnkit.boards.toolchain import build_ooc

pytestmark = pytest.mark.synth


def test_softmax_builds_on_25f(tmp_path):
    d = designs.get("softmax")
    params = designs.resolve_params(d, {})
    assert params["l_max"] == 4096
    rep = build_ooc(lambda: d.build(params), out_dir=tmp_path, design="softmax", params=params,
                    device="LFE5U-25F", clock_mhz=100, seed=1, allow_timing_fail=True)
    print({k: v["used"] for k, v in rep["core_utilization"].items() if v["used"]},
          rep["clocks"])
    assert rep["status"] in ("ok", "timing_failed")
    assert rep["utilization_stage"] == "post-route"
    core = rep["core_utilization"]
    assert core["MULT18X18D"]["used"] == 3
    # x buffer: 4109 x 26 bits, e buffer: ~4145 x 24 bits -> at least 2 x 4 EBRs of 18 Kb
    assert core["DP16KD"]["used"] >= 8
    assert core["DP16KD"]["used"] <= core["DP16KD"]["available"]
    assert core["TRELLIS_RAMW"]["used"] < 64          # only the small row queues in LUT RAM
    assert rep["clocks"]["sync"]["achieved_mhz"] > 50
