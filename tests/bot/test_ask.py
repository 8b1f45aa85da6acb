"""Members asking: /ask, direct messages and mentions, through the real discord.py client and a fake Discord."""
from __future__ import annotations

import asyncio
import logging

from botkit import TRUCE, embed_text
from fakediscord.models import Perm

from index import UnknownArticle



def assert_pings_nobody(payloads: list[dict]) -> None:
    assert payloads, "the bot sent nothing"
    for payload in payloads:
        assert payload.get("allowed_mentions", {}).get("parse") == [], payload.get("allowed_mentions")
        assert not payload["allowed_mentions"].get("users") and not payload["allowed_mentions"].get("roles")


async def test_ask_quotes_the_haniyeh_passage_with_its_source(start_bot):
    running = await start_bot()
    message = await running.ask(TRUCE)
    assert not message.ephemeral
    (embed,) = message.embeds
    first = embed["fields"][0]
    assert first["name"].startswith("1. Hamas Claiming Progress in Truce Negotiations")
    assert "**Amidst the chaos and destruction, there have been recent claims by Hamas leader Ismail Haniyeh" in first["value"]
    assert "000\\_97ab4e9c0a6dbff7.txt" in first["value"] or "000_97ab4e9c0a6dbff7.txt" in first["value"]
    assert len(embed["fields"]) == 1  # the sample's other passages are far weaker answers: not quoted as noise
    assert_pings_nobody(running.sent_payloads())


async def test_private_answers_are_ephemeral(start_bot):
    running = await start_bot()
    message = await running.ask(TRUCE, private=True)
    assert message.ephemeral and "Ismail Haniyeh" in embed_text(message)


async def test_off_topic_question_is_not_answered_with_noise(start_bot):
    running = await start_bot()
    message = await running.ask("How do I bake sourdough bread at home?")
    text = embed_text(message)
    assert "don't answer" in text and "Haniyeh" not in text


async def test_direct_message_gets_the_answer_in_the_dm(start_bot):
    running = await start_bot()
    await running.fake.send_message(TRUCE, guild_id=None)
    reply = await running.fake.wait_for_dm(running.fake.user, timeout=30)
    assert "Ismail Haniyeh" in embed_text(reply)
    assert_pings_nobody(running.sent_payloads())


async def test_mention_in_a_channel_gets_a_reply(start_bot):
    running = await start_bot()
    fake = running.fake
    asked = await fake.send_message(TRUCE, mentions=[fake.bot_user])
    reply = await fake.wait_for_channel_message(fake.channel, timeout=30)
    assert reply.message_reference["message_id"] == str(asked.id)
    assert "Ismail Haniyeh" in embed_text(reply)
    assert not reply.pinged_user_ids  # mention_author=False: the asker is not pinged either


async def test_messages_not_for_the_bot_are_ignored(start_bot):
    running = await start_bot()
    fake = running.fake
    other_bot = fake.add_user("otherbot", bot=True)
    await fake.send_message(TRUCE)  # no mention
    await fake.send_message(TRUCE, mentions=[fake.bot_user], author=other_bot)
    await asyncio.sleep(1.0)
    assert not [m for m in fake.bot_messages(fake.channel) if m.source == "channel"]


def channel_replies(fake, channel=None) -> list:
    return [m for m in fake.bot_messages(channel or fake.channel) if m.source == "channel"]


async def test_a_reply_to_an_answer_is_not_a_question_but_a_mention_of_the_bots_role_is(start_bot):
    running = await start_bot()
    fake = running.fake
    await fake.send_message(TRUCE, mentions=[fake.bot_user])
    answer = await fake.wait_for_channel_message(fake.channel, timeout=30)
    thanks = await fake.send_message("thanks, that helps!", reply_to=answer)
    assert fake.bot_user.id in [m.id for m in thanks.mentions]  # Discord lists the author replied to
    # Discord's client may insert the bot's own role for "@bot"; such a message comes with its text blanked (no
    # message content intent), so the member is told how to ask.
    bot_role = next(r for r in fake.guild.roles if r.managed)
    await fake.send_message(f"<@&{bot_role.id}> {TRUCE}")
    assert "/ask" in embed_text(await fake.wait_for_channel_message(fake.channel, timeout=30))
    await asyncio.sleep(1.0)
    assert len(channel_replies(fake)) == 2  # the thanks got no "the articles don't answer" reply


async def test_mentions_past_the_cooldown_are_told_to_slow_down_once(start_bot):
    running = await start_bot(cooldown_questions=1, cooldown_seconds=60)
    fake = running.fake
    for _ in range(6):
        await fake.send_message(TRUCE, mentions=[fake.bot_user])
    await fake.wait_until(lambda: len(channel_replies(fake)) >= 2, timeout=30, what="an answer and a notice")
    await asyncio.sleep(1.0)
    replies = [embed_text(m) for m in channel_replies(fake)]
    assert len(replies) == 2, replies  # not one public notice per message: that would flood the channel
    assert sum("Ismail Haniyeh" in r for r in replies) == 1 and sum("asking quickly" in r for r in replies) == 1


async def test_mentions_are_answered_without_read_message_history_or_once_deleted(start_bot, fake_discord):
    # Replying needs Read Message History, which this channel withholds: the answer comes as a plain message.
    locked = fake_discord.add_guild(
        "Locked", everyone_permissions=0, bot_permissions=Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS
    )
    running = await start_bot()
    fake = running.fake
    channel = locked.channels[0]
    await fake.send_message(TRUCE, guild_id=locked.id, channel_id=channel.id, mentions=[fake.bot_user])
    answer = await fake.wait_for_channel_message(channel, timeout=30)
    assert "Ismail Haniyeh" in embed_text(answer) and answer.message_reference is None

    # A question deleted while it is being answered still gets its answer, as a plain message.
    asked = running.bot.service.ask

    async def slowly(*args, **kwargs):
        await asyncio.sleep(1.0)
        return await asked(*args, **kwargs)

    running.bot.service.ask = slowly
    question = await fake.send_message(TRUCE, mentions=[fake.bot_user])
    await fake.delete_message(question)
    answer = await fake.wait_for_channel_message(fake.channel, timeout=30)
    assert "Ismail Haniyeh" in embed_text(answer) and answer.message_reference is None


async def test_bare_mention_gets_help(start_bot):
    running = await start_bot()
    await running.fake.send_message("", mentions=[running.fake.bot_user])
    reply = await running.fake.wait_for_channel_message(running.fake.channel, timeout=30)
    assert "/ask" in embed_text(reply)


async def test_article_option_narrows_and_autocompletes(start_bot, sample_articles):
    (sample_articles / "tides.md").write_text("# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides.\n")
    running = await start_bot()
    handle = await running.fake.send_autocomplete("ask", {"question": "x", "article": "tid"}, focused="article")
    choices = await handle.wait_choices(timeout=30)
    assert choices == [{"name": "Tides", "value": "tides.md"}]
    handle = await running.fake.send_autocomplete("ask", {"question": "x", "article": ""}, focused="article")
    assert len(await handle.wait_choices(timeout=30)) == 2

    message = await running.ask(TRUCE, article="tides.md")
    names = [f["name"] for f in message.embeds[0]["fields"]] if message.embeds[0].get("fields") else []
    assert all(name.split(". ", 1)[1].startswith("Tides") for name in names)
    assert "Haniyeh" not in embed_text(message)


async def test_unknown_article_gets_a_private_explanation(start_bot):
    running = await start_bot()
    message = await running.ask(TRUCE, article="no-such-article")
    assert message.ephemeral and "No indexed article" in embed_text(message)


async def test_everyone_and_role_mentions_in_articles_never_ping(start_bot, sample_articles):
    long_section = " ".join(["Pings are announced to @everyone here."] + ["Filler sentence number %d about nothing much." % i for i in range(450)])
    assert len(long_section) > 20_000
    (sample_articles / "pings.txt").write_text(
        "Ping Test\n\nAnnouncements\n\n@everyone the meeting moved. <@&123456789012345678> and <@234567890123456789> "
        "must attend the *secret* __meeting__ on Friday.\n\nVery Long Section\n\n" + long_section + "\n"
    )
    running = await start_bot()
    message = await running.ask("Who must attend the meeting on Friday?")
    assert "@everyone" in embed_text(message)
    assert not message.mention_everyone and not message.mention_roles and not message.pinged_user_ids
    await running.fake.send_message("Who must attend the meeting on Friday?", mentions=[running.fake.bot_user])
    reply = await running.fake.wait_for_channel_message(running.fake.channel, timeout=30)
    assert not reply.mention_everyone and not reply.mention_roles and not reply.pinged_user_ids
    message = await running.ask("What is announced to everyone in the long section?")
    assert message.embeds  # the fake rejects any message over Discord's limits
    assert_pings_nobody(running.sent_payloads())


async def test_cooldown_gives_a_friendly_private_message(start_bot):
    running = await start_bot(cooldown_questions=2, cooldown_seconds=60)
    await running.ask(TRUCE)
    await running.ask(TRUCE)
    third = await running.ask(TRUCE)
    assert third.ephemeral and "asking quickly" in embed_text(third)
    bob = next(u for u in running.fake.users.values() if u.username == "bob")
    handle = await running.fake.send_slash_command("ask", {"question": TRUCE}, user=bob)
    assert "Ismail Haniyeh" in embed_text(await handle.wait_final(timeout=30))  # the limit is per member


async def test_cooldown_covers_messages_too(start_bot):
    running = await start_bot(cooldown_questions=1, cooldown_seconds=60)
    await running.fake.send_message(TRUCE, guild_id=None)
    await running.fake.wait_for_dm(running.fake.user, timeout=30)
    await running.fake.send_message(TRUCE, guild_id=None)
    reply = await running.fake.wait_for_dm(running.fake.user, timeout=30)
    assert "asking quickly" in embed_text(reply)


async def test_unexpected_error_gets_an_apology_and_a_log(start_bot, caplog):
    running = await start_bot()

    async def broken(*args, **kwargs):
        raise RuntimeError("index exploded")

    running.bot.service.ask = broken
    with caplog.at_level(logging.ERROR):
        message = await running.ask(TRUCE)
    assert message.ephemeral and "Sorry, something went wrong" in embed_text(message)
    assert "index exploded" not in embed_text(message)
    assert "index exploded" in caplog.text


async def test_slow_answers_are_deferred_within_the_deadline(start_bot):
    running = await start_bot()
    real_ask = running.bot.service.ask

    async def slow(*args, **kwargs):
        await asyncio.sleep(4)  # longer than Discord's 3-second deadline
        return await real_ask(*args, **kwargs)

    running.bot.service.ask = slow
    handle = await running.fake.send_slash_command("ask", {"question": TRUCE})
    response = await handle.wait_response(timeout=10)
    assert response.type == 5 and handle.response_latency < 3  # "thinking…" first
    final = await handle.wait_final(timeout=30)
    assert "Ismail Haniyeh" in embed_text(final)


async def test_an_error_after_a_public_thinking_is_told_to_the_asker_alone(start_bot):
    running = await start_bot()

    async def slow_failure(*args, **kwargs):
        await asyncio.sleep(2.5)  # past the quick reply: "thinking…" is showing, to everyone
        raise UnknownArticle("No indexed article is called 'tides'.")

    running.bot.service.ask = slow_failure
    handle = await running.fake.send_slash_command("ask", {"question": TRUCE, "article": "tides"})
    assert (await handle.wait_response(timeout=10)).type == 5
    final = await handle.wait_final(timeout=30)
    assert final.ephemeral and "No indexed article is called 'tides'" in embed_text(final)
    assert handle.original is None or handle.original.deleted  # the public "thinking…" is gone, not edited


async def test_a_shutdown_lets_answers_under_way_finish(start_bot):
    running = await start_bot()
    asked = running.bot.service.ask

    async def slowly(*args, **kwargs):
        await asyncio.sleep(2.5)
        return await asked(*args, **kwargs)

    running.bot.service.ask = slowly
    handle = await running.fake.send_slash_command("ask", {"question": TRUCE})
    assert (await handle.wait_response(timeout=10)).type == 5  # "thinking…"
    await running.fake.send_message(TRUCE, guild_id=None)
    await asyncio.sleep(0.2)
    await running.bot.close()
    assert "Ismail Haniyeh" in embed_text(handle.original)  # answered before the connections closed
    assert "Ismail Haniyeh" in embed_text(await running.fake.wait_for_dm(running.fake.user, timeout=1))


async def test_bot_resumes_after_the_gateway_drops(start_bot):
    running = await start_bot()
    await running.fake.drop_gateway(4000)
    await running.fake.wait_for_resume(timeout=30)
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))
    await running.fake.send_invalid_session(resumable=False)
    await running.fake.wait_for_identify(2, timeout=30)
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))
