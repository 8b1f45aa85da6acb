"""Full build versus one-article incremental reload on a 1,000-article collection.

    python bench/reload.py [--articles 1000] [--backend onnx-int8|onnx|torch] [--squad PATH]

Articles are made from the public SQuAD articles in ../shared/bench/squad-dev-public.json (or SQUAD_PATH):
each Wikipedia article's paragraphs are dealt out into short articles of two or three paragraphs, and the
set is repeated (with a numbered title, so every file's content differs) until there are enough. The
script builds the index from scratch, changes one article and reloads; then, as the bot does after a restart,
loads the saved index in a fresh ArticleIndex, changes the article again and reloads. Each reload is timed
until the new index serves (the swap) and with the save, and compared with embedding that one article alone."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from index import ArticleIndex, EmbedderSpec, UpdateReport, refresh_from_folder  # noqa: E402
from index.loaders import load_article  # noqa: E402


def squad_path(given: str | None) -> Path:
    path = Path(given or os.environ.get("SQUAD_PATH") or PROJECT.parent / "shared" / "bench" / "squad-dev-public.json")
    if not path.is_file():
        sys.exit(f"The SQuAD file is not at {path}; pass --squad PATH or set SQUAD_PATH.")
    return path


def write_collection(squad: Path, folder: Path, count: int) -> None:
    pieces: list[tuple[str, list[str]]] = []
    for article in json.loads(squad.read_text()):
        paragraphs = [p["context"] if "context" in p else p["text"] for p in article["paragraphs"]]
        for start in range(0, len(paragraphs), 3):
            pieces.append((article["title"].replace("_", " "), paragraphs[start:start + 3]))
    folder.mkdir(parents=True)
    for number in range(count):
        title, paragraphs = pieces[number % len(pieces)]
        body = "\n\n".join(paragraphs)
        (folder / f"article-{number:04}.txt").write_text(f"{title} (part {number})\n\n{body}\n")


def timed_reload(index: ArticleIndex, folder: Path, index_dir: Path) -> tuple[UpdateReport, float, float]:
    """refresh_from_folder, timed: the report, seconds until the new index serves, seconds with the save."""
    started = time.perf_counter()
    report = index.sync_folder(folder)
    serving = time.perf_counter() - started
    index.save(index_dir)
    return report, serving, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--backend", help="embedding backend (default: the library's, as the bot uses)")
    parser.add_argument("--squad")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reload-bench-"))
    try:
        folder, index_dir = workdir / "articles", workdir / "index"
        write_collection(squad_path(options.squad), folder, options.articles)
        spec = EmbedderSpec(backend=options.backend) if options.backend else EmbedderSpec()
        index = ArticleIndex(spec)
        index.embedder.encode(["warm up"])  # model loading is not part of either figure

        started = time.perf_counter()
        full = refresh_from_folder(index, folder, index_dir)
        full_seconds = time.perf_counter() - started

        changed = folder / "article-0500.txt"
        changed.write_text(changed.read_text() + "\nAn added closing paragraph changes this article.\n")
        incremental, swap_seconds, incremental_seconds = timed_reload(index, folder, index_dir)

        # as the bot after a restart: a fresh index loads the saved one, then an article changes
        restarted = ArticleIndex(index.embedder)
        started = time.perf_counter()
        restarted.load(index_dir)
        load_seconds = time.perf_counter() - started
        changed.write_text(changed.read_text() + "\nAnd a second one.\n")
        _, saved_swap_seconds, saved_seconds = timed_reload(restarted, folder, index_dir)

        alone = ArticleIndex(index.embedder)
        started = time.perf_counter()
        alone.index([load_article(changed, folder)])
        alone_seconds = time.perf_counter() - started

        print(f"{full.articles} articles, {full.passages} passages, backend {spec.backend}")
        print(f"  full build (load, embed, index, save)               {full_seconds:8.2f} s")
        print(f"  reload after changing one article: serving          {swap_seconds:8.3f} s  (updated: {', '.join(incremental.updated)})")
        print(f"                                     with the save    {incremental_seconds:8.3f} s")
        print(f"  loading the saved index in a fresh ArticleIndex     {load_seconds:8.3f} s")
        print(f"  then changing one article and reloading: serving    {saved_swap_seconds:8.3f} s")
        print(f"                                     with the save    {saved_seconds:8.3f} s")
        print(f"  embedding that one article on its own               {alone_seconds:8.3f} s")
        print(f"  reload (with the save) / full build                 {incremental_seconds / full_seconds:8.4f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
