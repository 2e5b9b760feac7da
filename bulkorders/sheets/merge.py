"""Bringing new results into a results file that is already there, edits and all.

A results file the user opened and changed (a typed note, an added sheet, a comment, a
colour, a sort) is the user's work: a rerun writes the new results into it rather than
building it again from the input. Each input row is found in the results file by what it
orders: the row showing its order id, else the next row of the same link, service,
quantity… So a sorted results file keeps its order, a row removed from the input stays in
the results as it was, and a row added to the input is added below the results file's last
row of orders, on rows with nothing in the table's columns (its cells copied from the input). Only a results file that cannot be read as these
orders, or whose row of an order now orders something else, is kept under a timestamped
name first.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkorders.errors import BulkOrdersError
from bulkorders.sheets.cells import id_text
from bulkorders.sheets.headers import INPUT_COLUMNS, canonical, is_header, recognised
from bulkorders.sheets.read import Sheet, SheetRow, read_sheet

_OrderRow = tuple[int, tuple[Any, ...], str | None]  # Excel row, its order cells, its order id


@dataclass(frozen=True)
class Merge:
    """The results file as read, the updates moved to its rows, and the rows added to it:
    `cells` maps a new row to {0-based column: the input's value}."""

    sheet: Sheet
    updates: dict[int, Mapping[str, Any]]
    cells: dict[int, dict[int, Any]] = field(default_factory=dict)
    added: list[tuple[int, int]] = field(default_factory=list)  # (input row, its row in the results)


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
    mine, found = _order_rows(rows), _order_rows(theirs.rows)
    for listed in (mine, found):  # a line typed below the table ("total checked") is no order
        while listed and _a_note(listed[-1]):
            listed.pop()
    moved = _matched(mine, found, updates)
    if isinstance(moved, str):
        return f"{moved} of {out.name}"
    by_row = {row.row: row for row in rows}
    occupied = {row.row for row in theirs.rows}
    last = max([theirs.header_row, *(row for row, _, _ in found)])
    cells: dict[int, dict[int, Any]] = {}
    added = []
    for row in sorted(set(updates) - set(moved)):
        last += 1
        while last in occupied:  # a note typed below the table stays where it is
            last += 1
        moved[row] = last
        cells[last] = _copied(by_row.get(row), theirs)
        added.append((row, last))
    return Merge(theirs, {moved[row]: values for row, values in updates.items()}, cells, added)


def _matched(mine: list[_OrderRow], found: list[_OrderRow], updates: Mapping[int, Mapping[str, Any]]) -> dict[int, int] | str:
    """Input row -> results row: by order id first (a sort keeps each order on its row), then
    the next results row of the same order cells. A row showing the input row's order id with
    other order cells: the clause saying so."""
    by_order = {order: (row, key) for row, key, order in found if order is not None}
    moved: dict[int, int] = {}
    for row, key, order in mine:
        order = order or id_text(updates.get(row, {}).get("order_id"))
        if order is not None and order in by_order:
            their_row, their_key = by_order[order]
            if their_key != key:
                return f"row {row} of the input is not the order of row {their_row}"
            moved[row] = their_row
    taken = set(moved.values())
    free: dict[tuple[Any, ...], deque[int]] = defaultdict(deque)
    for row, key, _ in found:
        if row not in taken:
            free[key].append(row)
    for row, key, _ in mine:
        if row not in moved and free[key]:
            moved[row] = free[key].popleft()
    return moved


def _copied(row: SheetRow | None, theirs: Sheet) -> dict[int, Any]:
    """The cells of an input row added to the results file, by the results file's columns."""
    if row is None:
        return {}
    cells: dict[int, Any] = {}
    own = {str(text).strip(): index for index, text in enumerate(theirs.headers) if text and canonical(text) is None}
    for name, value in row.values.items():
        if name in INPUT_COLUMNS and name in theirs.columns and value is not None:
            cells[theirs.columns[name]] = value
    for header, value in row.others.items():
        index = own.get(str(header).strip())
        if index is not None and value is not None:
            cells[index] = value
    return cells


def _order_rows(rows: Sequence[SheetRow]) -> list[_OrderRow]:
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


def _a_note(row: _OrderRow) -> bool:
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
