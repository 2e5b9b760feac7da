"""What finance needs from the ledger: the sheet's own columns of every row, and the balances seen.

`row_columns` keeps, per ledger row, the values of the sheet's other columns (a `client`,
a `project`…) as text, so the report can group spend by any of them. `balance_readings`
keeps every balance a command saw, so the report can set the balance's changes beside
the ledger's spend. Functions over a `Ledger`, inside its transactions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bulkorders.ledger.records import money_text

if TYPE_CHECKING:
    from bulkorders.ledger.engine import Engine
    from bulkorders.ledger.store import Ledger

MAX_VALUE_CHARS = 200  # per value kept
MAX_COLUMNS = 30  # columns kept per row
_CHUNK = 500


def migrate_finance(conn: Engine) -> None:
    """Schema 3: the sheet's other columns per row, and the balance readings."""
    conn.execute(conn.ddl(
        """CREATE TABLE row_columns (
            row_id INTEGER PRIMARY KEY REFERENCES rows(id),
            data TEXT NOT NULL)"""
    ))
    conn.execute(conn.ddl(
        """CREATE TABLE balance_readings (
            id INTEGER PRIMARY KEY,
            panel TEXT NOT NULL,
            at TEXT NOT NULL,
            amount TEXT NOT NULL,
            currency TEXT,
            command TEXT NOT NULL,
            campaign TEXT,
            ledger_spend TEXT NOT NULL DEFAULT '0',
            uncertain TEXT NOT NULL DEFAULT '[]')"""
    ))
    conn.execute("CREATE INDEX balance_readings_by_panel ON balance_readings (panel, id)")


def column_text(value: Any) -> str | None:
    """A cell of the user's own column as the text the ledger keeps (None for blank)."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = str(value).upper()  # as Excel shows it
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, datetime):
        value = value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    elif isinstance(value, date):
        value = value.isoformat()
    text = str(value).strip()
    return text[:MAX_VALUE_CHARS] or None


def _columns_json(values: Mapping[str, Any]) -> str:
    kept: dict[str, str] = {}
    for header, value in values.items():
        text = column_text(value)
        if text is not None and len(kept) < MAX_COLUMNS:
            kept[str(header)[:MAX_VALUE_CHARS]] = text
    return json.dumps(kept, ensure_ascii=False, sort_keys=True)


def record_row_columns(ledger: Ledger, values: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """Keep, per ledger row id, the values of the sheet's other columns (only changes are written)."""
    wanted = {row_id: _columns_json(cells) for row_id, cells in values}
    if not wanted:
        return
    with ledger._write() as db:  # noqa: SLF001 - a ledger module, inside the ledger's transaction
        known = _known_columns(db, list(wanted))
        changed = [(row_id, text) for row_id, text in wanted.items() if known.get(row_id, "{}") != text]
        db.executemany(
            "INSERT INTO row_columns (row_id, data) VALUES (?, ?) "
            "ON CONFLICT (row_id) DO UPDATE SET data = excluded.data",
            changed,
        )


def _known_columns(db: Engine, ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(f"SELECT row_id, data FROM row_columns WHERE row_id IN ({marks})", chunk))
    return found


def order_columns(ledger: Ledger, panel: str | None = None) -> dict[tuple[str, str], dict[str, str]]:
    """(panel, order id) -> the sheet's other columns of the row that placed it."""
    query = (
        "SELECT o.panel, o.order_id, rc.data FROM orders o JOIN row_columns rc ON rc.row_id = o.row_id"
        + (" WHERE o.panel = ?" if panel is not None else "")
    )
    with ledger._read() as db:  # noqa: SLF001
        rows = db.execute(query, (panel,) if panel is not None else ()).fetchall()
    return {(p, order_id): json.loads(data) for p, order_id, data in rows}


@dataclass(frozen=True)
class BalanceReading:
    """One balance a command saw: when, how much, and what it was doing."""

    panel: str
    at: str
    amount: Decimal
    currency: str | None
    command: str  # "balance", "submit before", "submit after", "status"
    campaign: str | None = None
    uncertain: list[dict[str, Any]] = field(default_factory=list)  # rows a submit left uncertain
    ledger_spend: Decimal = Decimal(0)  # what the ledger's orders had cost, as it knew then


def record_balance(ledger: Ledger, reading: BalanceReading) -> None:
    """Keep a balance reading."""
    with ledger._write() as db:  # noqa: SLF001
        db.execute(
            "INSERT INTO balance_readings (panel, at, amount, currency, command, campaign, uncertain, "
            "ledger_spend) VALUES (?,?,?,?,?,?,?,?)",
            (reading.panel, reading.at, money_text(reading.amount), reading.currency, reading.command,
             reading.campaign, json.dumps(reading.uncertain), money_text(reading.ledger_spend)),
        )  # fmt: skip


def balance_readings(ledger: Ledger, panel: str | None = None) -> list[BalanceReading]:
    """Every balance reading (of `panel` if given), in the order they were taken."""
    query = "SELECT panel, at, amount, currency, command, campaign, uncertain, ledger_spend FROM balance_readings"
    query += (" WHERE panel = ?" if panel is not None else "") + " ORDER BY id"
    with ledger._read() as db:  # noqa: SLF001
        rows = db.execute(query, (panel,) if panel is not None else ()).fetchall()
    return [
        BalanceReading(p, at, Decimal(amount), currency, command, campaign, json.loads(uncertain), Decimal(spend))
        for p, at, amount, currency, command, campaign, uncertain, spend in rows
    ]
