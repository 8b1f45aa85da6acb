"""Discord misbehaving: the gateway drops or invalidates the session, REST calls answer 429 or 5xx.

The bot must recover by itself, keep answering, and never answer one question twice. How discord.py copes:
ordinary REST calls (channel messages) and interaction calls (callback, @original edits) are both retried
after a 429's retry_after and after a 5xx (1 s, then 3 s, ...). A message post carries a random nonce with
enforce_nonce, the same on every retry, so Discord keeps one message even if a lost response made the bot
post again; an interaction can only be acknowledged once, so a retried callback cannot answer twice."""
from __future__ import annotations

import asyncio
import logging

import pytest
from botkit import TRUCE, embed_text

from fakediscord.rest import Resp

CALLBACK = r"/interactions/\d+/[^/]+/callback$"
ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original$"
CHANNEL_MESSAGES = r"/channels/\d+/messages$"
QUESTIONS = [TRUCE, "Who has been engaged in mediation efforts?", "When did the invasion of southern Israel begin?"]


def callback_requests(fake, handle) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path == f"/interactions/{handle.id}/{handle.token}/callback"]


def assert_answered_once(fake, handle, *, expect: str = "Ismail Haniyeh") -> None:
    """Acknowledged once, answered in one message (no followups), and it is the answer."""
    assert handle.failed is None, handle.failed
    accepted = [r for r in callback_requests(fake, handle) if r.status is not None and r.status < 300]
    assert len(accepted) == 1, [str(r) for r in callback_requests(fake, handle)]
    assert handle.original_message_id is not None and not handle.followup_ids
    original = fake.messages[handle.original_message_id]
    assert not original.loading and not original.deleted
    assert expect in embed_text(original)


def bot_messages_in(fake, channel) -> list:
    return [m for m in fake.bot_messages(channel) if m.source == "channel" and not m.deleted]


async def ask_many(running, questions) -> list:
    handles = await asyncio.gather(*(running.fake.send_slash_command("ask", {"question": q}) for q in questions))
    await asyncio.gather(*(h.wait_final(timeout=30) for h in handles))
    return list(handles)


# -- the gateway ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fault",
    ["close 4000", "tcp drop", "reconnect request", "resumable invalid session", "invalid session"],
)
async def test_gateway_faults_mid_questions_are_recovered_and_every_question_answered_once(start_bot, fault):
    running = await start_bot()
    fake = running.fake
    resumes, identifies = fake.resume_count, fake.identify_count
    before = [await fake.send_slash_command("ask", {"question": q}) for q in QUESTIONS]  # in flight during the fault
    if fault == "close 4000":
        await fake.drop_gateway(4000)
    elif fault == "tcp drop":
        await fake.drop_gateway(None)
    elif fault == "reconnect request":
        await fake.send_reconnect()
    else:
        await fake.send_invalid_session(resumable=fault.startswith("resumable"))
    during = [await fake.send_slash_command("ask", {"question": q}) for q in QUESTIONS]  # buffered or after a new session
    if fault == "invalid session":
        await fake.wait_for_identify(identifies + 1, timeout=30)
    else:
        await fake.wait_for_resume(resumes + 1, timeout=30)
    after = await ask_many(running, QUESTIONS)
    for handle in before + during + after:
        await handle.wait_final(timeout=30)
        expect = "Haniyeh" if handle.payload["data"]["options"][0]["value"] == TRUCE else ""
        assert_answered_once(fake, handle, expect=expect)
    await asyncio.sleep(0.3)  # nothing more arrives late
    assert all(len(callback_requests(fake, h)) == 1 for h in before + during + after)


async def test_repeated_drops_do_not_pile_up_sessions_or_answers(start_bot):
    running = await start_bot()
    fake = running.fake
    handles = []
    for round_ in range(4):
        await fake.drop_gateway(4000 if round_ % 2 else None)
        await fake.wait_for_resume(round_ + 1, timeout=30)
        handles += await ask_many(running, QUESTIONS[:2])
    for handle in handles:
        assert_answered_once(fake, handle, expect="")
    assert fake.identify_count == 1, "every drop was resumed; no new session was needed"


# -- REST: interaction calls ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500, 502])
async def test_a_failed_interaction_callback_is_retried_and_answers_once(start_bot, status):
    running = await start_bot()
    fake = running.fake
    rule = fake.fail_next("POST", CALLBACK, status=status, retry_after=0.3)
    handle = await fake.send_slash_command("ask", {"question": TRUCE})
    await handle.wait_final(timeout=30)
    assert rule.hits == 1
    first, retry = [r.status for r in callback_requests(fake, handle)]
    assert first == status and 200 <= retry < 300
    assert handle.response_latency < 3, "still within Discord's deadline"
    assert_answered_once(fake, handle)
    # and the next question is answered as usual
    assert_answered_once(fake, (await ask_many(running, [TRUCE]))[0])


@pytest.mark.parametrize("status", [429, 500])
async def test_a_failed_edit_of_a_deferred_answer_is_retried_and_answers_once(start_bot, status):
    running = await start_bot()
    fake = running.fake
    real_ask = running.bot.service.ask

    async def slow(*args, **kwargs):
        await asyncio.sleep(2)  # past the quick-reply wait: the bot defers, then edits the answer in
        return await real_ask(*args, **kwargs)

    running.bot.service.ask = slow
    rule = fake.fail_next("PATCH", ORIGINAL, status=status, retry_after=0.3)
    handle = await fake.send_slash_command("ask", {"question": TRUCE})
    await handle.wait_final(timeout=30)
    assert handle.callback.type == 5 and rule.hits == 1
    edits = [r.status for r in fake.requests if r.method == "PATCH" and handle.token in r.path]
    assert edits == [status, 200]
    assert_answered_once(fake, handle)


async def test_when_discord_never_takes_the_callback_in_time_the_bot_gives_up_quietly(start_bot, caplog):
    """Two 500s: discord.py's retry comes 1 s + 3 s later, past the 3-second deadline. The interaction has
    expired; the bot must not post the answer some other way, nor crash, and must answer the next one."""
    running = await start_bot()
    fake = running.fake
    fake.fail_next("POST", CALLBACK, status=500, count=2)
    handle = await fake.send_slash_command("ask", {"question": TRUCE})
    with caplog.at_level(logging.WARNING):
        await fake.wait_until(lambda: len(callback_requests(fake, handle)) >= 3, timeout=30, what="the bot's retries")
        await asyncio.sleep(0.5)
    assert handle.callback is None and handle.failed
    assert [r.status for r in callback_requests(fake, handle)][:2] == [500, 500]
    assert not [m for m in fake.messages.values() if m.author.id == fake.bot_user.id and m.interaction_id == handle.id]
    assert not bot_messages_in(fake, fake.channel), "no answer posted to the channel instead"
    assert_answered_once(fake, (await ask_many(running, [TRUCE]))[0])


def lose_the_first_callback_response(fake) -> None:
    """Make the fake process the next interaction callback and then answer 500, as if the response were lost."""
    lost = []
    for position, (method, regex, handler, auth) in enumerate(fake.rest.routes):
        if method == "POST" and "callback" in regex.pattern:

            async def process_then_fail(req, handler=handler):
                response = await handler(req)
                if not lost:
                    lost.append(req.record)
                    return Resp(500, {"message": "500: Internal Server Error", "code": 0})
                return response

            fake.rest.routes[position] = (method, regex, process_then_fail, auth)


async def test_a_lost_callback_response_does_not_answer_twice(start_bot):
    """Discord took the answer but its response was lost (a 500 after processing): discord.py retries, Discord
    says the interaction is already acknowledged. The member sees the one answer; nothing else is posted."""
    running = await start_bot()
    fake = running.fake
    lose_the_first_callback_response(fake)
    handle = await fake.send_slash_command("ask", {"question": TRUCE})
    await handle.wait_final(timeout=30)
    await fake.wait_until(lambda: len(callback_requests(fake, handle)) >= 2, timeout=30, what="the retried callback")
    await asyncio.sleep(1.5)  # room for any error reply the bot might attempt
    statuses = [r.status for r in callback_requests(fake, handle)]
    assert statuses[0] == 500 and all(status == 400 for status in statuses[1:])  # 40060: already acknowledged
    assert handle.original_message_id is not None and not handle.followup_ids
    assert "Ismail Haniyeh" in embed_text(fake.messages[handle.original_message_id])
    # The retries are what discord.py must do without knowing; the fake counts them as rule violations.
    fake.spec_violations[:] = [v for v in fake.spec_violations if "already been acknowledged" not in v]
    assert_answered_once(fake, (await ask_many(running, [TRUCE]))[0])


async def test_a_lost_defer_response_still_gets_the_answer_in(start_bot):
    """The same for a slow answer: Discord took the "thinking…" defer but its response was lost. The retried
    defer is refused as already acknowledged; the bot must still edit the answer in, not leave "thinking…"."""
    running = await start_bot()
    fake = running.fake
    real_ask = running.bot.service.ask

    async def slow(*args, **kwargs):
        await asyncio.sleep(2)
        return await real_ask(*args, **kwargs)

    running.bot.service.ask = slow
    lose_the_first_callback_response(fake)
    handle = await fake.send_slash_command("ask", {"question": TRUCE})
    await handle.wait_final(timeout=30)
    fake.spec_violations[:] = [v for v in fake.spec_violations if "already been acknowledged" not in v]
    assert handle.callback.type == 5 and [r.status for r in callback_requests(fake, handle)] == [500, 400]
    assert handle.original_message_id is not None and not handle.followup_ids
    original = fake.messages[handle.original_message_id]
    assert not original.loading and "Ismail Haniyeh" in embed_text(original)


# -- REST: messages (DMs and mentions) --------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.parametrize("where", ["dm", "mention"])
async def test_a_failed_reply_post_is_retried_with_the_same_nonce_and_posted_once(start_bot, status, where):
    running = await start_bot()
    fake = running.fake
    rule = fake.fail_next("POST", CHANNEL_MESSAGES, status=status, retry_after=0.3)
    if where == "dm":
        await fake.send_message(TRUCE, guild_id=None)
        reply = await fake.wait_for_dm(fake.user, timeout=30)
        channel = fake.dm_channels[fake.user.id]
    else:
        await fake.send_message(TRUCE, mentions=[fake.bot_user])
        reply = await fake.wait_for_channel_message(fake.channel, timeout=30)
        channel = fake.channel
    assert "Ismail Haniyeh" in embed_text(reply) and rule.hits == 1
    posts = [r for r in fake.requests if r.method == "POST" and r.path == f"/channels/{channel.id}/messages"]
    assert [r.status for r in posts] == [status, 200]
    # Were the failure a lost response, Discord would drop the retry: same nonce, enforce_nonce set.
    assert posts[0].json["nonce"] == posts[1].json["nonce"] and posts[1].json["enforce_nonce"] is True
    await asyncio.sleep(0.5)
    assert len(bot_messages_in(fake, channel)) == 1


async def test_a_server_refusing_the_command_sync_does_not_keep_the_bot_from_the_others(start_bot, fake_discord, caplog):
    left = fake_discord.add_guild("A server the bot has left")
    fake_discord.fail_next("PUT", rf"/applications/\d+/guilds/{left.id}/commands$", status=403, count=1)
    with caplog.at_level(logging.WARNING):
        running = await start_bot(guild_ids=[left.id, fake_discord.guild.id])
    assert f"Could not sync commands to server {left.id}" in caplog.text
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))  # synced to the other server, and answering
