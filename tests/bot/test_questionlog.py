"""The question log's storage: hashed members, one vote per member per answer, stats and export."""
from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import logging
import sqlite3
import stat
import threading

import pytest

from bot.questionlog import (
    EMPTY_STATS,
    EXPORT_COLUMNS,
    BackgroundQuestionLog,
    ChannelKind,
    QuestionLog,
    QuestionLogError,
    QuotedPassage,
    VoteOutcome,
)

ALICE, BOB = 123456789012345678, 223456789012345678


def ask(log: QuestionLog, question: str = "Who?", answered: bool = True, **details) -> int:
    details.setdefault("member_id", ALICE)
    details.setdefault("channel_kind", ChannelKind.GUILD)
    return log.record_question(question, answered=answered, **details)


@pytest.fixture
def log(tmp_path):
    with QuestionLog(tmp_path / "data") as opened:
        yield opened


def test_files_are_private_and_members_are_hmac_hashed(tmp_path):
    data = tmp_path / "data"
    with QuestionLog(data) as log:
        ask(log, guild_id=42)
        hashed = log.hash_member(ALICE)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "member-id.salt").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "bot.sqlite3").stat().st_mode) == 0o600
    salt = (data / "member-id.salt").read_bytes()
    assert hashed == hmac.new(salt, str(ALICE).encode(), hashlib.sha256).hexdigest()
    with QuestionLog(data) as again:  # the same installation: the same member, the same hash
        assert again.hash_member(ALICE) == hashed and again.hash_member(BOB) != hashed
    with QuestionLog(tmp_path / "elsewhere") as other:  # another installation: unlinkable
        assert other.hash_member(ALICE) != hashed


def test_stats_of_one_server_or_of_direct_messages_count_only_theirs(log):
    first = ask(log, "Alpha, answered", guild_id=1)
    ask(log, "Alpha, unanswered", answered=False, guild_id=1)
    second = ask(log, "Beta, answered", guild_id=2)
    ask(log, "Beta, unanswered", answered=False, guild_id=2)
    ask(log, "DM, unanswered", answered=False, channel_kind=ChannelKind.DM)
    log.record_vote(first, member_id=ALICE, helpful=True)
    log.record_vote(second, member_id=ALICE, helpful=False)
    log.record_vote(second, member_id=BOB, helpful=False)

    alpha = log.stats(scope=1)
    assert (alpha.questions, alpha.answered, alpha.helpful_votes, alpha.not_helpful_votes) == (2, 1, 1, 0)
    assert [q.question for q in alpha.latest_unanswered] == ["Alpha, unanswered"]
    beta = log.stats(scope=2)
    assert (beta.questions, beta.answered, beta.helpful_votes, beta.not_helpful_votes) == (2, 1, 0, 2)
    direct = log.stats(scope=None)
    assert (direct.questions, direct.answered, direct.helpful_votes) == (1, 0, 0)
    assert [q.question for q in direct.latest_unanswered] == ["DM, unanswered"]
    everywhere = log.stats()
    assert (everywhere.questions, everywhere.answered, everywhere.not_helpful_votes) == (5, 2, 2)
    assert log.stats(scope=3) == EMPTY_STATS


def test_one_vote_per_member_per_answer(log):
    answer = ask(log, question_id=1001, passages=[QuotedPassage("a.md", "Intro", "A quote.")])
    assert log.record_vote(answer, member_id=ALICE, helpful=True).outcome is VoteOutcome.RECORDED
    assert log.record_vote(answer, member_id=ALICE, helpful=True).outcome is VoteOutcome.UNCHANGED
    assert log.votes(answer) == (1, 0)
    assert log.record_vote(answer, member_id=BOB, helpful=True).outcome is VoteOutcome.RECORDED
    changed = log.record_vote(answer, member_id=ALICE, helpful=False)
    assert changed.outcome is VoteOutcome.CHANGED and changed.helpful is False
    assert log.votes(answer) == (1, 1)
    assert log.record_vote(999, member_id=ALICE, helpful=True).outcome is VoteOutcome.UNKNOWN_ANSWER
    assert log.passages(answer) == [QuotedPassage("a.md", "Intro", "A quote.")]


def test_a_question_delivered_twice_is_logged_once(log):
    assert ask(log, "First", question_id=7, passages=[QuotedPassage("a.md", None, "q")]) == 7
    assert ask(log, "Again", question_id=7, passages=[QuotedPassage("b.md", None, "r")]) == 7
    stats = log.stats()
    assert stats.questions == 1 and log.passages(7) == [QuotedPassage("a.md", None, "q")]


def test_stats_count_and_list_the_latest_unanswered(log):
    assert log.stats().answered_share is None
    for number in range(12):
        ask(log, f"Unanswered {number}", answered=False, asked_at=1000.0 + number, channel_kind="dm")
    ask(log, "Answered", asked_at=2000.0)
    stats = log.stats(latest=10)
    assert (stats.questions, stats.answered, stats.unanswered) == (13, 1, 12)
    assert stats.answered_share == pytest.approx(1 / 13)
    assert [q.question for q in stats.latest_unanswered] == [f"Unanswered {n}" for n in range(11, 1, -1)]
    assert stats.latest_unanswered[0].channel_kind == "dm"


def test_mentions_in_questions_are_not_stored(log):
    ask(log, f"What did <@{BOB}> and <@!{BOB}> say?", answered=False)
    assert log.stats().latest_unanswered[0].question == "What did @member and @member say?"


def test_export_has_a_row_per_question_with_its_votes(log):
    first = ask(log, "Who, \"exactly\"?\nSay it", top_article="a.md", guild_id=42, asked_at=0.0)
    ask(log, "Nobody knows", answered=False, member_id=BOB, asked_at=60.0, asked_via="message")
    log.record_vote(first, member_id=ALICE, helpful=True)
    log.record_vote(first, member_id=BOB, helpful=False)
    out = io.StringIO()
    assert log.export_csv(out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert rows[0] == {
        "answer_id": str(first),
        "time": "1970-01-01T00:00:00Z",
        "question": "Who, \"exactly\"?\nSay it",
        "answered": "yes",
        "top_article": "a.md",
        "helpful_votes": "1",
        "not_helpful_votes": "1",
        "member_hash": log.hash_member(ALICE),
        "channel_kind": "guild",
        "guild_id": "42",
        "asked_via": "ask",
    }
    assert rows[1]["answered"] == "no" and rows[1]["helpful_votes"] == "0" and rows[1]["asked_via"] == "message"


def test_threads_may_share_one_log(log):
    def worker(offset: int) -> None:
        for number in range(25):
            answer = ask(log, f"q{offset}-{number}")
            log.record_vote(answer, member_id=offset, helpful=True)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = log.stats()
    assert stats.questions == 100 and stats.helpful_votes == 100


def test_a_log_from_a_newer_bot_is_refused(tmp_path):
    data = tmp_path / "data"
    QuestionLog(data).open().close()
    with sqlite3.connect(data / "bot.sqlite3") as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(QuestionLogError, match="newer version"):
        QuestionLog(data).open()


async def test_in_the_bot_a_vote_waits_for_its_question(tmp_path):
    background = BackgroundQuestionLog(QuestionLog(tmp_path / "data"))
    assert await background.open()
    try:
        background.record_question_soon("Who?", question_id=5, member_id=ALICE, answered=True, channel_kind="guild")
        result = await background.record_vote(5, member_id=BOB, helpful=True)  # queued after the question
        assert result.outcome is VoteOutcome.RECORDED
        assert (await background.stats()).helpful_votes == 1
    finally:
        await background.close()
    await background.close()  # closing twice is harmless
    background.record_question_soon("After close", member_id=ALICE, answered=False, channel_kind="dm")  # ignored


async def test_a_full_disk_is_warned_about_once_and_the_lost_questions_are_counted(tmp_path, caplog):
    background = BackgroundQuestionLog(QuestionLog(tmp_path / "data"))
    assert await background.open()
    write = background.log.record_question
    disk = {"full": True}

    def record(*args, **kwargs):
        if disk["full"]:
            raise sqlite3.OperationalError("database or disk is full")
        return write(*args, **kwargs)

    background.log.record_question = record
    try:
        with caplog.at_level(logging.WARNING, logger="bot.questionlog"):
            for number in range(5):
                background.record_question_soon(f"Lost {number}", member_id=ALICE, answered=True, channel_kind="dm")
            await background.run(lambda: None)  # every write has been tried
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1 and "disk is full" in warnings[0]
            disk["full"] = False
            background.record_question_soon("Logged", member_id=ALICE, answered=True, channel_kind="dm")
            await background.run(lambda: None)
        assert "works again; 5 question(s) could not be logged" in caplog.text
        assert (await background.stats()).questions == 1
    finally:
        await background.close()


async def test_a_log_that_cannot_be_opened_at_start_is_tried_again_while_the_bot_runs(tmp_path, caplog):
    log = QuestionLog(tmp_path / "data")
    opening = log.open
    attempts = []

    def locked_at_first() -> QuestionLog:
        attempts.append(1)
        if len(attempts) < 3:  # another process holding the database for a while
            raise QuestionLogError(f"The question log at {log.path} is unusable: database is locked")
        return opening()

    log.open = locked_at_first
    background = BackgroundQuestionLog(log, reopen_every=0.05)
    try:
        assert not await background.open()
        assert "will not be logged until it opens" in caplog.text
        background.record_question_soon("Lost while closed", member_id=ALICE, answered=True, channel_kind="dm")
        for _ in range(200):
            if background.available:
                break
            await asyncio.sleep(0.05)
        assert background.available and len(attempts) == 3
        background.record_question_soon("Logged once open", member_id=ALICE, answered=True, channel_kind="dm")
        assert (await background.stats()).questions == 1
    finally:
        await background.close()
