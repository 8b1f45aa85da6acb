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


async def test_sources_pages_with_buttons(start_bot, sample_articles):
    for number in range(12):
        (sample_articles / f"note-{number:02}.md").write_text(f"# Note {number:02}\n\nThis is note number {number}.\n")
    running = await start_bot()
    fake = running.fake
    handle = await fake.send_slash_command("sources", {})
    first = await handle.wait_final(timeout=30)
    assert "Indexed articles (13)" in embed_text(first) and first.embeds[0]["footer"]["text"] == "Page 1 of 2"
    previous_id, next_id = first.custom_ids()

    clicked = await fake.click_button(first, next_id)
    await clicked.wait_response(timeout=30)
    page_two = fake.messages[first.id]
    assert page_two.embeds[0]["footer"]["text"] == "Page 2 of 2"
    assert "Note 11" in embed_text(page_two)

    bob = next(u for u in fake.users.values() if u.username == "bob")
    refused = await fake.click_button(first, previous_id, user=bob)
    response = await refused.wait_response(timeout=30)
    assert response.ephemeral and "yourself" in response.data["content"]
    assert fake.messages[first.id].embeds[0]["footer"]["text"] == "Page 2 of 2"
