"""Files replaced whole: a reader finds the old bytes or the new, never a part.

:func:`replacing` yields a temporary path beside the target for any writer that wants a file
name; when the writer returns, the file is fsynced and moved over the target with
``os.replace`` (atomic on POSIX), and the folder is fsynced so the rename survives a crash.
If anything fails the target is untouched and the temporary file is removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make renames and removals in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path to write; on success it replaces ``path`` in one rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole, or leave ``path`` as it was."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)
