"""What the audit workbook's writer takes, and how a cell is written: columns, tables, charts,
number formats and styles. Shared by the Summary sheet (`summary_sheet`) and the table
sheets (`xlsx`). Cells are written through `sheets.safe` (never a formula), and a currency
code enters a number format only as a literal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.worksheet import Worksheet

from bulkorders.sheets import literal_format, put_cell

Kind = Literal["text", "id", "int", "money", "datetime", "date"]

MONEY_FORMAT = "#,##0.00########"  # exact: up to 10 decimals shown, never rounded to cents
CENTS_FORMAT = "#,##0.00"  # the Summary: to the cent (the cell keeps the exact value)
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
FORMATS: dict[str, str] = {"money": MONEY_FORMAT, "datetime": DATETIME_FORMAT, "date": DATE_FORMAT}
MAX_WIDTH = 60
CHART_ROWS = 20  # bars/slices shown in a chart; the table beside it has them all
CHART_WIDTH_CM = 16.0  # fits a portrait A4 page

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
HEADER_BORDER = Border(bottom=Side(style="thin", color="000000"))
TITLE_FONT = Font(bold=True, size=14)
BLOCK_FONT = Font(bold=True, size=12, color="1F4E78")
LABEL_FONT = Font(bold=True)
RIGHT = Alignment(horizontal="right")  # text ids line up like the numbers they are
WRAP = Alignment(wrap_text=True, vertical="top")

_EXCEL_EPOCH = datetime(1899, 12, 30)
_TEMPLATE_VALUES: dict[str, Any] = {
    "text": "x", "id": "1", "int": 0, "money": Decimal(0), "datetime": datetime(2000, 1, 1),
    "date": date(2000, 1, 1),
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column of a table: its header and what kind of values it holds.

    Money is shown to the cent with its currency code (`currency`, or the code in the
    row's `currency_from` column), or with every decimal when `exact` (the order sheets).
    The cell always holds the exact value.
    """

    header: str
    kind: Kind = "text"
    currency: str | None = None
    exact: bool = False
    currency_from: str | None = None

    @property
    def number_format(self) -> str | None:
        if self.kind == "money":
            return money_format(self.currency, exact=self.exact)
        return FORMATS.get(self.kind)


def money_format(currency: str | None, *, exact: bool = False) -> str:
    """The number format of an amount: to the cent (or exact), with its currency code."""
    base = MONEY_FORMAT if exact else CENTS_FORMAT
    return base + literal_format(f" {currency}") if currency else base


@dataclass
class Table:
    """A titled table: columns and rows of plain values (str, int, Decimal, datetime, date, None)."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Chart:
    """A chart of a Summary block: `label` and `value` are column headers of the block.

    `rows`: how many of the block's first rows it shows (None: all, up to CHART_ROWS).
    """

    block: str
    kind: Literal["bar", "pie"]
    label: str
    value: str
    title: str
    rows: int | None = None


@dataclass
class SummaryLayout:
    """What the Summary sheet shows: a title, label/value lines, blocks and their charts.

    `period` is printed in every page header, beside the title.
    """

    title: str
    lines: Sequence[tuple[str, Any]]
    blocks: Sequence[Table]
    charts: Sequence[Chart] = field(default_factory=list)
    period: str = ""


def write_header(ws: Worksheet, row: int, columns: Sequence[Column]) -> None:
    for col, column in enumerate(columns, start=1):
        cell = put_cell(ws, row, col, column.header)
        cell.font, cell.fill, cell.border = HEADER_FONT, HEADER_FILL, HEADER_BORDER
        cell.alignment = Alignment(vertical="center")


def kind_of(value: Any) -> Kind:
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, Decimal):
        return "money"
    return "int" if isinstance(value, int) else "text"


def text_width(value: Any) -> int:
    if isinstance(value, Decimal):
        return len(f"{value:,f}") + 2
    if isinstance(value, str):
        return max((len(line) for line in value.splitlines()), default=0)
    return len(str(value))


