"""Moderators reloading the articles while members keep asking."""
from __future__ import annotations

import asyncio
import threading

import pytest

from botkit import TRUCE, embed_text

import index.collection


def member(fake, name, roles=()):
    user = fake.add_user(name)
    fake.add_member(fake.guild, user, roles=list(roles))
    return user


def role(fake, name):
    return next(r for r in fake.guild.roles if r.name == name)


async def reload_as(running, user, **options):
    handle = await running.fake.send_slash_command("reload", {}, user=user, **options)
    return await handle.wait_final(timeout=60)


async def test_reload_by_owner_adds_and_removes_articles(start_bot, sample_articles):
    running = await start_bot()
    fake = running.fake
    assert "moon" not in embed_text(await running.ask("What causes the tides?"))

    (sample_articles / "tides.md").write_text("# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides.\n")
    reply = await reload_as(running, fake.user)  # alice owns the server: Manage Server
    assert reply.ephemeral
    text = embed_text(reply)
    assert "Index reloaded" in text and "tides.md" in text and "2 articles" in text
    answer = await running.ask("What causes the tides?")
    assert "**The moon's gravity pulls on the oceans and causes the tides.**" in embed_text(answer)

    (sample_articles / "tides.md").unlink()
    text = embed_text(await reload_as(running, fake.user))
    assert "Removed" in text and "tides.md" in text
    assert "moon's gravity" not in embed_text(await running.ask("What causes the tides?"))


async def test_non_moderators_are_refused(start_bot, sample_articles):
    running = await start_bot()
    carol = member(running.fake, "carol")
    (sample_articles / "tides.md").write_text("# Tides\n\nThe moon causes the tides.\n")
    with pytest.raises(PermissionError):  # Discord offers /reload only to members with Manage Server
        await reload_as(running, carol)
    # The bot checks for itself too: a forged interaction claiming no permissions is refused.
    reply = await reload_as(running, carol, member_permissions="0")
    assert reply.ephemeral and "Only moderators" in embed_text(reply)
    assert [a.id for a in running.bot.service.index.articles()] == ["000_97ab4e9c0a6dbff7.txt"]


async def test_configured_moderator_roles_and_users_may_reload(start_bot):
    running = await start_bot()
    fake = running.fake
    bob = next(u for u in fake.users.values() if u.username == "bob")  # has the Moderator role, no Manage Server
    with pytest.raises(PermissionError):  # not offered to him: moderators are those with Manage Server
        await reload_as(running, bob)
    assert "Only moderators" in embed_text(await reload_as(running, bob, member_permissions="0"))
    await running.bot.close()

    # With moderators configured by role or user id, the commands are offered to every member (else Discord
    # would hide them from those moderators) and the bot refuses the others itself.
    dave = member(fake, "dave")
    running = await start_bot(moderator_role_ids=[role(fake, "Moderator").id], moderator_user_ids=[dave.id])
    assert "Only moderators" not in embed_text(await reload_as(running, bob))
    assert "Only moderators" not in embed_text(await reload_as(running, dave))
    assert "Only moderators" in embed_text(await reload_as(running, member(fake, "erin")))
    stats = await fake.send_slash_command("stats", {}, user=bob)
    assert "Only moderators" not in embed_text(await stats.wait_final(timeout=60))
    handle = await fake.send_slash_command("reload", {}, user=dave, guild_id=None)  # in a DM, by user id
    assert "Only moderators" not in embed_text(await handle.wait_final(timeout=60))


async def test_failed_reload_keeps_the_old_index_serving(start_bot, sample_articles):
    running = await start_bot()
    for path in sample_articles.iterdir():
        path.unlink()
    reply = await reload_as(running, running.fake.user)
    text = embed_text(reply)
    assert "previous index is still serving" in text and "No readable articles" in text
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))


async def test_questions_are_answered_while_a_reload_runs_and_two_reloads_share_one_rebuild(start_bot, sample_articles, monkeypatch):
    running = await start_bot()
    (sample_articles / "tides.md").write_text("# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides.\n")
    release = threading.Event()
    rebuilds = []
    real_refresh = index.collection.refresh_from_folder

    def slow_refresh(*args, **kwargs):
        rebuilds.append(1)
        release.wait(timeout=30)  # hold the rebuild open while members ask
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr("bot.service.refresh_from_folder", slow_refresh)
    first = await running.fake.send_slash_command("reload", {}, user=running.fake.user)
    second = await running.fake.send_slash_command("reload", {}, user=running.fake.user)
    await first.wait_response(timeout=10)
    await second.wait_response(timeout=10)

    answer = await running.ask(TRUCE)  # answered from the old index meanwhile
    assert "Ismail Haniyeh" in embed_text(answer)
    assert "moon" not in embed_text(await running.ask("What causes the tides?"))

    release.set()
    texts = [embed_text(await handle.wait_final(timeout=60)) for handle in (first, second)]
    assert all("tides.md" in text for text in texts)
    assert rebuilds == [1]
    await asyncio.sleep(0)
    assert "moon's gravity" in embed_text(await running.ask("What causes the tides?"))
