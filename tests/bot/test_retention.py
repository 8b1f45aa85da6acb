"""QUESTION_LOG_RETENTION_DAYS: questions older than that are deleted, with their passages and votes."""
from __future__ import annotations

import asyncio
import csv
import io
import time

from botkit import embed_text

from bot.cli import main
from bot.questionlog import BackgroundQuestionLog, ChannelKind, QuestionLog, QuotedPassage, VoteOutcome

DAY = 86_400.0
NOW = 1_700_000_000.0
ALICE, BOB = 123456789012345678, 223456789012345678


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ask(log: QuestionLog, question: str, asked_at: float | None = None, answered: bool = True, guild_id: int = 42) -> int:
    return log.record_question(
        question, member_id=ALICE, answered=answered, channel_kind=ChannelKind.GUILD, guild_id=guild_id, asked_at=asked_at,
        passages=[QuotedPassage("a.md", "Intro", f"The quote for {question}")],
    )


def exported(log: QuestionLog) -> list[dict[str, str]]:
    out = io.StringIO()
    log.export_csv(out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_opening_deletes_old_questions_with_their_passages_and_votes(tmp_path):
    data = tmp_path / "data"
    with QuestionLog(data, clock=Clock()) as log:  # kept forever while they are written
        old = ask(log, "Asked 91 days ago", asked_at=NOW - 91 * DAY)
        recent = ask(log, "Asked 89 days ago", asked_at=NOW - 89 * DAY)
        for answer in (old, recent):
            log.record_vote(answer, member_id=ALICE, helpful=True)
            log.record_vote(answer, member_id=BOB, helpful=False)

    with QuestionLog(data, retention_days=90, clock=Clock()) as log:
        rows = exported(log)
        assert [row["question"] for row in rows] == ["Asked 89 days ago"]
        assert (rows[0]["helpful_votes"], rows[0]["not_helpful_votes"]) == ("1", "1")
        assert log.passages(recent) == [QuotedPassage("a.md", "Intro", "The quote for Asked 89 days ago")]
        assert log.passages(old) == [] and log.votes(old) == (0, 0)
        stats = log.stats()
        assert (stats.questions, stats.helpful_votes, stats.not_helpful_votes) == (1, 1, 1)
        # A late click on the deleted answer's buttons is told it is not on record, and does not bring it back.
        assert log.record_vote(old, member_id=ALICE, helpful=True).outcome is VoteOutcome.UNKNOWN_ANSWER
        assert log.stats().questions == 1


def test_zero_keeps_every_question(tmp_path):
    clock = Clock()
    with QuestionLog(tmp_path / "data", retention_days=0, clock=clock) as log:
        ask(log, "Asked ten years ago", asked_at=NOW - 3650 * DAY)
        answer = ask(log, "Asked today")
        log.record_vote(answer, member_id=BOB, helpful=True)
        clock.now += 10_000 * DAY
        assert log.prune() == 0
    with QuestionLog(tmp_path / "data", retention_days=0, clock=clock) as log:
        assert [row["question"] for row in exported(log)] == ["Asked ten years ago", "Asked today"]
        assert log.votes(answer) == (1, 0)


def test_deleted_questions_cannot_be_read_back_from_the_files(tmp_path):
    data = tmp_path / "data"
    clock = Clock()
    with QuestionLog(data, retention_days=30, clock=clock) as log:
        for number in range(50):
            ask(log, f"secret-question-{number}")
        ask(log, "kept-question", asked_at=NOW + 20 * DAY)
        clock.now += 31 * DAY
        assert log.prune() == 50
        remains = b"".join(path.read_bytes() for path in data.iterdir() if path.is_file())
        assert b"secret-question" not in remains and b"The quote for secret" not in remains
        assert b"kept-question" in remains


async def test_the_running_bot_deletes_old_questions_as_time_passes(tmp_path):
    clock = Clock()
    background = BackgroundQuestionLog(QuestionLog(tmp_path / "data", retention_days=30, clock=clock), prune_every=0.01)
    assert await background.open()
    try:
        background.record_question_soon("Asked at the start", member_id=ALICE, answered=True, channel_kind="guild")
        assert (await background.stats()).questions == 1
        clock.now += 20 * DAY
        background.record_question_soon("Asked 20 days in", member_id=ALICE, answered=False, channel_kind="dm")
        clock.now += 11 * DAY  # the first question is now 31 days old, the second 11
        for _ in range(1000):  # the pruning runs by itself; wait for it
            stats = await background.stats()
            if stats.questions == 1:
                break
            await asyncio.sleep(0.01)
        assert [q.question for q in stats.latest_unanswered] == ["Asked 20 days in"]
        assert stats.questions == 1 and stats.answered == 0
    finally:
        await background.close()


def test_cli_stats_and_export_read_the_log_as_it_is_and_delete_nothing(tmp_path, monkeypatch, capsys):
    """Deleting old questions is the bot's: a shell whose retention setting differs (the default 90 days, say,
    beside a bot that keeps questions forever) must not delete them."""
    now = time.time()
    with QuestionLog(tmp_path / "data") as log:
        ask(log, "Asked 100 days ago", asked_at=now - 100 * DAY, answered=False)
        ask(log, "Asked 10 days ago", asked_at=now - 10 * DAY)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.chdir(tmp_path)

    monkeypatch.setenv("QUESTION_LOG_RETENTION_DAYS", "30")
    assert main(["stats"]) == 0
    assert "Questions: 2 asked, 1 answered (50%)" in capsys.readouterr().out
    assert main(["export", "--output", "questions.csv"]) == 0
    with (tmp_path / "questions.csv").open(newline="", encoding="utf-8") as exported:
        assert [row["question"] for row in csv.DictReader(exported)] == ["Asked 100 days ago", "Asked 10 days ago"]
    assert (tmp_path / "questions.csv").stat().st_mode & 0o077 == 0  # members' words: the owner's alone
    with QuestionLog(tmp_path / "data") as log:
        assert log.stats().questions == 2  # nothing deleted


def test_cli_explains_a_bad_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for bad in ("-1", "ninety"):
        monkeypatch.setenv("QUESTION_LOG_RETENTION_DAYS", bad)
        assert main(["export"]) == 2
        assert "invalid setting: QUESTION_LOG_RETENTION_DAYS" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


async def test_the_bot_starts_by_deleting_questions_past_the_default_retention(start_bot, fake_discord, tmp_path):
    now = time.time()
    server = fake_discord.guild.id
    with QuestionLog(tmp_path / "data") as log:  # the folder the test bot uses, as an earlier run left it
        ask(log, "Asked before the retention period", asked_at=now - 365 * DAY, answered=False, guild_id=server)
        ask(log, "Asked last week", asked_at=now - 7 * DAY, answered=False, guild_id=server)
    running = await start_bot()  # QUESTION_LOG_RETENTION_DAYS not set
    reply = await (await running.fake.send_slash_command("stats", {}, user=running.fake.user)).wait_final(timeout=30)
    text = embed_text(reply)
    assert "1 asked" in text and "Asked last week" in text
    assert "Asked before the retention period" not in text
