"""Collections per server (SERVER_COLLECTIONS): each server sees only its own articles, questions and votes;
direct messages are answered from the default collection."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from botkit import TRUCE, RunningBot, embed_text

from bot.cli import main
from fakediscord import FakeAttachment, FakeGuild, FakeUser

TIDES = b"# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides.\n"
# Another server's article under the same file name: the two servers' folders are apart.
OTHER_TIDES = b"# Tides\n\nSailors say the tides follow the harbour master's whistle.\n"
TIDES_QUESTION = "What causes the tides?"
NO_ARTICLES_YET = "This server has no articles yet"


@dataclass
class TwoServers:
    running: RunningBot
    alpha: FakeGuild  # owned by alice, the fake's default user
    beta: FakeGuild
    brenda: FakeUser  # owns beta: a moderator there, and nobody in alpha

    def servers_dir(self):
        return self.running.settings.servers_dir()

    def articles_of(self, guild: FakeGuild):
        return self.servers_dir() / str(guild.id) / "articles"

    def owner(self, guild: FakeGuild) -> FakeUser:
        return self.running.fake.user if guild is self.alpha else self.brenda

    async def command(self, guild: FakeGuild, name: str, options: dict | None = None, *, subcommand: str | None = None):
        """Run a slash command in a server as its owner; the message finally shown."""
        handle = await self.running.fake.send_slash_command(
            name, options or {}, guild_id=guild.id, user=self.owner(guild), subcommand=subcommand
        )
        return await handle.wait_final(timeout=60)

    async def ask(self, guild: FakeGuild, question: str) -> str:
        return embed_text(await self.command(guild, "ask", {"question": question}))

    async def add(self, guild: FakeGuild, name: str, data: bytes) -> str:
        return embed_text(await self.command(guild, "article", {"file": FakeAttachment(name, data, "text/markdown")}, subcommand="add"))

    async def choices(self, guild: FakeGuild, command: str, typed: str, subcommand: str | None = None) -> list[dict]:
        options = {"article": typed} if command == "article" else {"question": "x", "article": typed}
        handle = await self.running.fake.send_autocomplete(
            command, options, focused="article", guild_id=guild.id, user=self.owner(guild), subcommand=subcommand
        )
        return await handle.wait_choices(timeout=30)


async def two_servers(fake_discord, start_bot, tmp_path, **settings) -> TwoServers:
    brenda = fake_discord.add_user("brenda")
    beta = fake_discord.add_guild("Beta", owner=brenda)  # before the bot connects, so it is in READY
    running = await start_bot(server_collections=True, server_collections_dir=tmp_path / "servers", **settings)
    return TwoServers(running, fake_discord.guild, beta, brenda)


async def test_an_article_added_in_one_server_is_answered_only_there(fake_discord, start_bot, tmp_path, sample_articles):
    servers = await two_servers(fake_discord, start_bot, tmp_path)
    assert "Added tides.md" in await servers.add(servers.alpha, "tides.md", TIDES)
    assert (servers.articles_of(servers.alpha) / "tides.md").read_bytes() == TIDES
    assert not (sample_articles / "tides.md").exists()  # the default collection is untouched

    assert "**The moon's gravity pulls on the oceans and causes the tides.**" in await servers.ask(servers.alpha, TIDES_QUESTION)
    # A server's collection is its own: the default collection's article is not quoted there.
    assert "Haniyeh" not in await servers.ask(servers.alpha, TRUCE)

    beta_answer = await servers.ask(servers.beta, TIDES_QUESTION)
    assert NO_ARTICLES_YET in beta_answer and "/article add" in beta_answer and "moon" not in beta_answer
    fake = fake_discord
    await fake.send_message(TIDES_QUESTION, guild_id=servers.beta.id, author=servers.brenda, mentions=[fake.bot_user])
    mention_reply = await fake.wait_for_channel_message(servers.beta.text_channels[0], timeout=30)
    assert NO_ARTICLES_YET in embed_text(mention_reply) and "moon" not in embed_text(mention_reply)

    # Direct messages are answered from the default collection.
    await fake.send_message(TRUCE, guild_id=None)
    assert "Ismail Haniyeh" in embed_text(await fake.wait_for_dm(fake.user, timeout=30))
    await fake.send_message(TIDES_QUESTION, guild_id=None)
    assert "moon" not in embed_text(await fake.wait_for_dm(fake.user, timeout=30))

    # The same file name in another server is another article, not a clash.
    assert "Added tides.md" in await servers.add(servers.beta, "tides.md", OTHER_TIDES)
    assert "harbour master" in await servers.ask(servers.beta, TIDES_QUESTION)
    assert "harbour master" not in await servers.ask(servers.alpha, TIDES_QUESTION)

    # Removing a server's last article leaves it empty again (not still quoting what was removed).
    removed = await servers.command(servers.beta, "article", {"article": "tides.md"}, subcommand="remove")
    assert "Removed tides.md" in str(removed.embeds[0].get("author"))
    assert NO_ARTICLES_YET in await servers.ask(servers.beta, TIDES_QUESTION)


async def test_a_moderator_can_neither_see_nor_change_another_servers_articles(fake_discord, start_bot, tmp_path):
    servers = await two_servers(fake_discord, start_bot, tmp_path)
    await servers.add(servers.alpha, "tides.md", TIDES)
    assert await servers.choices(servers.alpha, "article", "tid", "remove") == [{"name": "Tides", "value": "tides.md"}]

    beta = servers.beta
    assert await servers.choices(beta, "article", "tid", "remove") == []
    assert await servers.choices(beta, "article", "", "show") == []
    assert await servers.choices(beta, "ask", "") == []
    for subcommand in ("show", "remove"):
        refused = await servers.command(beta, "article", {"article": "tides.md"}, subcommand=subcommand)
        assert refused.ephemeral and "No indexed article is called 'tides.md'" in embed_text(refused)
    asked = await servers.command(beta, "ask", {"question": TIDES_QUESTION, "article": "tides.md"})
    assert "moon" not in embed_text(asked)
    listing = embed_text(await servers.command(beta, "sources"))
    assert "Tides" not in listing and NO_ARTICLES_YET in listing
    reload = embed_text(await servers.command(beta, "reload"))
    assert "0 articles" in reload and "tides.md" not in reload

    assert (servers.articles_of(servers.alpha) / "tides.md").read_bytes() == TIDES
    assert "Tides" in embed_text(await servers.command(servers.alpha, "sources"))
    assert "moon's gravity" in await servers.ask(servers.alpha, TIDES_QUESTION)


async def test_stats_count_only_the_servers_own_questions_and_votes(fake_discord, start_bot, tmp_path, monkeypatch, capsys):
    alice = fake_discord.user
    servers = await two_servers(fake_discord, start_bot, tmp_path, moderator_user_ids=[alice.id])
    fake = fake_discord
    await servers.add(servers.alpha, "tides.md", TIDES)
    answer = await servers.command(servers.alpha, "ask", {"question": TIDES_QUESTION})
    await (await fake.click_button(answer, answer.custom_ids()[0])).wait_final(timeout=30)
    await servers.command(servers.alpha, "ask", {"question": "Why is the sea salty?"})
    await servers.add(servers.beta, "tides.md", OTHER_TIDES)
    await servers.add(servers.beta, "league.md", b"# League\n\nThe harbour team won the beta league.\n")
    await servers.command(servers.beta, "ask", {"question": "Who won the chess cup?"})
    await fake.send_message("What is the best pizza topping?", guild_id=None)
    await fake.wait_for_dm(alice, timeout=30)

    alpha_stats = embed_text(await servers.command(servers.alpha, "stats"))
    assert "2 asked" in alpha_stats and "1 answered" in alpha_stats and "1 helpful" in alpha_stats
    assert "1 articles" in alpha_stats and "Why is the sea salty?" in alpha_stats
    assert "chess cup" not in alpha_stats and "pizza" not in alpha_stats

    beta_stats = embed_text(await servers.command(servers.beta, "stats"))
    assert "1 asked" in beta_stats and "0 answered" in beta_stats and "0 helpful" in beta_stats
    assert "Who won the chess cup?" in beta_stats and "2 articles" in beta_stats
    assert "salty" not in beta_stats and "pizza" not in beta_stats

    handle = await fake.send_slash_command("stats", {}, user=alice, guild_id=None)  # a configured moderator, in a DM
    dm_stats = embed_text(await handle.wait_final(timeout=30))
    assert "1 asked" in dm_stats and "pizza" in dm_stats and "salty" not in dm_stats and "chess cup" not in dm_stats

    # The operator sees the same from the terminal.
    await servers.running.bot.close()
    settings = servers.running.settings
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SERVER_COLLECTIONS", "true")
    monkeypatch.setenv("SERVER_COLLECTIONS_DIR", str(settings.servers_dir()))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["stats", "--server", str(servers.beta.id)]) == 0
    out = capsys.readouterr().out
    assert "Questions: 1 asked, 0 answered" in out and "chess cup" in out and "Index: 2 articles" in out and "salty" not in out
    assert main(["stats", "--server", str(servers.alpha.id)]) == 0
    out = capsys.readouterr().out
    assert "Questions: 2 asked, 1 answered" in out and "Feedback: 1 helpful" in out and "Index: 1 articles" in out


async def test_watch_mode_reloads_the_server_whose_folder_changed(fake_discord, start_bot, tmp_path):
    servers = await two_servers(fake_discord, start_bot, tmp_path, watch_articles=True)
    for guild in (servers.alpha, servers.beta):  # open both collections
        assert NO_ARTICLES_YET in await servers.ask(guild, TIDES_QUESTION)
    await asyncio.sleep(0.5)  # let the watcher start
    (servers.articles_of(servers.alpha) / "tides.md").write_bytes(TIDES)
    alpha = await servers.running.bot.collections.get(servers.alpha.id)
    for _ in range(60):
        if alpha.index.articles():
            break
        await asyncio.sleep(0.25)
    assert "moon's gravity" in await servers.ask(servers.alpha, TIDES_QUESTION)
    assert NO_ARTICLES_YET in await servers.ask(servers.beta, TIDES_QUESTION)


def test_the_operator_builds_and_asks_a_servers_collection_from_the_terminal(tmp_path, monkeypatch, capsys, sample_articles):
    monkeypatch.setenv("ARTICLES_DIR", str(sample_articles))
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SERVER_COLLECTIONS", "true")
    monkeypatch.chdir(tmp_path)
    server = "123456789012345678"
    articles = tmp_path / "data" / "servers" / server / "articles"  # DATA_DIR/servers by default
    articles.mkdir(parents=True)
    (articles / "tides.md").write_bytes(TIDES)

    assert main(["index", "build", "--server", server]) == 0
    assert "Indexed 1 articles" in capsys.readouterr().out
    assert (tmp_path / "data" / "servers" / server / "index" / "CURRENT").exists()
    assert main(["index", "info", "--server", server]) == 0
    assert "Tides  [tides.md]" in capsys.readouterr().out
    assert main(["ask", "--server", server, TIDES_QUESTION]) == 0
    assert "moon's gravity" in capsys.readouterr().out
    assert main(["ask", "--server", server, TRUCE]) == 0
    assert "Haniyeh" not in capsys.readouterr().out
    assert main(["ask", TIDES_QUESTION]) == 0  # without --server: the default collection, as before
    assert "moon's gravity" not in capsys.readouterr().out


async def test_a_server_collection_is_closed_when_the_bot_leaves_and_when_others_need_the_room(
    fake_discord, start_bot, tmp_path
):
    servers = await two_servers(fake_discord, start_bot, tmp_path, server_collections_open=1)
    registry = servers.running.bot.collections
    await servers.add(servers.alpha, "tides.md", TIDES)
    await servers.add(servers.beta, "tides.md", OTHER_TIDES)
    # Only one server collection stays open: beta's use closed alpha's, whose files stay on disk ...
    assert [c.guild_id for c in registry.opened()] == [None, servers.beta.id]
    assert (servers.articles_of(servers.alpha) / "tides.md").read_bytes() == TIDES
    # ... and it reopens from them on its next question, answering as before.
    assert "moon's gravity" in await servers.ask(servers.alpha, TIDES_QUESTION)
    assert [c.guild_id for c in registry.opened()] == [None, servers.alpha.id]

    await fake_discord.remove_bot_from(servers.alpha)
    for _ in range(100):
        if [c.guild_id for c in registry.opened()] == [None]:
            break
        await asyncio.sleep(0.05)
    assert [c.guild_id for c in registry.opened()] == [None]
    assert (servers.articles_of(servers.alpha) / "tides.md").read_bytes() == TIDES  # kept, should the bot come back
    assert "harbour master" in await servers.ask(servers.beta, TIDES_QUESTION)


async def test_a_failed_reload_shows_the_servers_folders_but_not_where_they_are_kept(fake_discord, start_bot, tmp_path):
    servers = await two_servers(fake_discord, start_bot, tmp_path)
    await servers.add(servers.alpha, "tides.md", TIDES)
    folder = servers.articles_of(servers.alpha)
    (folder / "tides.md").unlink()
    folder.rmdir()  # say, a disk that was unmounted
    failed = embed_text(await servers.command(servers.alpha, "reload"))
    assert "previous index is still serving" in failed
    assert f"SERVER_COLLECTIONS_DIR/{servers.alpha.id}/articles" in failed and str(tmp_path) not in failed
