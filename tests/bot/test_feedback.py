"""Feedback buttons under answers: what members see when they vote, and what the log keeps."""
from __future__ import annotations

import io
import logging
import time

from botkit import TRUCE, embed_text

from bot.questionlog import QuestionLog

OFF_TOPIC = "How do I bake sourdough bread at home?"


def feedback_ids(message) -> tuple[str, str]:
    helpful, unhelpful = message.custom_ids()
    assert helpful.endswith(":helpful") and unhelpful.endswith(":unhelpful")
    return helpful, unhelpful


def answer_id(message) -> int:
    return int(feedback_ids(message)[0].split(":")[1])


def buttons(message) -> list[dict]:
    return [c for row in message.components for c in row.get("components", [])]


def user(fake, name):
    return next(u for u in fake.users.values() if u.username == name)


async def vote(running, message, helpful: bool, who=None) -> str:
    """Click a feedback button and return the private acknowledgement the member sees."""
    custom_id = feedback_ids(message)[0 if helpful else 1]
    handle = await running.fake.click_button(message, custom_id, user=who)
    reply = await handle.wait_final(timeout=30)
    assert reply.ephemeral
    return reply.content


async def votes(running, message) -> tuple[int, int]:
    return await running.bot.question_log.run(running.bot.question_log.log.votes, answer_id(message))


async def test_answers_get_feedback_buttons_and_no_answers_do_not(start_bot):
    running = await start_bot()
    fake = running.fake
    answer = await running.ask(TRUCE)
    assert [b["label"] for b in buttons(answer)] == ["Helpful", "Not helpful"]
    assert all(b["type"] == 2 for b in buttons(answer))
    private = await running.ask(TRUCE, private=True)
    assert private.ephemeral and len(private.custom_ids()) == 2

    no_answer = await running.ask(OFF_TOPIC)
    assert "don't answer" in embed_text(no_answer) and not no_answer.components
    unknown_article = await running.ask(TRUCE, article="no-such-article")  # an error, not an answer
    assert not unknown_article.components

    await fake.send_message(TRUCE, guild_id=None)
    dm_reply = await fake.wait_for_dm(fake.user, timeout=30)
    assert len(dm_reply.custom_ids()) == 2
    await fake.send_message(TRUCE, mentions=[fake.bot_user])
    reply = await fake.wait_for_channel_message(fake.channel, timeout=30)
    assert len(reply.custom_ids()) == 2
    await fake.send_message(OFF_TOPIC, mentions=[fake.bot_user])
    reply = await fake.wait_for_channel_message(fake.channel, timeout=30)
    assert "don't answer" in embed_text(reply) and not reply.components
    # Each answer carries its own id, and votes work in DMs too.
    assert len({answer_id(m) for m in (answer, private, dm_reply)}) == 3
    assert "recorded" in await vote(running, dm_reply, helpful=True)
    assert await votes(running, dm_reply) == (1, 0)


async def test_one_vote_per_member_per_answer(start_bot):
    running = await start_bot()
    fake = running.fake
    answer = await running.ask(TRUCE)

    assert "vote (helpful) is recorded" in await vote(running, answer, helpful=True)
    assert "already voted helpful" in await vote(running, answer, helpful=True)
    assert await votes(running, answer) == (1, 0)  # the second click added nothing

    assert "recorded" in await vote(running, answer, helpful=False, who=user(fake, "bob"))
    assert await votes(running, answer) == (1, 1)  # two members, two votes

    assert "now: not helpful" in await vote(running, answer, helpful=False)  # alice changes her mind
    assert await votes(running, answer) == (0, 2)

    # The vote is kept with the question and the passages the answer quoted.
    log = running.bot.question_log
    passages = await log.run(log.log.passages, answer_id(answer))
    assert len(passages) == len(answer.embeds[0]["fields"]) and "Ismail Haniyeh" in passages[0].quote
    assert passages[0].article_id == "000_97ab4e9c0a6dbff7.txt"

    handle = await fake.send_slash_command("stats", {})  # alice owns the server: a moderator
    text = embed_text(await handle.wait_final(timeout=30))
    assert "0 helpful" in text and "2 not helpful" in text


async def test_buttons_keep_working_after_a_restart(start_bot):
    running = await start_bot()
    answer = await running.ask(TRUCE)
    await running.bot.close()

    running = await start_bot()  # a new process in all but name: nothing of the old bot's views is left
    assert "recorded" in await vote(running, answer, helpful=True)
    assert await votes(running, answer) == (1, 0)
    assert "already voted helpful" in await vote(running, answer, helpful=True)


async def test_a_vote_waiting_on_a_busy_log_is_acknowledged_within_the_deadline(start_bot):
    running = await start_bot()
    answer = await running.ask(TRUCE)
    log = running.bot.question_log.log
    recorded = log.record_vote

    def slowly(*args, **kwargs):
        time.sleep(4)  # another process holding the database's write lock, say
        return recorded(*args, **kwargs)

    log.record_vote = slowly
    handle = await running.fake.click_button(answer, feedback_ids(answer)[0])
    response = await handle.wait_response(timeout=10)
    assert response.type == 5 and handle.response_latency < 3  # "thinking…", privately
    reply = await handle.wait_final(timeout=30)
    assert reply.ephemeral and "recorded" in reply.content
    assert await votes(running, answer) == (1, 0)


async def test_a_broken_log_never_stops_an_answer(start_bot, tmp_path, caplog):
    (tmp_path / "not-a-folder").write_text("a file where the data folder should be")
    with caplog.at_level(logging.WARNING):
        running = await start_bot(data_dir=tmp_path / "not-a-folder")
        answer = await running.ask(TRUCE)
    assert "Ismail Haniyeh" in embed_text(answer)
    assert not answer.components  # no buttons when votes could not be kept
    assert "will not be logged" in caplog.text


async def test_a_failing_write_is_logged_and_the_answer_still_comes(start_bot, caplog):
    running = await start_bot()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    running.bot.question_log.log.record_question = broken
    with caplog.at_level(logging.WARNING):
        answer = await running.ask(TRUCE)
        assert "Ismail Haniyeh" in embed_text(answer)
        await running.bot.question_log.run(lambda: None)  # the write has been tried
    assert "Could not log a question" in caplog.text and "disk full" in caplog.text
    assert "no record of this answer" in await vote(running, answer, helpful=True)


async def test_raw_user_ids_never_reach_the_database(start_bot, tmp_path):
    running = await start_bot()
    fake = running.fake
    alice, bob = fake.user, user(fake, "bob")
    answer = await running.ask(TRUCE)
    await running.ask(OFF_TOPIC)
    await fake.send_message(TRUCE, guild_id=None)
    await fake.wait_for_dm(alice, timeout=30)
    await fake.send_message(f"What did <@{bob.id}> say about the truce?", mentions=[fake.bot_user])
    await fake.wait_for_channel_message(fake.channel, timeout=30)
    await vote(running, answer, helpful=True)
    await vote(running, answer, helpful=False, who=bob)
    await running.bot.close()

    data = tmp_path / "data"
    stored = b"".join(path.read_bytes() for path in data.iterdir() if path.name.startswith("bot.sqlite3"))
    assert b"Who claimed that a truce deal was close?" in stored  # the file is the right one
    for member in (alice, bob):
        assert str(member.id).encode() not in stored
    with QuestionLog(data) as log:
        assert log.stats().questions == 4
        exported = io.StringIO()
        log.export_csv(exported)
    assert "What did @member say about the truce?" in exported.getvalue()  # mentions in questions are scrubbed
