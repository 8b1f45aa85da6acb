"""Load: members send /ask in bursts while a moderator adds an article and reloads, through the fake Discord.

    python bench/load.py                      # 50 members, 1,000 /ask in bursts of 50, a reload a third of the way
    python bench/load.py --asks 300 --validate

Starts the fake Discord from tests/fakediscord on 127.0.0.1 and the real ArticleBot against it (the sample
article; the embedding backend from the environment or .env, else the bot's default), sends the bursts, and
reports:

  first response   dispatch of INTERACTION_CREATE -> the bot's first callback, against Discord's 3-second
                   deadline (how many over 3 s: the goal is none);
  answer           dispatch -> the final visible answer: p50, p99, max;
  throughput       questions answered per second over the whole run;
  event loop       the longest stall, measured by a ticker that sleeps 10 ms and records how late it wakes
                   (goal: under 100 ms); the fake Discord runs on the same loop, so this is an upper bound;
  correctness      every interaction acknowledged once and answered once (no followups, no failures), and
                   the reload's reply.

``drive()`` is also what tests/bot/test_load.py runs (with fewer questions)."""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT = Path(__file__).resolve().parent.parent
# The project first: tests/index would otherwise shadow the index package.
for entry in (str(PROJECT / "tests"), str(PROJECT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

DEADLINE = 3.0
QUESTIONS = (
    "Who claimed that a truce deal was close?",
    "When did the invasion of southern Israel begin?",
    "Who has been engaged in mediation efforts?",
    "Why is trust between the parties fragile?",
    "What must regional powers do?",
    "What causes the tides?",  # answered only once the new article is in
)
NEW_ARTICLE = ("tides.md", "# Tides\n\nThe moon's gravity pulls on the oceans and causes the tides. The sun adds a smaller pull.\n")


class StallMeter:
    """How late a 10 ms sleep wakes up: the event loop's longest stall while it runs."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.stalls: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.stalls.append(max(0.0, loop.time() - started - self.interval))

    def start(self) -> StallMeter:
        self._task = asyncio.create_task(self._tick(), name="stall-meter")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def longest(self) -> float:
        return max(self.stalls, default=0.0)


@dataclass
class Asked:
    handle: object  # fakediscord InteractionHandle
    question: str
    burst: int


@dataclass
class LoadRun:
    asked: list[Asked] = field(default_factory=list)
    reload: object | None = None  # the /reload InteractionHandle
    reload_burst: int | None = None
    started: float = 0.0
    finished: float = 0.0
    stall: StallMeter | None = None

    @property
    def handles(self) -> list:
        return [a.handle for a in self.asked]

    @property
    def seconds(self) -> float:
        return self.finished - self.started


async def drive(
    fake,
    members: Sequence,
    total: int,
    *,
    moderator,
    before_reload: Callable[[], Awaitable[None] | None] | None = None,
    reload_at: float = 1 / 3,
    pause: float = 0.25,
    questions: Sequence[str] = QUESTIONS,
    timeout: float = 120.0,
) -> LoadRun:
    """Each member asks once per burst until ``total`` questions are sent; when a share ``reload_at`` of
    them is out, ``before_reload`` runs (e.g. adds an article) and ``moderator`` sends /reload. Waits until
    every interaction is answered or has failed (one poller: per-handle waiters would cost more than the bot)."""
    run = LoadRun(stall=StallMeter().start())
    loop = asyncio.get_running_loop()
    run.started = time.perf_counter()
    sent, burst = 0, 0
    while sent < total:
        if run.reload is None and sent >= total * reload_at:
            if before_reload is not None:
                result = before_reload()
                if asyncio.iscoroutine(result):
                    await result
            run.reload = await fake.send_slash_command("reload", {}, user=moderator)
            run.reload_burst = burst
        batch = []
        for member in members[: total - sent]:
            question = questions[(sent + len(batch)) % len(questions)]
            batch.append((member, question))
        handles = await asyncio.gather(*(fake.send_slash_command("ask", {"question": q}, user=m) for m, q in batch))
        run.asked += [Asked(h, q, burst) for h, (_, q) in zip(handles, batch)]
        sent += len(batch)
        burst += 1
        await asyncio.sleep(pause)
    everything = run.handles + ([run.reload] if run.reload is not None else [])
    deadline = loop.time() + timeout
    while not all(h.final_at is not None or h.failed is not None for h in everything):
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    run.finished = max((h.final_at for h in run.handles if h.final_at), default=time.perf_counter())
    await run.stall.stop()
    return run


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(run: LoadRun, fake) -> tuple[str, bool]:
    """The figures as text, and whether every goal was met."""
    handles = run.handles
    first = [h.response_latency for h in handles if h.response_latency is not None]
    final = [h.final_latency for h in handles if h.final_latency is not None]
    failed = [h for h in handles if h.failed is not None or h.final_at is None]
    callbacks: dict[str, int] = {}
    for request in fake.requests:
        if request.method == "POST" and request.path.endswith("/callback") and request.status and request.status < 300:
            callbacks[request.path] = callbacks.get(request.path, 0) + 1
    twice = [h for h in handles if callbacks.get(f"/interactions/{h.id}/{h.token}/callback", 0) != 1 or h.followup_ids]
    over = [latency for latency in first if latency > DEADLINE]
    wall = run.finished - min(h.dispatched_at for h in handles)
    stall = run.stall.longest if run.stall else float("nan")
    deferred = sum(1 for h in handles if h.callback is not None and h.callback.type == 5)
    lines = [
        f"{len(handles)} /ask from {len({a.handle.user.id for a in run.asked})} members in {1 + max(a.burst for a in run.asked)} bursts"
        f", /reload sent before burst {run.reload_burst}",
        f"  first response  p50 {statistics.median(first) * 1000:7.0f} ms   p99 {percentile(first, 0.99) * 1000:7.0f} ms"
        f"   max {max(first) * 1000:7.0f} ms   over {DEADLINE:.0f} s: {len(over)} (goal 0)",
        f"  answer          p50 {statistics.median(final) * 1000:7.0f} ms   p99 {percentile(final, 0.99) * 1000:7.0f} ms"
        f"   max {max(final) * 1000:7.0f} ms   ({deferred} deferred with 'thinking…')",
        f"  throughput      {len(final) / wall:7.1f} questions/s over {wall:.1f} s",
        f"  event loop      longest stall {stall * 1000:.0f} ms (goal < 100 ms); p99 tick lateness"
        f" {percentile(run.stall.stalls, 0.99) * 1000:.0f} ms" if run.stall else "",
        f"  correctness     failed or unanswered: {len(failed)}; acknowledged other than once or followed up: {len(twice)}",
    ]
    if run.reload is not None:
        reload_latency = run.reload.final_latency
        lines.append(f"  reload          answered in {reload_latency:.1f} s" if reload_latency else "  reload          NOT answered")
    ok = not over and not failed and not twice and stall < 0.1
    return "\n".join(lines), ok


def bench_bot(fake, workdir: Path, **settings):
    """The real ArticleBot, connected to ``fake``, serving a copy of the sample articles made in ``workdir``
    (index and data there too), without discord.py's 5-second wait before IDENTIFY. EMBEDDING_BACKEND in the
    environment picks the backend; ``settings`` override the rest."""
    from bot.client import ArticleBot
    from bot.settings import Settings

    class BenchBot(ArticleBot):
        async def before_identify_hook(self, shard_id, *, initial=False):
            return None

    shutil.copytree(PROJECT / "articles", workdir / "articles")
    values = dict(
        _env_file=None,
        discord_token=fake.token,
        articles_dir=workdir / "articles",
        index_dir=workdir / "index",
        data_dir=workdir / "data",
        discord_api_base_url=fake.api_base,
        discord_gateway_url=fake.gateway_url,
        log_level="WARNING",
        **({"embedding_backend": os.environ["EMBEDDING_BACKEND"]} if "EMBEDDING_BACKEND" in os.environ else {}),
    )
    return BenchBot(Settings(**{**values, **settings}), guild_ready_timeout=0.1)


async def main_async(members: int, asks: int, burst_pause: float, validate: bool, freeze: bool = True) -> int:
    from bot.runner import settle_heap
    from fakediscord import FakeDiscord, point_discord_py_at

    workdir = Path(tempfile.mkdtemp(prefix="load-"))
    try:
        async with FakeDiscord(validate=validate) as fake, point_discord_py_at(fake):
            # the load is the point here, not the per-member limit
            bot = bench_bot(fake, workdir, cooldown_questions=100_000, cooldown_seconds=60)
            started = time.perf_counter()
            await bot.login(fake.token)
            if freeze:
                settle_heap()  # as `article-bot run` does between logging in and connecting
            task = asyncio.create_task(bot.connect())
            await fake.wait_for_commands(1, timeout=300)
            await fake.wait_for_ready(timeout=300)
            print(f"bot ready in {time.perf_counter() - started:.1f} s (model load + index build + login);"
                  f" backend {bot.settings.embedding_backend}, request validation {'on' if validate else 'off'}")
            await bot.service.ask(QUESTIONS[0])  # warm-up, as a running bot would be
            people = []
            for number in range(members):
                user = fake.add_user(f"member{number}")
                fake.add_member(fake.guild, user)
                people.append(user)

            def add_article() -> None:
                (workdir / "articles" / NEW_ARTICLE[0]).write_text(NEW_ARTICLE[1])

            run = await drive(fake, people, asks, moderator=fake.user, before_reload=add_article, pause=burst_pause)
            text, ok = report(run, fake)
            print(text)
            await bot.close()
            await task
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--asks", type=int, default=1000)
    parser.add_argument("--pause", type=float, default=0.25, help="seconds between bursts (default 0.25)")
    parser.add_argument("--validate", action="store_true", help="check every request against Discord's OpenAPI spec (slower)")
    parser.add_argument("--no-freeze", action="store_true", help="skip the bot's gc.freeze() after start-up (to see what it saves)")
    options = parser.parse_args()
    sys.exit(asyncio.run(main_async(options.members, options.asks, options.pause, options.validate, not options.no_freeze)))


if __name__ == "__main__":
    main()
