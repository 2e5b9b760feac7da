"""Bringing the ledger's tables to this release's schema, on either engine (`engine`).

The schema version is SQLite's `PRAGMA user_version`, or PostgreSQL's one-row table
`schema_version`; `MIGRATIONS[n]` takes a ledger from version n to n + 1. All the steps
run in one transaction (on PostgreSQL under an advisory lock, so two processes opening a
new team database never migrate it twice), so a ledger of any earlier release opens in
this one. DDL is written for SQLite; `Engine.ddl` maps its types for PostgreSQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from bulkorders.errors import LedgerError
from bulkorders.ledger.engine import Engine, as_engine
from bulkorders.ledger.finance import migrate_finance
from bulkorders.ledger.records import OBSERVATION_KINDS, STATES, quantity_of


def migrate(conn: Engine | sqlite3.Connection, path: Path | str, target: int | None = None) -> None:
    """Apply the migrations from the ledger's version up to `target` (default: latest)."""
    db = as_engine(conn, Path(path))
    target = len(MIGRATIONS) if target is None else target
    if db.version() == target:
        return
    db.begin_migration()  # another process may be migrating the same ledger
    try:
        version = db.version()
        if version > len(MIGRATIONS):
            raise LedgerError(
                f"The ledger {path} was written by a newer bulkorders (schema {version}; this "
                f"version knows up to {len(MIGRATIONS)}). Upgrade bulkorders to use it."
            )
        if version == 0 and db.has_tables():
            kind = "an SQLite database" if db.name == "sqlite" else "a database with tables"
            raise LedgerError(
                f"{path} is {kind} but not a bulkorders ledger. "
                "Choose another ledger with --ledger (BULKORDERS_LEDGER)."
            )
        for step in MIGRATIONS[version:target]:
            step(db)
        db.set_version(max(version, target))
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.end_migration()


def _v1_campaign_rows(conn: Engine) -> None:
    """First release: campaigns and their rows (state, order id, outcome)."""
    conn.execute(conn.ddl(
        """CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            panel TEXT NOT NULL,
            source_path TEXT,
            results_path TEXT,
            needs_write INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            UNIQUE (name, panel))"""
    ))
    conn.execute(conn.ddl(
        f"""CREATE TABLE rows (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            identity TEXT NOT NULL,
            excel_row INTEGER NOT NULL,
            service TEXT NOT NULL,
            link TEXT,
            payload TEXT NOT NULL,
            estimate TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'planned' CHECK (state IN {STATES!r}),
            order_id TEXT,
            charge TEXT,
            currency TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            answered_at TEXT,
            UNIQUE (campaign_id, identity))"""
    ))
    conn.execute("CREATE INDEX rows_by_state ON rows (campaign_id, state)")


def _v2_orders_history(conn: Engine) -> None:
    """Orders with their latest status/refill/cancel, and every observation of them."""
    conn.execute(conn.ddl(
        """CREATE TABLE orders (
            panel TEXT NOT NULL,
            order_id TEXT NOT NULL,
            campaign_id INTEGER REFERENCES campaigns(id),
            row_id INTEGER REFERENCES rows(id),
            service TEXT,
            link TEXT,
            quantity INTEGER,
            charge TEXT,
            currency TEXT,
            status TEXT,
            start_count INTEGER,
            remains INTEGER,
            refill_id TEXT,
            refill_status TEXT,
            cancel_result TEXT,
            error TEXT,
            submitted_at TEXT,
            checked_at TEXT,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (panel, order_id))"""
    ))
    conn.execute("CREATE INDEX orders_by_id ON orders (order_id)")
    conn.execute("CREATE INDEX orders_by_campaign ON orders (campaign_id)")
    conn.execute(conn.ddl(
        f"""CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            panel TEXT NOT NULL,
            order_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN {OBSERVATION_KINDS!r}),
            at TEXT NOT NULL,
            data TEXT NOT NULL)"""
    ))
    conn.execute("CREATE INDEX observations_by_order ON observations (panel, order_id, at)")
    conn.execute("CREATE INDEX observations_by_time ON observations (at)")
    # Rows placed under schema 1 become orders, so the report and lifecycle see them.
    placed = conn.execute(
        "SELECT c.panel, r.order_id, r.campaign_id, r.id, r.service, r.link, r.payload, "
        "r.charge, r.currency, r.sent_at, COALESCE(r.answered_at, r.created_at) "
        "FROM rows r JOIN campaigns c ON c.id = r.campaign_id "
        "WHERE r.state = 'placed' AND r.order_id IS NOT NULL"
    ).fetchall()
    conn.executemany(
        "INSERT INTO orders (panel, order_id, campaign_id, row_id, service, link, quantity, "
        "charge, currency, submitted_at, seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        [(*p[:6], quantity_of(json.loads(p[6])), *p[7:]) for p in placed],
    )


def _v4_results_stamp(conn: Engine) -> None:
    """The size and time of the results sheet as last written, so that a rerun knows
    whether that file still is the one the ledger wrote (see submit's recovery)."""
    conn.execute("ALTER TABLE campaigns ADD COLUMN results_stamp TEXT")


def _v5_runs(conn: Engine) -> None:
    """Who did what (issue 14): one row per run that changed the ledger (the OS user and
    host of its operator), and the run that claimed each row for sending."""
    conn.execute(conn.ddl(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            operator TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL)"""
    ))  # fmt: skip
    conn.execute(conn.ddl("ALTER TABLE rows ADD COLUMN run_id INTEGER REFERENCES runs(id)"))


MIGRATIONS: tuple[Callable[[Engine], None], ...] = (
    _v1_campaign_rows,
    _v2_orders_history,
    migrate_finance,
    _v4_results_stamp,
    _v5_runs,
)
