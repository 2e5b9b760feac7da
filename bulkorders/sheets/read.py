"""Sheets in: an .xlsx/.xlsm/.csv file -> `Sheet` (header found, columns recognised, rows kept
with the row numbers the user sees). Cell values are kept as read; validation judges them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkorders.errors import SheetError
from bulkorders.models import RowIssue
from bulkorders.sheets.cells import as_comma_text, comma_amount, decimal_evidence, shown
from bulkorders.sheets.csvfile import read_csv
from bulkorders.sheets.filetype import sniff
from bulkorders.sheets.headers import INPUT_COLUMNS, TIME_COLUMNS, best_candidate, header_text, is_header, recognised
from bulkorders.sheets.ooxml import CellProblem, column_letter
from bulkorders.sheets.raw import RawSheet
from bulkorders.sheets.write_values import excel_moment
from bulkorders.sheets.xlsx import read_xlsx, workbook_sheet_names

PURPOSES = ("orders", "results")
_CANDIDATE_ROWS = 100  # rows looked at to explain a missing header
_LISTED_HEADERS = 20
_REPEATED = ("service", "currency", "status", "refill_status", "cancel_result", "error", *sorted(TIME_COLUMNS))
_DECIMAL_SAMPLE = 200  # CSV records looked at to tell decimal commas from decimal points


@dataclass(slots=True)
class SheetRow:
    """One data row: its Excel row number and canonical column name -> cell value as read."""

    row: int
    values: dict[str, Any]
    others: dict[str, Any] = field(default_factory=dict)  # the user's own columns: header -> value


@dataclass
class Sheet:
    """An order sheet as read: where the header is, which columns mean what, the data rows."""

    path: Path
    sheet_name: str | None
    header_row: int
    headers: list[str]
    columns: dict[str, int]
    rows: list[SheetRow]
    issues: list[RowIssue] = field(default_factory=list)
    csv_delimiter: str | None = None
    csv_bom: bool = False
    csv_encoding: str | None = None
    decimal: str = "."  # the decimal mark of the sheet's text numbers: "," or "."
    # Excel row -> the text a link cell shows, where its link is the cell's hyperlink target
    link_texts: dict[int, str] = field(default_factory=dict)

    def header(self, name: str) -> str:
        """The column's header as the user wrote it (the canonical name when there is no column)."""
        index = self.columns.get(name)
        if index is None or index >= len(self.headers) or not self.headers[index]:
            return name
        return self.headers[index]


def sheet_names(path: Path) -> list[str]:
    """Worksheet names of a workbook; [] for a CSV file."""
    return workbook_sheet_names(path) if sniff(path) == "xlsx" else []


def read_sheet(
    path: Path, sheet_name: str | None = None, *, purpose: str = "orders", decimal: str | None = None
) -> Sheet:
    """Read an order sheet (purpose="orders") or a sheet of placed orders (purpose="results").

    `decimal` ("," or ".") is the decimal mark of numbers written as text; None detects it:
    a `;`-separated CSV, or one whose numbers can only be read with decimal commas, has ",".

    Raises SheetError, naming the file and what to do, for every file that cannot be used.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    path = Path(path)
    kind = sniff(path)
    if kind == "csv":
        if sheet_name is not None:
            raise SheetError(f"{path} is a CSV file: it has no sheets, so drop --sheet {sheet_name}.")
        raw = read_csv(path, purpose)
    else:
        raw = read_xlsx(path, sheet_name)
    return _build(path, raw, purpose, decimal)


def _build(path: Path, raw: RawSheet, purpose: str, decimal: str | None = None) -> Sheet:
    where = f'{path} (sheet "{raw.name}")' if raw.name else str(path)
    header_number, header_cells, found = _find_header(where, raw, purpose)
    offset = raw.col_offset
    columns = _columns(where, header_number, found, offset)
    pairs = [(name, index - offset) for name, index in columns.items()]
    inputs = {name for name in columns if name in INPUT_COLUMNS}
    rows: list[SheetRow] = []
    width = len(header_cells)
    gaps = False  # an input cell read as blank: maybe a formula without value, or an error
    need = max(index for _, index in pairs) + 1
    links = _link_targets(raw, columns)
    link_texts: dict[int, str] = {}
    if decimal is None:
        raw.rows, decimal = _decimal_mark(raw)
    commas = [name for name, _ in pairs if name in inputs] if decimal == "," else []
    charge = "charge" in columns and decimal == ","
    times = [name for name in TIME_COLUMNS if name in columns]
    others = _other_columns(header_cells, found)
    nul_cells: list[tuple[int, int]] = []  # (row, 0-based column) of cells holding a NUL byte
    repeated = [name for name in _REPEATED if name in columns]
    common: dict[str, str] = {}  # one copy of each text these columns repeat (100k rows: many MB)
    for number, cells in raw.rows:
        if raw.csv_delimiter is not None and "\x00" in "".join(cells):
            nul_cells.append((number, offset + next(i for i, c in enumerate(cells) if "\x00" in c)))
        size = len(cells)
        if size < need:  # short CSV records
            cells = [*cells, *[""] * (need - size)]
        elif size > width:
            width = size
        values = {name: cells[index] for name, index in pairs}
        if links and number in links:
            link_texts[number] = header_text(values["link"])
            values["link"] = links[number]
        for name in commas:
            values[name] = as_comma_text(values[name])
        for name in times:  # as the ledger writes moments: UTC ISO 8601
            moment = excel_moment(values[name])
            if moment is not None:
                values[name] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        if charge and values["charge"].__class__ is str:
            values["charge"] = comma_amount(values["charge"]) or values["charge"]
        for name in repeated:
            value = values[name]
            if value.__class__ is str:
                values[name] = common.setdefault(value, value)
        blank = True
        for name, value in values.items():
            if value == "" or (value.__class__ is str and value.isspace()):
                values[name] = None
                if name in inputs:
                    gaps = True
            else:
                blank = False
        if blank and _blank(cells):
            continue
        extra = {h: cells[i] for h, i in others if i < size and not _blank([cells[i]])}
        rows.append(SheetRow(number, values, extra))
    headers = [""] * offset + [header_text(c) for c in header_cells]
    headers += [""] * (offset + width - len(headers))
    issues: list[RowIssue] = []
    if raw.hidden_cells is not None and (gaps or not rows):
        issues = _hidden_issues(raw.hidden_cells(), header_number, columns, headers, set(links))
    issues += [_nul_issue(row, column, headers) for row, column in nul_cells]
    if not rows and not issues:
        raise SheetError(
            f"{where}: the header is on row {header_number} but no rows follow it. "
            "Add one row per order below the header and rerun."
        )
    return Sheet(
        path=path, sheet_name=raw.name, header_row=header_number, headers=headers, columns=columns,
        rows=rows, issues=issues, csv_delimiter=raw.csv_delimiter, csv_bom=raw.csv_bom,
        csv_encoding=raw.csv_encoding, link_texts=link_texts, decimal=decimal,
    )  # fmt: skip


def _decimal_mark(raw: RawSheet) -> tuple[Iterator[tuple[int, list[Any]]], str]:
    """The rows (unconsumed) and the decimal mark of a CSV's text numbers; "." for a workbook.

    A `;` delimiter means decimal commas (that is why Excel chose it). Otherwise the first
    rows decide: numbers that can only have decimal commas (`0,375`), and none that can only
    have decimal points (`0.375`).
    """
    if raw.csv_delimiter is None:
        return raw.rows, "."
    if raw.csv_delimiter == ";":
        return raw.rows, ","
    head = list(itertools.islice(raw.rows, _DECIMAL_SAMPLE))
    seen = {decimal_evidence(cell) for _, cells in head for cell in cells}
    mark = "," if "," in seen and "." not in seen else "."
    return itertools.chain(head, raw.rows), mark


def _link_targets(raw: RawSheet, columns: dict[str, int]) -> dict[int, str]:
    """Excel row -> the address its link cell points to, for cells with a hyperlink."""
    if raw.links is None or "link" not in columns:
        return {}
    column = columns["link"]
    return {row: address for (row, col), address in raw.links().items() if col == column and address}


def _other_columns(
    header_cells: list[Any], found: dict[str, list[int]], limit: int = 30
) -> list[tuple[str, int]]:
    """(header, index) of the first `limit` named columns bulkorders does not use itself: the
    unrecognised ones, and a user's own `Status` or `Error` (not bulkorders' own, see `ours`)."""
    used = {index for indexes in found.values() for index in indexes}
    found = [(header_text(c), i) for i, c in enumerate(header_cells) if i not in used]
    return [(h, i) for h, i in found if h][:limit]


def _blank(cells: list[Any]) -> bool:
    for cell in cells:
        if cell != "" and cell is not None and not (cell.__class__ is str and cell.isspace()):
            return False
    return True


def _find_header(where: str, raw: RawSheet, purpose: str) -> tuple[int, list[Any], dict[str, list[int]]]:
    seen: list[tuple[int, list[Any]]] = []
    for number, cells in raw.rows:
        if _blank(cells):
            continue
        found = recognised(cells)
        if found and is_header(found, purpose):
            return number, cells, found
        if len(seen) < _CANDIDATE_ROWS:
            seen.append((number, cells))
    raise SheetError(_no_header_message(where, seen, purpose))


def _no_header_message(where: str, seen: list[tuple[int, list[Any]]], purpose: str) -> str:
    candidate = best_candidate(seen)
    if candidate is None:
        return f"{where} is empty. Put a header row (link, service, quantity) and one row per order in it."
    number, cells = candidate
    found = recognised(cells)
    texts = [shown(t, 40) for t in (header_text(c) for c in cells) if t]
    listed = ", ".join(f'"{t}"' for t in texts[:_LISTED_HEADERS]) + (", …" if len(texts) > _LISTED_HEADERS else "")
    if purpose == "results":
        return (
            f'{where} has no "order_id" column, so no order of it was placed yet (row {number} has: '
            f"{listed}). Run submit first, or give the results file it wrote (NAME.results.xlsx)."
        )
    missing = [name for name in ("service", "link") if name not in found]
    if missing == ["link"] and "username" not in found:
        what = 'a "link" column'
    elif missing == ["service"]:
        what = 'a "service" column'
    else:
        what = '"link" and "service" columns'
    return (
        f"{where} has no header row with {what}. The header row needs link (or username for "
        f"subscriptions), service and quantity; the row most like a header, row {number}, has: {listed}. "
        "Name the columns so (url, service id, qty and amount also work) and rerun."
    )


def _columns(where: str, header_row: int, found: dict[str, list[int]], offset: int) -> dict[str, int]:
    columns: dict[str, int] = {}
    for name, indexes in found.items():
        if len(indexes) > 1 and name in INPUT_COLUMNS:
            letters = " and ".join(column_letter(i + offset) for i in indexes)
            raise SheetError(
                f'{where}: the header row (row {header_row}) has {len(indexes)} "{name}" columns '
                f"({letters}). Keep one, rename or delete the others, and rerun."
            )
        columns[name] = indexes[0] + offset  # output columns: the first one is the one used
    return dict(sorted(columns.items(), key=lambda item: item[1]))


def _nul_issue(row: int, column: int, headers: list[str]) -> RowIssue:
    name = headers[column] if column < len(headers) and headers[column] else f"column {column + 1}"
    return RowIssue(
        row, name, "holds a NUL byte (\\0): the file is damaged on this row; retype the row or "
        "save the sheet again from Excel as CSV UTF-8, then rerun",
    )


def _hidden_issues(
    problems: list[CellProblem], header_row: int, columns: dict[str, int], headers: list[str],
    linked: set[int],
) -> list[RowIssue]:  # fmt: skip
    """Cells of input columns that read as blank but hold an uncalculated formula or an error
    (a HYPERLINK formula in the link column has its address: `linked` rows)."""
    wanted = {index: name for name, index in columns.items() if name in INPUT_COLUMNS}
    issues = []
    for problem in problems:
        if problem.row <= header_row or problem.column not in wanted:
            continue
        if problem.row in linked and wanted[problem.column] == "link" and problem.kind == "formula":
            continue
        column = headers[problem.column] or wanted[problem.column]
        if problem.kind == "formula":
            message = (
                "the formula has no computed value (the file was saved by a program that does not "
                "calculate). Open the file in Excel, save it, and rerun"
            )
        else:
            message = f"the cell holds the Excel error {problem.text}; fix the formula or the value"
        issues.append(RowIssue(problem.row, column, message))
    return sorted(issues, key=lambda issue: (issue.row, issue.column or ""))
