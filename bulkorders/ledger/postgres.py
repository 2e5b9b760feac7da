"""The team ledger on PostgreSQL, through psycopg 3 (imported only when a PostgreSQL URL is opened).

The URL goes to libpq as given, so its options (sslmode, connect_timeout, service…) pass
through and the password may come from the URL, PGPASSWORD, ~/.pgpass or a service file.
What is shown of the URL has its password masked; no message carries it.

One connection in autocommit mode, transactions made explicit as on SQLite: writes run in
READ COMMITTED (a claim's `FOR UPDATE SKIP LOCKED` decides who gets a row), reads in one
REPEATABLE READ snapshot. A run holds a session advisory lock on its id for as long as its
connection lives: the database itself then knows which runs are alive (`dead_run`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from bulkorders.errors import LedgerError
from bulkorders.ledger.engine import MIGRATION_LOCK, RUN_LOCKS, Engine
from bulkorders.ledger.location import mask_url as masked
from bulkorders.ledger.migrations import migrate

NOTHING_SENT = "Nothing was sent."
LOCK_TIMEOUT = "30s"  # as SQLite's busy timeout: a transaction waits this long for another's locks
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|(?<![:\w]):([A-Za-z_]\w*)|%")
_TABLES = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
# The runs whose liveness lock some session of this database holds.
_LIVE_RUNS = (
    "SELECT CAST(l.objid AS BIGINT) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.objsubid = 2 AND l.classid = CAST(? AS OID) "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def open_postgres(url: str) -> PostgresEngine:
    """Connect to the team ledger at `url` and bring its schema up to date."""
    try:
        import psycopg
    except ImportError:
        raise LedgerError(
            f"The ledger {masked(url)} is a PostgreSQL database, which needs psycopg: install "
            "the team extra (pip install \"bulkorders[team]\", or pip install \".[team]\" in a clone), then rerun."
        ) from None
    extra = {} if "connect_timeout" in url else {"connect_timeout": 10}
    try:
        conn = psycopg.connect(url, autocommit=True, application_name="bulkorders", **extra)
    except psycopg.Error as exc:
        raise connect_failure(url, exc) from None
    engine = PostgresEngine(conn, url)
    try:
        engine.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        migrate(engine, engine.where)
    except psycopg.Error as exc:
        engine.close()
        raise engine.failure(exc, writing=True) or exc from None
    except BaseException:
        engine.close()
        raise
    return engine


def connect_failure(url: str, exc: BaseException) -> LedgerError:
    """Why the team ledger could not be reached or would not let us in, and what to do."""
    where, detail = masked(url), _said(url, exc)
    if re.search(r"password authentication failed|no password supplied|authentication failed", detail):
        return LedgerError(
            f"The team ledger {where} refused the login ({detail}). {NOTHING_SENT} Give the right "
            "user and password: in the URL, PGPASSWORD, ~/.pgpass or a service file."
        )
    if "does not exist" in detail and "database" in detail:
        return LedgerError(
            f"The team ledger {where} names a database the server does not have ({detail}). "
            f"{NOTHING_SENT} Create it (createdb NAME, or ask the database's administrator), then rerun."
        )
    return LedgerError(
        f"Cannot reach the team ledger {where} ({detail}). {NOTHING_SENT} Check that the server is "
        "running and the host, port and sslmode of the URL, then rerun."
    )


def _said(url: str, exc: BaseException) -> str:
    """The server's or libpq's words, on one line, never with the password."""
    text = " ".join(str(exc).split()).removeprefix("connection failed: ")
    found = re.match(r"^[a-z]+://[^:/@?#]*:([^@/?#]+)@", url, flags=re.I)
    return text.replace(found.group(1), "***") if found else text


@functools.lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """A query written with `?` and `:name` marks, in psycopg's `%s` and `%(name)s` (a literal % doubled)."""

    def swap(found: re.Match[str]) -> str:
        token = found.group(0)
        if token.startswith("'"):
            return token.replace("%", "%%")
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return f"%({found.group(1)})s"

    return _TOKENS.sub(swap, sql)


class PostgresEngine(Engine):
    """A team ledger: one psycopg connection of a PostgreSQL database."""

    name = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    shared = True

    def __init__(self, conn: Any, url: str) -> None:
        super().__init__(masked(url))
        self.conn = conn
        self._url = url
        self._pipeline: Any = None  # psycopg's Pipeline while a batch (`begin_batch`) is open

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        if not params:  # nothing to bind: the text goes as written (a literal % stays single)
            return self.conn.execute(sql)
        return self.conn.execute(to_psycopg(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(to_psycopg(sql), rows)

    def begin_write(self, durable: bool = True) -> None:
        # One round trip either way: a simple query of two statements.
        tail = "" if durable else "; SET LOCAL synchronous_commit = off"
        self.conn.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED{tail}")

    def begin_read(self) -> None:
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")

    def begin_migration(self) -> None:
        # One migrating process at a time. A session lock taken before the transaction begins,
        # not pg_advisory_xact_lock inside it: a transaction that waited for another's schema
        # would still see "no such table" for the tables that one created (its catalog cache
        # is refreshed only when a transaction starts).
        self.execute("SELECT pg_advisory_lock(CAST(? AS INTEGER))", (MIGRATION_LOCK,))
        self.begin_write()

    def end_migration(self) -> None:
        self.execute("SELECT pg_advisory_unlock(CAST(? AS INTEGER))", (MIGRATION_LOCK,))

    def begin_batch(self) -> None:
        # Pipeline mode: a statement whose result is not read goes on with the next one, so a
        # batch of outcomes costs a round trip per row read, not per statement.
        self._pipeline = self.conn.pipeline()
        self._pipeline.__enter__()
        try:
            self.begin_write(True)
        except BaseException:
            self._end_pipeline(failed=True)
            raise

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self._end_pipeline(failed=False)  # waits for every answer: an error is raised here

    def _end_pipeline(self, failed: bool) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is None:
            return
        if not failed:
            pipeline.__exit__(None, None, None)
            return
        try:
            pipeline.__exit__(LedgerError, LedgerError("rolled back"), None)
        except Exception:  # noqa: BLE001 - the error that made us roll back is the one to report
            pass

    def rollback(self) -> None:
        self._end_pipeline(failed=True)
        if self.conn.broken or not self.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the error that made us roll back is the one to report
            pass

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.conn.close()

    def version(self) -> int:
        if self.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
            return 0
        found = self.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(found[0] or 0)

    def set_version(self, version: int) -> None:
        self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        self.execute("DELETE FROM schema_version")
        self.execute("INSERT INTO schema_version (version) VALUES (?)", (int(version),))

    def has_tables(self) -> bool:
        return bool(self.execute(_TABLES).fetchone()[0])

    def ddl(self, sql: str) -> str:
        sql = re.sub(r"\bid INTEGER PRIMARY KEY\b", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
        return re.sub(r"\bINTEGER\b", "BIGINT", sql)  # counts (start_count, remains) outgrow int4

    def insertion_order(self, alias: str) -> str:
        # No rowid: the row that placed the order, then the order id in the panel's numbering.
        return f"{alias}.row_id NULLS LAST, length({alias}.order_id), {alias}.order_id"

    def dead_run(self, column: str, run_id: int) -> tuple[str, list[Any]]:
        return (
            f"({column} IS NULL OR ({column} != ? AND {column} NOT IN ({_LIVE_RUNS})))",
            [run_id, RUN_LOCKS],
        )

    def hold_run(self, run_id: int) -> None:
        self.execute("SELECT pg_advisory_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))", (RUN_LOCKS, run_id))

    def try_lock(self, namespace: int, key: int) -> bool:
        return bool(self.execute(
            "SELECT pg_try_advisory_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))", (namespace, key)
        ).fetchone()[0])  # fmt: skip

    def unlock(self, namespace: int, key: int) -> None:
        self.execute("SELECT pg_advisory_unlock(CAST(? AS INTEGER), CAST(? AS INTEGER))", (namespace, key))

    def holder(self, namespace: int, key: int) -> str:
        """Who holds the lock, from the holder's run: ' (bob@laptop, pid 123)', or ''."""
        found = self.execute(
            "SELECT r.operator, r.host, r.pid FROM pg_locks c JOIN pg_locks l ON l.pid = c.pid "
            "JOIN runs r ON r.id = CAST(l.objid AS BIGINT) WHERE c.locktype = 'advisory' AND c.granted "
            "AND c.classid = CAST(? AS OID) AND c.objid = CAST(CAST(? AS BIGINT) & 4294967295 AS OID) "
            "AND c.objsubid = 2 AND l.locktype = 'advisory' AND l.classid = CAST(? AS OID) AND l.objsubid = 2 "
            "AND c.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY r.id DESC LIMIT 1",
            (namespace, key, RUN_LOCKS),
        ).fetchone()
        return f" ({found[0]}@{found[1]}, pid {found[2]})" if found else ""

    def failure(self, exc: BaseException, writing: bool) -> LedgerError | None:
        import psycopg
        from psycopg import errors

        if not isinstance(exc, psycopg.Error):
            return None
        detail, where = _said(self._url, exc), self.where
        step = "Nothing of this step was recorded." if writing else "Nothing was changed."
        if isinstance(exc, errors.DataCorrupted | errors.IndexCorrupted):
            return LedgerError(
                f"The team ledger {where} is damaged (PostgreSQL says: {detail}). {step} Ask the "
                "database's administrator to restore it from its backup, then rerun."
            )
        if isinstance(exc, errors.LockNotAvailable | errors.DeadlockDetected | errors.SerializationFailure):
            return LedgerError(
                f"The team ledger {where} is busy: another bulkorders process kept what this step "
                f"needs locked ({detail}). {step} Wait for it to finish, then rerun."
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return LedgerError(
                f"The team ledger {where} refused this user ({detail}). {step} Ask the database's "
                "administrator for read and write access to the ledger's tables."
            )
        if isinstance(exc, psycopg.OperationalError) or self.conn.broken:
            return LedgerError(
                f"Lost the team ledger {where} ({detail}). {step} Rows being sent then become "
                "uncertain; check that the server is running, then rerun."
            )
        return None
