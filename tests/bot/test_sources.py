"""/sources lists what is indexed, paged with buttons."""
from __future__ import annotations

from botkit import embed_text


async def test_sources_lists_the_sample_article(start_bot):
    running = await start_bot()
    handle = await running.fake.send_slash_command("sources", {})
    message = await handle.wait_final(timeout=30)
    text = embed_text(message)
    assert "Hamas Claiming Progress in Truce Negotiations" in text
    assert "3 sections" in text and "The Need for Diplomatic Solutions" in text
    assert not message.components  # one page: no buttons


def write_notes(folder, count: int = 12) -> None:
    for number in range(count):
        (folder / f"note-{number:02}.md").write_text(f"# Note {number:02}\n\nThis is note number {number}.\n")


async def test_sources_pages_with_buttons(start_bot, sample_articles):
    write_notes(sample_articles)
    running = await start_bot()
    fake = running.fake
    handle = await fake.send_slash_command("sources", {})
    first = await handle.wait_final(timeout=30)
    assert "Indexed articles (13)" in embed_text(first) and first.embeds[0]["footer"]["text"] == "Page 1 of 2"
    _, next_id = first.custom_ids()

    clicked = await fake.click_button(first, next_id)
    await clicked.wait_response(timeout=30)
    page_two = fake.messages[first.id]
    assert page_two.embeds[0]["footer"]["text"] == "Page 2 of 2"
    assert "Note 11" in embed_text(page_two)

    bob = next(u for u in fake.users.values() if u.username == "bob")
    previous_id, _ = page_two.custom_ids()
    refused = await fake.click_button(first, previous_id, user=bob)
    response = await refused.wait_response(timeout=30)
    assert response.ephemeral and "yourself" in response.data["content"]
    assert fake.messages[first.id].embeds[0]["footer"]["text"] == "Page 2 of 2"

    back = await fake.click_button(first, previous_id)
    await back.wait_response(timeout=30)
    assert fake.messages[first.id].embeds[0]["footer"]["text"] == "Page 1 of 2"


async def test_sources_pages_still_turn_after_the_bot_restarts(start_bot, sample_articles, fake_discord):
    write_notes(sample_articles)
    running = await start_bot()
    first = await (await fake_discord.send_slash_command("sources", {})).wait_final(timeout=30)
    _, next_id = first.custom_ids()
    await running.bot.close()

    await start_bot()  # a new process: nothing is left of the one that sent the listing
    clicked = await fake_discord.click_button(first, next_id)
    await clicked.wait_response(timeout=30)  # fails with "The application did not respond" if nobody answers
    page_two = fake_discord.messages[first.id]
    assert page_two.embeds[0]["footer"]["text"] == "Page 2 of 2" and "Note 11" in embed_text(page_two)
