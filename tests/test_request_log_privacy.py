"""The request log keeps its privacy promises (issue #23): /forget-me follows presses down to
other people's rows and to rows that arrive late, deleted text leaves no copy on disk,
metadata mode keeps no error message or free-text style, a press on a row still being
written is not answered "gone", and the files are private. On both back ends (the ``db``
fixture) but for the ``test_sqlite_...`` ones (the file's bytes, its WAL and modes);
PostgreSQL's own: the table is vacuumed after a forget or a prune."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from bot.discord.redact import redacted_traceback
from bot.storage import RequestLog, RequestRow, StorageError
from tests.storage_db import Db

SENTINEL = "zq-sentinel-4d9f"  # a prompt no model or test writes by chance


async def _rows(db: Db) -> list[dict[str, object]]:
    columns = [r[0] for r in await db.rows(COLUMN_NAMES[db.kind])]
    return [dict(zip(columns, r, strict=True)) for r in await db.rows(
        f"SELECT {', '.join(columns)} FROM requests ORDER BY id")]  # fmt: skip


COLUMN_NAMES = {
    "sqlite": "SELECT name FROM pragma_table_info('requests') ORDER BY cid",
    "postgresql": "SELECT column_name FROM information_schema.columns "
    "WHERE table_name = 'requests' ORDER BY ordinal_position",
}


async def _nowhere(db: Db, text: str) -> bool:
    """``text`` is in no row; on SQLite, not in the file's or the WAL's bytes either."""
    rows = await db.rows("SELECT * FROM requests")
    if text in repr(rows):
        return False
    return db.path is None or text.encode() not in _on_disk(db.path)


def _on_disk(path: Path) -> bytes:
    """The database file and its -wal, byte for byte."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _press(user: int, iid: int, parent: int, text: str) -> RequestRow:
    """A Reroll/Continue press as presses.py logs it: the parent's text copied."""
    return RequestRow(
        user_id=user,
        command="lovecraft",
        status="ok",
        prompt=text,
        output=f"{text} and more",
        params={"button": "reroll", "length": 40, "prompt_note": text},
        error=None,
        interaction_id=iid,
        parent_id=parent,
    )


async def test_forget_clears_the_text_others_copied_down_a_chain_written_and_queued(
    db: Db,
) -> None:
    rl = await RequestLog.open(db.target, flush_interval=60)  # only flush() writes
    try:
        rl.log(RequestRow(user_id=1, command="lovecraft", status="ok", prompt=SENTINEL,
                          output=f"{SENTINEL}!", interaction_id=10))  # fmt: skip
        rl.log(_press(2, 20, 10, SENTINEL))  # B rerolls A's reply
        rl.log(_press(3, 30, 20, SENTINEL))  # C continues B's reroll
        rl.log(RequestRow(user_id=4, command="poem", status="ok", prompt="own words",
                          interaction_id=40))  # fmt: skip
        assert await rl.flush()
        rl.log(_press(4, 50, 30, SENTINEL))  # still queued at the forget
        rl.log(RequestRow(user_id=1, command="poem", status="ok", prompt=SENTINEL,
                          interaction_id=60))  # fmt: skip
        rl.log(_press(2, 70, 60, SENTINEL))  # queued, below a queued row of A
        forgotten = await rl.forget(1)
        assert await rl.flush()
    finally:
        await rl.close()
    rows = {r["interaction_id"]: r for r in await _rows(db)}
    assert sorted(rows) == [20, 30, 40, 50, 70]
    for iid in (20, 30, 50, 70):
        row = rows[iid]
        assert (row["prompt"], row["output"]) == (None, None), iid
        assert row["params"] == '{"length": 40}'  # numbers stay, free text goes
        assert row["parent_id"] is not None and row["status"] == "ok"
    assert rows[40]["prompt"] == "own words"  # someone else's own request is untouched
    assert await _nowhere(db, SENTINEL)
    assert (forgotten.deleted, forgotten.cleared) == (2, 4)


async def test_a_row_arriving_after_the_forget_is_dropped_or_bare(db: Db) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.05)
    try:
        rl.log(RequestRow(user_id=1, command="poem", status="ok", interaction_id=10))
        began = time.time()
        await asyncio.sleep(0.01)
        assert (await rl.forget(1)).deleted == 1
        # A's generation that was running at the confirmation ends now
        rl.log(RequestRow(user_id=1, command="lovecraft", status="ok", prompt=SENTINEL,
                          created_at=began, interaction_id=11))  # fmt: skip
        # B's press on A's reply, running too, then C's press on B's new reply
        rl.log(_press(2, 20, 10, SENTINEL))
        rl.log(_press(3, 30, 20, SENTINEL))
        # /name for: A, asked before the forget
        rl.log(RequestRow(user_id=5, command="name", status="ok", created_at=began,
                          params={"members": [1, 6]}, interaction_id=50))  # fmt: skip
        rl.log(
            RequestRow(user_id=1, command="poem", status="ok", prompt="new", interaction_id=12)
        )  # fmt: skip  (asked after: kept)
        assert await rl.flush()
    finally:
        await rl.close()
    rows = {r["interaction_id"]: r for r in await _rows(db)}
    assert sorted(rows) == [12, 20, 30, 50]
    assert rows[12]["prompt"] == "new"
    assert all(rows[i]["prompt"] is None and rows[i]["output"] is None for i in (20, 30))
    assert rows[50]["params"] == '{"members": [6]}'
    assert await _nowhere(db, SENTINEL)
    assert rl.forgotten_late == 1 and rl.lost == 0


TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
}


async def test_the_memory_of_a_forget_is_not_written_anywhere(db: Db) -> None:
    """Decision: forgotten users are remembered in memory only (a row is only queued in the
    process that made it); a table of them would keep their id on disk."""
    rl = await RequestLog.open(db.target)
    rl.log(RequestRow(user_id=987654321, command="poem", status="ok", interaction_id=1))
    assert await rl.flush()
    await rl.forget(987654321)
    await rl.close()
    tables = [r[0] for r in await db.rows(TABLES[db.kind])]
    assert tables == (["requests"] if db.sqlite else ["requests", "schema_version"])
    assert await _nowhere(db, "987654321")
    if db.path is not None:
        with sqlite3.connect(db.path) as dump:
            assert "987654321" not in "\n".join(dump.iterdump())
    reopened = await RequestLog.open(db.target)
    try:  # a new process knows nothing of it, and has no row of before to drop
        reopened.log(RequestRow(user_id=987654321, command="poem", status="ok"))
        assert await reopened.flush()
    finally:
        await reopened.close()
    assert [r["user_id"] for r in await _rows(db)] == [987654321]


async def test_sqlite_deleted_text_leaves_no_copy_in_the_file_or_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    rl = await RequestLog.open(path, flush_interval=0.01)
    try:
        for i in range(30):  # many WAL frames, several pages, a long text on overflow pages
            rl.log(RequestRow(user_id=1, command="lovecraft", status="ok",
                              prompt=f"{SENTINEL} {i}", output=SENTINEL * 300))  # fmt: skip
            rl.log(RequestRow(user_id=2, command="poem", status="ok", prompt=f"kept {i}",
                              created_at=time.time() - 100 * 86400))  # fmt: skip
            assert await rl.flush()
        await rl.summary()  # the read-only connection has been used: it must not block
        assert SENTINEL.encode() in _on_disk(path)
        await rl.forget(1)
        assert SENTINEL.encode() not in _on_disk(path), "the forgotten text is still on disk"
        assert Path(f"{path}-wal").stat().st_size == 0
        assert rl._db is not None
        assert list(await rl._db.fetch("PRAGMA secure_delete")) == [(1,)]
        assert b"kept 7" in _on_disk(path)
        assert await rl.prune(90) == 30
        assert b"kept 7" not in _on_disk(path), "the pruned text is still on disk"
    finally:
        await rl.close()


async def test_metadata_mode_keeps_no_error_message_and_no_free_style(db: Db) -> None:
    rl = await RequestLog.open(db.target, store_text=False)
    rl.log(RequestRow(user_id=1, command="name", status="invalid", params={"style": SENTINEL},
                      error=f"InvalidRequest: Unknown style '{SENTINEL}'"))  # fmt: skip
    no_name = f"InvalidRequest: No english name can start with '{SENTINEL}'"
    rl.log(RequestRow(user_id=1, command="name", status="invalid", params={"style": "english"},
                      error=no_name))  # fmt: skip
    rl.log(RequestRow(user_id=1, command="write", status="unavailable",
                      error=f"UnknownModel: There is no model '{SENTINEL}'"))  # fmt: skip
    rl.log(RequestRow(user_id=1, command="name", status="ok", params={"style": "english"}))
    rl.log(RequestRow(user_id=1, command="poem", status="error", error=f"{SENTINEL} odd: text"))
    await rl.close()
    rows = [(r["params"], r["error"]) for r in await _rows(db)]
    assert rows == [
        ("{}", "InvalidRequest"),
        ("{}", "InvalidRequest"),
        ("{}", "UnknownModel"),
        ('{"style": "english"}', None),  # a successful request's style is one of the model's
        ("{}", "error"),
    ]
    assert await _nowhere(db, SENTINEL)


async def test_full_mode_keeps_the_error_message(db: Db) -> None:
    rl = await RequestLog.open(db.target)
    rl.log(RequestRow(user_id=1, command="name", status="invalid",
                      error="InvalidRequest: Unknown style 'x'"))  # fmt: skip
    await rl.close()
    assert [r["error"] for r in await _rows(db)] == ["InvalidRequest: Unknown style 'x'"]


async def test_a_press_on_a_row_being_written_to_a_locked_database_is_not_gone(
    db: Db,
) -> None:
    """find() waits for the write in progress; a row still unwritten because the database
    is locked raises StorageError ("try later"), never None ("gone")."""
    rl = await RequestLog.open(
        db.target, flush_interval=0.01, busy_timeout_ms=400, max_backoff=0.05
    )
    try:
        async with db.write_lock():  # another connection holds the write lock
            rl.log(RequestRow(user_id=1, command="poem", status="ok", interaction_id=77))
            for _ in range(200):  # until the writer has taken the row into its transaction
                if rl.writing:
                    break
                await asyncio.sleep(0.005)
            assert rl.writing
            with pytest.raises(StorageError, match="not written yet"):
                await rl.find(77)
            assert await rl.find(78) is None  # a row that was never logged is gone, as before
        found = await rl.find(77)
        assert found is not None and found.user_id == 1
    finally:
        await rl.close()


async def test_flush_waits_for_the_write_in_progress(db: Db) -> None:
    rl = await RequestLog.open(db.target, flush_interval=0.01, busy_timeout_ms=3000)
    try:
        async with db.write_lock():
            rl.log(RequestRow(user_id=1, command="poem", status="ok", interaction_id=5))
            for _ in range(200):
                if rl.writing:
                    break
                await asyncio.sleep(0.005)
            assert rl.writing and rl.pending == 1
            flushing = asyncio.create_task(rl.flush())
            await asyncio.sleep(0.2)
            assert not flushing.done(), "flush() returned before the row was written"
        assert await flushing is True
        assert len(await _rows(db)) == 1
    finally:
        await rl.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_sqlite_directory_and_files_the_log_creates_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "data" / "requests.db"
        rl = await RequestLog.open(path)
        rl.log(RequestRow(user_id=1, command="poem", status="ok"))
        assert await rl.flush()
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        assert _mode(path.parent) == 0o700
        assert [_mode(f) for f in files] == [0o600] * 3
        await rl.close()
    finally:
        os.umask(old)


async def test_sqlite_operators_directory_keeps_its_mode_but_old_files_are_tightened(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "volume"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "requests.db"
    with sqlite3.connect(path) as db:  # made by an older bot, world-readable
        db.execute("PRAGMA journal_mode = WAL")
    os.chmod(path, 0o644)
    rl = await RequestLog.open(path)
    try:
        rl.log(RequestRow(user_id=1, command="poem", status="ok"))
        assert await rl.flush()
        assert _mode(folder) == 0o755  # the operator's choice (a volume, a shared parent)
        assert _mode(path) == 0o600 and _mode(Path(f"{path}-wal")) == 0o600
    finally:
        await rl.close()


def test_a_redacted_traceback_names_classes_and_frames_but_no_message() -> None:
    def fail() -> None:
        try:
            raise KeyError(SENTINEL)
        except KeyError as exc:
            raise ValueError(f"bad {SENTINEL}") from exc

    with pytest.raises(ValueError) as caught:
        fail()
    text = redacted_traceback(caught.value)
    assert SENTINEL not in text
    assert text.index("KeyError") < text.index("ValueError")  # the cause first, as Python does
    assert "in fail" in text and "raise KeyError(SENTINEL)" in text  # frames: code, not data


async def test_sqlite_reader_holding_the_wal_delays_its_truncation_and_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log.db"
    rl = await RequestLog.open(path, flush_interval=0.01, busy_timeout_ms=50)
    try:
        rl.log(RequestRow(user_id=1, command="poem", status="ok", prompt=SENTINEL))
        rl.log(RequestRow(user_id=2, command="poem", status="ok"))
        assert await rl.flush()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN")
        other.execute("SELECT COUNT(*) FROM requests").fetchone()  # a snapshot held open
        with caplog.at_level(logging.WARNING, logger="bot.storage"):
            assert (await rl.forget(1)).deleted == 1  # the deletion itself is done
        assert "could not be truncated" in caplog.text
        other.execute("COMMIT")
        other.close()
        await rl.forget(3)  # the next checkpoint completes
        assert Path(f"{path}-wal").stat().st_size == 0
        assert SENTINEL.encode() not in _on_disk(path)
    finally:
        await rl.close()
