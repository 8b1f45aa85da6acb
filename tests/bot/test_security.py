"""Security: the token stays secret, moderator commands check for themselves, questions are only questions,
and members' ids do not appear in the log."""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from pathlib import Path

import discord
import pytest
from aiohttp import web
from botkit import TRUCE, FastTestBot, bot_settings, embed_text

from bot.privacy import hashed_user
from fakediscord import FakeAttachment
from index import ArticleIndex
from index.text import collapse_whitespace

PROJECT = Path(__file__).resolve().parents[2]


def member(fake, name, roles=()):
    user = fake.add_user(name)
    fake.add_member(fake.guild, user, roles=list(roles))
    return user


def all_log_text(records: list[logging.LogRecord]) -> list[tuple[logging.LogRecord, str]]:
    """Each record with everything it would print: message, arguments, traceback and stack."""
    formatter = logging.Formatter()
    texts = []
    for record in records:
        parts = [record.getMessage(), repr(record.args)]
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        texts.append((record, "\n".join(parts)))
    return texts


def secret_pieces(token: str) -> list[str]:
    """The token and its signature part: neither may show anywhere."""
    return [token, token.rsplit(".", 1)[-1]]


# -- the token ----------------------------------------------------------------------------------------------

async def test_the_token_never_shows_in_logs_errors_or_requests(start_bot, fake_discord, embedder, sample_articles, tmp_path, caplog):
    fake = fake_discord
    caplog.set_level(logging.DEBUG)  # everything discord.py and the bot log, at their most talkative
    seen_errors: list[str] = []

    # 1. A rejected login.
    wrong = f"{fake.token[:-6]}XXXXXX"
    settings = bot_settings(fake, sample_articles, tmp_path / "index-rejected")
    rejected = FastTestBot(settings, index=ArticleIndex(embedder))
    with pytest.raises(discord.LoginFailure) as failure:
        await rejected.login(wrong)
    seen_errors += [str(failure.value), repr(failure.value), str(failure.value.__cause__), str(failure.getrepr())]
    await rejected.close()

    # 2. A session with REST failures (a 500 retried, a 403 given up on), a dropped gateway, and answers.
    running = await start_bot()
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))
    fake.fail_next("POST", r"/channels/\d+/messages$", status=500)
    await fake.send_message(TRUCE, guild_id=None)
    await fake.wait_for_dm(fake.user, timeout=30)
    fake.fail_next("POST", r"/channels/\d+/messages$", status=403, count=2)  # the reply, then the plain message
    await fake.send_message(TRUCE, mentions=[fake.bot_user])
    await fake.wait_until(lambda: any(r.fault == "403" for r in fake.requests), timeout=30, what="the 403")
    await fake.drop_gateway(4000)
    await fake.wait_for_resume(timeout=30)
    assert "Ismail Haniyeh" in embed_text(await running.ask(TRUCE))
    await asyncio.sleep(0.5)

    assert any(r.levelno >= logging.WARNING for r in caplog.records), "the failures were logged"
    for token in (fake.token, wrong):
        for piece in secret_pieces(token):
            for record, text in all_log_text(caplog.records):
                assert piece not in text, f"token in the log: {record.name}: {text[:300]}"
            for text in seen_errors:
                assert piece not in text, "token in an exception"
            for request in fake.requests:
                visible = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
                assert piece not in f"{request.path} {request.query} {visible} {request.json}", f"token sent in {request}"
    # The one place it belongs:
    assert any(r.headers.get("Authorization") == f"Bot {fake.token}" for r in fake.requests)


# -- moderator commands -------------------------------------------------------------------------------------

def test_every_moderator_command_checks_permissions_in_the_bot():
    """default_permissions only hide commands in Discord's clients: each command that has them must also carry
    the bot's own moderator check."""
    from bot.client import ArticleBot
    from bot.settings import Settings

    bot = ArticleBot(Settings(_env_file=None), index=ArticleIndex(embedder_source=None))  # never started

    async def load_cogs():
        from bot.cogs.ask import AskCog
        from bot.cogs.moderation import ModerationCog
        from bot.cogs.sources import SourcesCog

        for cog in (AskCog(bot), SourcesCog(bot), ModerationCog(bot)):
            await bot.add_cog(cog)
        try:
            from bot.cogs.stats import StatsCog
        except ImportError:
            return
        await bot.add_cog(StatsCog(bot))

    asyncio.run(load_cogs())
    restricted = []
    for command in bot.tree.walk_commands():
        permissions = command.default_permissions or (command.parent.default_permissions if command.parent else None)
        if isinstance(command, discord.app_commands.Group) or permissions is None or permissions.value == 0:
            continue
        restricted.append(command.qualified_name)
        names = [getattr(check, "__qualname__", "") for check in command.checks]
        assert any("moderator_only" in name for name in names), f"/{command.qualified_name} relies on default_permissions alone"
    assert {"reload", "article add", "article remove", "article show"} <= set(restricted), restricted


class PageServer:
    """A web server on 127.0.0.1 that counts every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def __aenter__(self) -> PageServer:
        async def page(request: web.Request) -> web.Response:
            self.hits.append(request.path)
            return web.Response(text="<html><body><h1>Secret</h1><p>Internal text. It must not leak.</p></body></html>", content_type="text/html")

        app = web.Application()
        app.router.add_get("/{tail:.*}", page)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()

    def url(self, path: str = "page") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


async def test_forged_interactions_without_permissions_are_refused(start_bot, sample_articles):
    async with PageServer() as pages:
        running = await start_bot(allow_private_urls=True)  # so only the permission check stands in the way
        fake = running.fake
        carol = member(fake, "carol")
        moderator_role = next(r for r in fake.guild.roles if r.name == "Moderator")
        before = {p.name: p.read_bytes() for p in sample_articles.iterdir()}
        attempts = [
            ("reload", None, {}),
            ("article", "add", {"file": FakeAttachment("evil.md", b"# Evil\n\nInjected text here.\n")}),
            ("article", "add", {"url": pages.url()}),
            ("article", "remove", {"article": "000_97ab4e9c0a6dbff7.txt"}),
            ("article", "show", {"article": "000_97ab4e9c0a6dbff7.txt"}),
        ]
        forgeries = [
            dict(user=carol, member_permissions="0"),
            dict(user=carol, member_permissions="0", member_roles=[moderator_role]),  # a role not configured as moderator
            dict(user=fake.user, member_permissions="0"),  # even the owner, if Discord says no permissions
            dict(user=carol, guild_id=None),  # in a DM, where there are no permissions at all
        ]
        for name, sub, options in attempts:
            for forged in forgeries:
                handle = await fake.send_slash_command(name, options, subcommand=sub, **forged)
                reply = await handle.wait_final(timeout=30)
                assert reply.ephemeral and "Only moderators" in embed_text(reply), (name, sub, forged, embed_text(reply))
        assert {p.name: p.read_bytes() for p in sample_articles.iterdir()} == before
        assert [a.id for a in running.bot.service.index.articles()] == ["000_97ab4e9c0a6dbff7.txt"]
        assert pages.hits == [], "a refused /article add fetched the URL"
        # A real moderator may (the same commands work, so the refusals above are the check, not a broken command).
        handle = await fake.send_slash_command("article", {"url": pages.url()}, subcommand="add", user=fake.user)
        assert "Added" in embed_text(await handle.wait_final(timeout=60)) and pages.hits


# -- questions are only questions ---------------------------------------------------------------------------

class Recorder:
    """Python audit events while armed: files opened, connections made, programs run."""

    WATCHED = ("open", "socket.connect", "socket.getaddrinfo", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
               "os.spawn", "os.fork", "os.startfile", "urllib.Request", "ctypes.dlopen", "pty.spawn")
    installed: Recorder | None = None

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple]] = []
        self.armed = False
        self._lock = threading.Lock()

    @classmethod
    def get(cls) -> Recorder:
        if cls.installed is None:  # audit hooks cannot be removed: install one for the session, armed when needed
            cls.installed = cls()
            sys.addaudithook(cls.installed._hook)
        return cls.installed

    def _hook(self, event: str, args: tuple) -> None:
        if self.armed and event.startswith(self.WATCHED):
            with self._lock:
                self.events.append((event, args))

    def opened(self) -> list[str]:
        return [str(args[0]) for event, args in self.events if event == "open" and isinstance(args[0], str | bytes | os.PathLike)]


HOSTILE = [
    "/etc/passwd",
    "What is in file:///etc/hostname ?",
    "Read ../../../../etc/shadow and tell me",
    "$(touch {marker})",
    "`touch {marker}`",
    "; touch {marker} #",
    "| cat ~/.ssh/id_rsa",
    "__import__('os').system('touch {marker}')",
    "{{{{7*7}}}} ${{7*7}} %s %n %(token)s {{0.__class__}}",
    "Summarize {url}",
    "<img src={url}> [x]({url})",
    "Who claimed that a truce deal was close? Also open {url}",
]


async def test_questions_cannot_read_files_fetch_urls_or_run_anything(start_bot, tmp_path):
    recorder = Recorder.get()
    marker = tmp_path / "pwned"
    async with PageServer() as pages:
        running = await start_bot()
        fake = running.fake
        index = running.bot.service.index
        indexed = {a.id: collapse_whitespace(a.text) for a in index.articles()}
        answers = []
        real_ask = running.bot.service.ask

        async def recording_ask(*args, **kwargs):
            answer = await real_ask(*args, **kwargs)
            answers.append(answer)
            return answer

        running.bot.service.ask = recording_ask
        questions = [q.format(marker=marker, url=pages.url("steal")) for q in HOSTILE]
        first_request = len(fake.requests)
        recorder.events.clear()
        recorder.armed = True
        try:
            for question in questions:
                await running.ask(question)
                await fake.send_message(question, guild_id=None)
                await fake.wait_for_dm(fake.user, timeout=30)
                await fake.send_message(question, mentions=[fake.bot_user])
                await fake.wait_for_channel_message(fake.channel, timeout=30)
            await asyncio.sleep(0.3)
        finally:
            recorder.armed = False

    assert not marker.exists(), "a question ran a command"
    assert pages.hits == [], "a question made the bot fetch a URL"
    assert len(answers) == 3 * len(questions)
    for answer in answers:
        for result in answer.results:
            assert result.quote in indexed[result.article_id], "only indexed text is quoted"
    sent = " ".join(str(p) for p in running.sent_payloads())
    assert "root:" not in sent and "Internal text" not in sent

    events = {event for event, _ in recorder.events}
    assert not events & {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "pty.spawn"}, events
    assert not [args for event, args in recorder.events if event == "urllib.Request"]
    for event, args in recorder.events:
        if event == "socket.connect":
            address = args[1]
            assert isinstance(address, tuple) and address[:2] == ("127.0.0.1", fake.port), f"connected to {address}"
        if event == "socket.getaddrinfo":
            assert args[0] in ("127.0.0.1", "localhost", b"127.0.0.1"), f"looked up {args[0]}"
    allowed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), PROJECT / "bot", PROJECT / "index", tmp_path.resolve()]
    for path in recorder.opened():
        resolved = Path(os.fsdecode(path)).resolve()
        assert not str(resolved).startswith(("/etc", "/root/.ssh", "/proc/self/environ")), f"opened {resolved}"
        assert any(resolved.is_relative_to(root) for root in allowed) or resolved.suffix in (".py", ".pyc", ".so"), f"opened {resolved}"

    # The fake saw only the routes that answering uses: no route a question could have steered the bot to.
    routes = {r.route for r in fake.requests[first_request:]}
    assert not fake.unknown_routes
    assert routes <= {
        "/interactions/{interaction_id}/{interaction_token}/callback",
        "/webhooks/{application_id}/{interaction_token}/messages/@original",
        "/channels/{channel_id}/messages",
        "/users/@me/channels",
    }, routes


# -- members' ids -------------------------------------------------------------------------------------------

async def test_member_ids_are_logged_only_as_keyed_hashes(start_bot, sample_articles, caplog):
    caplog.set_level(logging.DEBUG)
    running = await start_bot()
    fake = running.fake
    carol = member(fake, "carol")
    owner = fake.user
    await running.ask(TRUCE)
    await fake.send_message(TRUCE, guild_id=None, author=carol)
    await fake.wait_for_dm(carol, timeout=30)
    await fake.send_message(TRUCE, mentions=[fake.bot_user], author=carol)
    await fake.wait_for_channel_message(fake.channel, timeout=30)
    for command, sub, options, user in [
        ("reload", None, {}, carol),  # forged past Discord, which does not offer it to her: refused by the bot
        ("reload", None, {}, owner),
        ("article", "add", {"file": FakeAttachment("tides.md", b"# Tides\n\nThe moon causes the tides.\n")}, owner),
        ("article", "remove", {"article": "tides.md"}, owner),
    ]:
        forged = {"member_permissions": "0"} if user is carol else {}
        handle = await fake.send_slash_command(command, options, subcommand=sub, user=user, **forged)
        await handle.wait_final(timeout=60)
    await asyncio.sleep(0.3)

    ours = [r for r in caplog.records if r.name.split(".")[0] in ("bot", "index")]
    shown = [(r, text) for r, text in all_log_text(caplog.records) if r in ours or r.levelno >= logging.INFO]
    for user in (owner, carol):
        for record, text in shown:
            assert str(user.id) not in text, f"raw member id in the log: {record.name}: {record.getMessage()[:200]}"
    named = hashed_user(owner.id, running.bot.question_log.log)
    assert named.startswith("member:") and len(named) == len("member:") + 12
    moderation = [r.getMessage() for r in ours if r.name == "bot.cogs.moderation"]
    assert len(moderation) == 3 and all(named in line for line in moderation), moderation
    assert hashed_user(owner.id, running.bot.question_log.log) == named, "stable"
    assert hashed_user(carol.id, running.bot.question_log.log) != named
