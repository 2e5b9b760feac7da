"""Bringing the ledger's tables to this release's schema (opening the file: `files`).

The schema version is `PRAGMA user_version`; `MIGRATIONS[n]` takes a ledger from version
n to n + 1, inside one transaction, so a ledger of any earlier release opens in this one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from bulkorders.errors import LedgerError
from bulkorders.ledger.finance import migrate_finance
from bulkorders.ledger.records import OBSERVATION_KINDS, STATES, quantity_of


def migrate(conn: sqlite3.Connection, path: Path, target: int | None = None) -> None:
    """Apply the migrations from the ledger's version up to `target` (default: latest)."""
    target = len(MIGRATIONS) if target is None else target
    if _version(conn) == target:
        return
    conn.execute("BEGIN IMMEDIATE")  # another process may be migrating the same file
    try:
        version = _version(conn)
        if version > len(MIGRATIONS):
            raise LedgerError(
                f"The ledger {path} was written by a newer bulkorders (schema {version}; this "
                f"version knows up to {len(MIGRATIONS)}). Upgrade bulkorders to use it."
            )
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise LedgerError(
                f"{path} is an SQLite database but not a bulkorders ledger. "
                "Choose another file with --ledger (BULKORDERS_LEDGER)."
            )
        for step in MIGRATIONS[version:target]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {max(version, target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _v1_campaign_rows(conn: sqlite3.Connection) -> None:
    """First release: campaigns and their rows (state, order id, outcome)."""
    conn.execute(
        """CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            panel TEXT NOT NULL,
            source_path TEXT,
            results_path TEXT,
            needs_write INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            UNIQUE (name, panel))"""
    )
    conn.execute(
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
    )
    conn.execute("CREATE INDEX rows_by_state ON rows (campaign_id, state)")


def _v2_orders_history(conn: sqlite3.Connection) -> None:
    """Orders with their latest status/refill/cancel, and every observation of them."""
    conn.execute(
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
    )
    conn.execute("CREATE INDEX orders_by_id ON orders (order_id)")
    conn.execute("CREATE INDEX orders_by_campaign ON orders (campaign_id)")
    conn.execute(
        f"""CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            panel TEXT NOT NULL,
            order_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN {OBSERVATION_KINDS!r}),
            at TEXT NOT NULL,
            data TEXT NOT NULL)"""
    )
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
        "INSERT OR IGNORE INTO orders (panel, order_id, campaign_id, row_id, service, link, "
        "quantity, charge, currency, submitted_at, seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(*p[:6], quantity_of(json.loads(p[6])), *p[7:]) for p in placed],
    )


def _v4_results_stamp(conn: sqlite3.Connection) -> None:
    """The size and time of the results sheet as last written, so that a rerun knows
    whether that file still is the one the ledger wrote (see submit's recovery)."""
    conn.execute("ALTER TABLE campaigns ADD COLUMN results_stamp TEXT")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _v1_campaign_rows,
    _v2_orders_history,
    migrate_finance,
    _v4_results_stamp,
)
