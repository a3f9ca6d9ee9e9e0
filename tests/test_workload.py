"""Workload model: the talk's Llama-2 7B / A6000 table, and the counting properties."""

import re
from fractions import Fraction

import pytest

from attnkit.golden import attention_variants as av
from attnkit.golden.llm_models import MODELS, ModelConfig, get_model
from attnkit.golden.roofline import attainable, bound, format_ai, format_si
from attnkit.golden.workload import (STAGES, TALK_LAYERS, Workload, kv_cache_bytes,
                                     layer_costs, stage_totals, weight_bytes)

# The talk's table, copied verbatim from reference/000_ed5f03ea9fefbfcc.txt (lines
# 111-137; made by LLM-Viewer, arXiv:2402.16363): Llama-2 7B on an NVIDIA A6000,
# seqlen 2048, batch 1, 16-bit weights/activations/KV. "<b>8M</b>" is an HTML artefact.
TALK_TABLE = """\
Layer Name	OPs	Memory Access	Arithmetic Intensity	Max Performance	Bound
-			Prefill
q_proj	69G	67M	1024	155T	compute
k_proj	69G	67M	1024	155T	compute
v_proj	69G	67M	1024	155T	compute
o_proj	69G	67M	1024	155T	compute
gate_proj	185G	152M	1215	155T	compute
up_proj	185G	152M	1215	155T	compute
down_proj	185G	152M	1215	155T	compute
qk_matmul	34G	302M	114	87T	memory
sv_matmul	34G	302M	114	87T	memory
softmax	671M	537M	1.25	960G	memory
norm	59M	34M	1.75	1T	memory
add	<b>8M</b>	34M	0.25	192G	memory
		Ι	Decode
q_proj	34M	34M	1	768G	memory
k_proj	34M	34M	1	768G	memory
v_proj	34M	34M	1	768G	memory
o_proj	34M	34M	1	768G	memory
gate_proj	90M	90M	1	768G	memory
up_proj	90M	90M	1	768G	memory
down_proj	90M	90M	1	768G	memory
qk_matmul	17M	17M	0.99	762G	memory
sv_matmul	17M	17M	0.99	762G	memory
softmax	328K	262K	1.25	960G	memory
norm	29K	16K	1.75	1T	memory
add	4K	16K	0.25	192G	memory
"""

# NVIDIA A6000 as in the talk (GA102 whitepaper: 154.8 TFLOPS FP16 dense, 768 GB/s).
A6000_PEAK, A6000_BW = 154.8e12, 768e9


def parse_talk_table():
    rows, stage = [], None
    for line in TALK_TABLE.splitlines()[1:]:
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in line.split("\t")]
        if "Prefill" in cells or "Decode" in cells:
            stage = "prefill" if "Prefill" in cells else "decode"
            continue
        rows.append((stage, *cells))
    return rows


def test_talk_table_parsed_completely():
    rows = parse_talk_table()
    assert len(rows) == 24
    assert [r[1] for r in rows if r[0] == "prefill"] == list(TALK_LAYERS)
    assert [r[1] for r in rows if r[0] == "decode"] == list(TALK_LAYERS)


@pytest.mark.parametrize("stage,layer,ops,mem,ai,perf,bnd", parse_talk_table())
def test_talk_table_reproduced(stage, layer, ops, mem, ai, perf, bnd):
    """Every row and column of the talk's table, after the table's own rounding."""
    model = get_model("llama-2-7b")
    wl = Workload(seqlen=2048, batch=1, w_bits=16, a_bits=16, kv_bits=16)
    c = {r.layer: r for r in layer_costs(model, wl, stage)}[layer]
    assert format_si(c.ops) == ops
    assert format_si(c.memory_access) == mem
    assert format_ai(c.arithmetic_intensity) == ai
    assert format_si(attainable(c.ops, c.memory_access, A6000_PEAK, A6000_BW)) == perf
    assert bound(c.ops, c.memory_access, A6000_PEAK, A6000_BW) == bnd


def test_talk_table_exact_integers():
    """The unrounded integers behind the talk's figures, from the formulas."""
    m, s, h, i, H, d = get_model("llama-2-7b"), 2048, 4096, 11008, 32, 128
    wl = Workload(seqlen=s)
    pre = {r.layer: r for r in layer_costs(m, wl, "prefill")}
    dec = {r.layer: r for r in layer_costs(m, wl, "decode")}
    # prefill q_proj: 2*h*h*s OPs; weights h*h*2 B, input and output s*h*2 B each.
    assert pre["q_proj"].ops == 2 * h * h * s == 68_719_476_736
    assert pre["q_proj"].memory_access == 2 * h * h + 2 * (2 * s * h) == 67_108_864
    assert pre["q_proj"].arithmetic_intensity == 1024
    assert pre["gate_proj"].ops == 2 * h * i * s == 184_683_593_728
    assert pre["gate_proj"].memory_access == 2 * h * i + 2 * s * h + 2 * s * i
    # prefill qk_matmul: 2*H*s*s*d OPs; Q and K loaded (s*h each), scores H*s*s stored.
    assert pre["qk_matmul"].ops == 2 * H * s * s * d == 34_359_738_368
    assert pre["qk_matmul"].memory_access == 2 * (2 * s * h) + 2 * H * s * s == 301_989_888
    assert pre["softmax"].ops == 5 * H * s * s == 671_088_640
    assert pre["softmax"].memory_access == 2 * 2 * H * s * s
    assert pre["norm"].ops == 7 * s * h == 58_720_256
    assert pre["add"].ops == s * h == 8_388_608
    assert pre["add"].memory_access == 2 * (2 * s * h) == 33_554_432
    # decode q_proj: 34M OPs = 2*4096*4096; memory = 32 MiB weights + 8 KiB in + 8 KiB out.
    assert dec["q_proj"].ops == 2 * h * h == 33_554_432
    assert dec["q_proj"].memory_access == 32 * 2**20 + 2 * h + 2 * h
    assert dec["qk_matmul"].ops == 2 * H * s * d == 16_777_216
    assert dec["qk_matmul"].memory_access == 2 * h + 2 * s * h + 2 * H * s
    assert dec["softmax"].ops == 5 * H * s == 327_680
    assert (dec["norm"].ops, dec["add"].ops) == (7 * h, h)


@pytest.mark.parametrize("name,stage", [(n, s) for n, m in MODELS.items() for s in STAGES
                                        if m.decoder or s == "prefill"])
def test_arithmetic_intensity_is_ops_over_bytes(name, stage):
    model = get_model(name)
    for wl in (Workload(512), Workload(1000, batch=3, w_bits=4, a_bits=8, kv_bits=4),
               Workload(333, flash_attention=True)):
        for c in layer_costs(model, wl, stage):
            assert c.memory_access == (c.load_weight + c.load_act + c.store_act
                                       + c.load_kv + c.store_kv)
            assert c.arithmetic_intensity == Fraction(c.ops, c.memory_access)
            assert isinstance(c.ops, int) and isinstance(c.memory_access, int)


ATTENTION = ("qk_matmul", "sv_matmul", "softmax")
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
          "lm_head")


@pytest.mark.parametrize("name", ["llama-2-7b", "llama-2-70b", "mistral-7b"])
def test_decode_ops_scale_with_seqlen_for_attention_only(name):
    model = get_model(name)
    a = {r.layer: r for r in layer_costs(model, Workload(1024), "decode")}
    b = {r.layer: r for r in layer_costs(model, Workload(3072), "decode")}
    for layer in ATTENTION:
        assert b[layer].ops == 3 * a[layer].ops
        assert b[layer].ops > a[layer].ops
    for layer in LINEAR + ("norm", "add", "act"):
        assert b[layer].ops == a[layer].ops, layer
        assert b[layer].memory_access == a[layer].memory_access, layer
    # the KV cache read grows with s too
    assert b["qk_matmul"].load_kv == 3 * a["qk_matmul"].load_kv


def test_prefill_attention_quadratic_linear_linear():
    model = get_model("llama-2-7b")
    a = {r.layer: r for r in layer_costs(model, Workload(500), "prefill")}
    b = {r.layer: r for r in layer_costs(model, Workload(1000), "prefill")}
    for layer in ATTENTION:
        assert b[layer].ops == 4 * a[layer].ops
    for layer in ("q_proj", "down_proj", "norm", "add"):
        assert b[layer].ops == 2 * a[layer].ops


@pytest.mark.parametrize("kv_heads,factor", [(16, 2), (8, 4), (4, 8)])
def test_gqa_shrinks_kv_bytes(kv_heads, factor):
    mha = ModelConfig("mha", 4096, 32, 32, 32, 11008, 32000)
    gqa = ModelConfig("gqa", 4096, 32, 32, kv_heads, 11008, 32000)
    wl = Workload(2048, batch=2)
    assert kv_cache_bytes(mha, wl) == factor * kv_cache_bytes(gqa, wl)
    for stage in STAGES:
        m = {r.layer: r for r in layer_costs(mha, wl, stage)}
        g = {r.layer: r for r in layer_costs(gqa, wl, stage)}
        for proj in ("k_proj", "v_proj"):
            assert m[proj].load_weight == factor * g[proj].load_weight
            assert m[proj].store_kv == factor * g[proj].store_kv
            assert m[proj].ops == factor * g[proj].ops
        for layer in ("qk_matmul", "sv_matmul"):
            assert m[layer].load_kv == factor * g[layer].load_kv
            # Q, scores and outputs are sized by the attention heads: unchanged
            assert m[layer].load_act == g[layer].load_act
            assert m[layer].store_act == g[layer].store_act
            assert m[layer].ops == g[layer].ops
        for layer in ("q_proj", "o_proj", "softmax"):
            assert m[layer] == g[layer]


def test_llama2_70b_is_gqa_8():
    m = get_model("llama-2-70b")
    assert (m.num_heads, m.num_kv_heads, m.kv_dim) == (64, 8, 1024)
    # KV cache: 2 (K,V) * 80 layers * 1024 * s * 2 bytes
    assert kv_cache_bytes(m, Workload(4096)) == 2 * 80 * 1024 * 4096 * 2


def test_weight_bytes_and_bit_widths():
    m = get_model("llama-2-7b")
    n = m.weight_count()
    # + token embeddings + 65 RMSNorm gains = 6,738,415,616, the published parameter
    # count of meta-llama/Llama-2-7b-hf
    assert n + 32000 * 4096 + (2 * 32 + 1) * 4096 == 6_738_415_616
    assert weight_bytes(m, Workload(1, w_bits=16)) == 2 * n
    assert weight_bytes(m, Workload(1, w_bits=4)) == n // 2
    # 4-bit weights: decode linear bytes shrink to a quarter of the weight part
    w16 = {r.layer: r for r in layer_costs(m, Workload(64, w_bits=16), "decode")}
    w4 = {r.layer: r for r in layer_costs(m, Workload(64, w_bits=4), "decode")}
    assert w16["q_proj"].load_weight == 4 * w4["q_proj"].load_weight
    assert w16["q_proj"].ops == w4["q_proj"].ops
    # odd widths round up to whole bytes
    odd = ModelConfig("odd", 12, 1, 4, 4, 12, 7)
    c = {r.layer: r for r in layer_costs(odd, Workload(1, w_bits=3), "decode")}
    assert c["q_proj"].load_weight == (12 * 12 * 3 + 7) // 8


def test_totals_are_rows_times_layers():
    m = get_model("llama-2-13b")
    wl = Workload(1024, batch=4, w_bits=8, a_bits=8)
    for stage in STAGES:
        rows = layer_costs(m, wl, stage)
        t = stage_totals(m, wl, stage)
        expect = sum(r.ops * (1 if r.per_model else r.count * m.num_layers) for r in rows)
        assert t["ops"] == expect
        assert t["memory_access"] == sum(t[k] for k in ("load_weight", "load_act",
                                                        "store_act", "load_kv", "store_kv"))
    # the whole prefill writes exactly the KV cache
    assert stage_totals(m, wl, "prefill")["store_kv"] == kv_cache_bytes(m, wl)


def test_batch_scales_activations_not_weights():
    m = get_model("llama-2-7b")
    a = {r.layer: r for r in layer_costs(m, Workload(256, batch=1), "decode")}
    b = {r.layer: r for r in layer_costs(m, Workload(256, batch=8), "decode")}
    assert b["q_proj"].ops == 8 * a["q_proj"].ops
    assert b["q_proj"].load_weight == a["q_proj"].load_weight
    assert b["q_proj"].load_act == 8 * a["q_proj"].load_act
    assert b["qk_matmul"].load_kv == 8 * a["qk_matmul"].load_kv


def test_flash_attention_same_ops_fewer_bytes():
    m = get_model("llama-2-7b")
    for stage in STAGES:
        plain = {r.layer: r for r in layer_costs(m, Workload(2048), stage)}
        fused = {r.layer: r for r in layer_costs(m, Workload(2048, flash_attention=True),
                                                 stage)}
        assert "qk_matmul" not in fused and "softmax" not in fused
        f = fused["fused_attention"]
        assert f.ops == sum(plain[k].ops for k in ATTENTION)
        assert f.memory_access < sum(plain[k].memory_access for k in ATTENTION)
    # prefill re-reads K and V once per block of query rows
    s, blk = 2048, 256
    f = {r.layer: r for r in layer_costs(m, Workload(s, flash_attention=True,
                                                     flash_block=blk), "prefill")}
    assert f["fused_attention"].load_kv == (s // blk) * 2 * (s * 4096 * 2)


def test_physical_conventions_count_both_add_inputs():
    m = get_model("llama-2-7b")
    talk = {r.layer: r for r in layer_costs(m, Workload(128), "prefill")}
    phys = {r.layer: r for r in layer_costs(m, Workload(128, conventions="physical"),
                                            "prefill")}
    assert phys["add"].load_act == 2 * talk["add"].load_act
    assert phys["add"].ops == talk["add"].ops
    assert phys["norm"].load_weight == 4096 * 2
    assert phys["q_proj"] == talk["q_proj"]


def test_encoder_model():
    m = get_model("all-minilm-l6-v2")
    assert (m.hidden_size, m.num_layers, m.num_heads, m.head_dim) == (384, 6, 12, 32)
    rows = {r.layer: r for r in layer_costs(m, Workload(128), "prefill")}
    assert "gate_proj" not in rows and "lm_head" not in rows
    assert all(r.load_kv == 0 and r.store_kv == 0 for r in rows.values())
    assert rows["up_proj"].ops == 2 * 384 * 1536 * 128
    assert kv_cache_bytes(m, Workload(128)) == 0
    with pytest.raises(ValueError, match="stage='decode' does not apply to encoder"):
        layer_costs(m, Workload(128), "decode")


@pytest.mark.parametrize("kwargs,msg", [
    (dict(seqlen=0), "seqlen must be positive, not 0"),
    (dict(seqlen=1.5), "seqlen must be an int, not 1.5"),
    (dict(seqlen=8, batch=-1), "batch must be positive, not -1"),
    (dict(seqlen=8, w_bits=33), "w_bits must be 1..32, not 33"),
    (dict(seqlen=8, kv_bits=0), "kv_bits must be positive, not 0"),
    (dict(seqlen=8, conventions="llm"), "conventions must be one of"),
    (dict(seqlen=8, flash_attention=1), "flash_attention must be a bool, not 1"),
])
def test_workload_bad_parameters(kwargs, msg):
    with pytest.raises((TypeError, ValueError), match=re.escape(msg)):
        Workload(**kwargs)


def test_model_bad_parameters():
    with pytest.raises(ValueError, match=r"num_kv_heads=5 must divide num_heads=32"):
        ModelConfig("x", 4096, 1, 32, 5, 10, 10)
    with pytest.raises(TypeError, match=r"hidden_size must be an int, not '4096'"):
        ModelConfig("x", "4096", 1, 32, 32, 10, 10)
    with pytest.raises(ValueError, match=r"unknown model 'llama-9b'; known: llama-2-7b"):
        get_model("llama-9b")
    with pytest.raises(ValueError, match=r"stage must be one of .* not 'train'"):
        layer_costs(get_model("llama-2-7b"), Workload(8), "train")


def test_model_configs_have_sources_and_names():
    assert list(MODELS) == ["llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b",
                            "mistral-7b", "all-minilm-l6-v2"]
    for m in MODELS.values():
        assert m.source.startswith("https://huggingface.co/")
        assert m.name == m.name.lower() and " " not in m.name


# ---- attention variants ------------------------------------------------------------

def test_variant_scaling_matches_complexity():
    d = 64
    t1 = {c.name: c for c in av.variant_costs(1024, d)}
    t2 = {c.name: c for c in av.variant_costs(2048, d)}
    # leading terms: T^2 for transformer/AFT, T for linear/RWKV
    assert 3.9 < t2["transformer"].ops / t1["transformer"].ops <= 4
    assert 3.9 < t2["aft_full"].ops / t1["aft_full"].ops <= 4
    assert t2["linear_transformer"].ops == 2 * t1["linear_transformer"].ops
    assert abs(t2["rwkv"].ops / t1["rwkv"].ops - 2) < 1e-3
    # RWKV state does not grow with T; transformer state grows as T^2
    assert t2["rwkv"].state_elements == t1["rwkv"].state_elements == 2 * d
    assert t2["transformer"].state_elements == 4 * t1["transformer"].state_elements
    assert not t1["reformer"].exact and t1["reformer"].ops is None


def test_variant_transformer_matches_workload_model():
    """One head of the workload model's attention rows = the transformer variant."""
    m = ModelConfig("one-head", 128, 1, 1, 1, 128, 8)
    rows = {r.layer: r for r in layer_costs(m, Workload(512), "prefill")}
    assert av.variant_cost("transformer", 512, 128).ops == sum(
        rows[k].ops for k in ("qk_matmul", "sv_matmul", "softmax"))


def test_variant_bad_parameters():
    with pytest.raises(ValueError, match=r"unknown attention variant 'mamba'"):
        av.variant_cost("mamba", 8, 8)
    with pytest.raises(ValueError, match=r"T must be positive, not 0"):
        av.variant_cost("rwkv", 0, 8)
