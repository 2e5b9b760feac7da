"""The rows side of the ledger: syncing a sheet's rows into a campaign, and the guard on
state changes. Functions over an open connection, called by `Ledger` inside its
transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from bulkorders.errors import LedgerError
from bulkorders.ledger.engine import Engine
from bulkorders.ledger.orders import upsert_order
from bulkorders.ledger.records import (
    ROW_COLUMNS,
    LedgerRow,
    PlannedRow,
    RowState,
    money_text,
    payload_json,
    stored_payload,
    to_ledger_row,
)

CHUNK = 500  # ids per IN (...) list, well under SQLite's variable limit


def sync(
    db: Engine, campaign_id: int, planned: Sequence[PlannedRow], now: str
) -> list[LedgerRow]:
    """Insert new identities as `planned`, move known ones to their current Excel row
    (and refresh payload and estimate of those still planned); the rows, in `planned` order.

    Fast for 100k rows: one read of the campaign, only new or changed rows written, and
    the result built from what is in hand rather than read back.
    """
    if len({p.identity for p in planned}) != len(planned):
        raise ValueError("sync_rows: two planned rows share an identity")
    known = {
        r[1]: r for r in db.execute(
            f"SELECT {ROW_COLUMNS} FROM rows r WHERE r.campaign_id = ?", (campaign_id,)
        )
    }  # fmt: skip
    last_id = one(db, "SELECT max(id) FROM rows") or 0
    new, changed, stored = [], [], []
    for p in planned:
        clean = stored_payload(p.payload)
        text, estimate = payload_json(clean), money_text(p.estimate)
        stored.append((clean, text, estimate))
        old = known.get(p.identity)
        if old is None:
            new.append((campaign_id, p.identity, p.excel_row, p.service, p.link, text,
                        estimate, now))  # fmt: skip
        elif old[2] != p.excel_row or old[7] == RowState.PLANNED and old[5:7] != (text, estimate):
            changed.append((p.excel_row, text, estimate, old[0]))
    db.executemany(
        "INSERT INTO rows (campaign_id, identity, excel_row, service, link, payload, "
        "estimate, created_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (campaign_id, identity) DO NOTHING",
        new,
    )
    db.executemany(
        "UPDATE rows SET excel_row = ?, "
        "payload = CASE state WHEN 'planned' THEN ? ELSE payload END, "
        "estimate = CASE state WHEN 'planned' THEN ? ELSE estimate END WHERE id = ?",
        changed,
    )
    new_ids = dict(db.execute(
        "SELECT identity, id FROM rows WHERE campaign_id = ? AND id > ?", (campaign_id, last_id)
    ).fetchall())  # fmt: skip
    # SQLite out of rowids above the last one, or (team ledger) ids handed out before that
    # read to another process's rows: read them all.
    if len(new_ids) < len(new):
        new_ids = dict(db.execute(
            "SELECT identity, id FROM rows WHERE campaign_id = ?", (campaign_id,)
        ).fetchall())  # fmt: skip
    return [_synced(p, s, known.get(p.identity), new_ids) for p, s in zip(planned, stored)]


def _synced(
    p: PlannedRow,
    stored: tuple[dict[str, str], str, str],
    old: Sequence[Any] | None,
    new_ids: dict[str, int],
) -> LedgerRow:
    """The ledger row `sync` left for `p`: (payload, its JSON, estimate text) as stored."""
    if old is None:
        return LedgerRow(
            new_ids[p.identity], p.identity, p.excel_row, p.service, p.link, stored[0],
            p.estimate, RowState.PLANNED, None, None, None, None, None, None,
        )  # fmt: skip
    if old[7] == RowState.PLANNED:
        old = (*old[:5], *stored[1:], *old[7:])
    row = to_ledger_row(old, stored[0] if old[5] == stored[1] else None)
    return replace(row, excel_row=p.excel_row) if row.excel_row != p.excel_row else row


def rows_by_id(db: Engine, ids: Iterable[int]) -> list[LedgerRow]:
    """These rows, in the order of `ids` (missing ones left out)."""
    ids = list(ids)
    by_id = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found = db.execute(f"SELECT {ROW_COLUMNS} FROM rows r WHERE r.id IN ({marks})", chunk)
        by_id.update((r[0], r) for r in found)
    return [to_ledger_row(by_id[i]) for i in ids if i in by_id]


def check_states(
    db: Engine, row_ids: Sequence[int], target: str, allowed: tuple[str, ...]
) -> None:
    """Refuse a state change that could order twice or lose an outcome, changing nothing."""
    states = {}
    unique = list(dict.fromkeys(row_ids))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        states.update(db.execute(f"SELECT id, state FROM rows WHERE id IN ({marks})", chunk))
    wrong = [f"{i} ({states.get(i, 'missing')})" for i in unique if states.get(i) not in allowed]
    if wrong:
        raise LedgerError(
            f"Ledger rows {', '.join(wrong)} cannot become {target}: only {either(allowed)} "
            "rows can. Nothing was changed or sent. This is a bug in bulkorders; please report it."
        )


# The row placed, and the row of its panel the order id was given to already (if another).
_PLACED_ROW = (
    "SELECT here.campaign_id, hc.panel, here.service, here.link, here.payload, here.excel_row, "
    "o.row_id, r.excel_row, c.name FROM rows here JOIN campaigns hc ON hc.id = here.campaign_id "
    "LEFT JOIN orders o ON o.panel = hc.panel AND o.order_id = ? AND o.row_id != here.id "
    "LEFT JOIN rows r ON r.id = o.row_id LEFT JOIN campaigns c ON c.id = r.campaign_id WHERE here.id = ?"
)


def shared_order(db: Engine, row_id: int, order_id: str, at: str, found: Sequence[Any]) -> str:
    """When the panel already gave `order_id` to another row of its panel: flag both rows,
    make this one `uncertain`, and return why sending must stop.

    One order id for two different orders means the panel is misbehaving: which row the
    order is, and whether the other has one at all, only the panel's order list can say.
    `found`: the row's `_PLACED_ROW`.
    """
    this_row, other_id, other_row, other_campaign = found[5:9]
    check = "check both rows' links in the panel's order list"
    db.execute(
        "UPDATE rows SET state = 'uncertain', error = ?, answered_at = ? WHERE id = ?",
        (f"the panel answered order {order_id}, which it had already given to row {other_row} "
         f"of campaign {other_campaign}: {check} before sending this row again "
         "(--resend-uncertain).", at, row_id),
    )  # fmt: skip
    db.execute(
        "UPDATE rows SET error = ? WHERE id = ?",
        (f"the panel gave this row's order {order_id} also to row {this_row} of a later add: "
         f"{check}.", other_id),
    )  # fmt: skip
    return (
        f"The panel answered order {order_id} for row {this_row}, an order id it had already "
        f"given to row {other_row} of campaign {other_campaign}: the panel is misbehaving, so "
        f"sending stopped. Both rows are flagged in the sheet; {check}, then rerun."
    )


def placed(
    db: Engine, row_id: int, order_id: str, charge: str | None, currency: str | None, at: str, warning: str | None
) -> str | None:
    """`Ledger.mark_placed`: the row placed as `order_id` (a row placed already keeps its own
    order, flagged); or, when the panel gave that id to another row, why sending must stop."""
    found = db.execute(_PLACED_ROW, (order_id, row_id)).fetchone()
    if found is not None and found[6] is not None:
        return shared_order(db, row_id, order_id, at, found)
    # One statement whatever the row's state, so nothing waits for its result (a team ledger
    # sends it on with the next): a row placed already keeps its order, and is flagged when
    # this is another. Every right-hand side reads the row as it was.
    db.execute(
        "UPDATE rows SET state = 'placed', "
        "order_id = CASE WHEN state = 'placed' THEN order_id ELSE ? END, "
        "charge = CASE WHEN state = 'placed' THEN charge ELSE ? END, "
        "currency = CASE WHEN state = 'placed' THEN currency ELSE ? END, "
        "answered_at = CASE WHEN state = 'placed' THEN answered_at ELSE ? END, "
        "error = CASE WHEN state != 'placed' THEN ? WHEN order_id = ? THEN error "
        "ELSE 'ordered twice: orders ' || order_id || ' and ' || ? END WHERE id = ?",
        (order_id, charge, currency, at, warning, order_id, order_id, row_id),
    )
    upsert_order(db, row_id, order_id, charge, currency, at, at, found[:5] if found else None)
    return None


def carried(db: Engine, campaign_id: int, orders: Sequence[tuple[int, str]], at: str) -> None:
    """`Ledger.record_existing_orders`: rows whose sheet shows an order id count as placed by it."""
    for row_id, order_id in orders:
        db.execute(
            "UPDATE rows SET state = 'placed', order_id = ?, error = NULL, "
            "answered_at = COALESCE(answered_at, ?) "
            "WHERE id = ? AND campaign_id = ? AND state != 'placed'",
            (str(order_id), at, row_id, campaign_id),
        )
        current = one(db, "SELECT order_id FROM rows WHERE id = ?", row_id)
        if current is not None:
            upsert_order(db, row_id, current, None, None, None, at)


def one(db: Engine, sql: str, *params: Any) -> Any:
    """The first column of the first row, or None."""
    row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def either(states: Sequence[str]) -> str:
    """'planned', 'planned or uncertain', 'planned, uncertain or rejected'."""
    return " or ".join([", ".join(states[:-1]), states[-1]] if len(states) > 1 else states)
