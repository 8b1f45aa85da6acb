"""How long /ask takes from interaction to reply, through the real discord.py client and the fake Discord.

    python bench/discord_latency.py [--asks 100]

Starts the fake Discord from tests/fakediscord on 127.0.0.1, runs ArticleBot against it on the sample
article, sends /ask interactions one after another, and reports the time from dispatching each
INTERACTION_CREATE to the bot's first response and to the final visible answer (median, p90, max)."""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# The project first: tests/index would otherwise shadow the index package.
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests")]

from fakediscord import FakeDiscord, point_discord_py_at  # noqa: E402

from bench.load import bench_bot, percentile  # noqa: E402

QUESTIONS = [
    "Who claimed that a truce deal was close?",
    "When did the invasion of southern Israel begin?",
    "Who has been engaged in mediation efforts?",
    "Why is trust between the parties fragile?",
    "What must regional powers do?",
]


async def measure(asks: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="latency-"))
    async with FakeDiscord(validate=False) as fake, point_discord_py_at(fake):
        bot = bench_bot(fake, workdir, cooldown_seconds=0)
        started = time.perf_counter()
        await bot.login(fake.token)
        task = asyncio.create_task(bot.connect())
        await fake.wait_for_commands(1, timeout=120)
        await fake.wait_for_ready(timeout=120)
        print(f"bot ready in {time.perf_counter() - started:.1f} s (model load + index build + login)")
        await bot.service.ask(QUESTIONS[0])  # warm-up, as a running bot would be
        first, final = [], []
        for number in range(asks):
            handle = await fake.send_slash_command("ask", {"question": QUESTIONS[number % len(QUESTIONS)]})
            await handle.wait_final(timeout=30)
            first.append(handle.response_latency * 1000)
            final.append(handle.final_latency * 1000)
        await bot.close()
        await task
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"/ask on the sample article, {asks} asks one after another (backend {bot.settings.embedding_backend}):")
    for name, values in (("first response", first), ("answer visible", final)):
        print(
            f"  {name:15} median {statistics.median(values):7.1f} ms   p90 {percentile(values, 0.9):7.1f} ms"
            f"   max {max(values):7.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=100)
    asyncio.run(measure(parser.parse_args().asks))


if __name__ == "__main__":
    main()
