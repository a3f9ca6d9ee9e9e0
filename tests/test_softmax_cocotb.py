"""Softmax's exported Verilog under cocotb (Verilator; Icarus too when installed)."""

import pytest

from attnkit.golden.fixed import FixedFormat
from attnkit.golden.quant import requant_params
from attnkit.golden.softmax import SoftmaxConfig, config_to_dict
from attnkit.hdl.softmax import Softmax
from attnkit.sim.cocotb_runner import icarus_available, run_cocotb

pytestmark = pytest.mark.cocotb

CONFIGS = {
    "default_u8": (SoftmaxConfig(), 64, None),
    "u16_poly3": (SoftmaxConfig(out_fmt=FixedFormat(False, 0, 16), table_bits=1, degree=3), 40,
                  None),
    "u16_table_scores": (SoftmaxConfig(out_fmt=FixedFormat(False, 1, 15), table_bits=9, degree=0),
                         33, requant_params(2.0 ** -22)),
}


def _run(name, simulator, seeds, n_rows=8):
    cfg, l_max, req = CONFIGS[name]
    params = dict(cfg=config_to_dict(cfg), l_max=l_max,
                  score_requant=list(req) if req else None, seeds=list(seeds), n_rows=n_rows)
    run_cocotb(Softmax(cfg, l_max, score_requant=req), "cocotb_softmax", simulator=simulator,
               parameters=params, test_dir="tests/cocotb", seed=1)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_softmax_verilator(name):
    """10 data seeds x (no stalls, random stalls), one Verilator build per configuration."""
    _run(name, "verilator", range(10))


@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_softmax_icarus(name):
    _run(name, "icarus", range(10) if name == "default_u8" else range(3))
