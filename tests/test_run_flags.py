"""``python -m bot run --shard-ids 0,1 --shard-count 4``: one process of a cluster. The
flags win over the TOML file and the environment and are checked like the settings."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest

from bot.__main__ import build_parser, main
from bot.config import CONFIG_EXIT, ConfigError, Settings
from bot.discord.bot import LSTMBot, ShardedLSTMBot, create_bot
from bot.discord.runner import run_settings

CLEAN = ("BOT_SHARD_IDS", "BOT_SHARD_COUNT", "BOT_CONFIG", "DISCORD_TOKEN")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEAN:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", "a.fake.token")


def settings_of(*argv: str) -> Settings:
    return run_settings(build_parser().parse_args(["run", *argv]))[0]


async def test_the_flags_override_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("shard_count = 8\nshard_ids = [5]\n")
    monkeypatch.setenv("BOT_SHARD_IDS", "7")
    s = settings_of("--config", str(config), "--shard-ids", "0, 1", "--shard-count", "4")
    assert (s.shard_ids, s.shard_count) == ([0, 1], 4)
    bot = create_bot(s, serving=False)
    assert isinstance(bot, ShardedLSTMBot) and isinstance(bot, discord.AutoShardedClient)
    assert (bot.shard_ids, bot.shard_count) == ([0, 1], 4)
    # one flag alone: the other setting still comes from where it was
    s = settings_of("--config", str(config), "--shard-ids", "6")
    assert (s.shard_ids, s.shard_count) == ([6], 8)
    single = create_bot(s, serving=False)
    assert isinstance(single, LSTMBot) and (single.shard_id, single.shard_count) == (6, 8)
    # no flag: the settings as they were
    assert settings_of("--config", str(config)).shard_ids == [7]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shard-ids", "4", "--shard-count", "4"], "--shard-ids: must be ids between 0 and 3"),
        (["--shard-ids", "0,0", "--shard-count", "2"], "--shard-ids: has duplicates"),
        (["--shard-ids", "one", "--shard-count", "2"], "--shard-ids: expected a comma-separated"),
        (["--shard-ids", "1"], "--shard-ids: needs BOT_SHARD_COUNT"),
        (["--shard-count", "0"], "--shard-count: must be at least 1"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_of(*argv)
    assert main(["run", *argv]) == CONFIG_EXIT
    assert f"error: {message}" in capsys.readouterr().err
