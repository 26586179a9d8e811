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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.products import MODEL_NAME, Product, operator_products
from bot.setting import ConfigError, Validator, declarations, markdown_table, setting
from bot.storage.backend import url_problem

CONFIG_ENV = "BOT_CONFIG"  # path of the optional TOML file
CONFIG_EXIT = 2  # the exit status of every command given a bad config
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


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


def _model_names(models: list[str]) -> str | None:
    if not models:
        return "must name at least one model"
    if not all(MODEL_NAME.fullmatch(name) for name in models):
        return "must be model names (NAME of NAME.json in models_dir), not paths"
    return None


def _url(*schemes: str) -> Validator:
    def valid(url: str) -> str | None:
        parsed = urlparse(url)
        if parsed.scheme in schemes and parsed.netloc:
            return None
        return f"must be a {' or '.join(schemes)} URL"

    return valid


def _no_duplicates(ids: list[int]) -> str | None:
    return "has duplicates" if len(set(ids)) != len(ids) else None


@dataclass(frozen=True)
class Settings:
    """Every bot setting, declared once: TOML key (the field), environment variable, type,
    default, allowed values and help (the README table is made from these)."""

    token: Secret | None = setting(
        None,
        "DISCORD_TOKEN",
        "the bot's Discord token; never logged or stored (prefer the environment to a file)",
        shown_default="(required for `run`/`sync`)",
    )
    models_dir: Path = setting(
        Path("exported_models"), "BOT_MODELS_DIR", "folder of the exported models"
    )
    models: list[str] | None = setting(
        None,
        "BOT_MODELS",
        "comma-separated list of models to load, by name (no paths)",
        shown_default="all",
        shown_allowed="names of models in models_dir",
        valid=_model_names,
    )
    precision: str = setting(
        "int8",
        "BOT_PRECISION",
        "`int8` serves a model's int8 copy where its export passed the quality gate (all four "
        "shipped models), else fp32; `fp32` always serves the fp32 file",
        choices=("fp32", "int8"),
    )
    engine_threads: int = setting(
        1, "BOT_ENGINE_THREADS", "onnxruntime intra-op threads per model", at_least=1
    )
    max_batch: int = setting(
        32, "BOT_MAX_BATCH", "sequences advanced together per ORT call", at_least=1
    )
    max_queue: int = setting(
        256, "BOT_MAX_QUEUE", 'waiting requests before "busy, try again"', at_least=1
    )
    db_path: Path = setting(
        Path("data/requests.db"),
        "BOT_DB_PATH",
        "SQLite request log (WAL), where db_url is unset",
    )
    db_url: Secret | None = setting(
        None,
        "BOT_DB_URL",
        "the request log's database, instead of db_path: `sqlite:///PATH` (`sqlite:////PATH` "
        "absolute) or `postgresql://USER:PASSWORD@HOST/DB` (needs the `postgres` extra); see "
        "[PostgreSQL](#postgresql); never logged with its password",
        shown_default="unset (`sqlite:///` + db_path)",
        shown_allowed="a sqlite:/// or postgresql:// URL",
        valid=lambda url: url_problem(url.reveal()),
    )
    log_flush_interval_s: float = setting(
        0.25,
        "BOT_LOG_FLUSH_INTERVAL",
        "request-log batch interval, seconds",
        at_least=0.05,
        at_most=10,
    )
    log_content: str = setting(
        "full",
        "BOT_LOG_CONTENT",
        "`metadata`: the request log keeps no prompt, output or free-text option",
        choices=("full", "metadata"),
    )
    retention_days: float = setting(
        90.0,
        "BOT_RETENTION_DAYS",
        "request-log rows older than this are deleted by the running bot; 0 keeps everything",
        at_least=0,
    )
    edit_interval_s: float = setting(
        1.0,
        "BOT_EDIT_INTERVAL",
        "at most one streaming edit per message per interval, seconds (Discord rate-limits edits)",
        at_least=0.2,
    )
    max_messages: int = setting(
        3, "BOT_MAX_MESSAGES", "long output is split over up to this many messages", at_least=1
    )
    cooldown_rate: int = setting(
        3, "BOT_COOLDOWN_RATE", "commands per user per cooldown period; 0 disables", at_least=0
    )
    cooldown_per_s: float = setting(
        30.0, "BOT_COOLDOWN_PER", "the cooldown period, seconds", above=0
    )
    guild_concurrency: int = setting(
        4, "BOT_GUILD_CONCURRENCY", "generations at once per guild; 0 = no limit", at_least=0
    )
    shard_count: int | None = setting(
        None,
        "BOT_SHARD_COUNT",
        "total shards: sharding (AutoShardedBot) for large deployments",
        at_least=1,
    )
    shard_ids: list[int] | None = setting(
        None,
        "BOT_SHARD_IDS",
        "comma-separated shards this process runs (needs shard_count; unset: all of them)",
        shown_allowed="ids from 0 to shard_count - 1, each once",
        valid=_no_duplicates,
    )
    heartbeat_file: Path | None = setting(
        None,
        "BOT_HEARTBEAT_FILE",
        "touched while the gateway is up (Docker health check)",
    )
    heartbeat_interval_s: float = setting(
        15.0, "BOT_HEARTBEAT_INTERVAL", "seconds between heartbeat touches", at_least=1
    )
    metrics_port: int | None = setting(
        None,
        "BOT_METRICS_PORT",
        "serve Prometheus metrics at `/metrics` on this port (needs the `metrics` extra; "
        "0: any free port); see [Metrics](#metrics)",
        shown_default="unset (off)",
        at_least=0,
        at_most=65535,
    )
    metrics_host: str = setting(
        "127.0.0.1",
        "BOT_METRICS_HOST",
        "address the metrics endpoint listens on (`0.0.0.0`: every interface)",
    )
    shutdown_grace_s: float = setting(
        15.0,
        "BOT_SHUTDOWN_GRACE",
        "seconds in-flight generations get to finish on shutdown",
        at_least=0,
    )
    buttons_expire_s: float = setting(
        86400.0,
        "BOT_BUTTONS_EXPIRE",
        "seconds a reply's buttons work; then a press disables them",
        above=0,
    )
    commands: tuple[Product, ...] = setting(
        (),
        None,
        "operator commands for your own models, `[[commands]]` tables: name, model, kind, "
        "description, title (see [below](#your-own-model-from-a-folder-of-text-to-discord))",
        shown_default="none",
        read=operator_products,
    )
    log_level: str = setting("INFO", "BOT_LOG_LEVEL", "the process log's level", choices=LOG_LEVELS)
    # For tests and proxies only: point discord.py at another REST base / gateway.
    api_base_url: str | None = setting(
        None,
        "DISCORD_API_BASE_URL",
        "another Discord REST base, for tests and proxies only",
        shown_allowed="an http(s) URL",
        valid=_url("http", "https"),
    )
    gateway_url: str | None = setting(
        None,
        "DISCORD_GATEWAY_URL",
        "another Discord gateway, for tests and proxies only",
        shown_allowed="a ws(s) URL",
        valid=_url("ws", "wss"),
    )

    def require_token(self) -> str:
        """The token's value, or a ConfigError explaining how to provide one."""
        if self.token is None or not self.token.reveal().strip():
            raise ConfigError(
                "DISCORD_TOKEN is not set (TOML key 'token'): the bot needs a Discord bot token "
                "to connect. To try the generators without Discord, run `python -m bot console`."
            )
        return self.token.reveal().strip()

    @property
    def log_database(self) -> Path | str:
        """The request log's database: db_url if set, else the SQLite file at db_path."""
        return self.db_url.reveal() if self.db_url is not None else self.db_path

    @property
    def sharded(self) -> bool:
        return self.shard_count is not None


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
    declared = declarations(Settings)
    problems: list[str] = []
    unknown = sorted(set(raw) - {d.name for d in declared})
    if unknown:
        problems.append(f"{config_file}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    failed = set()
    # TOML-only settings first: the file's own problems head the list
    for declaration in sorted(declared, key=lambda d: d.env is not None):
        in_env = declaration.env is not None and declaration.env in env
        if not in_env and declaration.name not in raw:
            continue
        value = env[declaration.env or ""] if in_env else raw[declaration.name]
        try:
            values[declaration.name] = declaration.normal(
                declaration.parse(value, str(config_file))
            )
        except ValueError as exc:
            problems.extend(str(exc).splitlines())
            failed.add(declaration.name)
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
    """(setting, problem naming it) for every value outside its declared range or choices,
    and for the shard settings that do not fit together; the token is checked separately
    (see require_token)."""
    problems: list[tuple[str, str]] = []
    for declaration in declarations(Settings):
        value = getattr(s, declaration.name)
        if value is not None and (problem := declaration.problem(value)):
            problems.append((declaration.name, problem))
    if s.metrics_port is not None and not _have_prometheus():
        problems.append(("metrics_port", f"BOT_METRICS_PORT (metrics_port): {NO_PROMETHEUS}"))
    ids_checked = s.shard_ids is None or any(key == "shard_ids" for key, _ in problems)
    if not ids_checked and (wrong := _shards_wrong(s.shard_ids or [], s.shard_count)) is not None:
        problems.append(("shard_ids", f"BOT_SHARD_IDS (shard_ids): {wrong}, got {s.shard_ids!r}"))
    return problems


NO_PROMETHEUS = (
    "needs the prometheus-client package: pip install 'lstm-discord-bot[metrics]' "
    "(or leave metrics_port unset)"
)


def _have_prometheus() -> bool:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def _shards_wrong(ids: list[int], count: int | None) -> str | None:
    """What is wrong with shard ids given the shard count (None: nothing)."""
    if count is None:
        return "needs BOT_SHARD_COUNT as well"
    if not ids or not all(0 <= i < count for i in ids):
        return f"must be ids between 0 and {count - 1}"
    return None


def login_settings(path: Path | None) -> tuple[Settings, str]:
    """Settings and the token, for the commands that log in (run, sync); ConfigError if a
    setting is bad or the token is missing."""
    settings = load_settings(path)
    return settings, settings.require_token()


def config_failed(exc: ConfigError) -> int:
    """Print each problem of ``exc`` as an error line; the exit status of a bad config
    (the command line's part: the rest of the bot only raises ConfigError)."""
    for line in str(exc).splitlines():
        print(f"error: {line}", file=sys.stderr)
    return CONFIG_EXIT


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.config --markdown``: the README's settings table."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.config", description=main.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the settings table")
    if parser.parse_args(argv).markdown:
        print(markdown_table(Settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
