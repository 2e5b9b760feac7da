"""Bringing new results into a results file that is already there, edits and all.

A results file the user opened and changed (a typed note, an added sheet, a comment, a
colour) is the user's work: a rerun writes the new results into it rather than building
it again from the input. That needs each input row to be the same order row of the
results file: the rows that hold an order (any of link, service, quantity… or an order id
filled) must be the same, in the same order, in both. When they are not (rows added to or removed from
the input, or edited), the results file is kept under a timestamped name first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkorders.errors import BulkOrdersError
from bulkorders.sheets.cells import id_text
from bulkorders.sheets.headers import INPUT_COLUMNS, is_header, recognised
from bulkorders.sheets.read import Sheet, read_sheet


@dataclass(frozen=True)
class Merge:
    """The results file as read, and the updates moved to its rows."""

    sheet: Sheet
    updates: dict[int, Mapping[str, Any]]


def is_other_file(source: Path, out: Path) -> bool:
    """Is `out` an existing file other than the input `source`?"""
    if not out.is_file():
        return False
    try:
        return not out.samefile(source)
    except OSError:
        return True


def into_existing(source: Any, updates: Mapping[int, Mapping[str, Any]], out: Path) -> Merge | str:
    """`out` as the sheet to write, with `updates` (by the input's rows) moved to its rows;
    or, when the two no longer match, why (a clause for a message)."""
    purpose = "orders" if is_header(recognised(source.headers), "orders") else "results"
    try:
        theirs = read_sheet(out, source.sheet_name, purpose=purpose)
    except BulkOrdersError:
        return "it is not a sheet of the same orders"
    rows = source.rows or read_sheet(source.path, source.sheet_name, purpose=purpose).rows
    mine = _order_rows(rows)
    found = _order_rows(theirs.rows)
    for listed in (mine, found):  # a line typed below the table ("total checked") is no order
        while listed and _a_note(listed[-1]):
            listed.pop()
    if len(mine) != len(found):
        return f"the input has {_rows(len(mine))} of orders, {out.name} {_rows(len(found))}"
    moved: dict[int, int] = {}
    for (row, key, order), (their_row, their_key, their_order) in zip(mine, found):
        if key != their_key or (order is not None and order != their_order):
            return f"row {row} of the input is not the order of row {their_row} of {out.name}"
        moved[row] = their_row
    missing = [row for row in updates if row not in moved]
    if missing:
        return f"row {missing[0]} of the input has no row in {out.name}"
    return Merge(theirs, {moved[row]: values for row, values in updates.items()})


def _order_rows(rows: Any) -> list[tuple[int, tuple[Any, ...], str | None]]:
    """(Excel row, its order cells, its order id) of the rows holding any of them.

    An input row without an order id matches a results row with one (placed since).
    """
    found = []
    for row in rows:
        key = tuple(_same(row.values.get(name)) for name in INPUT_COLUMNS)
        order = id_text(row.values.get("order_id"))
        if order is not None or any(value is not None for value in key):
            found.append((row.row, key, order))
    return found


def _a_note(row: tuple[int, tuple[Any, ...], str | None]) -> bool:
    """A row with neither a service nor a quantity nor an order id: text the user typed."""
    _, key, order = row
    return order is None and key[INPUT_COLUMNS.index("service")] is None and key[INPUT_COLUMNS.index("quantity")] is None


def _same(value: Any) -> Any:
    """A cell as compared: 100 and 100.0 are one value, text without surrounding spaces."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
