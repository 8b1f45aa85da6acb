"""article-bot: the one command-line tool for operators (build the index, ask questions, run the bot)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from index import Answer, ArticleIndex, ArticleIndexError, ArticlesFolderError, UpdateReport, open_index
from index.files import replace_atomically

from .collections import CollectionFolders, server_folders
from .questionlog import (
    EMPTY_STATS,
    EVERYWHERE,
    IndexSize,
    QuestionLog,
    QuestionLogError,
    Stats,
    saved_index_size,
    start_export,
)
from .service import load_shared_index
from .settings import MAX_TOP_K, Settings, unknown_settings

logger = logging.getLogger(__name__)

EXIT_ERROR = 2


def _server_id(text: str) -> int:
    """A Discord server id, as "Copy Server ID" gives it (developer mode)."""
    if not text.isdigit() or not 0 < int(text) < 2**64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a server id (the number Discord's \"Copy Server ID\" gives)")
    return int(text)


def _top_k(text: str) -> int:
    """--top-k: as many as TOP_K may be."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_TOP_K:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {MAX_TOP_K}")
    return value


def _server_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--server", type=_server_id, metavar="SERVER_ID",
        help="work on this server's collection (SERVER_COLLECTIONS_DIR/SERVER_ID) instead of the default one",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="article-bot", description="Answer questions about articles by quoting them.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def folders(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--articles", type=Path, help="articles folder (default: ARTICLES_DIR, else articles/)")
        sub.add_argument("--index", type=Path, help="index folder (default: INDEX_DIR, else data/index)")
        _server_option(sub)

    index_command = commands.add_parser("index", help="build or inspect the index")
    index_actions = index_command.add_subparsers(dest="action", required=True, metavar="ACTION")
    folders(index_actions.add_parser("build", help="build or update the index from the articles folder"))
    folders(index_actions.add_parser("info", help="list what is indexed"))

    ask = commands.add_parser("ask", help="ask a question (or one per line on standard input)")
    folders(ask)
    ask.add_argument("--top-k", type=_top_k, help=f"results per question, 1 to {MAX_TOP_K} (default: TOP_K, else 3)")
    ask.add_argument("--article", help="search only this article (id or title)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("question", nargs="*", help="the question; omit it to read questions from standard input")

    commands.add_parser("run", help="run the Discord bot (needs DISCORD_TOKEN)")

    stats = commands.add_parser(
        "stats",
        help="questions asked and answered, feedback, and the index (from the bot's log)",
        description="Questions asked and answered, feedback, and the index, from the bot's question log, read as it "
        "is (the bot deletes questions past its QUESTION_LOG_RETENTION_DAYS; this command deletes nothing).",
    )
    stats.add_argument("--data", type=Path, help="data folder holding the question log (default: DATA_DIR, else data/)")
    stats.add_argument("--index", type=Path, help="index folder (default: INDEX_DIR, else data/index)")
    stats.add_argument("--latest", type=int, default=10, help="how many of the latest unanswered questions to list (default: 10)")
    _server_option(stats)
    export = commands.add_parser(
        "export",
        help="write the question log as CSV",
        description="Write the question log as CSV, one row per question, oldest first (the log as it is: this "
        "command deletes nothing). Safe to open in a spreadsheet: text cells are "
        "quoted, and a cell that would start a formula (=, +, -, @, a tab or line break) gets a leading ' so it "
        "shows as text; a text cell starting with ' always had one added. Ids and vote counts are plain numbers.",
    )
    export.add_argument("--data", type=Path, help="data folder holding the question log (default: DATA_DIR, else data/)")
    export.add_argument("--output", "-o", type=Path, help="CSV file to write (default: standard output)")
    export.add_argument(
        "--server", type=_server_id, metavar="SERVER_ID",
        help="only the questions asked in this server, to hand one server its own",
    )
    return parser


def _folders(options: argparse.Namespace, settings: Settings) -> CollectionFolders:
    """The collection a command works on: a server's (--server), else the given or default folders."""
    if getattr(options, "server", None) is not None:
        return server_folders(settings.servers_dir(), options.server)
    return CollectionFolders(getattr(options, "articles", None) or settings.articles_dir, options.index or settings.index_dir)


def _open(
    options: argparse.Namespace, settings: Settings, build: bool = False
) -> tuple[ArticleIndex, UpdateReport | None]:
    """The index, loaded and brought in line with the articles folder (a progress bar when building on a terminal).
    A server's folder may be empty, as the bot allows (its moderators have not added anything yet). With
    INDEX_READ_ONLY, only ``build`` may change the saved index; otherwise it is loaded as it is (no report)."""
    folders = _folders(options, settings)
    index = ArticleIndex(settings.embedder_spec(), min_score=settings.min_score, show_progress=sys.stderr.isatty())
    if settings.index_read_only and not build:
        load_shared_index(index, folders.index_dir)
        return index, None
    return index, open_index(index, folders.articles_dir, folders.index_dir, allow_empty=options.server is not None, strict=build)


def _summary(report: UpdateReport) -> str:
    parts = [f"{report.articles} articles, {report.sections} sections, {report.passages} passages"]
    changes = [f"{len(ids)} {label}" for label, ids in (("added", report.added), ("updated", report.updated), ("removed", report.removed)) if ids]
    if report.unchanged:
        changes.append(f"{report.unchanged} unchanged")
    if changes:
        parts.append(", ".join(changes))
    if report.skipped:
        parts.append(f"{len(report.skipped)} files skipped")
    parts.append(f"{report.seconds:.1f} s")
    return "; ".join(parts)


def answer_json(answer: Answer, error: str | None = None) -> str:
    """The --json line for one question (the contract other tools rely on)."""
    payload: dict = {
        "question": answer.question,
        "answered": answer.answered,
        "results": [
            {"article": r.article, "section": r.section, "source": r.source, "quote": r.quote, "score": round(r.score, 4)}
            for r in (answer.results if answer.answered else ())
        ],
    }
    if error is not None:
        payload["error"] = error
    return json.dumps(payload, ensure_ascii=False)


def answer_text(answer: Answer, emphasis: bool) -> str:
    """A person-readable answer: each quote with the answering sentence emphasized, and where it came from.
    Articles' and members' text is shown without control characters: an escape sequence in it must not
    drive the terminal."""
    if not answer.answered:
        return f"Q: {_printable(answer.question)}\nThe articles do not answer this question.\n"
    bold, plain = ("\033[1m", "\033[0m") if emphasis else ("", "")
    lines = [f"Q: {_printable(answer.question)}"]
    for rank, result in enumerate(answer.results, 1):
        where = _printable(result.article + (f" › {result.section}" if result.section else ""))
        highlight = _printable(result.highlight)
        quote = _printable(result.quote).replace(highlight, f"{bold}{highlight}{plain}", 1)
        quote = ("…" if result.cut_before else "") + quote + ("…" if result.cut_after else "")
        source = _printable(result.url or result.source)
        lines += [f"[{rank}] {where}  (score {result.score:.2f})", f"    “{quote}”", f"    source: {source}"]
    return "\n".join(lines) + "\n"


def _questions(arguments: Sequence[str], stdin: TextIO) -> Iterable[str]:
    if arguments:
        yield " ".join(arguments)
    else:
        for line in stdin:
            if line.strip():
                yield line.rstrip("\n")


def _ask(options: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    index, report = _open(options, settings)
    if report is not None and report.changed:
        logger.info("Index updated: %s", _summary(report))
    top_k = options.top_k or settings.top_k
    failures = 0
    for question in _questions(options.question, sys.stdin):
        try:
            answer = index.search(question, top_k=top_k, article=options.article)
        except ArticleIndexError as error:
            failures += 1
            if options.json:
                print(answer_json(Answer(question[:200], False), error=str(error)), file=out, flush=True)
            else:
                print(f"error: {error}", file=sys.stderr, flush=True)
            continue
        print(answer_json(answer) if options.json else answer_text(answer, out.isatty()), file=out, flush=True)
    return EXIT_ERROR if failures and options.question else 0


def _index(options: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if options.action == "build":
        try:
            _, report = _open(options, settings, build=True)
        except ArticlesFolderError as error:
            print(f"error: nothing was built: {error} The saved index is unchanged.", file=sys.stderr)
            return EXIT_ERROR
        assert report is not None
        for _, reason in report.skipped:  # (each reason starts with the file's name)
            print(f"skipped {reason}", file=sys.stderr)
        print(f"Indexed {_summary(report)}", file=out)
        return 0
    index = ArticleIndex(settings.embedder_spec())
    folders = _folders(options, settings)
    if not index.load(folders.index_dir):
        build = "article-bot index build" + (f" --server {options.server}" if options.server is not None else "")
        where = "" if folders.articles_dir.is_dir() else f"put articles in {folders.articles_dir}/, then "
        print(f"No index yet: {where}run '{build}'.", file=out)
        return 0
    for summary in index.summaries():
        sections = ", ".join(s or "(untitled)" for s in summary.sections)
        print(f"{summary.title}  [{summary.id}]  {summary.passages} passages; sections: {sections}", file=out)
    return 0


def _printable(text: str) -> str:
    """Members' text made safe for a terminal: no control characters (nor escape sequences) or line breaks."""
    return "".join(c if c.isprintable() else " " for c in text)


def _local_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def stats_text(stats: Stats, index: IndexSize | str | None) -> str:
    """What `article-bot stats` prints (the same as /stats shows). ``index`` may be a reason it is unreadable."""
    share = f" ({stats.answered_share:.0%})" if stats.answered_share is not None else ""
    lines = [
        f"Questions: {stats.questions} asked, {stats.answered} answered{share}",
        f"Feedback: {stats.helpful_votes} helpful, {stats.not_helpful_votes} not helpful",
    ]
    if isinstance(index, IndexSize):
        updated = f"; updated {_local_time(index.updated_at)}" if index.updated_at else ""
        lines.append(f"Index: {index.articles} articles, {index.passages} passages{updated}")
    else:
        lines.append(f"Index: {index or 'none yet'}")
    if stats.latest_unanswered:
        lines.append(f"Latest unanswered questions ({len(stats.latest_unanswered)} of {stats.unanswered}):")
        lines += [
            f"  {_local_time(q.asked_at)}  {'[DM] ' if q.channel_kind == 'dm' else ''}{_printable(q.question)}"
            for q in stats.latest_unanswered
        ]
    return "\n".join(lines) + "\n"


def _existing_log(data_dir: Path) -> QuestionLog | None:
    """The bot's question log, if it has made one. Read as it is: deleting old questions is left to the bot,
    whose retention setting may not be this shell's (one that keeps them forever must not lose them here)."""
    log = QuestionLog(data_dir, retention_days=0)
    if not log.exists:
        print(f"note: no question log at {log.path} yet (the bot makes it when it starts; check DATA_DIR).", file=sys.stderr)
        return None
    return log


def _stats(options: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    try:
        log = _existing_log(options.data or settings.data_dir)
        if log is None:
            stats = EMPTY_STATS
        else:
            with log:
                stats = log.stats(max(0, options.latest), EVERYWHERE if options.server is None else options.server)
    except QuestionLogError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    index: IndexSize | str | None
    try:
        index = saved_index_size(_folders(options, settings).index_dir)
    except ArticleIndexError as error:
        index = f"unreadable ({error})"
    print(stats_text(stats, index), end="", file=out)
    return 0


def _export(options: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    try:
        log = _existing_log(options.data or settings.data_dir)
        if options.output is None:
            _write_export(log, out, options.server)
            return 0
        rows = 0

        def write(temporary: Path) -> None:
            nonlocal rows
            # members' questions: readable by this user only, as the log itself is (whatever the umask)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "w", encoding="utf-8", newline="") as handle:
                rows = _write_export(log, handle, options.server)

        replace_atomically(options.output, write)  # a failed export leaves an earlier file as it was
    except QuestionLogError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:
        print(f"error: cannot write {options.output}: {error.strerror or error}", file=sys.stderr)
        return EXIT_ERROR
    print(f"Wrote {rows} questions to {options.output}", file=sys.stderr)
    return 0


def _write_export(log: QuestionLog | None, out: TextIO, server: int | None = None) -> int:
    if log is None:
        start_export(out)  # the header alone
        return 0
    with log:
        return log.export_csv(out, EVERYWHERE if server is None else server)


def _run(settings: Settings) -> int:
    from .runner import run_bot  # imports discord only when the bot is wanted

    return run_bot(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    if getattr(options, "server", None) is not None and (getattr(options, "articles", None) or getattr(options, "index", None)):
        parser.error("--server works on that server's own folders; leave out --articles and --index")
    try:
        settings = Settings()
    except ValidationError as error:
        # A check across settings (loc empty) names the settings in its message.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" if e["loc"] else e["msg"].removeprefix("Value error, ")
            for e in error.errors()
        )
        print(f"error: invalid setting: {problems}", file=sys.stderr)
        return EXIT_ERROR
    except UnicodeDecodeError as error:
        print(f"error: the settings file .env is not UTF-8 text (byte {error.start}); save it as UTF-8.", file=sys.stderr)
        return EXIT_ERROR
    unknown = unknown_settings()
    if unknown:
        print(f"note: ignoring unknown settings in .env: {', '.join(unknown)}.", file=sys.stderr)
    if getattr(options, "server", None) is not None and not settings.server_collections and options.command in ("ask", "index"):
        print("note: SERVER_COLLECTIONS is off, so the bot does not answer from server collections yet.", file=sys.stderr)
    logging.basicConfig(
        level=settings.log_level if options.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if options.command == "run" else "%(levelname)s: %(message)s",
    )
    try:
        if options.command == "ask":
            return _ask(options, settings, sys.stdout)
        if options.command == "index":
            return _index(options, settings, sys.stdout)
        if options.command == "stats":
            return _stats(options, settings, sys.stdout)
        if options.command == "export":
            return _export(options, settings, sys.stdout)
        return _run(settings)
    except ArticleIndexError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more to print, and Python's own flush at exit must not
        # complain about it either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
