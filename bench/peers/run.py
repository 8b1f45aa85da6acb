"""Our index beside the established stacks, on the same SQuAD articles and questions, in one run and one table.

Ours is measured in this process through bench/quality.py (the project's venv); each peer script in this
folder runs as a subprocess with the peers' python (their own venv, bench/peers/requirements.txt) and prints
its rows as JSON. Everyone is scored by bench/squad.py: answer-hit@k is a gold answer inside one of the top k
quotes as shown (at most 600 characters; a peer's quote is its retrieved paragraph from the start), MRR@10
over the top 10. Build seconds exclude loading the model; ms/question is the median of one question at a time.
Everyone runs on one torch (and FAISS) thread.

    python bench/peers/run.py                      # everything (about 15 minutes on two busy cores)
    python bench/peers/run.py --limit 300          # a quick look
    python bench/peers/run.py --peers txtai --skip-ours
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PEERS_DIR.parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

import peerkit  # noqa: E402,F401  (sets the offline environment, for ours and the peers started from here)
import quality  # noqa: E402  (puts the project on sys.path)
from squad import QUOTE_CHARS, TOP_K, SquadArticles, load_squad, read_articles, sample_questions, squad_path, write_articles  # noqa: E402

from index.embedding import DEFAULT_BACKEND  # noqa: E402
from index.vectors import set_threads  # noqa: E402

DEFAULT_PEERS_PYTHON = PEERS_DIR / ".venv" / "bin" / "python"
PEER_SCRIPTS = {
    "plain": "peer_plain.py",
    "langchain": "peer_langchain.py",
    "txtai": "peer_txtai.py",
    "haystack": "peer_haystack.py",
}
COLUMNS = ("system", "answer-hit@1", "@3", "@5", "MRR@10", "build s", "median ms/question", "notes")


@dataclass(frozen=True, slots=True)
class Run:
    squad: Path
    limit: int | None
    peers_python: Path
    timeout_s: float


def measure_ours(run: Run, articles: SquadArticles, backends: list[str]) -> list[dict]:
    """Our ArticleIndex through bench/quality.py, once per embedding backend, one thread each."""
    set_threads(1)
    asked = sample_questions(articles.questions, run.limit)
    rows = []
    with tempfile.TemporaryDirectory(prefix="peers-bench-") as temporary:
        folder = Path(temporary) / "articles"
        write_articles(articles, folder)
        for backend in backends:
            default = " (the default)" if backend == DEFAULT_BACKEND else ""
            system = f"ours: ArticleIndex, {backend}{default}"
            print(f"measuring {system} ...", file=sys.stderr, flush=True)
            try:
                index, build = quality.open_bench_index(folder, None, True, backend, threads=1)
            except ValueError as error:  # an unknown backend name
                rows.append({"system": system, "error": str(error)})
                continue
            for problem in quality.check_articles(index, articles.texts):
                print(f"warning: {problem}", file=sys.stderr)
            figures = quality.evaluate(index, asked)
            rows.append(
                {
                    "system": system,
                    **figures,
                    "build_s": build["build_s"],
                    "model_load_s": build["model_load_s"],
                    "note": f"{build['passages']} passages, {build['sentences']} sentences; abstained {figures['abstained']:.1%}",
                }
            )
    return rows


def measure_peer(run: Run, name: str) -> list[dict]:
    """One peer script in the peers' venv; its rows, or one row saying why there are none."""
    if not run.peers_python.exists():
        return [{"system": name, "error": f"no peers python at {run.peers_python}; set it up as bench/peers/README.md says"}]
    command = [str(run.peers_python), str(PEERS_DIR / PEER_SCRIPTS[name]), "--squad", str(run.squad)]
    if run.limit:
        command += ["--limit", str(run.limit)]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # their venv only
    print(f"measuring {name} ...", file=sys.stderr, flush=True)
    # stdout to a file (a chatty library cannot fill a pipe); stderr passes through as progress.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as output:
        try:
            process = subprocess.run(command, stdout=output, env=environment, cwd=PEERS_DIR, timeout=run.timeout_s)
        except subprocess.TimeoutExpired:
            return [{"system": name, "error": f"no result within {run.timeout_s:.0f} s"}]
        except OSError as error:
            return [{"system": name, "error": f"could not start {run.peers_python}: {error}"}]
        output.seek(0)
        lines = [line for line in output.read().splitlines() if line.startswith("[")]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return [{"system": name, "error": f"exited with code {process.returncode} without results (its messages are above)"}]


def cell(value: float | None, form: str) -> str:
    return "—" if value is None else format(value, form)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        if "error" in row:
            cells = [row["system"], *("—" for _ in COLUMNS[1:-1]), row["error"]]
        else:
            cells = [
                row["system"],
                *(cell(row[key], ".1%") for key in ("hit@1", "hit@3", "hit@5")),
                cell(row["mrr@10"], ".3f"),
                cell(row["build_s"], ".1f"),
                cell(row["median_ms"], ".1f"),
                row.get("note", ""),
            ]
        lines.append("| " + " | ".join(text.replace("|", "\\|") for text in cells) + " |")
    return "\n".join(lines)


def machine_note() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}"


def report(rows: list[dict], run: Run, started: str, machine_before: str, elapsed_s: float, argv: list[str]) -> str:
    asked = {row["questions"] for row in rows if "questions" in row}
    command = "python bench/peers/run.py " + " ".join(shlex.quote(argument) for argument in argv)
    return "\n".join(
        [
            f"# Ours beside the peers, SQuAD v1.1 dev ({started})",
            "",
            f"Command: `{command.strip()}` ({elapsed_s / 60:.0f} minutes)  ",
            f"Questions: {', '.join(map(str, sorted(asked))) or 'none'} from {run.squad.name}; top {TOP_K} each, "
            f"quotes of at most {QUOTE_CHARS} characters; one torch/FAISS thread everywhere  ",
            f"Machine at the start: {machine_before}  ",
            f"Machine at the end: {machine_note()}",
            "",
            table(rows),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", help="SQuAD v1.1 JSON (default: $SQUAD_PATH or the shared bench file)")
    parser.add_argument("--limit", type=int, help="ask only N questions, spread over every article")
    parser.add_argument(
        "--peers-python",
        type=Path,
        default=Path(os.environ.get("PEERS_PYTHON") or DEFAULT_PEERS_PYTHON),
        help=f"python of the peers' venv (default: $PEERS_PYTHON or {DEFAULT_PEERS_PYTHON.relative_to(PROJECT_ROOT)})",
    )
    parser.add_argument("--peers", default=",".join(PEER_SCRIPTS), help=f"comma-separated, of {', '.join(PEER_SCRIPTS)} (default: all)")
    parser.add_argument("--ours", default=f"{DEFAULT_BACKEND},torch", help="our embedding backends to measure (default: %(default)s)")
    parser.add_argument("--skip-ours", action="store_true", help="measure the peers only")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds each peer may take (default: %(default)s)")
    parser.add_argument("--save", type=Path, help="also write the table, with the date, machine and command, here")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    options = parser.parse_args(argv)

    peers = [name.strip() for name in options.peers.split(",") if name.strip()]
    unknown = [name for name in peers if name not in PEER_SCRIPTS]
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEER_SCRIPTS)}")
    run = Run(squad_path(options.squad), options.limit, options.peers_python, options.timeout)
    articles = read_articles(load_squad(run.squad))  # a missing file ends the run here, with the message

    started, machine_before, clock = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), machine_note(), time.perf_counter()
    rows = [] if options.skip_ours else measure_ours(run, articles, [b.strip() for b in options.ours.split(",") if b.strip()])
    for name in peers:
        rows += measure_peer(run, name)

    if options.json:
        print(json.dumps(rows, indent=1))
    else:
        print(table(rows))
    if options.save:
        options.save.write_text(report(rows, run, started, machine_before, time.perf_counter() - clock, argv), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
