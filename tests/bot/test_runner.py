"""`article-bot run`: clear one-line failures, and the token never shown."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from botkit import TRUCE, embed_text

from bot.questionlog import QuestionLog

PROJECT = Path(__file__).resolve().parents[2]


async def start_bot_process(env: dict, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(PROJECT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_bot_process(env: dict, cwd: Path) -> tuple[int, str, str]:
    process = await start_bot_process(env, cwd)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


async def test_sigterm_stops_the_bot_cleanly_with_its_log_written(fake_discord, sample_articles, tmp_path):
    process = await start_bot_process(
        {
            "DISCORD_TOKEN": fake_discord.token,
            "ARTICLES_DIR": str(sample_articles),
            "INDEX_DIR": str(tmp_path / "index"),
            "DATA_DIR": str(tmp_path / "data"),
            "DISCORD_API_BASE_URL": fake_discord.api_base,
            "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
        },
        tmp_path,
    )
    try:
        await fake_discord.wait_for_ready(timeout=120)
        handle = await fake_discord.send_slash_command("ask", {"question": TRUCE})
        assert "Ismail Haniyeh" in embed_text(await handle.wait_final(timeout=60))
        process.send_signal(signal.SIGTERM)  # what systemctl stop or docker stop sends
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    assert "Stopped (SIGTERM)" in err.decode() and "Traceback" not in err.decode()
    with QuestionLog(tmp_path / "data") as log:  # the question was written before the process ended
        assert log.stats().questions == 1


async def test_rejected_token_is_one_clear_line(fake_discord, sample_articles, tmp_path):
    bad_token = "NotTheRightToken.abc.def"
    code, out, err = await run_bot_process(
        {
            "DISCORD_TOKEN": bad_token,
            "ARTICLES_DIR": str(sample_articles),
            "INDEX_DIR": str(tmp_path / "index"),
            "DISCORD_API_BASE_URL": fake_discord.api_base,
            "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
            "LOG_LEVEL": "DEBUG",
        },
        tmp_path,
    )
    assert code == 1
    assert "Discord rejected DISCORD_TOKEN" in err
    assert "Traceback" not in err + out
    assert bad_token not in err + out


async def test_missing_token_is_one_clear_line(tmp_path):
    code, out, err = await run_bot_process({"DISCORD_TOKEN": ""}, tmp_path)
    assert code == 2 and err.strip() == "error: DISCORD_TOKEN is not set: put the bot's token in the environment or in .env."


def test_token_is_redacted_from_logs(caplog):
    import logging

    from bot.runner import RedactSecrets

    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets("s3cr3t-token"))
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "auth header Bot %s failed", ("s3cr3t-token",), None)
    handler.filter(record)
    assert record.getMessage() == "auth header Bot [redacted] failed"
