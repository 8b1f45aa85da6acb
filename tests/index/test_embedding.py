"""Embedding backends (torch, ONNX fp32, ONNX int8) and the ONNX cache; the question batcher is in test_batching.py."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import onnx_model
from index.embedding import EmbedderSpec, OnnxEmbedder, OnnxInt8Embedder, group_size, load_embedder, model_id_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Questions about the sample article, each with a word that must be in the best passage's text.
QUESTIONS = {
    "Who claimed that a truce deal was close?": "Haniyeh",
    "When did the militants launch the invasion of southern Israel?": "7 October 2023",
    "Which organizations have been engaged in mediation efforts?": "United Nations",
    "What will a significant breakthrough in negotiations require?": "unwavering commitment",
}


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache):
    return OnnxEmbedder(cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def backends(embedder, onnx_embedder, int8_embedder):
    return {"torch": embedder, "onnx": onnx_embedder, "onnx-int8": int8_embedder}


def copy_cache(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def int8_file(cache: Path) -> Path:
    return next(cache.glob("*/model-int8.onnx"))


# -- the backends -----------------------------------------------------------------------------------
def test_onnx_fp32_matches_sentence_transformers(backends, sample_texts):
    texts = sample_texts[0] + sample_texts[1] + list(QUESTIONS) + ["", "x " * 600]  # empty and truncated too
    reference = backends["torch"].encode(texts)
    onnx = backends["onnx"].encode(texts)
    assert np.max(1 - np.sum(reference * onnx, axis=1)) < 1e-5
    int8 = backends["onnx-int8"].encode(texts)
    assert np.min(np.sum(reference * int8, axis=1)) > 0.97


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
def test_vectors_are_unit_length_float32(backends, sample_texts, backend):
    vectors = backends[backend].encode(sample_texts[1] + ["a", "Who?"])
    assert vectors.dtype == np.float32 and vectors.shape == (len(sample_texts[1]) + 2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert backends[backend].dimension == 384


def test_backends_rank_the_sample_article_alike(backends, sample_texts):
    passages, sentences = sample_texts
    for name, embedder in backends.items():
        passage_vectors = embedder.encode(passages)
        sentence_vectors = embedder.encode(sentences)
        for question, expected in QUESTIONS.items():
            q = embedder.encode([question])[0]
            best_passage = passages[int(np.argmax(passage_vectors @ q))]
            best_sentence = sentences[int(np.argmax(sentence_vectors @ q))]
            assert expected in best_passage, (name, question)
            assert expected in best_sentence, (name, question)
    # and the full sentence rankings agree closely between backends
    reference = backends["torch"].encode(sentences) @ backends["torch"].encode(list(QUESTIONS)).T
    for name in ("onnx", "onnx-int8"):
        scores = backends[name].encode(sentences) @ backends[name].encode(list(QUESTIONS)).T
        for column in range(len(QUESTIONS)):
            top_reference = set(np.argsort(-reference[:, column])[:3])
            top = set(np.argsort(-scores[:, column])[:3])
            assert len(top_reference & top) >= 2, (name, list(QUESTIONS)[column])


def test_int8_vectors_do_not_depend_on_batch_companions(int8_embedder, sample_texts):
    texts = sample_texts[1][:12]
    together = int8_embedder.encode(texts)
    alone = np.vstack([int8_embedder.encode([text]) for text in texts])
    assert np.array_equal(together, alone)


def test_questions_run_together_get_the_vectors_they_get_alone(int8_embedder, sample_texts):
    """Questions arriving together are run in padded groups; each token's activations are quantized on their
    own, so no vector depends on what shared its run (with onnxruntime's whole-input scales, several did)."""
    texts = [*sample_texts[1][:12], "Who?", "Which organizations have been engaged in mediation efforts since May?"]
    assert len(set(int8_embedder.count_tokens(texts))) > 5  # groups mix lengths: padding
    together: dict[int, np.ndarray] = {}
    int8_embedder.encode_each(texts, lambda position, vector: together.__setitem__(position, vector.copy()))
    alone = np.vstack([int8_embedder.encode([text]) for text in texts])
    assert sorted(together) == list(range(len(texts)))
    assert np.array_equal(np.vstack([together[i] for i in range(len(texts))]), alone)


def test_groups_shrink_as_the_questions_run_out():
    sizes, remaining = [], 32
    while remaining:
        sizes.append(group_size(remaining, workers=2, largest=8))
        remaining -= sizes[-1]
    assert sizes == [8, 6, 5, 4, 3, 2, 1, 1, 1, 1]
    assert [group_size(2, workers=2), group_size(1, workers=2)] == [1, 1]  # two questions, two cores: apart
    assert group_size(5, workers=1, largest=8) == 3


def test_texts_encoded_in_parallel_match_one_at_a_time(onnx_cache, sample_texts):
    texts = sample_texts[0] + sample_texts[1]
    one = OnnxInt8Embedder(threads=1, cache_dir=onnx_cache)
    three = OnnxInt8Embedder(threads=3, cache_dir=onnx_cache)
    assert one.workers == 1 and three.workers == 3
    assert np.array_equal(one.encode(texts), three.encode(texts))


def test_model_ids_keep_different_vectors_apart(backends, onnx_cache):
    assert backends["torch"].model_id == backends["onnx"].model_id == "all-MiniLM-L6-v2"
    assert backends["onnx-int8"].model_id == "all-MiniLM-L6-v2+int8-per-token"
    for backend in ("torch", "onnx", "onnx-int8"):
        assert EmbedderSpec(backend, cache_dir=onnx_cache).model_id == backends[backend].model_id
    assert model_id_for(None) == "all-MiniLM-L6-v2"
    assert model_id_for(None, "my-own") == "all-MiniLM-L6-v2+my-own"  # a library user's backend: its own vectors
    assert EmbedderSpec("onnx-int8", cache_dir=str(onnx_cache)).load().model_id == "all-MiniLM-L6-v2+int8-per-token"  # text paths


def test_one_text_on_its_own_is_one_vector(backends):
    for embedder in backends.values():
        assert embedder.encode("hello there").shape == (1, embedder.dimension)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="onnx-int8"):
        load_embedder("tensorflow")


# -- the ONNX cache ---------------------------------------------------------------------------------
def test_cached_model_is_reused_not_rebuilt(onnx_cache):
    path = int8_file(onnx_cache)
    mtime, builds = path.stat().st_mtime_ns, onnx_model.builds
    embedder = OnnxInt8Embedder(cache_dir=onnx_cache)
    assert embedder.onnx_path == path
    assert onnx_model.builds == builds and path.stat().st_mtime_ns == mtime


def test_missing_cached_file_is_rebuilt(onnx_cache, tmp_path, caplog):
    cache = copy_cache(onnx_cache, tmp_path / "models")
    int8_file(cache).unlink()
    builds = onnx_model.builds
    with caplog.at_level(logging.WARNING):
        embedder = OnnxInt8Embedder(cache_dir=cache)
    assert onnx_model.builds == builds + 1  # quantized again; the fp32 export was still good
    assert "Quantizing" in caplog.text
    assert embedder.onnx_path.is_file() and onnx_model.verify(embedder.onnx_path)


def test_corrupt_cached_file_is_rebuilt_with_a_log_line(onnx_cache, tmp_path, caplog):
    cache = copy_cache(onnx_cache, tmp_path / "models")
    path = int8_file(cache)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated: its checksum no longer matches
    with caplog.at_level(logging.WARNING):
        embedder = OnnxInt8Embedder(cache_dir=cache)
    assert "corrupt" in caplog.text
    assert path.read_bytes() == good
    assert np.allclose(np.linalg.norm(embedder.encode(["still works"]), axis=1), 1.0, atol=1e-5)


def test_file_onnxruntime_cannot_load_is_rebuilt(onnx_cache, tmp_path, caplog):
    cache = copy_cache(onnx_cache, tmp_path / "models")
    path = int8_file(cache)
    good = path.read_bytes()
    path.write_bytes(b"not a model")
    onnx_model._publish_checksum(path)  # a sidecar that matches the garbage: only loading can tell
    with caplog.at_level(logging.WARNING):
        OnnxInt8Embedder(cache_dir=cache)
    assert "could not load" in caplog.text
    assert path.read_bytes() == good


def test_cache_key_follows_the_model_files(tmp_path):
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "1_Pooling" / "config.json").write_text("{}")
    cache = tmp_path / "cache"
    first = onnx_model.cache_folder("m", model, cache)
    assert onnx_model.cache_folder("m", model, cache) == first  # remembered
    (model / "config.json").write_text('{"changed": true}')
    assert onnx_model.cache_folder("m", model, cache) != first


def test_serving_with_onnx_does_not_import_torch(onnx_cache):
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from index.embedding import load_embedder\n"
        f"e = load_embedder('onnx-int8', cache_dir=Path({str(onnx_cache)!r}))\n"
        "e.encode(['Who claimed that a truce deal was close?'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'onnx') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
