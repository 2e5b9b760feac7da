"""What the ledger stores: its tables, their migrations, and the records read back.

The schema version is `PRAGMA user_version`; `MIGRATIONS[n]` takes a ledger from version
n to n + 1, inside one transaction, so a ledger of any earlier release opens in this one.
Money is stored as exact decimal TEXT and read back as `Decimal`; times as UTC ISO 8601 text.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bulkorders.errors import LedgerError
from bulkorders.identity import NOT_CONTENT

BUSY_TIMEOUT_MS = 30_000
STATES = ("planned", "sending", "placed", "rejected", "uncertain")
OBSERVATION_KINDS = ("status", "refill", "refill_status", "cancel")


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    panel: str
    source_path: str | None
    results_path: str | None
    needs_write: bool


@dataclass(frozen=True)
class PlannedRow:
    """A valid sheet row the submitter means to place: what `Ledger.sync_rows` takes."""

    identity: str
    excel_row: int
    service: str
    link: str | None
    payload: dict[str, str]
    estimate: Decimal


@dataclass(frozen=True)
class LedgerRow:
    """One row of a campaign as the ledger knows it, with its state and outcome."""

    id: int
    identity: str
    excel_row: int
    service: str
    link: str | None
    payload: dict[str, str]
    estimate: Decimal
    state: str
    order_id: str | None
    charge: Decimal | None
    currency: str | None
    error: str | None
    sent_at: str | None
    answered_at: str | None


@dataclass(frozen=True)
class OrderRecord:
    """The latest known values of one order (placed by a campaign or met by a command)."""

    panel: str
    order_id: str
    campaign: str | None
    excel_row: int | None
    service: str | None
    link: str | None
    quantity: int | None
    charge: Decimal | None
    currency: str | None
    status: str | None
    start_count: int | None
    remains: int | None
    refill_id: str | None
    refill_status: str | None
    cancel_result: str | None
    error: str | None
    submitted_at: str | None
    checked_at: str | None


CAMPAIGN_COLUMNS = "id, name, panel, source_path, results_path, needs_write"
ROW_COLUMNS = (
    "r.id, r.identity, r.excel_row, r.service, r.link, r.payload, r.estimate, r.state, "
    "r.order_id, r.charge, r.currency, r.error, r.sent_at, r.answered_at"
)
ORDER_SELECT = (
    "SELECT o.panel, o.order_id, c.name, r.excel_row, o.service, o.link, o.quantity, o.charge, "
    "o.currency, o.status, o.start_count, o.remains, o.refill_id, o.refill_status, "
    "o.cancel_result, o.error, o.submitted_at, o.checked_at "
    "FROM orders o LEFT JOIN campaigns c ON c.id = o.campaign_id "
    "LEFT JOIN rows r ON r.id = o.row_id"
)


def to_campaign(row: Sequence[Any]) -> Campaign:
    return Campaign(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def to_ledger_row(row: Sequence[Any], payload: dict[str, str] | None = None) -> LedgerRow:
    """A `rows` row as a record; `payload` spares decoding when the caller has it already."""
    return LedgerRow(
        row[0], row[1], row[2], row[3], row[4], payload or json.loads(row[5]), Decimal(row[6]),
        row[7], row[8], to_decimal(row[9]), row[10], row[11], row[12], row[13],
    )  # fmt: skip


def to_order_record(row: Sequence[Any]) -> OrderRecord:
    values = list(row)
    values[7] = to_decimal(values[7])
    return OrderRecord(*values)


def to_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def money_text(value: Decimal | int | str | None) -> str | None:
    """Exact decimal text for storage ("0.718" stays "0.718"); floats are refused."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("money must be a Decimal, never a float")
    return format(Decimal(value), "f")


_ENCODER = json.JSONEncoder(ensure_ascii=False)


def stored_payload(payload: dict[str, str]) -> dict[str, str]:
    """The payload as the ledger keeps it: the `add` fields, never the key."""
    if NOT_CONTENT.isdisjoint(payload):  # the panel reads these exact names only
        return dict(payload)
    return {k: v for k, v in payload.items() if k not in NOT_CONTENT}


def payload_json(stored: dict[str, str]) -> str:
    """A `stored_payload` as the JSON text kept in the ledger."""
    return _ENCODER.encode(stored)


# --- opening and migrating ------------------------------------------------------------


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating 0600 if new) and migrate the ledger at `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create_private(path)
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except (OSError, sqlite3.Error) as exc:
        raise LedgerError(
            f"Cannot open the ledger {path}: {_reason(exc)}. "
            "Check the path and its permissions, or choose another with --ledger."
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LedgerError(
            f"{path} cannot be used as a bulkorders ledger ({exc}). "
            "Move it away or choose another file with --ledger (BULKORDERS_LEDGER)."
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


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


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite touches it (SQLite gives its -wal/-shm the same mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a umask cannot widen it, but could narrow it to unusable
    finally:
        os.close(fd)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


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


def quantity_of(payload: dict[str, str]) -> int | None:
    """The payload's quantity as an int, None when the type takes none."""
    text = str(payload.get("quantity") or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _v1_campaign_rows,
    _v2_orders_history,
)
