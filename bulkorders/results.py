"""The results columns of a sheet row, as a view of the ledger.

Each function gives the values of `models.OUTPUT_COLUMNS` for one row: from the row's
ledger state and, once placed, the latest known values of its order (status, refill,
cancel, the panel's charge). Every column is given (None = empty), so a stale value from an
earlier write never lingers. Pure: no I/O. Used by `submit` and the lifecycle commands.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from bulkorders.ledger import RowState
from bulkorders.models import OUTPUT_COLUMNS, RowIssue, Severity

if TYPE_CHECKING:
    from bulkorders.ledger import LedgerRow, OrderRecord

Values = dict[str, Any]  # output column -> cell value, as written into the sheet

INVALID = "invalid"
REJECTED = "rejected"
UNCERTAIN = "uncertain"
NOT_SENT_TEXT = "not sent yet: rerun the same submit command to place it"
SENDING_TEXT = "was being sent when the run stopped: rerun submit to find out (it becomes uncertain)"


def blank() -> Values:
    """Every output column, empty."""
    return dict.fromkeys(OUTPUT_COLUMNS)


def order_values(record: OrderRecord) -> Values:
    """The columns of a row with an order, from the ledger's latest knowledge of that order.

    Every output column is a field of `OrderRecord` of the same name.
    """
    return {column: getattr(record, column) for column in OUTPUT_COLUMNS}


def ledger_row_values(row: LedgerRow, record: OrderRecord | None = None) -> Values:
    """The columns of one campaign row: its order (placed), or what became of it and why."""
    if row.state == RowState.PLACED:
        if record is not None:
            values = order_values(record)
            if values["charge"] is None:  # `status` has not brought the panel's figure yet
                values["charge"], values["currency"] = row.charge, row.currency
            values["submitted_at"] = values["submitted_at"] or row.answered_at or row.sent_at
            values["error"] = values["error"] or row.error  # a placed row's flag (ordered twice)
            return values
        values = blank()
        values.update(
            order_id=row.order_id,
            charge=row.charge,
            currency=row.currency,
            error=row.error,
            submitted_at=row.answered_at or row.sent_at,
        )
        return values
    values = blank()
    if row.state == RowState.REJECTED:
        values.update(status=REJECTED, error=row.error, submitted_at=row.sent_at)
    elif row.state == RowState.UNCERTAIN:
        values.update(status=UNCERTAIN, error=row.error, submitted_at=row.sent_at)
    elif row.state == RowState.SENDING:
        values.update(error=SENDING_TEXT, submitted_at=row.sent_at)
    elif row.error:  # refused for the whole account (funds, key): sent again on the next run
        values.update(error=f"not sent yet (the panel said: {row.error}): {NOT_SENT_TEXT.split(': ', 1)[1]}")
    else:
        values.update(error=NOT_SENT_TEXT)
    return values


def invalid_values(issues: Iterable[RowIssue]) -> Values:
    """The columns of a row that failed validation: status `invalid`, every error in `error`."""
    values = blank()
    messages = [_issue_text(issue) for issue in issues if issue.severity is Severity.ERROR]
    values.update(status=INVALID, error="; ".join(messages) or "invalid row")
    return values


def campaign_updates(
    rows: Iterable[tuple[int, LedgerRow]],
    records: Mapping[str, OrderRecord],
    invalid: Mapping[int, Iterable[RowIssue]] | None = None,
) -> dict[int, Values]:
    """Excel row -> output values for a sheet's campaign rows and its invalid rows.

    `rows` pairs each ledger row with the Excel row where it is in the sheet being written
    (which may differ from the one stored, after sorting); `records` are orders by id.
    """
    updates: dict[int, Values] = {}
    for excel_row, row in rows:
        record = records.get(row.order_id) if row.order_id else None
        updates[excel_row] = ledger_row_values(row, record)
    for excel_row, issues in (invalid or {}).items():
        updates[excel_row] = invalid_values(issues)
    return updates


def _issue_text(issue: RowIssue) -> str:
    return f"{issue.column}: {issue.message}" if issue.column else issue.message


class CompactUpdates(Mapping[int, Values]):
    """Excel row -> output values, kept as tuples and handed out as dicts on access.

    What `write_back` takes, for a sheet of 100k rows without 100k dicts in memory.
    """

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Any, ...]] = {}

    def set(self, excel_row: int, values: Mapping[str, Any]) -> None:
        self._rows[excel_row] = tuple(values.get(column) for column in OUTPUT_COLUMNS)

    def __getitem__(self, excel_row: int) -> Values:
        return dict(zip(OUTPUT_COLUMNS, self._rows[excel_row]))

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)
