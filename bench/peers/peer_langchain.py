"""LangChain: the FAISS vector store (langchain-community) over HuggingFaceEmbeddings (langchain-huggingface)
on the local all-MiniLM-L6-v2, with the libraries' defaults (FAISS.from_documents, similarity_search)."""
from __future__ import annotations

from peerkit import TOP_K, PeerBench, run_peer, stopwatch, versions

NAME = "LangChain: FAISS store + HuggingFaceEmbeddings"


def measure(bench: PeerBench) -> None:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    with stopwatch() as load:
        embeddings = HuggingFaceEmbeddings(model_name=bench.model_path, model_kwargs={"local_files_only": True})
    documents = [
        Document(page_content=paragraph.text, metadata={"title": paragraph.title, "article": paragraph.article_id})
        for paragraph in bench.paragraphs
    ]
    with stopwatch() as build:
        store = FAISS.from_documents(documents, embeddings)

    def search(question: str) -> list[list[str]]:
        return [[document.page_content for document in store.similarity_search(question, k=TOP_K)]]

    bench.evaluate([NAME], search, build, load, versions("langchain-community", "langchain-huggingface"))


if __name__ == "__main__":
    raise SystemExit(run_peer(measure, NAME))
