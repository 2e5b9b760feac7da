"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, loopback
TCP on a free port, password authentication, stopped and removed at the end of the session.

As root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root), in a
folder given to that user. Without PostgreSQL binaries `find_bin()` is None and the tests
that need the server are skipped, saying so.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "bulkorders"
PASSWORD = "pg-test-secret"
INSTALL_HINT = (
    "no PostgreSQL server binaries (initdb, pg_ctl) found: install the `postgresql` package "
    "(.ci/run does) to run the team-ledger tests"
)


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: Debian's /usr/lib/postgresql/N/bin, else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in its own folder; `url(db)` reaches database `db` on it."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="bulkorders-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(a) for a in args], user=self._user, capture_output=True, text=True, cwd=self.root, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(map(str, args))} failed: {done.stdout}{done.stderr}")

    def start(self) -> PgServer:
        """initdb (password auth on loopback), then start the server on `port`."""
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._user:
            os.chmod(self.root, 0o700)
            shutil.chown(self.root, self._user, self._user)
            shutil.chown(pwfile, self._user, self._user)
        self._run(self.bin / "initdb", "-D", self.data, "-U", SUPERUSER, f"--pwfile={pwfile}",
                  "--auth=scram-sha-256", "-E", "UTF8", "--locale=C")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='{self.root}' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.root / "log", "-w", "-o", options, "start")
        return self

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str | None = PASSWORD) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL (password included)."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)
