"""The one formula-safe writer of the cells bulkorders lays out with openpyxl or in a CSV.

The audit report, the template and `services --out` write panel texts (service names,
categories, currencies, errors) and user texts. openpyxl turns any text starting with `=`
into a formula, and a spreadsheet opening a CSV runs `=`, `+`, `-`, `@` (OWASP's list,
`write_values.FORMULA_STARTS`). Every such cell goes through `put`/`put_cell`/`csv_row`:
a formula-like text is stored as a text cell with Excel's quote prefix (so editing it
does not turn it into a formula either), or with a leading `'` in CSV. A text that goes
into a number format (a currency code) goes through `literal_format`.
No I/O library is imported here: the cells are handed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bulkorders.sheets.write_values import FORMULA_STARTS, MAX_CELL_TEXT, cell_out, csv_field

# What an XML 1.0 document cannot hold (openpyxl refuses them): dropped from texts.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(text: str) -> str:
    """Text as a cell can hold it: no XML-illegal control characters, at most 32,767 chars."""
    return _ILLEGAL.sub("", text)[:MAX_CELL_TEXT]


def formula_like(text: str) -> bool:
    """Whether a spreadsheet could take `text` for a formula."""
    return text.startswith(FORMULA_STARTS)


def put(cell: Any, value: Any, number_format: str | None = None) -> Any:
    """Put `value` into an openpyxl `cell`, never as a formula; returns the cell.

    `number_format` applies to numbers, dates and times only (a text shows as typed)."""
    if isinstance(value, str):
        text = clean_text(value)
        cell.value = text
        if formula_like(text):
            cell.data_type = "s"  # openpyxl took it for a formula
            cell.quotePrefix = True
        return cell
    cell.value = value
    if number_format and value is not None:
        cell.number_format = number_format
    return cell


def put_cell(ws: Any, row: int, column: int, value: Any, number_format: str | None = None) -> Any:
    """`put` into the cell at (`row`, `column`) of worksheet `ws`; returns the cell."""
    return put(ws.cell(row=row, column=column), value, number_format)


def put_row(ws: Any, row: int, values: Iterable[Any]) -> None:
    """`put` each value into the row, from column A."""
    for column, value in enumerate(values, start=1):
        put_cell(ws, row, column, value)


def csv_row(values: Iterable[Any]) -> list[str]:
    """The fields of one CSV row: numbers as exact digits, formula-like texts with a `'`."""
    return [csv_field(cell_out("", value)) for value in values]


def literal_format(text: str) -> str:
    """`text` as a literal inside an Excel number format (`" USD"`), so that no `;`, `@`,
    `#` or `0` in a panel's currency code can change the format; a text holding a `"`
    has each character escaped instead."""
    text = "".join(char for char in clean_text(text) if char not in "\r\n")
    if '"' not in text:
        return f'"{text}"'
    return "".join("\\" + char for char in text)
