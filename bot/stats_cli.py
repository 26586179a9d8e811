"""``python -m bot stats`` and ``python -m bot prune``: read and trim the request log.

Exit status: 0 done, 1 no readable request log, 2 bad input or config (as every command).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import ConfigError, config_failed, load_settings
from bot.storage import RequestLog, StorageError, backend_for

DB_HELP = "SQLite file or database URL (default: BOT_DB_URL, else BOT_DB_PATH)"


def register(subparsers: argparse._SubParsersAction) -> None:
    stats = subparsers.add_parser("stats", help="summarise the request log")
    stats.add_argument("--days", type=float, default=None, help="only the last N days")
    stats.add_argument("--guild", type=int, default=None, help="only this server (id)")
    stats.add_argument("--user", type=int, default=None, help="only this user (id)")
    stats.add_argument("--db", default=None, help=DB_HELP)
    stats.add_argument("--config", type=Path, default=None, help="TOML settings file")
    stats.set_defaults(func=run_stats)

    prune = subparsers.add_parser("prune", help="delete old rows from the request log")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    prune.add_argument("--db", default=None, help=DB_HELP)
    prune.add_argument("--config", type=Path, default=None, help="TOML settings file")
    prune.set_defaults(func=run_prune)


def _db_path(args: argparse.Namespace) -> Path | str:
    """The database of ``--db`` (a URL, or a SQLite file) or of the settings; a SQLite file
    must exist (reading figures never creates one)."""
    if args.db is not None:
        target: Path | str = args.db if "://" in args.db else Path(args.db)
    else:
        target = load_settings(args.config).log_database
    path = target if isinstance(target, Path) else None
    if isinstance(target, str) and target.startswith("sqlite:"):
        path = backend_for(target).path  # type: ignore[attr-defined]  # sqlite: has a file
    if path is not None and not path.is_file():
        raise StorageError(f"no request log at {path} (set BOT_DB_PATH or pass --db)")
    return target


async def _open(target: Path | str) -> RequestLog:
    request_log = await RequestLog.open(target)
    if not request_log.available:
        await request_log.close()
        raise StorageError(f"cannot open {request_log.where}: {request_log.last_error}")
    return request_log


async def _stats(path: Path | str, days: float | None, guild: int | None, user: int | None) -> str:
    request_log = await _open(path)
    try:
        return (await request_log.summary(days, guild_id=guild, user_id=user)).render()
    finally:
        await request_log.close()


async def _prune(path: Path | str, days: float) -> int:
    request_log = await _open(path)
    try:
        return await request_log.prune(days)
    finally:
        await request_log.close()


def run_stats(args: argparse.Namespace) -> int:
    if args.days is not None and args.days <= 0:
        print("error: --days must be positive", file=sys.stderr)
        return 2
    try:
        print(asyncio.run(_stats(_db_path(args), args.days, args.guild, args.user)))
    except ConfigError as exc:
        return config_failed(exc)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def run_prune(args: argparse.Namespace) -> int:
    if args.older_than < 0:
        print("error: --older-than must not be negative", file=sys.stderr)
        return 2
    try:
        deleted = asyncio.run(_prune(_db_path(args), args.older_than))
    except ConfigError as exc:
        return config_failed(exc)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"deleted {deleted} request(s) older than {args.older_than:g} days")
    return 0
