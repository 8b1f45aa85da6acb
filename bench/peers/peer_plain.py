"""The plain recipe most bots use: sentence-transformers all-MiniLM-L6-v2 + a flat FAISS inner-product index,
one document per SQuAD paragraph. (LangChain's and txtai's dense defaults are the same recipe.)"""
from __future__ import annotations

from peerkit import TOP_K, PeerBench, run_peer, stopwatch, versions

NAME = "plain: sentence-transformers + FAISS IndexFlatIP"


def measure(bench: PeerBench) -> None:
    import faiss
    from sentence_transformers import SentenceTransformer

    with stopwatch() as load:
        model = SentenceTransformer(bench.model_path, device="cpu", local_files_only=True)
    texts = [paragraph.text for paragraph in bench.paragraphs]
    with stopwatch() as build:
        index = faiss.IndexFlatIP(model.get_embedding_dimension())
        index.add(model.encode(texts, normalize_embeddings=True))

    def search(question: str) -> list[list[str]]:
        _, ids = index.search(model.encode([question], normalize_embeddings=True), TOP_K)
        return [[texts[i] for i in ids[0] if i >= 0]]

    bench.evaluate([NAME], search, build, load, versions("sentence-transformers", "faiss-cpu"))


if __name__ == "__main__":
    raise SystemExit(run_peer(measure, NAME))
