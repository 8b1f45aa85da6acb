"""How near the int8 encoder's question vectors are to fp32's, and whether questions encoded together get
exactly the vectors they get alone (what lets the bot run questions that arrive together in groups).

    python bench/vectors.py [--questions 512] [--squad PATH] [--cache-dir data/models]

Questions are the public SQuAD questions in ../shared/bench/squad-dev-public.json (or SQUAD_PATH), taken
evenly across the articles. Each is encoded alone by the ONNX fp32 and int8 backends, then all of them through
encode_each, 32 at a time, as QuestionBatcher hands questions that arrive together to the encoder."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

import numpy as np  # noqa: E402

from index.embedding import OnnxEmbedder, load_embedder  # noqa: E402
from squad import load_squad, squad_path  # noqa: E402

ARRIVING_TOGETHER = 32


def together(embedder: OnnxEmbedder, questions: list[str]) -> np.ndarray:
    """The questions' vectors from encode_each, ARRIVING_TOGETHER at a time."""
    vectors = np.zeros((len(questions), embedder.dimension), dtype=np.float32)
    for first in range(0, len(questions), ARRIVING_TOGETHER):
        def keep(position: int, vector: np.ndarray, first: int = first) -> None:
            vectors[first + position] = vector

        embedder.encode_each(questions[first:first + ARRIVING_TOGETHER], keep)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=512)
    parser.add_argument("--squad")
    parser.add_argument("--cache-dir", type=Path, default=PROJECT / "data" / "models")
    options = parser.parse_args()
    every = [qa["question"] for article in load_squad(squad_path(options.squad)) for p in article["paragraphs"] for qa in p["qas"]]
    questions = every[:: max(1, len(every) // options.questions)][: options.questions]
    fp32 = load_embedder("onnx", cache_dir=options.cache_dir)
    int8 = load_embedder("onnx-int8", cache_dir=options.cache_dir)
    reference = np.vstack([fp32.encode([q]) for q in questions])
    print(f"{len(questions)} SQuAD questions")
    for name, embedder in (("onnx fp32", fp32), ("onnx int8", int8)):
        alone = np.vstack([embedder.encode([q]) for q in questions])
        cosines = np.einsum("ij,ij->i", alone, reference)
        grouped = together(embedder, questions)
        differing = int(np.count_nonzero(np.any(grouped != alone, axis=1)))
        print(f"  {name}: cosine to fp32 min {cosines.min():.4f}, 1st percentile {np.percentile(cosines, 1):.4f}, "
              f"mean {cosines.mean():.5f}; encoded together vs alone: {differing} vectors differ, "
              f"largest difference {np.abs(grouped - alone).max():.2e}")


if __name__ == "__main__":
    main()
