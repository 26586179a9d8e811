"""Settings: precedence, parsing, validation messages that name the setting, a hidden token."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, Settings, load_settings, main
from bot.products import MAX_OPERATOR_COMMANDS
from bot.setting import declarations, markdown_table

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-part.do-not-leak"


def test_defaults_without_env_or_file() -> None:
    s = load_settings(environ={})
    assert s == Settings()
    assert s.models_dir == Path("exported_models") and not s.sharded


def test_every_setting_is_declared_once_with_its_own_environment_variable() -> None:
    declared = declarations(Settings)
    assert [d.name for d in declared] == list(Settings.__dataclass_fields__)
    envs = [d.env for d in declared if d.env is not None]
    assert len(envs) == len(set(envs)) and all(
        re.fullmatch(r"(BOT|DISCORD)_[A-Z_]+", e) for e in envs
    )
    assert [d.name for d in declared if d.env is None] == ["commands"]  # tables: TOML only
    assert all(d.help for d in declared)


README_TABLE = re.compile(
    r"<!-- settings table: .*? -->\n(.*?)\n<!-- end of settings table -->", re.S
)


def test_the_readme_settings_table_is_the_declarations(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's table is ``python -m bot.config --markdown``, pasted between its markers."""
    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    (table,) = README_TABLE.findall(readme)
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out.strip() == markdown_table(Settings)
    assert table == markdown_table(Settings), "run `python -m bot.config --markdown`"
    for declaration in declarations(Settings):
        assert f"| {declaration.name} | " in table


def test_a_setting_named_in_the_wrong_case_is_stored_as_declared() -> None:
    s = load_settings(environ={"BOT_LOG_LEVEL": "debug", "BOT_PRECISION": "FP32"})
    assert (s.log_level, s.precision) == ("DEBUG", "fp32")


def test_env_overrides_toml(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        'db_path = "/data/x.db"\nedit_interval_s = 2\nmodels = ["poems", "names"]\n'
        "cooldown_rate = 5\n"
    )
    s = load_settings(
        environ={
            "BOT_CONFIG": str(config),
            "BOT_COOLDOWN_RATE": "0",
            "BOT_SHARD_COUNT": "4",
            "BOT_SHARD_IDS": "1, 3",
            "DISCORD_API_BASE_URL": "http://127.0.0.1:8080/api/v10",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:8080/",
        }
    )
    assert s.db_path == Path("/data/x.db")
    assert s.edit_interval_s == 2.0
    assert s.models == ["poems", "names"]
    assert s.cooldown_rate == 0
    assert s.shard_count == 4 and s.shard_ids == [1, 3] and s.sharded
    assert s.api_base_url == "http://127.0.0.1:8080/api/v10"


def test_explicit_config_file_argument(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("max_messages = 2\n")
    assert load_settings(config, environ={}).max_messages == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BOT_EDIT_INTERVAL": "0.05"}, r"BOT_EDIT_INTERVAL \(edit_interval_s\): must be at least"),
        ({"BOT_MAX_BATCH": "lots"}, r"BOT_MAX_BATCH \(max_batch\): expected int, got 'lots'"),
        ({"BOT_MAX_QUEUE": "0"}, r"BOT_MAX_QUEUE \(max_queue\): must be at least 1"),
        ({"BOT_COOLDOWN_PER": "-1"}, r"BOT_COOLDOWN_PER \(cooldown_per_s\)"),
        ({"BOT_SHARD_IDS": "0"}, r"BOT_SHARD_IDS \(shard_ids\): needs BOT_SHARD_COUNT"),
        ({"BOT_SHARD_COUNT": "2", "BOT_SHARD_IDS": "0,2"}, r"between 0 and 1"),
        ({"BOT_LOG_LEVEL": "LOUD"}, r"BOT_LOG_LEVEL \(log_level\)"),
        ({"BOT_LOG_CONTENT": "some"}, r"BOT_LOG_CONTENT \(log_content\): must be full or"),
        ({"BOT_RETENTION_DAYS": "-1"}, r"BOT_RETENTION_DAYS \(retention_days\): must be 0"),
        ({"BOT_BUTTONS_EXPIRE": "nan"}, r"BOT_BUTTONS_EXPIRE \(buttons_expire_s\): expected float"),
        ({"BOT_SHARD_COUNT": "2", "BOT_SHARD_IDS": "1,1"}, r"BOT_SHARD_IDS \(shard_ids\): has dup"),
        ({"BOT_MODELS": ","}, r"BOT_MODELS \(models\): must name at least one model"),
        ({"DISCORD_GATEWAY_URL": "http://x"}, r"DISCORD_GATEWAY_URL \(gateway_url\): must be a ws"),
        ({"BOT_CONFIG": "/nonexistent/bot.toml"}, r"BOT_CONFIG: config file .* does not exist"),
    ],
)
def test_invalid_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env)


def test_unknown_and_malformed_toml(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("edit_intervall_s = 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting.*edit_intervall_s"):
        load_settings(config, environ={})
    config.write_text("edit_interval_s = [\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config, environ={})


def test_missing_token_points_to_console() -> None:
    with pytest.raises(ConfigError, match=r"DISCORD_TOKEN is not set.*python -m bot console"):
        load_settings(environ={}).require_token()
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        load_settings(environ={"DISCORD_TOKEN": "   "}).require_token()


def test_token_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    s = load_settings(environ={"DISCORD_TOKEN": f" {TOKEN}\n"})
    assert s.require_token() == TOKEN
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %s %r", s, s)
    assert TOKEN not in repr(s) and TOKEN not in str(s) and TOKEN not in caplog.text
    assert "Secret('********')" in repr(s)


def test_token_from_toml_is_wrapped(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text("token = 12345\n")
    assert load_settings(config, environ={}).token == Secret("12345")


def test_secret_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret(TOKEN))


OPERATOR_COMMAND = """
[[commands]]
name = "shakespeare"
model = "shakespeare"
kind = "prose"
description = "Write like the Bard"
"""


def test_operator_commands_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        OPERATOR_COMMAND + '[[commands]]\nname = "lore"\nmodel = "lore"\nkind = "story"\n'
    )
    first, second = load_settings(config, environ={}).commands
    assert (first.command, first.model, first.kind) == ("shakespeare", "shakespeare", "prose")
    assert first.description == "Write like the Bard" and not first.builtin
    assert (second.command, second.kind, second.title) == ("lore", "story", "lore")
    assert "lore" in second.description


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('kind = "prosee"', r"commands\[1\] \(x\): kind 'prosee' is not one of prose, poem"),
        ('kind = "prose"\ncolour = "red"', r"commands\[1\] \(x\): unknown key\(s\) colour"),
        ("", r"commands\[1\] \(x\): missing kind"),
        ('kind = "prose"\ndescription = ""', r"commands\[1\] \(x\): description must be"),
    ],
)
def test_operator_command_errors_name_the_entry(tmp_path: Path, extra: str, message: str) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(OPERATOR_COMMAND + f'[[commands]]\nname = "x"\nmodel = "m"\n{extra}\n')
    with pytest.raises(ConfigError, match=message):
        load_settings(config, environ={})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("poem", "'poem' is already a command"),
        ("fables", "'fables' is already a command"),  # an alias
        ("write", "'write' is already a command"),
        ("shakespeare", "'shakespeare' is already a command"),  # twice
        ("Shout Loud", "lower-case letters"),
    ],
)
def test_operator_command_names_are_checked(tmp_path: Path, name: str, message: str) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        OPERATOR_COMMAND + f'[[commands]]\nname = "{name}"\nmodel = "m"\nkind = "poem"\n'
    )
    with pytest.raises(ConfigError, match=rf"commands\[1\] \({name}\): .*{message}"):
        load_settings(config, environ={})


def test_a_command_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    """``re.match`` with ``$`` let "poem\\n" through, and sync pushed /poem twice."""
    config = tmp_path / "bot.toml"
    for name in ("poem", "tales"):
        config.write_text(f'[[commands]]\nname = "{name}\\n"\nmodel = "m"\nkind = "poem"\n')
        with pytest.raises(ConfigError, match=rf"commands\[0\] \('{name}\\n'\): name must be"):
            load_settings(config, environ={})
    config.write_text('[[commands]]\nname = "tales"\nmodel = "m\\n"\nkind = "poem"\n')
    with pytest.raises(ConfigError, match=r"commands\[0\] \(tales\): model must be"):
        load_settings(config, environ={})


def test_operator_commands_stop_at_discords_limit_counting_the_bots_own(tmp_path: Path) -> None:
    """Discord takes 100 slash commands; the bot has 9 of its own (the four products, /write,
    /models, /stats, /server-stats, /forget-me), so 91 operator commands fit and 92 do not.
    (The tree test checks those 9 against the commands the cogs register.)"""
    assert MAX_OPERATOR_COMMANDS == 100 - 9
    config = tmp_path / "bot.toml"
    entry = '[[commands]]\nname = "c{}"\nmodel = "m"\nkind = "prose"\n'
    config.write_text("".join(entry.format(i) for i in range(91)))
    assert len(load_settings(config, environ={}).commands) == 91
    config.write_text("".join(entry.format(i) for i in range(92)))
    with pytest.raises(ConfigError, match=r"92 commands, .* at most 91 \[\[commands\]\]"):
        load_settings(config, environ={})


@pytest.mark.parametrize("models", ["../secret", "lovecraft,sub/poems", "/etc/passwd", "a.b"])
def test_models_are_names_not_paths(models: str) -> None:
    with pytest.raises(ConfigError, match=r"BOT_MODELS \(models\): must be model names"):
        load_settings(environ={"BOT_MODELS": models})
    assert load_settings(environ={"BOT_MODELS": "lovecraft, my-tales_2"}).models == [
        "lovecraft",
        "my-tales_2",
    ]


def test_every_bad_setting_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        'max_queue = 0\ncolour = "red"\n'
        '[[commands]]\nname = "a"\nmodel = "m"\nkind = "sonnet"\n'
        '[[commands]]\nname = "b"\nmodel = "m"\n'
    )
    env = {"BOT_MAX_BATCH": "0", "BOT_PRECISION": "fp16", "BOT_EDIT_INTERVAL": "soon"}
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ=env)
    lines = str(caught.value).splitlines()
    expected = [
        "unknown setting(s) colour",
        "commands[0] (a): kind 'sonnet'",
        "commands[1] (b): missing kind",
        "BOT_MAX_BATCH (max_batch): must be at least 1",
        "BOT_MAX_QUEUE (max_queue): must be at least 1",
        "BOT_PRECISION (precision): must be fp32 or int8",
        "BOT_EDIT_INTERVAL (edit_interval_s): expected float",
    ]
    assert len(lines) == len(expected)
    for part in expected:
        assert sum(part in line for line in lines) == 1, (part, lines)
    assert all(line.startswith(str(config)) for line in lines[:3])


@pytest.mark.parametrize("command", [["stats"], ["prune", "--older-than", "30"]])
def test_stats_and_prune_exit_2_on_a_bad_config_like_every_command(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They exited 1, the status of a missing database, where run, sync, console and
    generate exit 2."""
    from bot.__main__ import main as bot_main

    config = tmp_path / "bot.toml"
    config.write_text("max_queue = 0\nretention_days = -1\n")
    assert bot_main([*command, "--config", str(config)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in errors] == [
        "BOT_MAX_QUEUE (max_queue)",
        "BOT_RETENTION_DAYS (retention_days)",
    ]
