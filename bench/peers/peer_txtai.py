"""txtai: Embeddings on the local all-MiniLM-L6-v2, its dense default and its built-in hybrid mode (dense +
BM25 keyword scoring, ``hybrid=True``). ``content=True`` stores each paragraph's text and title."""
from __future__ import annotations

from peerkit import TOP_K, PeerBench, run_peer, stopwatch, versions

NAME = "txtai"
MODES = {"txtai Embeddings, dense (default)": {}, "txtai Embeddings, hybrid=True": {"hybrid": True}}


def measure(bench: PeerBench) -> None:
    from txtai import Embeddings

    documents = [
        {"id": str(number), "text": paragraph.text, "title": paragraph.title, "article": paragraph.article_id}
        for number, paragraph in enumerate(bench.paragraphs)
    ]
    for system, mode in MODES.items():
        with stopwatch() as load:
            embeddings = Embeddings(path=bench.model_path, content=True, **mode)
        with stopwatch() as build:
            embeddings.index(documents)

        def search(question: str, embeddings: Embeddings = embeddings) -> list[list[str]]:
            return [[result["text"] for result in embeddings.search(question, TOP_K)]]

        bench.evaluate([system], search, build, load, versions("txtai"))
        embeddings.close()


if __name__ == "__main__":
    raise SystemExit(run_peer(measure, NAME))
