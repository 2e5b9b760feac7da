"""What the ledger holds, as records: campaigns, rows and orders read back, and how values are stored.

Money is stored as exact decimal TEXT and read back as `Decimal`; times as UTC ISO 8601 text.
Pure: no database here (the tables and their migrations are in `migrations.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bulkorders.ledger.identity import NOT_CONTENT


class RowState(StrEnum):
    """Where a campaign row is on its way to an order (the values are what the ledger stores)."""

    PLANNED = "planned"  # recorded, not sent
    SENDING = "sending"  # its `add` may be on the wire
    PLACED = "placed"  # the panel answered with an order id
    REJECTED = "rejected"  # the panel refused it
    UNCERTAIN = "uncertain"  # the answer was lost: the order may exist


STATES = tuple(state.value for state in RowState)
OBSERVATION_KINDS = ("status", "refill", "refill_status", "cancel")


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    panel: str
    source_path: str | None
    results_path: str | None
    needs_write: bool
    results_stamp: str | None = None  # `file_stamp` of the results sheet as last written


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
    run_id: int | None = None  # the run that last claimed it for sending (none: never sent)


@dataclass(frozen=True, slots=True)  # slots: status loads one per order of a sheet
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


CAMPAIGN_COLUMNS = "id, name, panel, source_path, results_path, needs_write, results_stamp"
ROW_COLUMNS = (
    "r.id, r.identity, r.excel_row, r.service, r.link, r.payload, r.estimate, r.state, "
    "r.order_id, r.charge, r.currency, r.error, r.sent_at, r.answered_at, r.run_id"
)
ORDER_SELECT = (
    "SELECT o.panel, o.order_id, c.name, r.excel_row, o.service, o.link, o.quantity, o.charge, "
    "o.currency, o.status, o.start_count, o.remains, o.refill_id, o.refill_status, "
    "o.cancel_result, o.error, o.submitted_at, o.checked_at "
    "FROM orders o LEFT JOIN campaigns c ON c.id = o.campaign_id "
    "LEFT JOIN rows r ON r.id = o.row_id"
)


def to_campaign(row: Sequence[Any]) -> Campaign:
    return Campaign(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])


# Columns of ROW_COLUMNS whose few distinct values repeat over a campaign's rows: service,
# state, currency, error.
_ROW_REPEATED = (3, 7, 10, 11)


def to_ledger_row(
    row: Sequence[Any], payload: dict[str, str] | None = None, common: dict[Any, Any] | None = None
) -> LedgerRow:
    """A `rows` row as a record; `payload` spares decoding when the caller has it already;
    `common` (one dict per query) shares repeated texts."""
    if common is not None:
        row = list(row)
        for index in _ROW_REPEATED:
            row[index] = common.setdefault(row[index], row[index])
    return LedgerRow(
        row[0], row[1], row[2], row[3], row[4], payload or json.loads(row[5]), Decimal(row[6]),
        row[7], row[8], to_decimal(row[9]), row[10], row[11], row[12], row[13], row[14] if len(row) > 14 else None,
    )  # fmt: skip


# Columns of ORDER_SELECT whose few distinct values repeat over every order of a campaign:
# panel, campaign, service, currency, status, refill_status, cancel_result.
_REPEATED = (0, 2, 4, 8, 9, 13, 14)


def to_order_record(row: Sequence[Any], common: dict[Any, Any] | None = None) -> OrderRecord:
    """An ORDER_SELECT row as a record; `common` (one dict per query) shares repeated texts."""
    values = list(row)
    values[7] = to_decimal(values[7])
    if common is not None:
        for index in _REPEATED:
            values[index] = common.setdefault(values[index], values[index])
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


def quantity_of(payload: dict[str, str]) -> int | None:
    """The payload's quantity as an int, None when the type takes none."""
    text = str(payload.get("quantity") or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None
