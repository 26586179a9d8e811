"""The request log: one row per request, written in batches by a single writer task, to a
SQLite file (the default) or a PostgreSQL server (:mod:`bot.storage.backend`).

Commands call :meth:`RequestLog.log`, which turns the row into storable values (lone UTF-16
surrogates replaced; without text logging, no prompt, output, free-text option or error
message) and appends them to a queue; it never waits on the database. The writer task
(:mod:`bot.storage.writer`) flushes every ``flush_interval`` seconds with one ``executemany``
and one commit, and nothing ends it but :meth:`RequestLog.close`. The file and its WAL are
private to the bot's user; deleted rows are zeroed and the WAL truncated after a forget or
a prune (:mod:`bot.storage.sqlite`); PostgreSQL's table is vacuumed then
(:mod:`bot.storage.postgres`). :mod:`bot.storage.forget` says what ``/forget-me``
removes (:mod:`bot.storage.broadcast`: in every process sharing a PostgreSQL log);
:mod:`bot.storage.stats` computes the figures /stats shows.
"""

from bot.storage.backend import StorageError, backend_for
from bot.storage.forget import Forgotten
from bot.storage.log import RequestLog
from bot.storage.rows import METADATA_TEXT_PARAMS, RequestFields, RequestRow, storable
from bot.storage.sqlite import MIGRATIONS, SCHEMA_VERSION, connect, connect_read_only
from bot.storage.stats import Summary, summarize

__all__ = [
    "METADATA_TEXT_PARAMS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Forgotten",
    "RequestFields",
    "RequestLog",
    "RequestRow",
    "StorageError",
    "Summary",
    "backend_for",
    "connect",
    "connect_read_only",
    "storable",
    "summarize",
]
