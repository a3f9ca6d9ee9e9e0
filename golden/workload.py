"""LLM workload model: OPs and bytes moved per layer, per stage.

This is the counting model of LLM-Viewer (Yuan et al., "LLM Inference Unveiled:
Survey and Roofline Model Insights", arXiv:2402.16363), which made the talk's
Llama-2 7B / A6000 table, written again from its published numbers, with
grouped-query attention handled throughout and every quantity an exact integer.

Stages
------
``prefill``
    The prompt of ``seqlen`` tokens is processed at once (per sequence of the batch).
``decode``
    One new token per sequence, attending to a KV cache of ``seqlen`` tokens.

Counting conventions (the talk's, reproduced by default)
--------------------------------------------------------
* A multiply-add counts 2 OPs. Linear layer ``(ic, oc)`` over ``n`` tokens:
  ``2 * ic * oc * n`` OPs; weights loaded once per pass; input activations loaded,
  output activations stored once.
* ``k_proj``/``v_proj`` outputs are stored to the KV cache (``store_kv``) in a decoder.
* Attention scores are counted over the full ``s x s`` matrix in prefill (the causal
  mask is not used to skip work), as LLM-Viewer and the talk do.
* ``qk_matmul`` loads Q (activation, sized by attention heads) and K (KV cache, sized
  by KV heads) and stores the scores (attention heads). ``sv_matmul`` loads the
  probabilities and V, stores the head outputs. (LLM-Viewer books Q in prefill as a
  second copy of the KV cache, ``2 * kv_heads``; that equals ours for multi-head
  attention with ``a_bits == kv_bits``, and is wrong under GQA.)
* ``softmax``: 5 OPs per element (max, subtract, exp, sum, divide), each element
  loaded and stored once.
* ``norm``: 7 OPs per element, input loaded and output stored once; 2 per block.
* ``add`` (residual): 1 OP per element; the talk counts ONE input tensor loaded and one
  stored. Physically a residual add reads two tensors: ``conventions="physical"``
  counts both (and loads the norm's gain vector as a weight).
* ``act``: not in the talk's table. SwiGLU ``silu(gate) * up`` counts 2 OPs per
  element of the MLP width (LLM-Viewer uses ``hidden_size`` here, we use
  ``intermediate_size``, which is the tensor's real size); loads two tensors, stores
  one. For a GELU MLP: 1 OP per element, loads one tensor.
* ``lm_head``: once per model (not per block), for the last position of each sequence
  only (what generation needs), in both stages.
* Fused (flash) attention replaces qk_matmul, softmax and sv_matmul by one
  ``fused_attention`` row with the same OPs; it loads Q once, stores O once, never
  writes the scores, and loads K and V ``ceil(n / flash_block)`` times (one pass of
  the KV cache per block of ``flash_block`` query rows, FlashAttention-2 ordering).
  Query heads of one GQA group are assumed to share each K/V tile.
* Byte counts: a tensor of ``N`` elements at ``b`` bits occupies ``ceil(N * b / 8)``
  bytes (densely packed).

Results are per single instance of a layer; ``LayerCost.count`` says how many
instances one block holds (2 for norm and add) and ``LayerCost.per_model`` marks
layers counted once per model (``lm_head``). :func:`stage_totals` multiplies out.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .llm_models import ModelConfig

__all__ = [
    "Workload", "LayerCost", "STAGES", "TALK_LAYERS",
    "layer_costs", "stage_totals", "kv_cache_bytes", "weight_bytes",
]

STAGES = ("prefill", "decode")
TALK_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
               "qk_matmul", "sv_matmul", "softmax", "norm", "add")
_CONVENTIONS = ("talk", "physical")


def _bytes(elements: int, bits: int) -> int:
    """Bytes of ``elements`` values of ``bits`` bits, densely packed, rounded up."""
    return -(-elements * bits // 8)


def _check_pos_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value!r}")


@dataclass(frozen=True)
class Workload:
    """How the model is run.

    Parameters
    ----------
    seqlen : int
        Prompt length in prefill; KV-cache length in decode.
    batch : int
        Sequences processed together.
    w_bits, a_bits, kv_bits : int
        Bit widths of weights, activations and KV cache (1..32). ``kv_bits=None``
        means ``a_bits``.
    flash_attention : bool
        Fuse qk_matmul, softmax and sv_matmul (see module docstring).
    flash_block : int
        Query rows per flash-attention tile (sets how often K/V are re-read in prefill).
    conventions : {"talk", "physical"}
        ``"talk"`` reproduces the talk/LLM-Viewer counts; ``"physical"`` counts both
        inputs of the residual add and the norm gain vector.

    Raises
    ------
    TypeError, ValueError
        Naming the bad parameter and its value.
    """

    seqlen: int
    batch: int = 1
    w_bits: int = 16
    a_bits: int = 16
    kv_bits: int | None = None
    flash_attention: bool = False
    flash_block: int = 128
    conventions: str = "talk"

    def __post_init__(self):
        _check_pos_int("seqlen", self.seqlen)
        _check_pos_int("batch", self.batch)
        if self.kv_bits is None:
            object.__setattr__(self, "kv_bits", self.a_bits)
        for name in ("w_bits", "a_bits", "kv_bits"):
            value = getattr(self, name)
            _check_pos_int(name, value)
            if value > 32:
                raise ValueError(f"{name} must be 1..32, not {value!r}")
        if not isinstance(self.flash_attention, bool):
            raise TypeError(f"flash_attention must be a bool, not {self.flash_attention!r}")
        _check_pos_int("flash_block", self.flash_block)
        if self.conventions not in _CONVENTIONS:
            raise ValueError(f"conventions must be one of {_CONVENTIONS}, "
                             f"not {self.conventions!r}")


@dataclass(frozen=True)
class LayerCost:
    """OPs and bytes of one instance of one layer in one stage (exact integers).

    ``memory_access`` is the sum of the five byte fields.
    """

    stage: str
    layer: str
    ops: int
    load_weight: int = 0
    load_act: int = 0
    store_act: int = 0
    load_kv: int = 0
    store_kv: int = 0
    count: int = 1
    per_model: bool = False

    @property
    def memory_access(self) -> int:
        return self.load_weight + self.load_act + self.store_act + self.load_kv + self.store_kv

    @property
    def arithmetic_intensity(self) -> Fraction:
        """OPs per byte, exact. Raises ``ZeroDivisionError`` for a row moving no bytes."""
        return Fraction(self.ops, self.memory_access)

    def as_dict(self) -> dict:
        return {"stage": self.stage, "layer": self.layer, "ops": self.ops,
                "memory_access": self.memory_access, "load_weight": self.load_weight,
                "load_act": self.load_act, "store_act": self.store_act,
                "load_kv": self.load_kv, "store_kv": self.store_kv,
                "count": self.count, "per_model": self.per_model}


def layer_costs(model: ModelConfig, workload: Workload, stage: str) -> list[LayerCost]:
    """Per-layer costs of one block (plus ``lm_head``) in ``stage``.

    Rows come in the talk's order (q_proj ... down_proj, qk_matmul, sv_matmul,
    softmax, norm, add), then ``act`` and ``lm_head``. With flash attention the three
    attention rows are replaced by ``fused_attention``.

    Raises
    ------
    TypeError
        If ``model``/``workload`` have the wrong type.
    ValueError
        If ``stage`` is unknown, or ``"decode"`` for an encoder model.
    """
    if not isinstance(model, ModelConfig):
        raise TypeError(f"model must be a ModelConfig, not {model!r}")
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, not {workload!r}")
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
    if stage == "decode" and not model.decoder:
        raise ValueError(f"stage='decode' does not apply to encoder model {model.name!r}")

    wl = workload
    B, s = wl.batch, wl.seqlen
    n = s if stage == "prefill" else 1          # new tokens per sequence
    L = s                                       # context attended to
    H, Hkv, d, h = model.num_heads, model.num_kv_heads, model.head_dim, model.hidden_size
    W, A, KV = wl.w_bits, wl.a_bits, wl.kv_bits
    # In an encoder K and V are ordinary activations (no cache).
    kv_bits = KV if model.decoder else A
    kv_load = "load_kv" if model.decoder else "load_act"
    kv_store = "store_kv" if model.decoder else "store_act"
    physical = wl.conventions == "physical"

    def row(layer, ops, *pairs, count=1, per_model=False, **fields):
        # ``pairs`` are (field, bytes) added on top of ``fields`` (the same field may
        # appear twice: in an encoder K/V loads are activation loads).
        merged = dict(fields)
        for k, v in pairs:
            merged[k] = merged.get(k, 0) + v
        return LayerCost(stage, layer, ops, count=count, per_model=per_model, **merged)

    rows = []
    for name, (ic, oc) in model.linear_layers().items():
        out = (kv_store, _bytes(oc * B * n, kv_bits)) if name in ("k_proj", "v_proj") \
            else ("store_act", _bytes(oc * B * n, A))
        rows.append(row(name, 2 * ic * oc * B * n, out,
                        load_weight=_bytes(ic * oc, W),
                        load_act=_bytes(ic * B * n, A)))

    qk_ops = 2 * B * H * n * L * d
    sv_ops = 2 * B * H * n * L * d
    sm_ops = 5 * B * H * n * L
    if wl.flash_attention:
        passes = -(-n // wl.flash_block)
        rows.append(row("fused_attention", qk_ops + sv_ops + sm_ops,
                        (kv_load, passes * 2 * _bytes(B * Hkv * L * d, kv_bits)),
                        load_act=_bytes(B * H * n * d, A),
                        store_act=_bytes(B * H * n * d, A)))
    else:
        rows.append(row("qk_matmul", qk_ops,
                        (kv_load, _bytes(B * Hkv * L * d, kv_bits)),
                        load_act=_bytes(B * H * n * d, A),
                        store_act=_bytes(B * H * n * L, A)))
        rows.append(row("sv_matmul", sv_ops,
                        (kv_load, _bytes(B * Hkv * L * d, kv_bits)),
                        load_act=_bytes(B * H * n * L, A),
                        store_act=_bytes(B * H * n * d, A)))
        rows.append(row("softmax", sm_ops,
                        load_act=_bytes(B * H * n * L, A),
                        store_act=_bytes(B * H * n * L, A)))

    tokens_h = B * n * h
    rows.append(row("norm", 7 * tokens_h, count=2,
                    load_weight=_bytes(h, W) if physical else 0,
                    load_act=_bytes(tokens_h, A), store_act=_bytes(tokens_h, A)))
    rows.append(row("add", tokens_h, count=2,
                    load_act=_bytes(tokens_h, A) * (2 if physical else 1),
                    store_act=_bytes(tokens_h, A)))
    tokens_i = B * n * model.intermediate_size
    if model.gated_mlp:
        rows.append(row("act", 2 * tokens_i, load_act=2 * _bytes(tokens_i, A),
                        store_act=_bytes(tokens_i, A)))
    else:
        rows.append(row("act", tokens_i, load_act=_bytes(tokens_i, A),
                        store_act=_bytes(tokens_i, A)))
    if model.lm_head:
        V = model.vocab_size
        rows.append(row("lm_head", 2 * h * V * B, per_model=True,
                        load_weight=_bytes(h * V, W), load_act=_bytes(B * h, A),
                        store_act=_bytes(B * V, A)))
    return rows


def _multiplier(model: ModelConfig, c: LayerCost) -> int:
    return c.count * (1 if c.per_model else model.num_layers)


def stage_totals(model: ModelConfig, workload: Workload, stage: str) -> dict:
    """Whole-model OPs and byte totals of one stage (exact integers).

    Each row counts ``count * num_layers`` times, ``lm_head`` once.
    Returns a dict with keys ``ops``, ``memory_access``, ``load_weight``, ``load_act``,
    ``store_act``, ``load_kv``, ``store_kv``.
    """
    keys = ("ops", "load_weight", "load_act", "store_act", "load_kv", "store_kv")
    totals = dict.fromkeys(keys, 0)
    for c in layer_costs(model, workload, stage):
        m = _multiplier(model, c)
        for k in keys:
            totals[k] += m * getattr(c, k)
    totals["memory_access"] = sum(totals[k] for k in keys[1:])
    return totals


def kv_cache_bytes(model: ModelConfig, workload: Workload) -> int:
    """KV-cache size holding ``seqlen`` tokens for the whole batch, all layers (K and V).

    Zero for an encoder model (it keeps no cache).
    """
    if not model.decoder:
        return 0
    return 2 * model.num_layers * _bytes(workload.batch * workload.seqlen * model.kv_dim,
                                         workload.kv_bits)


def weight_bytes(model: ModelConfig, workload: Workload) -> int:
    """Bytes of all linear-layer weights (blocks and lm_head) at ``w_bits``."""
    w = workload.w_bits
    total = model.num_layers * sum(_bytes(ic * oc, w) for ic, oc in model.linear_layers().values())
    if model.lm_head:
        total += _bytes(model.hidden_size * model.vocab_size, w)
    return total
