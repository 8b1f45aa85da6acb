"""Under load: 50 members ask in bursts while a moderator adds an article and reloads.

Every interaction must be acknowledged within Discord's deadline and answered exactly once (no failures,
no second callback, no followups), and every answer must be the one the old index or the new index gives,
never a mix. bench/load.py runs the same with 1,000 questions and reports the timings."""
from __future__ import annotations

import asyncio

from botkit import embed_text

from bench.load import NEW_ARTICLE, QUESTIONS, drive
from bot.formatting import answer_embed

MEMBERS = 50
ASKS = 1000  # as many as bench/load.py sends
TIDES = "What causes the tides?"


def shown(embed: dict) -> str:
    """An embed's text as embed_text() reads a sent message."""
    parts = [embed.get("title", ""), embed.get("description", "")]
    for field in embed.get("fields", []):
        parts += [field["name"], field["value"]]
    return "\n".join(parts)


async def expected_answers(running) -> dict[str, str]:
    return {q: shown(answer_embed(await running.bot.service.ask(q)).to_dict()) for q in QUESTIONS}


async def test_bursts_of_questions_during_a_reload_are_each_answered_once_from_one_index(start_bot, sample_articles):
    running = await start_bot(cooldown_questions=10_000, cooldown_seconds=60)  # the load is the point, not the limit
    fake = running.fake
    members = []
    for number in range(MEMBERS):
        user = fake.add_user(f"member{number}")
        fake.add_member(fake.guild, user)
        members.append(user)
    old = await expected_answers(running)
    assert "moon's gravity" not in old[TIDES]

    def add_article() -> None:
        (sample_articles / NEW_ARTICLE[0]).write_text(NEW_ARTICLE[1])

    run = await drive(fake, members, ASKS, moderator=fake.user, before_reload=add_article, timeout=180)
    new = await expected_answers(running)
    assert "moon's gravity" in new[TIDES]

    reload = run.reload
    assert reload.failed is None and reload.final_at is not None, reload.failed
    assert "tides.md" in embed_text(fake.messages[reload.original_message_id])

    accepted: dict[str, int] = {}
    for request in fake.requests:
        if request.method == "POST" and request.path.endswith("/callback") and request.status and request.status < 300:
            accepted[request.path] = accepted.get(request.path, 0) + 1
    sources = {"old": 0, "new": 0}
    for asked in run.asked:
        handle = asked.handle
        assert handle.failed is None, handle.failed
        assert handle.final_at is not None, f"{handle.describe()} was never answered"
        assert handle.response_latency < 3, "acknowledged within Discord's deadline"
        assert accepted[f"/interactions/{handle.id}/{handle.token}/callback"] == 1, "acknowledged once"
        assert not handle.followup_ids, "answered in one message"
        text = embed_text(fake.messages[handle.original_message_id])
        assert text in (old[asked.question], new[asked.question]), f"an answer from neither index:\n{text}"
        if asked.question == TIDES:
            sources["new" if text == new[TIDES] else "old"] += 1
            if handle.dispatched_at > reload.final_at:
                assert text == new[TIDES], "asked after the reload finished, answered from the old index"
    assert sources["old"] and sources["new"], f"the reload landed mid-run: {sources}"

    # One message per interaction (plus the reload's), nothing posted twice, nobody pinged.
    from_interactions = [m for m in fake.messages.values() if m.author.id == fake.bot_user.id and m.source != "channel"]
    assert len(from_interactions) == ASKS + 1
    assert not [m for m in fake.messages.values() if m.author.id == fake.bot_user.id and m.source == "channel"]
    for payload in running.sent_payloads():
        assert payload["allowed_mentions"] == {"parse": []}
    await asyncio.sleep(0.5)  # and nothing arrives late
    late = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/callback")]
    assert len(late) == ASKS + 1
