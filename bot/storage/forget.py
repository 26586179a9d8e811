"""What ``/forget-me`` removes: the user's rows, their id in other people's ``/name for:``
rows, and the text other people's rows copied from theirs.

A Reroll or Continue press on a reply copies that reply's prompt or text into the presser's
row (``parent_id`` is the reply's interaction id), and a press on that reply copies it again.
So forgetting a user also follows ``parent_id`` down from their requests and takes the
prompt, output, free-text parameters and error message out of every row below (the rows
stay, with their metadata: they are other people's requests). A :class:`ForgetMemory` keeps
the same promise for rows that arrive after the forget (a generation still running then).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bot.storage.backend import Connection
from bot.storage.rows import (
    COLUMNS,
    CREATED,
    ERROR,
    INTERACTION,
    PARAMS,
    PARENT,
    USER,
    Values,
    without_text,
)

_CHUNK = 500  # ids per IN (...) list, well under SQLite's and PostgreSQL's limits


@dataclass(frozen=True)
class Forgotten:
    """What :meth:`RequestLog.forget` removed."""

    deleted: int  # the user's own rows (written and queued)
    scrubbed: int  # other people's rows that named the user (``/name for:``)
    cleared: int = 0  # other people's rows that had copied the user's text (presses)


def without_member(params: str, user_id: int) -> str | None:
    """``params`` (JSON) with ``user_id`` taken out of its ``members``; None if absent."""
    try:
        data = json.loads(params)
    except ValueError:
        return None
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list) or user_id not in members:
        return None
    data["members"] = [m for m in members if m != user_id]
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    batch = sorted(ids)
    for i in range(0, len(batch), _CHUNK):
        yield batch[i : i + _CHUNK]


async def forget_written(
    db: Connection, user_id: int, seeds: set[int], before: float | None = None
) -> tuple[Forgotten, set[int]]:
    """Forget ``user_id`` in the database, inside the caller's transaction. ``seeds``: the
    interaction ids of the user's rows still queued (or, forgetting again for another
    process, the ids its forget found). ``before``: only the user's rows created at or
    before it (None: all). Returns the counts and every interaction id whose row holds (or
    held) the user's text: theirs and their descendants'."""
    bound, limit = ("", ()) if before is None else (" AND created_at <= ?", (before,))
    rows = await db.fetch(
        "SELECT interaction_id FROM requests WHERE user_id = ? AND interaction_id IS NOT NULL"
        + bound,
        (user_id, *limit),
    )
    tainted = {int(r[0]) for r in rows} | seeds
    frontier, cleared = set(tainted), 0
    columns = ", ".join(COLUMNS)
    while frontier:
        children: list[tuple[int, Values]] = []
        for chunk in _chunks(frontier):
            marks = ", ".join("?" * len(chunk))
            found = await db.fetch(
                f"SELECT id, {columns} FROM requests WHERE parent_id IN ({marks})", chunk
            )
            children += [(int(r[0]), tuple(r[1:])) for r in found]
        frontier = set()
        for row_id, values in children:
            child = values[INTERACTION]
            if child is not None and child not in tainted:
                tainted.add(child)
                frontier.add(child)
            if _doomed(values, user_id, before):
                continue  # deleted below
            bare = without_text(values)
            if bare != values:
                await db.execute(
                    "UPDATE requests SET params = ?, prompt = NULL, output = NULL, error = ? "
                    "WHERE id = ?",
                    (bare[PARAMS], bare[ERROR], row_id),
                )
                cleared += 1
    deleted = await db.execute("DELETE FROM requests WHERE user_id = ?" + bound, (user_id, *limit))
    scrubbed = 0
    named = await db.fetch(
        "SELECT id, params FROM requests WHERE command = 'name' AND params LIKE ?" + bound,
        (f"%{user_id}%", *limit),
    )
    for row_id, params in named:
        new = without_member(str(params), user_id)
        if new is not None:
            await db.execute("UPDATE requests SET params = ? WHERE id = ?", (new, row_id))
            scrubbed += 1
    return Forgotten(deleted=deleted, scrubbed=scrubbed, cleared=cleared), tainted


def _doomed(values: Values, user_id: int, before: float | None) -> bool:
    """A row of ``user_id`` that the forget deletes (made at or before ``before``)."""
    return values[USER] == user_id and (before is None or values[CREATED] <= before)


def forget_queued(
    rows: Iterable[Values], user_id: int, tainted: set[int], before: float | None = None
) -> tuple[deque[Values], Forgotten]:
    """The queued ``rows`` without ``user_id``'s, their id out of ``members``, and no text in
    the rows below ``tainted`` (extended with the queue's own descendants). ``before``: only
    rows created at or before it lose the user's rows and id (None: all)."""
    queued = list(rows)
    tainted.update(v[INTERACTION] for v in queued if _doomed(v, user_id, before) and v[INTERACTION])
    grown = True
    while grown:
        grown = False
        for v in queued:
            if (
                v[PARENT] in tainted
                and v[INTERACTION] is not None
                and v[INTERACTION] not in tainted
            ):
                tainted.add(v[INTERACTION])
                grown = True
    kept: deque[Values] = deque()
    deleted = scrubbed = cleared = 0
    for values in queued:
        if _doomed(values, user_id, before):
            deleted += 1
            continue
        new = without_text(values) if values[PARENT] in tainted else values
        cleared += new != values
        params = without_member(new[PARAMS], user_id)
        if params is not None and (before is None or new[CREATED] <= before):
            new = (*new[:PARAMS], params, *new[PARAMS + 1 :])
            scrubbed += 1
        kept.append(new)
    return kept, Forgotten(deleted=deleted, scrubbed=scrubbed, cleared=cleared)


@dataclass
class ForgetMemory:
    """The users forgotten since the log opened (and when), and the interaction ids that
    carried their text, so that a row arriving late (a generation still running when the
    forget was confirmed) keeps the promise too. Kept in memory only: a row is only ever
    queued in the process that made it (a restart writes it or counts it lost first), and a
    table of forgotten ids would itself keep the user's id on disk. Processes sharing a
    PostgreSQL log tell each other their forgets (:mod:`bot.storage.broadcast`)."""

    users: dict[int, float] = field(default_factory=dict)
    tainted: set[int] = field(default_factory=set)

    def remember(self, user_id: int, at: float, tainted: set[int]) -> None:
        """Add a forget (again: the later time holds)."""
        self.users[user_id] = max(at, self.users.get(user_id, at))
        self.tainted |= tainted

    def screen(self, values: Values) -> Values | None:
        """``values`` as they may be stored; None: a row of a forgotten user, made before
        they were forgotten."""
        at = self.users.get(values[USER])
        if at is not None and values[CREATED] <= at:
            return None
        if values[PARENT] is not None and values[PARENT] in self.tainted:
            if values[INTERACTION] is not None:
                self.tainted.add(values[INTERACTION])
            values = without_text(values)
        if self.users and '"members"' in values[PARAMS]:
            for user_id, forgotten_at in self.users.items():
                params = without_member(values[PARAMS], user_id)
                if params is not None and values[CREATED] <= forgotten_at:
                    values = (*values[:PARAMS], params, *values[PARAMS + 1 :])
        return values
