"""Haystack 2 hybrid retrieval, as its documentation builds it: an InMemoryDocumentStore fed by a
SentenceTransformersDocumentEmbedder; at question time InMemoryBM25Retriever and SentenceTransformersTextEmbedder
+ InMemoryEmbeddingRetriever, joined by DocumentJoiner(join_mode="reciprocal_rank_fusion"). The two retrievers'
own rankings come out of the same pipeline run and are scored too (BM25 alone, embeddings alone)."""
from __future__ import annotations

from peerkit import TOP_K, PeerBench, run_peer, stopwatch, versions

NAME = "Haystack 2: BM25 + embedding, reciprocal-rank join"
PARTS = ["Haystack 2: InMemoryBM25Retriever alone", "Haystack 2: InMemoryEmbeddingRetriever alone"]


def measure(bench: PeerBench) -> None:
    from haystack import Document, Pipeline
    from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    store = InMemoryDocumentStore()
    document_embedder = SentenceTransformersDocumentEmbedder(model=bench.model_path, local_files_only=True, progress_bar=False)
    text_embedder = SentenceTransformersTextEmbedder(model=bench.model_path, local_files_only=True, progress_bar=False)
    with stopwatch() as load:
        document_embedder.warm_up()
        text_embedder.warm_up()

    indexing = Pipeline()
    indexing.add_component("embedder", document_embedder)
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("embedder.documents", "writer.documents")
    documents = [
        Document(content=paragraph.text, meta={"title": paragraph.title, "article": paragraph.article_id})
        for paragraph in bench.paragraphs
    ]
    with stopwatch() as build:
        indexing.run({"embedder": {"documents": documents}})

    querying = Pipeline()
    querying.add_component("text_embedder", text_embedder)
    querying.add_component("embedding_retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=TOP_K))
    querying.add_component("bm25_retriever", InMemoryBM25Retriever(document_store=store, top_k=TOP_K))
    querying.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=TOP_K))
    querying.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    querying.connect("bm25_retriever", "joiner")
    querying.connect("embedding_retriever", "joiner")

    def search(question: str) -> list[list[str]]:
        result = querying.run(
            {"text_embedder": {"text": question}, "bm25_retriever": {"query": question}},
            include_outputs_from={"bm25_retriever", "embedding_retriever"},
        )
        return [
            [document.content for document in result[component]["documents"]]
            for component in ("joiner", "bm25_retriever", "embedding_retriever")
        ]

    bench.evaluate([NAME, *PARTS], search, build, load, versions("haystack-ai"))


if __name__ == "__main__":
    raise SystemExit(run_peer(measure, NAME))
