"""Smoke tests: a throwaway discord.py bot (not the project's) against the fake."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from . import (
    FakeAttachment,
    FakeDiscord,
    InteractionFailed,
    MessageFlags,
    Perm,
    load_spec_validator,
)
from .pytest_plugin import check_fake_after_test

# The fake (an async fixture) lives on the session loop configured in pyproject.toml.
pytestmark = pytest.mark.asyncio(loop_scope="session")

FRUITS = ["apple", "apricot", "banana", "cherry"]


class ConfirmView(discord.ui.View):
    def __init__(self, bot: SmokeBot) -> None:
        super().__init__(timeout=30)
        self.bot = bot

    @discord.ui.button(label="Yes", style=discord.ButtonStyle.success, custom_id="confirm:yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.bot.clicks.append(interaction.user.id)
        button.disabled = True
        await interaction.response.edit_message(content="confirmed", view=self)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(label="Your feedback", custom_id="feedback:text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks for: {self.text.value}", ephemeral=True)


class SmokeBot(commands.Bot):
    def __init__(self, *, intents: discord.Intents | None = None) -> None:
        if intents is None:
            intents = discord.Intents.default()
            intents.message_content = True
            intents.members = True
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before on_ready.
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.05)
        self.ready = asyncio.Event()
        self.clicks: list[int] = []
        self.seen: list[discord.Message] = []
        self._register()

    async def on_ready(self) -> None:
        self.ready.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every re-IDENTIFY (identify rate limit); not needed here.
        pass

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id == self.user.id:  # type: ignore[union-attr]
            return
        self.seen.append(message)
        if message.guild is None:
            await message.channel.send(f"DM echo: {message.content}")
        elif self.user in message.mentions:
            async with message.channel.typing():
                pass
            await message.reply(f"pong: {message.clean_content}", mention_author=False)

    def _register(self) -> None:
        tree = self.tree

        @tree.command(name="ask", description="Ask a question")
        @app_commands.describe(question="What to ask")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            await interaction.response.send_message(f"answer to: {question}", ephemeral=True)

        @tree.command(name="slow", description="Deferred answer")
        async def slow(interaction: discord.Interaction, question: str, count: int = 1) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(0.05)
            await interaction.edit_original_response(content=f"slow answer to: {question} x{count}")
            await interaction.followup.send("and one more thing", ephemeral=True)

        @tree.command(name="later", description="Deferred, answered by a followup")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("here you go", embed=discord.Embed(title="Result", description="42"))

        async def fruit_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f, value=f) for f in FRUITS if f.startswith(current)]

        @tree.command(name="pick", description="Pick a fruit")
        @app_commands.autocomplete(fruit=fruit_autocomplete)
        async def pick(interaction: discord.Interaction, fruit: str) -> None:
            await interaction.response.send_message(f"picked {fruit}")

        @tree.command(name="confirm", description="Shows a button")
        async def confirm(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("please confirm", view=ConfirmView(self))

        @tree.command(name="feedback", description="Opens a modal")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())

        @tree.command(name="whois", description="Describe a member")
        async def whois(
            interaction: discord.Interaction, member: discord.Member, doc: discord.Attachment | None = None
        ) -> None:
            extra = f" with {doc.filename} ({doc.size} bytes)" if doc else ""
            await interaction.response.send_message(
                f"{member.display_name} has {len(member.roles)} roles{extra}",
                allowed_mentions=discord.AllowedMentions.none(),
            )

        @tree.command(name="sleepy", description="Forgets to defer")
        async def sleepy(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.5)
            await interaction.response.send_message("too late")

        @tree.command(name="upload", description="Sends a file to the channel")
        async def upload(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            assert interaction.channel is not None
            await interaction.channel.send("report", file=discord.File(__file__, filename="report.py"))  # type: ignore[union-attr]
            await interaction.edit_original_response(content="uploaded")


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, bot: SmokeBot | None = None, *, sync: bool = True) -> AsyncIterator[SmokeBot]:
    """Log a bot in against the fake, wait for on_ready, sync commands; always close it."""
    bot = bot or SmokeBot()
    task: asyncio.Task[None] | None = None
    try:
        await bot.login(fake.token)
        task = asyncio.create_task(bot.connect())
        await asyncio.wait_for(bot.ready.wait(), 10)
        if sync:
            await bot.tree.sync()
        yield bot
    finally:
        await bot.close()
        if task is not None:
            await asyncio.wait_for(task, 10)


@pytest.fixture
def no_off_spec_answers(fake_discord: FakeDiscord):
    """Smoke tests also keep the fake honest: its own responses must match the spec."""
    yield fake_discord
    assert fake_discord.response_violations == []
    assert fake_discord.unknown_routes == []


# ---------------------------------------------------------------------------


async def test_login_reaches_on_ready(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake, sync=False) as bot:
        assert bot.user is not None and bot.user.id == fake.bot_user.id
        assert bot.application_id == fake.application_id
        guild = bot.get_guild(fake.guild.id)
        assert guild is not None and guild.name == "Fake Guild"
        assert {c.name for c in guild.text_channels} == {"general", "random"}
        assert guild.get_member(fake.user.id) is not None  # type: ignore[union-attr]
        assert guild.default_role.permissions.value == Perm.DEFAULT_EVERYONE
        assert fake.identify_count == 1 and fake.connected
        conn = next(iter(fake.gateway.connections))
        assert conn.query.get("compress") == "zlib-stream" and conn.query.get("v") == "10"
    paths = [(r.method, r.path) for r in fake.requests]
    assert ("GET", "/users/@me") in paths and ("GET", "/oauth2/applications/@me") in paths


async def test_bad_token_raises_login_failure(fake_discord: FakeDiscord) -> None:
    bot = SmokeBot()
    try:
        with pytest.raises(discord.LoginFailure):
            await bot.start("not-the-token")
    finally:
        await bot.close()
    assert fake_discord.requests[-1].status == 401
    assert fake_discord.identify_count == 0


async def test_slash_command_ephemeral_reply(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake):
        ask = next(c for c in fake.global_commands if c["name"] == "ask")
        assert ask["options"] == [{"type": 3, "name": "question", "description": "What to ask", "required": True}]
        handle = await fake.send_slash_command("ask", {"question": "why is the sky blue?"})
        assert handle.payload["data"]["options"] == [{"name": "question", "type": 3, "value": "why is the sky blue?"}]
        msg = await handle.wait_final(timeout=5)
    assert msg.content == "answer to: why is the sky blue?"
    assert msg.flags == MessageFlags.EPHEMERAL and msg.ephemeral
    assert handle.callback is not None and handle.callback.type == 4
    assert 0 <= handle.response_latency <= handle.final_latency < 5  # type: ignore[operator]
    assert fake.spec_violations == []
    callback = next(r for r in fake.requests if r.path.endswith("/callback"))
    assert (
        callback.query == {"with_response": "1"}
        and callback.route == "/interactions/{interaction_id}/{interaction_token}/callback"
    )


async def test_guild_synced_command_carries_guild_id(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake, sync=False) as bot:
        guild = discord.Object(id=fake.guild.id)
        bot.tree.copy_global_to(guild=guild)
        await bot.tree.sync(guild=guild)
        handle = await fake.send_slash_command("slow", {"question": "q", "count": 3})
        assert handle.payload["data"]["guild_id"] == str(fake.guild.id)
        assert handle.payload["data"]["id"] == next(
            c["id"] for c in fake.guild_commands[fake.guild.id] if c["name"] == "slow"
        )
        assert [o["type"] for o in handle.payload["data"]["options"]] == [3, 4]
        msg = await handle.wait_final()
    assert msg.content == "slow answer to: q x3"


async def test_deferred_edit_and_followup(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake):
        handle = await fake.send_slash_command("slow", {"question": "life"})
        cb = await handle.wait_response()
        assert cb.type == 5 and not cb.ephemeral
        final = await handle.wait_final()
        assert final.content == "slow answer to: life x1" and not final.loading and not final.ephemeral
        followup = await handle.wait_followup(0)
        assert followup.content == "and one more thing" and followup.ephemeral
        assert handle.final_latency is not None and handle.final_latency >= handle.response_latency  # type: ignore[operator]

        # A followup after a "thinking" defer replaces the loading message.
        handle2 = await fake.send_slash_command("later")
        final2 = await handle2.wait_final()
        assert final2.id == handle2.original_message_id and final2.ephemeral
        assert final2.content == "here you go" and final2.embeds[0]["title"] == "Result"
        assert handle2.followup_ids == []


async def test_dm_and_mention_are_answered(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake, sync=False) as bot:
        await fake.send_message("hello there", guild_id=None)
        dm = await fake.wait_for_dm(fake.user)
        assert dm.content == "DM echo: hello there" and dm.guild_id is None
        assert dm.channel_id == fake.dm_channel(fake.user).id  # type: ignore[arg-type]

        sent = await fake.send_message("ping?", mentions=[fake.bot_user])
        assert sent.content.startswith(fake.bot_mention)
        reply = await fake.wait_for_channel_message(fake.channel, timeout=5)
        assert reply.content == "pong: @FakeBot ping?"
        assert reply.message_reference is not None and reply.message_reference["message_id"] == str(sent.id)
        assert reply.mentions == []  # mention_author=False -> nobody pinged
        assert any(cid == fake.channel.id for cid, _ in fake.typing)
        assert bot.seen[-1].content == sent.content


async def test_message_content_is_blanked_without_intent(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    bot = SmokeBot(intents=discord.Intents.default())  # no message_content
    async with running(fake, bot, sync=False):
        await fake.send_message("not for the bot")
        await fake.send_message("for the bot", mentions=[fake.bot_user])
        await fake.wait_for_channel_message(fake.channel)
    assert [m.content for m in bot.seen] == ["", f"{fake.bot_mention} for the bot"]


async def test_autocomplete_returns_choices(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake):
        handle = await fake.send_autocomplete("pick", {"fruit": "ap"}, focused="fruit")
        choices = await handle.wait_choices()
        assert choices == [{"name": "apple", "value": "apple"}, {"name": "apricot", "value": "apricot"}]
        picked = await (await fake.send_slash_command("pick", {"fruit": "banana"})).wait_final()
        assert picked.content == "picked banana" and not picked.ephemeral


async def test_button_click_reaches_view(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake) as bot:
        shown = await (await fake.send_slash_command("confirm")).wait_final()
        assert shown.custom_ids() == ["confirm:yes"]
        click = await fake.click_button(shown, "confirm:yes", user=fake.user)
        updated = await click.wait_final()
        assert bot.clicks == [fake.user.id]  # type: ignore[union-attr]
        assert click.callback is not None and click.callback.type == 7
        assert updated.id == shown.id and updated.content == "confirmed"
        assert updated.components[0]["components"][0]["disabled"] is True


async def test_modal_roundtrip(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake):
        opened = await fake.send_slash_command("feedback")
        cb = await opened.wait_response()
        assert cb.type == 9 and cb.data["custom_id"]
        submitted = await fake.submit_modal(opened, {"feedback:text": "great bot"})
        msg = await submitted.wait_final()
    assert msg.content == "thanks for: great bot" and msg.ephemeral


async def test_user_and_attachment_options(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    bob = fake.guild.get_member(next(u for u in fake.users.values() if u.username == "bob"))
    async with running(fake):
        doc = FakeAttachment("notes.txt", b"hello", "text/plain")
        handle = await fake.send_slash_command("whois", {"member": bob.user, "doc": doc})  # type: ignore[union-attr]
        data = handle.payload["data"]
        assert [o["type"] for o in data["options"]] == [6, 11]
        assert set(data["resolved"]) == {"users", "members", "attachments"}
        msg = await handle.wait_final()
    assert msg.content == "Bob has 2 roles with notes.txt (5 bytes)"
    assert msg.allowed_mentions == {"parse": []}


async def test_channel_file_upload_is_multipart(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake):
        handle = await fake.send_slash_command("upload")
        assert (await handle.wait_final()).content == "uploaded"
        posted = await fake.wait_for_channel_message(fake.channel)
    assert posted.content == "report" and posted.attachments[0]["filename"] == "report.py"
    assert posted.files[0].data.startswith(b'"""Smoke tests')
    req = next(r for r in fake.requests if r.method == "POST" and r.path == f"/channels/{fake.channel.id}/messages")
    assert req.content_type == "multipart/form-data" and req.json["content"] == "report"
    async with aiohttp.ClientSession() as http, http.get(posted.attachments[0]["url"]) as resp:
        assert (await resp.read()) == posted.files[0].data


@pytest.mark.parametrize("how", ["close_4000", "abort", "reconnect_op", "invalid_session_resumable", "invalid_session"])
async def test_gateway_faults_recover(fake_discord: FakeDiscord, how: str) -> None:
    fake = fake_discord
    async with running(fake) as bot:
        assert (
            await (await fake.send_slash_command("ask", {"question": "one"})).wait_final()
        ).content == "answer to: one"
        if how == "close_4000":
            await fake.drop_gateway(4000)
        elif how == "abort":
            await fake.drop_gateway(None)
        elif how == "reconnect_op":
            await fake.send_reconnect()
        elif how == "invalid_session_resumable":
            await fake.send_invalid_session(resumable=True)
        else:
            bot.ready.clear()
            await fake.send_invalid_session(resumable=False)
        # Dispatched while the bot may be reconnecting: buffered and replayed on RESUME.
        handle = await fake.send_slash_command("ask", {"question": "two"})
        assert (await handle.wait_final(timeout=10)).content == "answer to: two"
        if how == "invalid_session":
            await fake.wait_for_identify(2)
            assert fake.resume_count == 0
            # A fresh session means a second on_ready; closing before it leaves discord.py's
            # _delay_ready task dispatching on a closed client.
            await asyncio.wait_for(bot.ready.wait(), 5)
        else:
            await fake.wait_for_resume(1)
            assert fake.identify_count == 1
            assert any(c.path == "/resume-gateway" for c in fake.gateway.connections)
        assert bot.is_ready() and not bot.is_closed()


async def test_rate_limit_is_retried(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake, sync=False):
        rule = fake.fail_next("POST", r"^/channels/\d+/messages$", status=429, retry_after=0.2)
        start = time.perf_counter()
        await fake.send_message("ping", mentions=[fake.bot_user])
        reply = await fake.wait_for_channel_message(fake.channel, timeout=5)
        elapsed = time.perf_counter() - start
    assert reply.content.startswith("pong")
    assert rule.hits == 1 and elapsed >= 0.2
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert [r.status for r in posts] == [429, 200]


async def test_server_error_is_retried(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    async with running(fake, sync=False):
        fake.fail_next("POST", r"/messages$", status=500)
        await fake.send_message("hi", guild_id=None)
        assert (await fake.wait_for_dm(timeout=5)).content == "DM echo: hi"
    assert [r.status for r in fake.requests if r.path.endswith("/messages")] == [500, 200]


async def test_interaction_not_acknowledged_in_time_fails(fake_discord_factory) -> None:
    fake = await fake_discord_factory(interaction_timeout=0.2)
    async with running(fake):
        handle = await fake.send_slash_command("sleepy")
        with pytest.raises(InteractionFailed, match="did not acknowledge"):
            await handle.wait_response(timeout=5)
        await fake.wait_until(lambda: bool(handle.rejected), 5, "the late callback")
    assert handle.rejected[0].status == 404 and handle.rejected[0].response["code"] == 10062


async def test_spec_validator_catches_bad_requests(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    if fake.validator is None:
        pytest.skip(fake.spec_skip_reason or "no spec")
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as http:
        url = f"{fake.api_base}/channels/{fake.channel.id}/messages"
        async with http.post(url, json={"content": 123, "embeds": [{"title": 5}]}, headers=headers) as resp:
            assert resp.status == 400 and resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["code"] == 50035
        async with http.get(f"{fake.api_base}/users/@me", params={"bogus": "1"}, headers=headers) as resp:
            assert resp.status == 400
        async with http.post(url, json={"content": "x" * 2001}, headers=headers) as resp:
            assert resp.status == 400  # Discord's 2000-char rule (the schema only says 4000)
        async with http.get(f"{fake.api_base}/users/@me", headers={"Authorization": "Bot wrong"}) as resp:
            assert resp.status == 401 and (await resp.json()) == {"message": "401: Unauthorized", "code": 0}
    joined = "\n".join(fake.spec_violations)
    assert ".content: 123 is not of type 'string', 'null'" in joined
    assert ".embeds[0].title: 5 is not of type 'string', 'null'" in joined
    assert "unknown query parameter 'bogus'" in joined
    assert "Must be 2000 or fewer" in joined
    assert len(fake.spec_violations) == 4
    with pytest.raises(pytest.fail.Exception, match="4 Discord API violation"):
        check_fake_after_test(fake)
    fake.spec_violations.clear()  # expected here; don't fail the fixture teardown


async def test_missing_spec_skips_validation_but_fake_works(fake_discord_factory, monkeypatch, caplog) -> None:
    monkeypatch.setenv("DISCORD_OPENAPI_PATH", "/nonexistent/openapi.json")
    assert load_spec_validator() is None
    assert "NOT be validated" in caplog.text
    fake = await fake_discord_factory()
    assert fake.validator is None and "not found" in (fake.spec_skip_reason or "")
    async with running(fake):
        msg = await (await fake.send_slash_command("ask", {"question": "q"})).wait_final()
    assert msg.content == "answer to: q"


async def test_common_rest_calls_roundtrip(no_off_spec_answers: FakeDiscord) -> None:
    """A tour of the REST calls bots typically make; requests and answers must match the spec."""
    fake = no_off_spec_answers
    async with running(fake, sync=False) as bot:
        channel = bot.get_channel(fake.channel.id)
        assert isinstance(channel, discord.TextChannel)
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Docs", url="https://example.com"))
        view.add_item(
            discord.ui.Select(
                custom_id="sel", options=[discord.SelectOption(label="a"), discord.SelectOption(label="b")]
            )
        )
        embed = (
            discord.Embed(title="T", description="D", colour=0x00FF00)
            .add_field(name="f", value="v")
            .set_footer(text="ft")
        )
        sent = await channel.send(
            "hello @everyone",
            embed=embed,
            view=view,
            silent=True,
            allowed_mentions=discord.AllowedMentions(everyone=False),
        )
        stored = fake.messages[sent.id]
        assert stored.mention_everyone is False and stored.flags == 1 << 12
        assert stored.embeds[0]["fields"] == [{"name": "f", "value": "v", "inline": True}]
        edited = await sent.edit(content="edited", embed=None)
        assert edited.content == "edited" and fake.messages[sent.id].edits == 1 and fake.messages[sent.id].embeds == []
        await sent.add_reaction("\N{THUMBS UP SIGN}")
        assert fake.messages[sent.id].reactions == ["\N{THUMBS UP SIGN}"]
        fetched = await channel.fetch_message(sent.id)
        assert fetched.content == "edited"
        history = [m async for m in channel.history(limit=10)]
        assert [m.id for m in history] == [sent.id]
        fetched_channel = await bot.fetch_channel(fake.channel.id)
        assert isinstance(fetched_channel, discord.TextChannel) and fetched_channel.name == "general"
        alice = await bot.fetch_user(fake.user.id)  # type: ignore[union-attr]
        assert alice.name == "alice"
        dm = await alice.create_dm()
        await dm.send("private hello")
        assert (await fake.wait_for_dm(alice.id)).content == "private hello"
        member = await bot.get_guild(fake.guild.id).fetch_member(fake.user.id)  # type: ignore[union-attr]
        assert member.id == fake.user.id  # type: ignore[union-attr]
        assert (await bot.fetch_guild(fake.guild.id)).name == "Fake Guild"

        # A select menu on a channel message, answered with a deferred update then an edit.
        async def on_select(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.edit_original_response(content=f"chose {interaction.data['values'][0]}")  # type: ignore[index, typeddict-item]

        view.children[1].callback = on_select  # type: ignore[method-assign]
        handle = await fake.select_menu(sent.id, "sel", ["b"])
        assert (await handle.wait_response()).type == 6
        final = await handle.wait_final()
        assert final.id == sent.id and final.content == "chose b"

        await sent.delete()
        assert fake.messages[sent.id].deleted
        with pytest.raises(discord.NotFound):
            await channel.fetch_message(sent.id)
        with pytest.raises(discord.Forbidden):
            fake.block_dms(fake.user)  # type: ignore[arg-type]
            await dm.send("blocked")
    assert fake.spec_violations == []


async def test_interaction_followup_edit_and_original(no_off_spec_answers: FakeDiscord) -> None:
    fake = no_off_spec_answers
    bot = SmokeBot()
    results: dict[str, object] = {}

    @bot.tree.command(name="multi", description="Many webhook calls")
    async def multi(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first")
        original = await interaction.original_response()
        results["original"] = original.content
        extra = await interaction.followup.send("second", wait=True)
        await extra.edit(content="second (edited)")
        await interaction.edit_original_response(content="first (edited)")
        await interaction.delete_original_response()
        results["done"] = True

    async with running(fake, bot):
        handle = await fake.send_slash_command("multi")
        first = await handle.wait_final()
        assert first.content == "first"
        await fake.wait_until(lambda: "done" in results, 5, "the multi command")
    assert results["original"] == "first"
    [followup] = handle.followups
    assert followup.content == "second (edited)" and followup.edits == 1
    assert handle.original is not None and handle.original.deleted and handle.original.content == "first (edited)"
    webhook_paths = [r.route for r in fake.requests if r.path.startswith("/webhooks/")]
    assert webhook_paths == [
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "/webhooks/{webhook_id}/{webhook_token}",
        "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
    ]


async def test_raw_callback_rules(fake_discord: FakeDiscord) -> None:
    """Callback semantics, driven by hand: the bot has no such command and stays silent."""
    fake = fake_discord
    async with running(fake, sync=False):
        handle = await fake.send_slash_command("unknown-to-the-bot", {"q": "x"})
        url = f"{fake.api_base}/interactions/{handle.id}/{handle.token}/callback"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"type": 8, "data": {"choices": []}}) as resp:
                assert resp.status == 400  # autocomplete result for a slash command
            async with http.post(url, json={"type": 5, "data": {"flags": 64}}) as resp:
                assert resp.status == 204  # no ?with_response -> no body
            async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as resp:
                assert resp.status == 400 and (await resp.json())["code"] == 40060
            async with http.post(f"{url[:-9]}bad-token/callback", json={"type": 4}) as resp:
                assert resp.status == 404 and (await resp.json())["code"] == 10062
            original = f"{fake.api_base}/webhooks/{fake.application_id}/{handle.token}/messages/@original"
            async with http.patch(original, json={"content": "done"}) as resp:
                assert resp.status == 200 and (await resp.json())["flags"] == MessageFlags.EPHEMERAL
        final = await handle.wait_final()
    assert final.content == "done" and final.ephemeral
    assert [r.response["code"] for r in handle.rejected] == [50035, 40060]
    assert len(fake.spec_violations) == 2 and all("Discord rule" in v for v in fake.spec_violations)
    fake.spec_violations.clear()
