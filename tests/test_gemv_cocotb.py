"""GemvArray's exported Verilog under cocotb (Verilator; Icarus too when installed)."""

import pytest

from attnkit.hdl.gemv import GemvArray
from attnkit.sim.cocotb_runner import icarus_available, run_cocotb

pytestmark = pytest.mark.cocotb

CONFIGS = {
    "int8": dict(lanes=8, weight_bits=8, acc_width=32, requant=False, max_n=64, group=4),
    "int4": dict(lanes=8, weight_bits=4, acc_width=32, requant=False, max_n=64, group=4),
    "requant": dict(lanes=6, weight_bits=8, acc_width=32, requant=True, max_n=64, group=3),
}
# M < P, M % P != 0, N = 1, several tiles, N = max_n
SHAPES = [[5, 17], [19, 33], [3, 1], [20, 64], [8, 2]]


def _run(name, simulator, seeds):
    cfg = CONFIGS[name]
    params = dict(cfg, seeds=list(seeds), shapes=SHAPES)
    run_cocotb(GemvArray(**cfg), "cocotb_gemv", simulator=simulator, parameters=params,
               test_dir="tests/cocotb", seed=1)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gemv_verilator(name):
    """10 data seeds x (no stalls, random stalls), one Verilator build per configuration."""
    _run(name, "verilator", range(10))


@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gemv_icarus(name):
    _run(name, "icarus", range(10))
