"""The orders side of the ledger: recording what the panel said of orders, and the queries
the report and lifecycle read them with. Functions over an open connection, called by
`Ledger` inside its transactions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from bulkorders.errors import LedgerError
from bulkorders.ledger.engine import Engine
from bulkorders.ledger.records import ORDER_SELECT, ROW_COLUMNS, money_text, quantity_of, to_decimal
from bulkorders.models import CancelResult, OrderStatus, RefillResult, RefillStatus, cancel_words

LOST_ANSWER = "the panel's answer was lost: check the panel, then ask again"

Items = list[tuple[str, dict[str, Any]]]  # (order id, the answer as recorded)

# Each UPDATE keeps what an answer does not say (COALESCE) and sets `error` to this
# answer's error, so an order's error is that of the latest call about it.
STATUS_UPDATE = (
    "UPDATE orders SET status = COALESCE(:status, status), charge = COALESCE(:charge, charge), "
    "currency = COALESCE(:currency, currency), start_count = COALESCE(:start_count, start_count), "
    "remains = COALESCE(:remains, remains), error = :error, checked_at = :at "
    "WHERE panel = :panel AND order_id = :order"
)
REFILL_UPDATE = (
    "UPDATE orders SET refill_id = COALESCE(:refill, refill_id), "
    "refill_status = CASE WHEN CAST(:refill AS TEXT) IS NULL THEN refill_status END, error = :error "
    "WHERE panel = :panel AND order_id = :order"
)
# A refill id the panel answered with an error ("Refill not found": a mistyped cell) is
# never adopted: the order would carry it, and be asked about it, forever.
REFILL_STATUS_UPDATE = (
    "UPDATE orders SET refill_status = COALESCE(:status, refill_status), "
    "refill_id = CASE WHEN CAST(:error AS TEXT) IS NULL THEN COALESCE(refill_id, :refill) ELSE refill_id END, "
    "error = :error WHERE panel = :panel AND order_id = :order"
)
CANCEL_UPDATE = (
    "UPDATE orders SET cancel_result = CASE WHEN :lost THEN cancel_result "
    "ELSE COALESCE(:cancel, :error, cancel_result) END, error = :error "
    "WHERE panel = :panel AND order_id = :order"
)


def status_items(statuses: Sequence[OrderStatus]) -> Items:
    return [
        (s.order, {"status": s.status, "charge": money_text(s.charge), "currency": s.currency,
                   "start_count": s.start_count, "remains": s.remains, "error": s.error})
        for s in statuses
    ]  # fmt: skip


def refill_items(results: Sequence[RefillResult]) -> Items:
    return [
        (r.order, {"refill": r.refill, "error": r.error or (LOST_ANSWER if r.lost else None),
                   "lost": r.lost})
        for r in results
    ]  # fmt: skip


def refill_status_items(statuses: Sequence[tuple[str, RefillStatus]]) -> Items:
    return [
        (order, {"refill": s.refill, "status": s.status, "error": s.error})
        for order, s in statuses
    ]  # fmt: skip


def cancel_items(results: Sequence[CancelResult]) -> Items:
    return [
        (r.order, {"cancel": None if r.lost else cancel_words(r.error, r.lost),
                   "error": r.error or (LOST_ANSWER if r.lost else None), "lost": r.lost})
        for r in results
    ]  # fmt: skip


KINDS: dict[str, tuple[Callable[[Any], Items], str]] = {
    "status": (status_items, STATUS_UPDATE),
    "refill": (refill_items, REFILL_UPDATE),
    "refill_status": (refill_status_items, REFILL_STATUS_UPDATE),
    "cancel": (cancel_items, CANCEL_UPDATE),
}


def observe(db: Engine, panel: str, kind: str, at: str, answers: Sequence[Any]) -> None:
    """Add orders the ledger does not know, update their latest values, append the history.

    An answer that is only an error ("Incorrect order ID") adds no order, but is kept in
    the history.
    """
    to_items, update = KINDS[kind]
    items = to_items(answers)
    db.executemany(
        "INSERT INTO orders (panel, order_id, seen_at) VALUES (?,?,?) ON CONFLICT DO NOTHING",
        ((panel, str(order), at) for order, data in items if data["error"] is None),
    )
    db.executemany(
        update, ({**data, "panel": panel, "order": str(order), "at": at} for order, data in items)
    )
    db.executemany(
        "INSERT INTO observations (panel, order_id, kind, at, data) VALUES (?,?,?,?,?)",
        ((panel, str(order), kind, at, json.dumps(data)) for order, data in items),
    )


def upsert_order(
    db: Engine,
    row_id: int,
    order_id: str,
    charge: str | None,
    currency: str | None,
    submitted_at: str | None,
    seen_at: str,
    row: Sequence[Any] | None = None,
) -> None:
    """The order of a placed row, linked to its campaign and row; known values are kept,
    and so is the campaign that first owned the order. `row`: the row's (campaign id,
    panel, service, link, payload) when the caller has read them already."""
    found = row or db.execute(
        "SELECT r.campaign_id, c.panel, r.service, r.link, r.payload FROM rows r "
        "JOIN campaigns c ON c.id = r.campaign_id WHERE r.id = ?",
        (row_id,),
    ).fetchone()
    if found is None:
        raise LedgerError(
            f"Order {order_id} belongs to ledger row {row_id}, which does not exist. "
            "This is a bug in bulkorders; please report it with this order id."
        )
    campaign_id, panel, service, link, payload = found
    db.execute(
        "INSERT INTO orders (panel, order_id, campaign_id, row_id, service, link, quantity, "
        "charge, currency, submitted_at, seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
        # The first campaign to own an order keeps it: a sheet carrying its order ids
        # submitted under another --campaign must not move it (the audit would lose it).
        "ON CONFLICT (panel, order_id) DO UPDATE SET "
        "campaign_id = COALESCE(orders.campaign_id, excluded.campaign_id), "
        "row_id = COALESCE(orders.row_id, excluded.row_id), "
        "service = COALESCE(orders.service, excluded.service), "
        "link = COALESCE(orders.link, excluded.link), "
        "quantity = COALESCE(orders.quantity, excluded.quantity), "
        "charge = COALESCE(orders.charge, excluded.charge), "
        "currency = COALESCE(orders.currency, excluded.currency), "
        "submitted_at = COALESCE(orders.submitted_at, excluded.submitted_at)",
        (panel, order_id, campaign_id, row_id, service, link, quantity_of(json.loads(payload)),
         charge, currency, submitted_at, seen_at),
    )  # fmt: skip


# --- queries ---------------------------------------------------------------------------
# `by_ids` means the caller loaded the wanted order ids into the temp table `wanted`.


def order_records_query(
    campaigns: Sequence[str] | None, since: str | None, until: str | None, panel: str | None,
    by_ids: bool, tiebreak: str = "o.rowid",
) -> tuple[str, list[Any]]:  # fmt: skip
    """`tiebreak`: `Engine.insertion_order` of the orders, for orders of the same time."""
    when = "COALESCE(o.submitted_at, o.seen_at)"
    where, params = filters(campaigns, since, until, panel, "o.panel", when)
    if by_ids:
        where.append("o.order_id IN (SELECT id FROM wanted)")
    return f"{ORDER_SELECT} {_where(where)} ORDER BY {when}, {tiebreak}", params


def problem_rows_query(
    campaigns: Sequence[str] | None, since: str | None, until: str | None, panel: str | None
) -> tuple[str, list[Any]]:
    when = "COALESCE(r.answered_at, r.sent_at, r.created_at)"
    where, params = filters(campaigns, since, until, panel, "c.panel", when)
    where.append("r.state IN ('rejected', 'uncertain')")
    sql = (
        f"SELECT c.name, {ROW_COLUMNS} FROM rows r JOIN campaigns c ON c.id = r.campaign_id "
        f"{_where(where)} ORDER BY c.name, r.excel_row, r.id"
    )
    return sql, params


def observations_query(
    campaigns: Sequence[str] | None, since: str | None, until: str | None, panel: str | None,
    by_ids: bool,
) -> tuple[str, list[Any]]:  # fmt: skip
    where, params = filters(campaigns, since, until, panel, "b.panel", "b.at")
    if by_ids:
        where.append("b.order_id IN (SELECT id FROM wanted)")
    sql = (
        "SELECT b.panel, b.order_id, c.name, b.kind, b.at, b.data FROM observations b "
        "LEFT JOIN orders o ON o.panel = b.panel AND o.order_id = b.order_id "
        f"LEFT JOIN campaigns c ON c.id = o.campaign_id {_where(where)} ORDER BY b.at, b.id"
    )
    return sql, params


def to_observation(row: Sequence[Any]) -> dict[str, Any]:
    """An observation as the report reads it; a recorded charge comes back as Decimal."""
    panel, order_id, campaign, kind, at, text = row
    data = json.loads(text)
    if data.get("charge") is not None:
        data["charge"] = to_decimal(data["charge"])
    return {
        "panel": panel, "order_id": order_id, "campaign": campaign, "kind": kind, "at": at,
        "data": data,
    }  # fmt: skip


def filters(
    campaigns: Sequence[str] | None,
    since: str | None,
    until: str | None,
    panel: str | None,
    panel_column: str,
    time_column: str,
) -> tuple[list[str], list[Any]]:
    """WHERE parts for the report's filters.

    `since` is inclusive. `until` given as a date ("2026-11-30") includes that whole day;
    given as a time ("2026-11-30T12:00:00Z") it is inclusive. Both compare as UTC text.
    """
    where: list[str] = []
    params: list[Any] = []
    if campaigns is not None:
        where.append(f"c.name IN ({','.join('?' * len(campaigns))})")
        params.extend(campaigns)
    if panel is not None:
        where.append(f"{panel_column} = ?")
        params.append(panel)
    if since is not None:
        where.append(f"{time_column} >= ?")
        params.append(since)
    if until is not None:
        if len(until) == 10:
            where.append(f"{time_column} < ?")
            params.append((dt.date.fromisoformat(until) + dt.timedelta(days=1)).isoformat())
        else:
            where.append(f"{time_column} <= ?")
            params.append(until)
    return where, params


def _where(parts: list[str]) -> str:
    return f"WHERE {' AND '.join(parts)}" if parts else ""
