"""tools/gpu_baseline.py: the CPU path when PyTorch is importable, the clear error when
it is not, and loading measured profiles into the roofline tool."""

import json
import sys
from pathlib import Path

import pytest

from attnkit.boards.hardware import analyze, load_profile_file
from attnkit.golden.attention_variants import variant_cost
from attnkit.golden.llm_models import get_model
from attnkit.golden.workload import Workload, layer_costs
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "roofline_measured_profile_example.json"


gb = load_tool("gpu_baseline")


def _torch_importable():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_missing_torch_gives_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)     # makes `import torch` fail
    with pytest.raises(RuntimeError, match=r"^torch not installed; pip install attnkit\[gpu\]$"):
        gb.measure("cpu", quick=True)
    assert gb.main(["--device", "cpu", "--quick", "--out", "/dev/null"]) == 2
    assert "torch not installed; pip install attnkit[gpu]" in capsys.readouterr().err


def test_bad_device_and_threads():
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cuda' or 'cpu', not 'tpu'"):
        gb.measure("tpu")
    if _torch_importable():
        with pytest.raises(ValueError, match=r"threads must be a positive int, not 0"):
            gb.measure("cpu", quick=True, threads=0)


def test_costs_match_workload_model():
    """The baseline's OPs/bytes per kernel are the workload model's for the same shape."""
    m = get_model("llama-2-7b")
    dec = {r.layer: r for r in layer_costs(m, Workload(2048), "decode")}
    ops, nbytes = gb._cost("gemv", [4096, 4096], 2)
    assert (ops, nbytes) == (dec["q_proj"].ops, dec["q_proj"].memory_access)
    ops, nbytes = gb._cost("gemv", [11008, 4096], 2)
    assert (ops, nbytes) == (dec["gate_proj"].ops, dec["gate_proj"].memory_access)
    ops, _ = gb._cost("attention_decode", [32, 2048, 128], 2)
    assert ops == sum(dec[k].ops for k in ("qk_matmul", "sv_matmul", "softmax"))
    ops, nbytes = gb._cost("attention_prefill", [32, 512, 128], 2)
    assert ops == 32 * variant_cost("transformer", 512, 128).ops
    assert nbytes == 4 * 32 * 512 * 128 * 2
    ops, nbytes = gb._cost("softmax", [32, 2048], 2)
    assert (ops, nbytes) == (dec["softmax"].ops, dec["softmax"].memory_access)
    with pytest.raises(ValueError, match=r"unknown kernel 'conv'"):
        gb._cost("conv", [1], 2)


def test_full_run_shapes_are_llama_2_7b():
    specs = gb.kernel_specs(quick=False)
    shapes = {(s["kernel"], tuple(s["shape"])) for s in specs}
    assert ("gemv", (4096, 4096)) in shapes and ("gemv", (11008, 4096)) in shapes
    assert {t for k, (h, t, d) in ((k, s) for k, s in shapes if k.startswith("attention"))
            } == {512, 2048}
    assert all(s[2] == 128 for k, s in shapes if k.startswith("attention"))


def test_cpu_quick_profile(tmp_path, capsys):
    """CPU path when torch is importable; otherwise the missing-torch error (CI has
    whichever the environment provides)."""
    out = tmp_path / "cpu.json"
    rc = gb.main(["--device", "cpu", "--quick", "--threads", "1", "--out", str(out)])
    if not _torch_importable():
        assert rc == 2
        assert "torch not installed; pip install attnkit[gpu]" in capsys.readouterr().err
        return
    assert rc == 0
    text = capsys.readouterr().out
    assert "summary: bandwidth" in text and f"wrote {out}" in text
    prof = json.loads(out.read_text())
    assert prof["schema"] == "attnkit.measured_profile/1"
    assert prof["device"]["type"] == "cpu" and prof["dtype"] == "float32"
    assert prof["settings"]["threads"] == 1
    assert [k["kernel"] for k in prof["kernels"]] == [s["kernel"] for s in
                                                      gb.kernel_specs(quick=True)]
    for k in prof["kernels"]:
        ops, nbytes = gb._cost(k["kernel"], k["shape"], 4)
        assert (k["ops"], k["bytes"]) == (ops, nbytes)
        assert 0 < k["seconds_min"] <= k["seconds_median"]
        assert k["achieved_bytes_per_s"] == pytest.approx(nbytes / k["seconds_median"])
    s = prof["summary"]
    assert s["bandwidth_bytes_per_s"] == max(k["achieved_bytes_per_s"]
                                             for k in prof["kernels"] if k["kernel"] == "gemv")
    hw = load_profile_file(out)
    a = analyze(get_model("llama-2-7b"), Workload(256), hw, ("decode",))
    assert a["totals"]["decode"]["tokens_per_s"] > 0


def test_example_profile_loads_and_is_consistent():
    prof = json.loads(EXAMPLE.read_text())
    assert prof["schema"] == "attnkit.measured_profile/1"
    for k in prof["kernels"]:
        elem = {"float32": 4, "float16": 2}[k["dtype"]]
        assert (k["ops"], k["bytes"]) == gb._cost(k["kernel"], k["shape"], elem)
    hw = load_profile_file(EXAMPLE)
    assert hw.kind == "measured"
    assert hw.bandwidth == prof["summary"]["bandwidth_bytes_per_s"]
    assert hw.peak_ops == {"measured": prof["summary"]["peak_ops_per_s"]}
