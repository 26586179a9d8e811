"""Bot settings: defaults <- optional TOML file <- environment variables, validated at start.

Every setting has a TOML key (the field name) and an environment variable. Errors name both,
so a operator can tell which knob to turn. The Discord token is wrapped in :class:`Secret` so
it never shows up in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.products import MODEL_NAME, Product, operator_products

CONFIG_ENV = "BOT_CONFIG"  # path of the optional TOML file
CONFIG_EXIT = 2  # the exit status of every command given a bad config


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


class Secret:
    """A string that refuses to print itself; call :meth:`reveal` where the value is needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


# Environment variable of each setting (the TOML key is the field name).
ENV_VARS: dict[str, str] = {
    "token": "DISCORD_TOKEN",
    "models_dir": "BOT_MODELS_DIR",
    "models": "BOT_MODELS",
    "precision": "BOT_PRECISION",
    "engine_threads": "BOT_ENGINE_THREADS",
    "max_batch": "BOT_MAX_BATCH",
    "max_queue": "BOT_MAX_QUEUE",
    "db_path": "BOT_DB_PATH",
    "log_flush_interval_s": "BOT_LOG_FLUSH_INTERVAL",
    "edit_interval_s": "BOT_EDIT_INTERVAL",
    "max_messages": "BOT_MAX_MESSAGES",
    "cooldown_rate": "BOT_COOLDOWN_RATE",
    "cooldown_per_s": "BOT_COOLDOWN_PER",
    "guild_concurrency": "BOT_GUILD_CONCURRENCY",
    "shard_count": "BOT_SHARD_COUNT",
    "shard_ids": "BOT_SHARD_IDS",
    "heartbeat_file": "BOT_HEARTBEAT_FILE",
    "heartbeat_interval_s": "BOT_HEARTBEAT_INTERVAL",
    "shutdown_grace_s": "BOT_SHUTDOWN_GRACE",
    "buttons_expire_s": "BOT_BUTTONS_EXPIRE",
    "log_level": "BOT_LOG_LEVEL",
    "log_content": "BOT_LOG_CONTENT",
    "retention_days": "BOT_RETENTION_DAYS",
    "api_base_url": "DISCORD_API_BASE_URL",
    "gateway_url": "DISCORD_GATEWAY_URL",
}
# Settings with no environment variable: tables, read from the TOML file only.
TOML_ONLY = frozenset({"commands"})


@dataclass(frozen=True)
class Settings:
    token: Secret | None = None  # Discord bot token; prefer the environment to a file
    models_dir: Path = Path("exported_models")
    models: list[str] | None = None  # load only these models (default: all found)
    precision: str = "int8"  # fp32 | int8: int8 where the model ships an accepted int8 copy
    engine_threads: int = 1  # onnxruntime threads per model
    max_batch: int = 32  # sequences advanced together per inference step
    max_queue: int = 256  # waiting requests before the engine answers "busy"
    db_path: Path = Path("data/requests.db")  # SQLite request log
    log_flush_interval_s: float = 0.25  # request-log batching period
    edit_interval_s: float = 1.0  # minimum seconds between streaming edits of a reply
    max_messages: int = 3  # messages one reply may span (then it is truncated)
    cooldown_rate: int = 3  # commands per user per cooldown period (0: no cooldown)
    cooldown_per_s: float = 30.0
    guild_concurrency: int = 4  # generations running at once per guild (0: no limit)
    shard_count: int | None = None  # total shards; unset: no sharding
    shard_ids: list[int] | None = None  # shards this process runs (needs shard_count)
    heartbeat_file: Path | None = None  # touched while the gateway is connected
    heartbeat_interval_s: float = 15.0
    shutdown_grace_s: float = 15.0  # time in-flight generations get to finish on SIGTERM
    buttons_expire_s: float = 86400.0  # a reply's buttons work this long, then are disabled
    log_level: str = "INFO"
    log_content: str = "full"  # request log: "full" (prompts, outputs) or "metadata" only
    retention_days: float = 90.0  # request-log rows older than this are deleted; 0 keeps all
    commands: tuple[Product, ...] = ()  # operator commands: [[commands]] tables
    # For tests and proxies only: point discord.py at another REST base / gateway.
    api_base_url: str | None = None
    gateway_url: str | None = None

    def require_token(self) -> str:
        """The token's value, or a ConfigError explaining how to provide one."""
        if self.token is None or not self.token.reveal().strip():
            raise ConfigError(
                "DISCORD_TOKEN is not set (TOML key 'token'): the bot needs a Discord bot token "
                "to connect. To try the generators without Discord, run `python -m bot console`."
            )
        return self.token.reveal().strip()

    @property
    def sharded(self) -> bool:
        return self.shard_count is not None


def _name(key: str) -> str:
    return f"{ENV_VARS[key]} ({key})"


def _parse(key: str, kind: str, raw: Any) -> Any:
    """Turn a TOML value or an environment string into the field's type."""
    base = kind.replace(" | None", "")
    if isinstance(raw, str) and raw.strip() == "" and kind.endswith("| None"):
        return None
    try:
        if base == "Secret":
            return Secret(str(raw))
        if base == "Path":
            return Path(str(raw)).expanduser()
        if base == "str":
            return str(raw)
        if base == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        if base == "float":
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if base.startswith("list["):
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            item_kind = base[5:-1]
            parsed = [
                _parse(key, item_kind, item.strip() if isinstance(item, str) else item)
                for item in items
                if not (isinstance(item, str) and not item.strip())
            ]
            return parsed
    except (TypeError, ValueError):
        raise ConfigError(f"{_name(key)}: expected {base}, got {raw!r}") from None
    raise AssertionError(f"unsupported setting type {kind}")  # pragma: no cover


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{CONFIG_ENV}: config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{CONFIG_ENV}: cannot read config file {path}: {exc}") from None


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults <- TOML file (``config_file`` or $BOT_CONFIG) <- environment variables.
    ConfigError lists every bad setting, one a line."""
    env = os.environ if environ is None else environ
    if config_file is None and env.get(CONFIG_ENV):
        config_file = Path(env[CONFIG_ENV])
    raw: dict[str, Any] = _read_toml(config_file) if config_file is not None else {}
    problems: list[str] = []
    unknown = sorted(set(raw) - set(Settings.__dataclass_fields__))
    if unknown:
        problems.append(f"{config_file}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    if "commands" in raw:
        try:
            values["commands"] = operator_products(raw["commands"], str(config_file))
        except ValueError as exc:
            problems.extend(str(exc).splitlines())
    failed = set()
    for f in fields(Settings):
        env_name = ENV_VARS.get(f.name)
        if f.name in TOML_ONLY or (env_name not in env and f.name not in raw):
            continue
        try:
            value = env[env_name] if env_name in env else raw[f.name]
            values[f.name] = _parse(f.name, str(f.type), value)
        except ConfigError as exc:
            problems.append(str(exc))
            failed.add(f.name)
    settings = Settings(**values)
    problems += [problem for key, problem in check(settings) if key not in failed]
    if problems:
        raise ConfigError("\n".join(problems))
    return settings


def validate(s: Settings) -> None:
    """ConfigError listing every problem :func:`check` finds."""
    problems = [problem for _, problem in check(s)]
    if problems:
        raise ConfigError("\n".join(problems))


def check(s: Settings) -> list[tuple[str, str]]:
    """(setting, problem naming it) for every range or consistency problem of ``s``; the
    token is checked separately (see require_token)."""
    problems: list[tuple[str, str]] = []

    def _check(ok: bool, key: str, problem: str, value: Any) -> None:
        if not ok:
            problems.append((key, f"{_name(key)}: {problem}, got {value!r}"))

    for key in ("engine_threads", "max_batch", "max_queue", "max_messages"):
        _check(getattr(s, key) >= 1, key, "must be at least 1", getattr(s, key))
    for key in ("cooldown_rate", "guild_concurrency"):
        _check(getattr(s, key) >= 0, key, "must be 0 (off) or more", getattr(s, key))
    _check(s.cooldown_per_s > 0, "cooldown_per_s", "must be positive", s.cooldown_per_s)
    _check(
        0.05 <= s.log_flush_interval_s <= 10,
        "log_flush_interval_s",
        "must be between 0.05 and 10 seconds",
        s.log_flush_interval_s,
    )
    _check(
        s.edit_interval_s >= 0.2,
        "edit_interval_s",
        "must be at least 0.2 seconds (Discord rate-limits edits)",
        s.edit_interval_s,
    )
    _check(
        s.heartbeat_interval_s >= 1,
        "heartbeat_interval_s",
        "must be at least 1 second",
        s.heartbeat_interval_s,
    )
    _check(s.shutdown_grace_s >= 0, "shutdown_grace_s", "must not be negative", s.shutdown_grace_s)
    _check(s.buttons_expire_s > 0, "buttons_expire_s", "must be positive", s.buttons_expire_s)
    _check(
        s.log_content in ("full", "metadata"),
        "log_content",
        "must be full or metadata",
        s.log_content,
    )
    _check(
        s.retention_days >= 0,
        "retention_days",
        "must be 0 (keep everything) or more days",
        s.retention_days,
    )
    _check(
        s.log_level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
        "log_level",
        "must be DEBUG, INFO, WARNING or ERROR",
        s.log_level,
    )
    _check(s.precision in ("fp32", "int8"), "precision", "must be fp32 or int8", s.precision)
    if s.models is not None:
        _check(len(s.models) > 0, "models", "must name at least one model", s.models)
        _check(
            all(MODEL_NAME.fullmatch(name) for name in s.models),
            "models",
            "must be model names (NAME of NAME.json in models_dir), not paths",
            s.models,
        )
    if s.shard_count is not None:
        _check(s.shard_count >= 1, "shard_count", "must be at least 1", s.shard_count)
    if s.shard_ids is not None:
        _check(s.shard_count is not None, "shard_ids", "needs BOT_SHARD_COUNT as well", s.shard_ids)
        count = s.shard_count or 0
        _check(
            count == 0 or (bool(s.shard_ids) and all(0 <= i < count for i in s.shard_ids)),
            "shard_ids",
            f"must be ids between 0 and {count - 1}",
            s.shard_ids,
        )
        _check(
            len(set(s.shard_ids)) == len(s.shard_ids), "shard_ids", "has duplicates", s.shard_ids
        )
    for key, schemes in (("api_base_url", ("http", "https")), ("gateway_url", ("ws", "wss"))):
        url = getattr(s, key)
        if url is not None:
            parsed = urlparse(url)
            _check(
                parsed.scheme in schemes and bool(parsed.netloc),
                key,
                f"must be a {' or '.join(schemes)} URL",
                url,
            )
    return problems


def login_settings(path: Path | None) -> tuple[Settings, str]:
    """Settings and the token, for the commands that log in (run, sync).

    A missing or invalid setting is printed and exits with status 2.
    """
    try:
        settings = load_settings(path)
        return settings, settings.require_token()
    except ConfigError as exc:
        raise SystemExit(config_failed(exc)) from None


def config_failed(exc: ConfigError) -> int:
    """Print each problem of ``exc`` as an error line; the exit status of a bad config."""
    for line in str(exc).splitlines():
        print(f"error: {line}", file=sys.stderr)
    return CONFIG_EXIT
