"""/stats for moderators, and `article-bot stats` / `article-bot export` for the operator."""
from __future__ import annotations

import csv
import io

import pytest

from botkit import TRUCE, embed_text

from bot.cli import main
from bot.questionlog import EXPORT_COLUMNS, QuestionLog

OFF_TOPIC = "How do I bake *sourdough* bread at home?"


def member(fake, name):
    user = fake.add_user(name)
    fake.add_member(fake.guild, user)
    return user


async def stats_as(running, user=None, **options):
    handle = await running.fake.send_slash_command("stats", {}, user=user, **options)
    return await handle.wait_final(timeout=30)


async def test_stats_show_unanswered_questions_to_moderators_only(start_bot):
    running = await start_bot()
    fake = running.fake
    bob = next(u for u in fake.users.values() if u.username == "bob")
    await running.fake.send_slash_command("ask", {"question": OFF_TOPIC}, user=bob)
    await running.ask(TRUCE)
    await fake.send_message("What is the best pizza topping?", guild_id=None)
    await fake.wait_for_dm(fake.user, timeout=30)

    knit = await running.fake.send_slash_command("ask", {"question": "How do I knit a scarf?"}, user=bob)
    await knit.wait_final(timeout=30)
    await running.bot.question_log.run(lambda: None)  # its log write is done
    reply = await stats_as(running, fake.user)  # alice owns the server
    assert reply.ephemeral
    text = embed_text(reply)
    assert "3 asked" in text and "1 answered (33%)" in text  # this server's: not the direct message
    assert "0 helpful" in text and "0 not helpful" in text
    assert "1 articles" in text and "passages" in text and "updated <t:" in text
    unanswered = text.split("Latest unanswered questions", 1)[1]
    assert unanswered.index("How do I knit a scarf?") < unanswered.index("How do I bake")  # newest first
    assert "How do I bake \\*sourdough\\* bread at home?" in unanswered  # members' Markdown is shown as typed
    assert TRUCE not in unanswered and "pizza" not in unanswered

    # Servers share the one collection here, but not their questions: another server's owner sees none of these.
    mallory = fake.add_user("mallory")
    other = fake.add_guild("Mallory's", owner=mallory)
    elsewhere = await running.fake.send_slash_command("stats", {}, user=mallory, guild_id=other.id)
    text = embed_text(await elsewhere.wait_final(timeout=60))
    assert "0 asked" in text and "knit" not in text and "pizza" not in text

    carol = member(fake, "carol")
    with pytest.raises(PermissionError):  # Discord offers /stats only to members with Manage Server
        await stats_as(running, carol)
    forged = await stats_as(running, carol, member_permissions="0")  # and the bot checks for itself
    assert forged.ephemeral and "Only moderators" in embed_text(forged) and "asked" not in embed_text(forged)


async def test_cli_stats_and_export_show_what_the_bot_logged(start_bot, sample_articles, tmp_path, monkeypatch, capsys):
    running = await start_bot()
    fake = running.fake
    answer = await running.ask(TRUCE)
    await running.ask(OFF_TOPIC)
    helpful_id = answer.custom_ids()[0]
    await (await fake.click_button(answer, helpful_id)).wait_final(timeout=30)
    await running.bot.close()

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("ARTICLES_DIR", str(sample_articles))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "Questions: 2 asked, 1 answered (50%)" in out
    assert "Feedback: 1 helpful, 0 not helpful" in out
    assert "Index: 1 articles," in out and "passages; updated " in out
    assert OFF_TOPIC in out.split("Latest unanswered questions", 1)[1]

    assert main(["export"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["question"] for row in rows] == [TRUCE, OFF_TOPIC]
    truce, off_topic = rows
    assert truce["answered"] == "yes" and off_topic["answered"] == "no"
    assert truce["top_article"] == "000_97ab4e9c0a6dbff7.txt"
    assert (truce["helpful_votes"], truce["not_helpful_votes"]) == ("1", "0")
    assert truce["answer_id"] == helpful_id.split(":")[1]
    assert truce["member_hash"] == off_topic["member_hash"] and len(truce["member_hash"]) == 64
    assert str(fake.user.id) not in truce["member_hash"]
    assert truce["channel_kind"] == "guild" and truce["guild_id"] == str(fake.guild.id)
    assert truce["time"].endswith("Z")

    target = tmp_path / "questions.csv"
    assert main(["export", "--output", str(target)]) == 0
    assert "Wrote 2 questions" in capsys.readouterr().err
    with target.open(newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == rows


def test_cli_before_the_bot_ever_ran(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.chdir(tmp_path)
    assert main(["stats"]) == 0
    captured = capsys.readouterr()
    assert "Questions: 0 asked, 0 answered" in captured.out and "Index: none yet" in captured.out
    assert "no question log" in captured.err
    assert main(["export"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [list(EXPORT_COLUMNS)]  # the header alone
    assert not (tmp_path / "data").exists()  # looking creates nothing


def test_a_failed_export_leaves_an_earlier_file_as_it_was(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.sqlite3").write_text("not a database")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "last-week.csv").write_text("question\nkept\n")
    assert main(["export", "--output", "last-week.csv"]) == 2
    assert "unusable" in capsys.readouterr().err
    assert (tmp_path / "last-week.csv").read_text() == "question\nkept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "last-week.csv"]  # no temporary file left


def test_export_of_one_server_holds_its_questions_only(tmp_path, monkeypatch, capsys):
    with QuestionLog(tmp_path / "data") as log:
        for question, guild in (("Asked in one", 111), ("Asked in another", 222), ("Asked in a DM", None)):
            log.record_question(question, member_id=1, answered=True, channel_kind="guild" if guild else "dm", guild_id=guild)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--server", "111"]) == 0
    assert [row["question"] for row in csv.DictReader(io.StringIO(capsys.readouterr().out))] == ["Asked in one"]
    assert main(["export"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 3

