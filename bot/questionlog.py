"""The question log: what members ask, whether it was answered, and their votes on the answers, in SQLite.

Members are never stored by their Discord id: each id is replaced by an HMAC-SHA256 of it, keyed with a
random secret made on first use and kept beside the database (``member-id.salt``, readable by its owner
only). The same member always gets the same hash on one installation, so votes can be kept to one per
member, but the hash cannot be turned back into an id without the secret, and differs between installations.

Questions are kept for ``retention_days`` (the QUESTION_LOG_RETENTION_DAYS setting; 0 keeps them forever):
older ones, with the passages their answers quoted and the votes on them, are deleted when the log opens (so the
command line's stats and export never show them) and, in the bot, every hour after that.

``QuestionLog`` is plain, blocking code (the command line uses it as it is); the bot reaches it through
``BackgroundQuestionLog``, which runs every call in one worker thread, in order, off the event loop.
Knows nothing of Discord."""
from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

if TYPE_CHECKING:
    from _csv import _writer as CsvWriter

logger = logging.getLogger(__name__)

DATABASE_NAME = "bot.sqlite3"
SALT_NAME = "member-id.salt"
SALT_BYTES = 32
SCHEMA_VERSION = 1
LATEST_UNANSWERED = 10
SECONDS_PER_DAY = 86_400
PRUNE_EVERY_SECONDS = 3_600.0  # how often the running bot deletes questions past the retention period
REOPEN_EVERY_SECONDS = 60.0  # how often the bot tries again to open a question log it could not open
EXPORT_COLUMNS = (
    "answer_id",
    "time",
    "question",
    "answered",
    "top_article",
    "helpful_votes",
    "not_helpful_votes",
    "member_hash",
    "channel_kind",
    "guild_id",
    "asked_via",
)
# A spreadsheet app runs a cell starting with one of these as a formula (OWASP's CSV injection list, plus
# ASVS's NUL and a line feed); a cell starting with a quote is guarded too, so the guard can always be undone.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
_SPREADSHEET_TEXT_MARK = "'"
# A user mention typed into a question (<@123> or <@!123>) would put someone's raw id in the log.
_USER_MENTION = re.compile(r"<@!?[0-9]+>")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,          -- the answer id the feedback buttons carry
    asked_at REAL NOT NULL,          -- Unix time
    question TEXT NOT NULL,
    answered INTEGER NOT NULL,
    member TEXT NOT NULL,            -- HMAC-SHA256 of the member's id, never the id
    channel_kind TEXT NOT NULL,      -- 'guild' or 'dm'
    guild_id INTEGER,
    asked_via TEXT NOT NULL,         -- 'ask' (the slash command) or 'message' (DM or mention)
    top_article TEXT                 -- the article id of the best result, answered or not
);
CREATE INDEX IF NOT EXISTS questions_by_time ON questions (answered, asked_at);
CREATE INDEX IF NOT EXISTS questions_by_age ON questions (asked_at);  -- pruning finds old questions without a scan
CREATE TABLE IF NOT EXISTS passages (   -- what an answer quoted, in its order
    question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    section TEXT,
    quote TEXT NOT NULL,
    PRIMARY KEY (question_id, rank)
);
CREATE TABLE IF NOT EXISTS votes (      -- one per member per answer
    question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    member TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    voted_at REAL NOT NULL,
    PRIMARY KEY (question_id, member)
);
"""


class QuestionLogError(Exception):
    """The question log cannot be opened or used."""


class ChannelKind(str, Enum):
    GUILD = "guild"
    DM = "dm"


@dataclass(frozen=True, slots=True)
class QuotedPassage:
    """One passage an answer quoted."""

    article_id: str
    section: str | None
    quote: str


@dataclass(frozen=True, slots=True)
class LoggedQuestion:
    """A question as the log keeps it (for the list of unanswered questions)."""

    id: int
    asked_at: float
    question: str
    answered: bool
    channel_kind: str
    top_article: str | None


class VoteOutcome(str, Enum):
    RECORDED = "recorded"  # the member's first vote on this answer
    CHANGED = "changed"  # the member had voted the other way; the vote now counts this way
    UNCHANGED = "unchanged"  # the member had already voted this way; nothing changed
    UNKNOWN_ANSWER = "unknown answer"  # the answer is not in the log (it was never logged)


@dataclass(frozen=True, slots=True)
class VoteResult:
    outcome: VoteOutcome
    helpful: bool  # the member's vote as it now stands (as clicked, for an unknown answer)


@dataclass(frozen=True, slots=True)
class Stats:
    questions: int
    answered: int
    helpful_votes: int
    not_helpful_votes: int
    latest_unanswered: tuple[LoggedQuestion, ...]

    @property
    def unanswered(self) -> int:
        return self.questions - self.answered

    @property
    def answered_share(self) -> float | None:
        """Answered questions as a share of all questions (0..1), None before the first question."""
        return self.answered / self.questions if self.questions else None


EMPTY_STATS = Stats(0, 0, 0, 0, ())


class Everywhere(Enum):
    """The stats scope of every question, whatever server or DM it was asked in."""

    EVERYWHERE = "everywhere"


EVERYWHERE = Everywhere.EVERYWHERE
# Whose questions the stats count: EVERYWHERE, one server's (its id) or the direct messages' (None).
StatsScope = int | None | Everywhere


@dataclass(frozen=True, slots=True)
class IndexSize:
    """How big the index is and when it last changed, for the stats."""

    articles: int
    passages: int
    updated_at: float | None  # when the saved index was last rebuilt (by a reload that changed something)


def saved_index_size(index_dir: Path) -> IndexSize | None:
    """The size of the saved index, from its manifest (no model needed); None if there is no index yet."""
    from index.store import read_manifest  # the index package is only needed for this

    manifest = read_manifest(index_dir)
    if manifest is None:
        return None
    created = manifest.get("created")
    return IndexSize(
        articles=len(manifest.get("articles") or {}),
        passages=int(manifest.get("passages") or 0),
        updated_at=float(created) if isinstance(created, int | float) else None,
    )


def iso_time(timestamp: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second (for exports)."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def spreadsheet_safe(text: str) -> str:
    """A text cell for a CSV export that a spreadsheet app shows as text, never runs as a formula.

    As OWASP recommends, a cell that would start a formula (``=``, ``+``, ``-``, ``@``, also after leading white
    space; a tab, carriage return, line feed or NUL) gets a leading ``'``. So does one that already starts with
    ``'``, which keeps the guard reversible: every exported text cell starting with ``'`` had exactly one added."""
    first = text.lstrip()[:1]
    if text.startswith(_FORMULA_TRIGGERS) or (first and first in "=+-@") or text.startswith(_SPREADSHEET_TEXT_MARK):
        return _SPREADSHEET_TEXT_MARK + text
    return text


def start_export(out: TextIO) -> CsvWriter:
    """A CSV writer for a question-log export, its header already written.

    Every text cell is in double quotes (RFC 4180 escaping, and apps that can import quoted cells as text
    will); numbers are bare, so spreadsheets read them as numbers."""
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(EXPORT_COLUMNS)
    return writer


def scrub_mentions(text: str) -> str:
    """The text with user mentions replaced, so no member's id is stored with a question."""
    return _USER_MENTION.sub("@member", text)


class QuestionLog:
    """The SQLite question log at ``data_dir/bot.sqlite3``. Thread-safe: one connection behind a lock.

    ``open()`` creates the folder and database as needed and deletes questions older than ``retention_days``
    (0: keep them all); ``close()`` closes them. Usable as a context manager. ``clock`` gives the time (Unix
    seconds) for new rows and for the retention's cut-off."""

    def __init__(self, data_dir: Path, retention_days: float = 0, clock: Callable[[], float] = time.time) -> None:
        if retention_days < 0:
            raise ValueError("retention_days must be 0 (keep forever) or more")
        self.data_dir = Path(data_dir)
        self.retention_days = retention_days
        self._clock = clock
        self.path = self.data_dir / DATABASE_NAME
        self.salt_path = self.data_dir / SALT_NAME
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._salt: bytes | None = None
        self._salt_lock = threading.Lock()

    # -- opening and closing ---------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        """Whether the database has been created (by the bot's first start)."""
        return self.path.is_file()

    def open(self) -> QuestionLog:
        if self._connection is not None:
            return self
        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                # Questions are members' words: only the bot's own user may read them.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise QuestionLogError(f"Cannot open the question log at {self.path}: {error}") from error
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            # Deleted questions are overwritten with zeros, not just unlinked, so they cannot be read back from the file.
            connection.execute("PRAGMA secure_delete=ON")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QuestionLogError(
                    f"The question log at {self.path} was written by a newer version of the bot (schema {version})."
                )
            connection.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except sqlite3.Error as error:
            connection.close()
            raise QuestionLogError(f"The question log at {self.path} is unusable: {error}") from error
        except QuestionLogError:
            connection.close()
            raise
        self._connection = connection
        try:
            self.prune()
        except QuestionLogError:
            self.close()
            raise
        return self

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> QuestionLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise QuestionLogError("The question log is not open.")
        return self._connection

    # -- members ---------------------------------------------------------------------------------
    def _secret(self) -> bytes:
        """The installation's secret key for member hashes, made on first use."""
        with self._salt_lock:
            if self._salt is None:
                self._salt = self._read_or_make_secret()
            return self._salt

    def _read_or_make_secret(self) -> bytes:
        try:
            salt = self.salt_path.read_bytes()
        except FileNotFoundError:
            salt = self._make_secret()
        except OSError as error:
            raise QuestionLogError(f"Cannot read the member-id key {self.salt_path}: {error}") from error
        if len(salt) != SALT_BYTES:
            raise QuestionLogError(f"The member-id key {self.salt_path} is damaged ({len(salt)} bytes, not {SALT_BYTES}).")
        return salt

    def _make_secret(self) -> bytes:
        """Write a new key beside its final name, then link it into place: another process starting at the
        same moment either wins (and its key is read) or loses, but never sees a half-written key."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        salt = secrets.token_bytes(SALT_BYTES)
        draft = self.salt_path.with_name(f".{SALT_NAME}.{secrets.token_hex(4)}")
        try:
            descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(salt)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(draft, self.salt_path)
        except FileExistsError:
            return self.salt_path.read_bytes()  # another process made it first
        except OSError as error:
            raise QuestionLogError(f"Cannot create the member-id key {self.salt_path}: {error}") from error
        finally:
            draft.unlink(missing_ok=True)
        return salt

    def hash_member(self, member_id: int) -> str:
        """HMAC-SHA256 of a Discord user id with the installation's secret key, as hex."""
        return hmac.new(self._secret(), str(int(member_id)).encode(), hashlib.sha256).hexdigest()

    # -- writing ---------------------------------------------------------------------------------
    def record_question(
        self,
        question: str,
        *,
        member_id: int,
        answered: bool,
        channel_kind: ChannelKind | str,
        guild_id: int | None = None,
        asked_via: str = "ask",
        top_article: str | None = None,
        passages: Sequence[QuotedPassage] = (),
        question_id: int | None = None,
        asked_at: float | None = None,
    ) -> int:
        """Log a question and the passages its answer quoted; returns its id (``question_id`` when given).

        Logging the same ``question_id`` twice (an event Discord delivered twice) keeps the first."""
        kind = ChannelKind(channel_kind).value
        member = self.hash_member(member_id)
        with self._lock:
            db = self._db()
            with db:
                db.execute("BEGIN IMMEDIATE")
                cursor = db.execute(
                    "INSERT INTO questions (id, asked_at, question, answered, member, channel_kind, guild_id, asked_via, top_article)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (
                        question_id,
                        self._clock() if asked_at is None else asked_at,
                        scrub_mentions(question),
                        int(answered),
                        member,
                        kind,
                        guild_id,
                        asked_via,
                        top_article,
                    ),
                )
                row_id = question_id if question_id is not None else cursor.lastrowid
                if cursor.rowcount:
                    db.executemany(
                        "INSERT INTO passages (question_id, rank, article_id, section, quote) VALUES (?, ?, ?, ?, ?)",
                        [(row_id, rank, p.article_id, p.section, p.quote) for rank, p in enumerate(passages, 1)],
                    )
        assert row_id is not None
        return row_id

    def record_vote(self, question_id: int, *, member_id: int, helpful: bool, voted_at: float | None = None) -> VoteResult:
        """A member's vote on an answer: one per member per answer; voting the other way changes it."""
        member = self.hash_member(member_id)
        with self._lock:
            db = self._db()
            with db:
                db.execute("BEGIN IMMEDIATE")
                if db.execute("SELECT 1 FROM questions WHERE id = ?", (question_id,)).fetchone() is None:
                    return VoteResult(VoteOutcome.UNKNOWN_ANSWER, helpful)
                row = db.execute("SELECT helpful FROM votes WHERE question_id = ? AND member = ?", (question_id, member)).fetchone()
                when = self._clock() if voted_at is None else voted_at
                if row is None:
                    db.execute(
                        "INSERT INTO votes (question_id, member, helpful, voted_at) VALUES (?, ?, ?, ?)",
                        (question_id, member, int(helpful), when),
                    )
                    return VoteResult(VoteOutcome.RECORDED, helpful)
                if bool(row[0]) == helpful:
                    return VoteResult(VoteOutcome.UNCHANGED, helpful)
                db.execute(
                    "UPDATE votes SET helpful = ?, voted_at = ? WHERE question_id = ? AND member = ?",
                    (int(helpful), when, question_id, member),
                )
                return VoteResult(VoteOutcome.CHANGED, helpful)

    def prune(self) -> int:
        """Delete the questions asked more than ``retention_days`` ago, with their passages and votes; returns
        how many. Does nothing when the retention is 0 (keep forever)."""
        if not self.retention_days:
            return 0
        cutoff = self._clock() - self.retention_days * SECONDS_PER_DAY
        try:
            with self._lock:
                db = self._db()
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    deleted = db.execute("DELETE FROM questions WHERE asked_at < ?", (cutoff,)).rowcount
                if deleted:
                    # The write-ahead log still holds the deleted rows as they were written: empty it now
                    # (if a reader holds it, the next prune or SQLite's own checkpoints will).
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as error:
            raise QuestionLogError(f"Cannot delete old questions from the question log at {self.path}: {error}") from error
        if deleted:
            logger.info("Deleted %d questions older than %g days from the question log", deleted, self.retention_days)
        return deleted

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        return list(self._rows(sql, parameters))

    def _rows(self, sql: str, parameters: Sequence = ()) -> Iterator[tuple]:
        """The rows as they come (an export of a large log is never all in memory), holding the log meanwhile;
        QuestionLogError if the database cannot be read (a damaged file, say)."""
        with self._lock:
            try:
                yield from self._db().execute(sql, parameters)
            except sqlite3.Error as error:
                raise QuestionLogError(f"The question log at {self.path} cannot be read: {error}") from error

    def stats(self, latest: int = LATEST_UNANSWERED, scope: StatsScope = EVERYWHERE) -> Stats:
        """Counts of questions, answers and votes, and the latest unanswered questions (newest first), of the
        questions in ``scope``: every question, one server's (its id) or the direct messages' (None)."""
        where, parameters = _scope_filter(scope)
        ((questions, answered),) = self._read(f"SELECT count(*), coalesce(sum(answered), 0) FROM questions WHERE {where}", parameters)
        ((helpful, not_helpful),) = self._read(
            "SELECT coalesce(sum(helpful), 0), coalesce(sum(1 - helpful), 0) FROM votes"
            f" WHERE question_id IN (SELECT id FROM questions WHERE {where})",
            parameters,
        )
        rows = self._read(
            "SELECT id, asked_at, question, answered, channel_kind, top_article FROM questions"
            f" WHERE answered = 0 AND {where} ORDER BY asked_at DESC, id DESC LIMIT ?",
            (*parameters, max(0, latest)),
        )
        unanswered = tuple(LoggedQuestion(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows)
        return Stats(questions, answered, helpful, not_helpful, unanswered)

    def passages(self, question_id: int) -> list[QuotedPassage]:
        """What the answer to a question quoted, in order."""
        rows = self._read("SELECT article_id, section, quote FROM passages WHERE question_id = ? ORDER BY rank", (question_id,))
        return [QuotedPassage(*row) for row in rows]

    def votes(self, question_id: int) -> tuple[int, int]:
        """(helpful, not helpful) votes on one answer."""
        ((helpful, not_helpful),) = self._read(
            "SELECT coalesce(sum(helpful), 0), coalesce(sum(1 - helpful), 0) FROM votes WHERE question_id = ?",
            (question_id,),
        )
        return helpful, not_helpful

    def export_csv(self, out: TextIO, scope: StatsScope = EVERYWHERE) -> int:
        """Write the log as CSV (a header, then one row per question in ``scope``, as for ``stats``, oldest first);
        returns the rows written.

        Text cells are made spreadsheet-safe (``spreadsheet_safe``); ids and vote counts are written as numbers."""
        writer = start_export(out)
        where, parameters = _scope_filter(scope, "q.")
        rows = self._rows(
            "SELECT q.id, q.asked_at, q.question, q.answered, q.top_article,"
            " coalesce(sum(v.helpful), 0), coalesce(sum(1 - v.helpful), 0), q.member, q.channel_kind, q.guild_id, q.asked_via"
            f" FROM questions q LEFT JOIN votes v ON v.question_id = q.id WHERE {where}"
            " GROUP BY q.id ORDER BY q.asked_at, q.id",
            parameters,
        )
        written = 0
        for row in rows:
            answer_id, asked_at, question, answered, top_article, helpful, not_helpful, member, kind, guild_id, via = row
            cells = (answer_id, iso_time(asked_at), question, "yes" if answered else "no", top_article or "",
                     helpful, not_helpful, member, kind, guild_id or "", via)
            # Every text cell, not just the question: article ids come from file names moderators choose.
            writer.writerow([spreadsheet_safe(cell) if isinstance(cell, str) else cell for cell in cells])
            written += 1
        return written


def _scope_filter(scope: StatsScope, table: str = "") -> tuple[str, tuple]:
    """The SQL condition (and its parameters) for the questions of ``scope``."""
    # "guild_id IS ?" matches NULL (a DM) as well as a server id; "1 = 1" keeps every question.
    return ("1 = 1", ()) if scope is EVERYWHERE else (f"{table}guild_id IS ?", (scope,))


T = TypeVar("T")


class BackgroundQuestionLog:
    """The bot's way to the question log: every call runs in one worker thread, in the order made, so the
    event loop never waits on the disk, and a vote is always written after the question it is about.

    Opening can fail (a read-only data folder, a damaged database, another process holding it locked): the bot
    then answers as usual without logging or feedback buttons, says so in its log, and tries again every
    ``reopen_every`` seconds, so that a lock held for a while at start does not cost the whole run. While open,
    questions past the log's retention period are deleted every ``prune_every`` seconds (in the same worker
    thread). A question that cannot be written (a full disk) is lost, not retried: the first of a run of such
    failures is logged as a warning, and how many were lost once a write works again."""

    def __init__(self, log: QuestionLog, prune_every: float = PRUNE_EVERY_SECONDS, reopen_every: float = REOPEN_EVERY_SECONDS) -> None:
        self.log = log
        self.prune_every = prune_every
        self.reopen_every = reopen_every
        self.lost_questions = 0  # since the last question written (only the worker thread counts them)
        self._executor: ThreadPoolExecutor | None = None
        self._pruning: asyncio.Task[None] | None = None
        self._reopening: asyncio.Task[None] | None = None
        self.available = False

    async def run(self, function: Callable[..., T], *args, **kwargs) -> T:
        """``function(*args, **kwargs)`` (e.g. a QuestionLog method) in the log's worker thread, after every
        call already queued."""
        if self._executor is None:
            raise QuestionLogError("The question log is not open.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args, **kwargs))

    async def open(self) -> bool:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="question-log")
        try:
            await self._open_now()
        except (QuestionLogError, OSError) as error:
            logger.warning(
                "%s Questions and feedback will not be logged until it opens (tried again every %.0f s).", error, self.reopen_every
            )
            if self._reopening is None:
                self._reopening = asyncio.create_task(self._reopen_until_open(), name="question-log-reopening")
        return self.available

    async def _open_now(self) -> None:
        await self.run(self.log.open)
        await self.run(self.log.hash_member, 0)  # make (or read) the member-id key now, not mid-answer
        self.available = True
        logger.info("Logging questions to %s", self.log.path)
        if self.log.retention_days and self._pruning is None:
            self._pruning = asyncio.create_task(self._prune_periodically(), name="question-log-pruning")

    async def _reopen_until_open(self) -> None:
        while not self.available:
            await asyncio.sleep(self.reopen_every)
            try:
                await self._open_now()
            except (QuestionLogError, OSError) as error:
                logger.debug("The question log still cannot be opened: %s", error)

    async def _prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.prune_every)
            try:
                await self.run(self.log.prune)
            except Exception as error:  # a locked or full disk now may be fine next time; keep the bot answering
                logger.warning("Could not delete old questions from the question log: %s", error)

    async def close(self) -> None:
        for task in (self._pruning, self._reopening):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._pruning = self._reopening = None
        executor, self._executor = self._executor, None
        if executor is None:
            return
        self.available = False
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self.log.close)  # after every write already queued
        finally:
            executor.shutdown(wait=False)

    def record_question_soon(self, question: str, **details) -> None:
        """Queue a question for logging and return at once; a failure is logged as a warning, never raised."""
        if not self.available or self._executor is None:
            return
        try:
            future = self._executor.submit(self.log.record_question, question, **details)
        except RuntimeError:  # shutting down
            return
        future.add_done_callback(self._count_loss)

    async def record_vote(self, question_id: int, *, member_id: int, helpful: bool) -> VoteResult:
        return await self.run(self.log.record_vote, question_id, member_id=member_id, helpful=helpful)

    async def stats(self, latest: int = LATEST_UNANSWERED, scope: StatsScope = EVERYWHERE) -> Stats:
        return await self.run(self.log.stats, latest, scope)

    def _count_loss(self, future) -> None:
        # Runs in the worker thread, after each write. One warning per run of failures, not per question: a full
        # disk would otherwise fill the bot's own log with the same warning for every question asked.
        error = None if future.cancelled() else future.exception()
        if error is None:
            if self.lost_questions:
                logger.warning("The question log works again; %d question(s) could not be logged.", self.lost_questions)
                self.lost_questions = 0
            return
        self.lost_questions += 1
        if self.lost_questions == 1:
            logger.warning(
                "Could not log a question: %s (the next failures are counted, not logged, until a write works)",
                error, exc_info=error,
            )
        else:
            logger.debug("Could not log a question either: %s", error)
