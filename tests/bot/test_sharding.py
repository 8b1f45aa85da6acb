"""Sharding for large deployments: SHARD_COUNT and SHARD_IDS, validated, and the bot running its shards."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from botkit import TRUCE, embed_text
from pydantic import ValidationError

from bot.cli import main
from bot.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
QUOTE = "Ismail Haniyeh"


def settings_from_env(monkeypatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


@pytest.mark.parametrize(
    ("env", "shards"),
    [
        ({}, None),
        ({"SHARD_COUNT": "", "SHARD_IDS": ""}, None),
        ({"SHARD_COUNT": "3"}, [0, 1, 2]),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3, 1"}, [3, 1]),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,1"}, [0, 1]),
    ],
)
def test_shards_this_process_runs(monkeypatch, env, shards):
    assert settings_from_env(monkeypatch, **env).shards_to_run() == shards


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_IDS": "1"}, "needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "shard 2 does not exist: with SHARD_COUNT=2 the shards are 0 to 1"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "-1"}, "shard -1 does not exist"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "1,2,1"}, "lists shard 1 more than once"),
        ({"SHARD_COUNT": "0"}, "greater than or equal to 1"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "one"}, "valid integer"),
        ({"INDEX_READ_ONLY": "true", "WATCH_ARTICLES": "true"}, "cannot be used with INDEX_READ_ONLY"),
    ],
)
def test_bad_shard_settings_are_refused_with_a_reason(monkeypatch, env, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        settings_from_env(monkeypatch, **env)


def test_the_command_line_names_the_bad_setting(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SHARD_COUNT", "2")
    monkeypatch.setenv("SHARD_IDS", "5")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting: SHARD_IDS:") and "the shards are 0 to 1" in err


def test_every_setting_is_documented_in_env_example():
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    documented = {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)}
    assert documented == {name.upper() for name in Settings.model_fields}
    for number, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            assert lines[number - 1].startswith("# "), f"{line} has no comment above it"


def identified_shards(fake) -> list[list[int] | None]:
    return [frame.d.get("shard") for frame in fake.gateway.frames if frame.direction == "recv" and frame.op == 2]


async def ask_in(fake, guild, question: str = TRUCE):
    handle = await fake.send_slash_command("ask", {"question": question}, guild_id=guild)
    return await handle.wait_final(timeout=30)


async def test_unset_shard_count_keeps_one_unsharded_connection(start_bot):
    running = await start_bot()
    assert identified_shards(running.fake) == [None]
    assert QUOTE in embed_text(await running.ask(TRUCE))


async def test_one_process_runs_both_shards_and_answers_in_guilds_on_either(fake_discord, start_bot):
    on_zero = fake_discord.add_guild("Guild on shard 0", shard=(0, 2))
    on_one = fake_discord.add_guild("Guild on shard 1", shard=(1, 2))
    running = await start_bot(shard_count=2, shard_ids=[0, 1])
    assert sorted(identified_shards(fake_discord)) == [[0, 2], [1, 2]]
    await asyncio.wait_for(running.bot.wait_until_ready(), timeout=30)
    assert running.bot.get_guild(on_zero.id).shard_id == 0 and running.bot.get_guild(on_one.id).shard_id == 1
    assert [shard for shard, _ in running.bot.latencies] == [0, 1]
    assert fake_discord.command_syncs == 1  # the commands are synced once
    for guild in (on_zero, on_one):
        answer = await ask_in(fake_discord, guild)
        assert answer.guild_id == guild.id and QUOTE in embed_text(answer)


async def test_a_process_runs_only_its_own_shards(fake_discord, start_bot):
    on_zero = fake_discord.add_guild("Guild on shard 0", shard=(0, 2))
    on_one = fake_discord.add_guild("Guild on shard 1", shard=(1, 2))
    running = await start_bot(shard_count=2, shard_ids=[1])
    await asyncio.wait_for(running.bot.wait_until_ready(), timeout=30)
    assert identified_shards(fake_discord) == [[1, 2]]
    assert running.bot.get_guild(on_one.id) is not None
    assert running.bot.get_guild(on_zero.id) is None  # shard 0's process serves it
    assert fake_discord.command_syncs == 0  # and syncs the commands
    assert QUOTE in embed_text(await ask_in(fake_discord, on_one))
