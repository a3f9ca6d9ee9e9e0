"""AttentionEngine's exported Verilog under cocotb (Verilator; Icarus too when installed)."""

import pytest

from attnkit.hdl.attention import AttentionEngine
from attnkit.sim.cocotb_runner import icarus_available, run_cocotb

pytestmark = pytest.mark.cocotb

CONFIGS = {
    "d8_l4": dict(d=8, lanes=4, t_max=16, k_max=4, block=4),
    "d32_l8_minilm": dict(d=32, lanes=8, t_max=16, k_max=4, block=4),
    "d8_l4_prefill3": dict(d=8, lanes=4, t_max=16, k_max=4, block=4, queries=3),
}
MINILM = {"d8_l4": None, "d32_l8_minilm": [1, 3, 4], "d8_l4_prefill3": None}


def _run(name, simulator, seeds):
    cfg = CONFIGS[name]
    params = dict(cfg, seeds=list(seeds), minilm=MINILM[name])
    run_cocotb(AttentionEngine(**cfg), "cocotb_attention", simulator=simulator,
               parameters=params, test_dir="tests/cocotb", seed=1)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_attention_verilator(name):
    """10 data seeds (every mode) + a real MiniLM head, without and with random stalls,
    one Verilator build per configuration."""
    _run(name, "verilator", range(10))


@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
def test_attention_icarus():
    """10 data seeds (every mode) under Icarus. This once failed: the V stage's FIFO read
    enable, an ``always @*`` output of a state that stays 0 until the first probability,
    was never evaluated by Icarus and stayed X; ``icarus_time_zero`` fixes the export."""
    _run("d8_l4", "icarus", range(10))


@pytest.mark.skipif(not icarus_available(), reason="iverilog not installed")
def test_attention_prefill_icarus():
    """Prefill blocks of 3 queries, 10 data seeds (every static mode) under Icarus."""
    _run("d8_l4_prefill3", "icarus", range(10))
