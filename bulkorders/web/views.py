"""What the pages show, computed from what the pipelines and the ledger return. Pure.

No rule of bulkorders is here: validation, costs, plans and spend come from their packages;
this only lays them out (which cell is marked, which rows are on this page).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkorders.sheets import display

MAX_GRID_ROWS = 1000  # rows of an uploaded sheet drawn as a grid
ALWAYS_SHOWN = 200  # the first rows are drawn even when nothing is wrong with them


@dataclass
class Cell:
    text: str
    messages: list[str] = field(default_factory=list)
    severity: str = ""  # "", "warning" or "error"


@dataclass
class GridRow:
    row: int
    cells: list[Cell]
    messages: list[str]  # the row's problems that name no column
    state: str = ""  # what the ledger says of it: placed, rejected…
    order_id: str | None = None


@dataclass
class Grid:
    headers: list[str]
    rows: list[GridRow]
    hidden: int  # rows not drawn (nothing wrong with them)
    errors: int
    warnings: int


def sheet_grid(sheet: Any, issues: Iterable[Any], outcomes: Mapping[int, Any]) -> Grid:
    """The sheet as read, each cell with its problems; `outcomes` (Excel row -> a submit
    RowOutcome of the dry run) marks the rows already placed."""
    names = list(sheet.columns)
    index = {name: n for n, name in enumerate(names)}
    index.update({sheet.header(name): n for n, name in enumerate(names)})
    by_row: dict[int, list[Any]] = {}
    for issue in issues:
        by_row.setdefault(issue.row, []).append(issue)
    errors = warnings = 0
    rows: list[GridRow] = []
    hidden = 0
    for position, source in enumerate(sheet.rows):
        found = by_row.get(source.row, [])
        outcome = outcomes.get(source.row)
        if (position >= ALWAYS_SHOWN and not found) or len(rows) >= MAX_GRID_ROWS:
            hidden += 1
            continue
        cells = [Cell(_text(source.values.get(name))) for name in names]
        loose: list[str] = []
        for issue in found:
            severity = getattr(issue.severity, "value", str(issue.severity))
            errors += severity == "error"
            warnings += severity != "error"
            at = index.get(issue.column) if issue.column else None
            if at is None:
                loose.append(f"{issue.column + ': ' if issue.column else ''}{issue.message}")
                continue
            cell = cells[at]
            cell.messages.append(issue.message)
            cell.severity = "error" if "error" in (severity, cell.severity) else "warning"
        state = getattr(outcome, "state", "") if outcome is not None else ""
        order_id = getattr(outcome, "order_id", None) if outcome is not None else None
        rows.append(GridRow(source.row, cells, loose, state, order_id))
    return Grid([sheet.header(name) for name in names], rows, hidden, errors, warnings)


def _text(value: Any) -> str:
    return "" if value is None else display(value)


@dataclass
class RowsPage:
    """Which page of a campaign's rows, filtered by state, is shown."""

    page: int
    pages: int
    matching: int
    offset: int
    by_state: dict[str, int]


def rows_page(by_state: Mapping[str, int], state: str | None, page: int, size: int) -> RowsPage:
    """Page `page` (from 1, kept within the pages there are) of the rows in `state` (all when None)."""
    matching = by_state.get(state, 0) if state else sum(by_state.values())
    pages = max(1, -(-matching // size))
    page = min(max(1, page), pages)
    return RowsPage(page, pages, matching, (page - 1) * size, dict(by_state))


def last_checks(orders: Iterable[Any]) -> dict[str | None, str]:
    """Campaign name -> the latest time one of its orders was checked."""
    latest: dict[str | None, str] = {}
    for order in orders:
        if order.checked_at and order.checked_at > latest.get(order.campaign, ""):
            latest[order.campaign] = order.checked_at
    return latest


def spend_text(spend: Mapping[str, str]) -> str:
    """{"USD": "38.147"} -> "38.147 USD"."""
    return ", ".join(f"{amount} {currency}" for currency, amount in spend.items()) or "nothing"


def row_selection(values: Iterable[str]) -> str | None:
    """Checked row numbers as the --rows text, runs as ranges ("2-40,45"); None when none was
    checked (every row)."""
    numbers = sorted({int(v) for v in values if str(v).strip().isdigit()})
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs) or None
