"""The ledger's database engines: one schema and one set of queries on SQLite and PostgreSQL.

Decision (issue 14): no SQLAlchemy. The ledger's ~80 statements are hand-written, portable
SQL already, and the SQLite-only parts (the online backup API, quick_check, WAL, the locks
on the file's identity) have no SQLAlchemy equivalent anyway. So the store runs the same
queries on both engines through this thin adapter: `execute`/`executemany` (queries keep
SQLite's `?` and `:name` marks; the PostgreSQL engine turns them into psycopg's), the
transaction steps, the schema version, a DDL type map, and the translation of engine
errors into a `LedgerError` that says what to do. What differs between the engines beyond
that is named here and nowhere else: `skip_locked`, `insertion_order`, `dead_run`.

The PostgreSQL engine lives in `postgres` and loads psycopg only when a PostgreSQL URL is
opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bulkorders.errors import LedgerError

# Advisory-lock namespaces (the first int4 key): a run's liveness, a campaign, migrating, a panel.
RUN_LOCKS = 0x424F5231  # "BOR1"
CAMPAIGN_LOCKS = 0x424F5232  # "BOR2"
MIGRATION_LOCK = 0x424F5233  # "BOR3"
PANEL_LOCKS = 0x424F5234  # "BOR4": refill and cancel of a panel's orders



class Engine:
    """What the store needs of a database connection. Subclasses: `SqliteEngine`, `PostgresEngine`."""

    name = ""
    skip_locked = ""  # appended to a claim's SELECT: rows another transaction holds are not waited for
    shared = False  # several processes may work one campaign at once (their claims split its rows)

    def __init__(self, where: str) -> None:
        self.where = where  # what to show: the file's path, or the URL with its password masked

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | dict[str, Any]]) -> None:
        raise NotImplementedError

    def begin_write(self, durable: bool = True) -> None:
        """Begin a write transaction; `durable=False` lets its commit return before it is on disk."""
        raise NotImplementedError

    def begin_read(self) -> None:
        self.execute("BEGIN")

    def begin_batch(self) -> None:
        """A durable write transaction of many changes (`Ledger.together`)."""
        self.begin_write(True)

    def begin_migration(self) -> None:
        """A write transaction no other process can migrate in at the same time."""
        self.begin_write()

    def end_migration(self) -> None:
        """After the migration's transaction ended: let the next process migrate."""

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def version(self) -> int:
        """The schema version of the ledger (0: no schema yet)."""
        raise NotImplementedError

    def set_version(self, version: int) -> None:
        raise NotImplementedError

    def has_tables(self) -> bool:
        """Whether the database holds any table (a version-0 database with tables is not a ledger)."""
        raise NotImplementedError

    def ddl(self, sql: str) -> str:
        """A CREATE/ALTER statement written for SQLite, in this engine's types."""
        return sql

    def insertion_order(self, alias: str) -> str:
        """An ORDER BY term that keeps rows of a table without an id in the order they came."""
        raise NotImplementedError

    def dead_run(self, column: str, run_id: int) -> tuple[str, list[Any]]:
        """SQL (and its parameters) true where the run in `column` is not alive, this one excepted."""
        raise NotImplementedError

    def failure(self, exc: BaseException, writing: bool) -> LedgerError | None:
        """The message for an engine error, or None when it is not one (a bug: raised as is)."""
        return None

    def try_lock(self, namespace: int, key: int) -> bool:
        """PostgreSQL: take the advisory lock (namespace, key) on this session (False: held elsewhere)."""
        raise NotImplementedError

    def unlock(self, namespace: int, key: int) -> None:
        raise NotImplementedError

    def holder(self, namespace: int, key: int) -> str:
        """Who holds the lock, for the refusal: ' (bob@laptop, pid 123)', or ''."""
        return ""

    def hold_run(self, run_id: int) -> None:
        """Hold the run's liveness lock for as long as this connection lives (PostgreSQL)."""

    def backup(self, clock: Any, keep: int) -> None:
        """After a run that changed the ledger: a rolling backup where the engine keeps them."""


class SqliteEngine(Engine):
    """A ledger file: an sqlite3 connection in autocommit mode, transactions made explicit."""

    name = "sqlite"

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        super().__init__(str(path))
        self.conn = conn
        self.path = path

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | dict[str, Any]]) -> None:
        self.conn.executemany(sql, rows)

    def begin_write(self, durable: bool = True) -> None:
        self.conn.execute("BEGIN IMMEDIATE")  # WAL with synchronous=NORMAL: as durable either way

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    @property
    def changed(self) -> bool:
        return bool(self.conn.total_changes)

    def close(self) -> None:
        self.conn.close()

    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, version: int) -> None:
        self.conn.execute(f"PRAGMA user_version = {int(version)}")

    def has_tables(self) -> bool:
        return bool(self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])

    def insertion_order(self, alias: str) -> str:
        return f"{alias}.rowid"

    def dead_run(self, column: str, run_id: int) -> tuple[str, list[Any]]:
        # The campaign lock keeps any other live process out, so every other run is over.
        return f"({column} IS NULL OR {column} != ?)", [run_id]


def as_engine(conn: Engine | sqlite3.Connection, path: Path) -> Engine:
    """An engine for `conn` (a bare sqlite3 connection is wrapped)."""
    return conn if isinstance(conn, Engine) else SqliteEngine(conn, Path(path))
