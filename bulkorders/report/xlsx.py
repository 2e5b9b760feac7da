"""Writing the audit workbook: openpyxl lays it out, the long tables' rows are streamed.

openpyxl builds the whole workbook: the Summary with its charts, and for every table sheet
its styled header, frozen header row, auto filter, fitted widths and the number formats of
its columns. Without lxml, openpyxl serialises about 100k cells a second, which makes a
100k-order ledger take well over the 20 s budget. So each table sheet gets one template
data row from openpyxl, and the saved file is then copied with that row replaced by the
table's real rows, written as plain cell XML carrying the style ids openpyxl gave the
template's cells. Every figure is a value, never a formula; text is an inline string, so a
panel text starting with "=" stays text.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bulkorders.errors import BulkOrdersError
from bulkorders.progress import Reporter, SilentReporter
from bulkorders.sheets import clean_text, literal_format, put, put_cell

Kind = Literal["text", "int", "money", "datetime", "date"]

MONEY_FORMAT = "#,##0.00########"  # exact: up to 10 decimals shown, never rounded to cents
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
FORMATS: dict[str, str] = {"money": MONEY_FORMAT, "datetime": DATETIME_FORMAT, "date": DATE_FORMAT}
MAX_WIDTH = 60
CHART_ROWS = 20  # bars/slices shown in a chart; the table beside it has them all

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
HEADER_BORDER = Border(bottom=Side(style="thin", color="000000"))
TITLE_FONT = Font(bold=True, size=14)
BLOCK_FONT = Font(bold=True, size=12, color="1F4E78")
LABEL_FONT = Font(bold=True)

_EXCEL_EPOCH = datetime(1899, 12, 30)
_TEMPLATE_VALUES: dict[str, Any] = {
    "text": "x", "int": 0, "money": Decimal(0), "datetime": datetime(2000, 1, 1),
    "date": date(2000, 1, 1),
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column of a table: its header and what kind of values it holds."""

    header: str
    kind: Kind = "text"
    currency: str | None = None  # money of one known currency: its code is in the number format

    @property
    def number_format(self) -> str | None:
        if self.kind == "money" and self.currency:
            return MONEY_FORMAT + literal_format(f" {self.currency}")
        return FORMATS.get(self.kind)


@dataclass
class Table:
    """A titled table: columns and rows of plain values (str, int, Decimal, datetime, date, None)."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]


@dataclass
class SummaryLayout:
    """What the Summary sheet shows: a title, label/value lines, blocks and their charts.

    `charts`: (block title, "bar"|"pie", label column header, value column header, chart title).
    """

    title: str
    lines: Sequence[tuple[str, Any]]
    blocks: Sequence[Table]
    charts: Sequence[tuple[str, str, str, str, str]] = field(default_factory=list)


def write_workbook(
    path: Path, summary: SummaryLayout, tables: Sequence[Table], progress: Reporter | None = None
) -> None:
    """Write the workbook to `path` (atomically: a half-written file never replaces a good one).

    `progress` counts the table rows written.
    """
    progress = progress or SilentReporter()
    wb = Workbook()
    _write_summary(wb.active, summary)
    sheets = []
    for table in tables:
        ws = wb.create_sheet(table.title)
        _lay_out_table(ws, table)
        sheets.append((ws, table))
    laid_out = io.BytesIO()
    wb.save(laid_out)
    # a worksheet knows its part name once saved
    streamed = {ws.path.lstrip("/"): table for ws, table in sheets if table.rows}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    progress.start(sum(len(t.rows) for t in streamed.values()), "Writing the workbook")
    try:
        with zipfile.ZipFile(laid_out) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                table = streamed.get(info.filename)
                if table is None:
                    dst.writestr(info, src.read(info))
                else:
                    _stream_sheet(src.read(info).decode("utf-8"), table, dst, info, progress)
        os.replace(tmp, path)
    except OSError as exc:
        raise BulkOrdersError(
            f"Cannot write {path}: {exc.strerror or exc}. Close it if it is open in Excel, "
            "check the folder exists and has space, then rerun."
        ) from exc
    finally:
        progress.close()
        tmp.unlink(missing_ok=True)


# --- the Summary sheet ------------------------------------------------------------------


def _write_summary(ws: Worksheet, layout: SummaryLayout) -> None:
    ws.title = "Summary"
    put_cell(ws, 1, 1, layout.title).font = TITLE_FONT
    row = 3
    titles = {1}  # rows whose text may overhang: not counted in the widths
    for label, value in layout.lines:
        put_cell(ws, row, 1, label).font = LABEL_FONT
        put(ws.cell(row=row, column=2), value, FORMATS.get(_kind_of(value)))
        row += 1
    places: dict[str, tuple[int, int]] = {}  # block title -> (header row, rows)
    for block in layout.blocks:
        row += 1
        put_cell(ws, row, 1, block.title).font = BLOCK_FONT
        titles.add(row)
        row += 1
        _header(ws, row, block.columns)
        places[block.title] = (row, len(block.rows))
        for values in block.rows:
            row += 1
            for col, (column, value) in enumerate(zip(block.columns, values), start=1):
                put(ws.cell(row=row, column=col), value, column.number_format)
        row += 1
    widths = _fit_widths(ws, titles)
    anchor_col = get_column_letter(len(widths) + 2)
    for index, (block_title, kind, label_header, value_header, title) in enumerate(layout.charts):
        block = next((b for b in layout.blocks if b.title == block_title), None)
        if block is None or not block.rows:
            continue
        header_row, count = places[block_title]
        headers = [c.header for c in block.columns]
        cols = (headers.index(label_header) + 1, headers.index(value_header) + 1)
        chart = _chart(ws, kind, title, header_row, min(count, CHART_ROWS), cols)
        ws.add_chart(chart, f"{anchor_col}{3 + index * 20}")


def _chart(ws: Worksheet, kind: str, title: str, header_row: int, count: int, cols: tuple[int, int]) -> Any:
    label_col, value_col = cols
    chart: BarChart | PieChart
    if kind == "pie":
        chart = PieChart()
    else:
        chart = BarChart()
        chart.type = "bar"  # horizontal bars: long service names stay readable
        chart.y_axis.title = ws.cell(row=header_row, column=value_col).value
        chart.x_axis.scaling.orientation = "maxMin"  # the biggest on top, as in the table
        chart.legend = None
    chart.title = title
    chart.height, chart.width = 9, 18
    values = Reference(ws, min_col=value_col, min_row=header_row, max_row=header_row + count)
    labels = Reference(ws, min_col=label_col, min_row=header_row + 1, max_row=header_row + count)
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(labels)
    return chart


def _fit_widths(ws: Worksheet, skip_rows: set[int]) -> list[int]:
    widths: list[int] = []
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None or cell.row in skip_rows:
                continue
            while len(widths) < cell.column:
                widths.append(0)
            widths[cell.column - 1] = max(widths[cell.column - 1], _width(cell.value))
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(width + 2, MAX_WIDTH)
    return widths


# --- table sheets -----------------------------------------------------------------------


def _lay_out_table(ws: Worksheet, table: Table) -> None:
    """Header, frozen header row, filter, widths, and the template row 2 when there are rows."""
    _header(ws, 1, table.columns)
    last = get_column_letter(len(table.columns))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{last}{len(table.rows) + 1}"
    for col, width in enumerate(_table_widths(table), start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(width + 2, MAX_WIDTH)
    if table.rows:
        for col, column in enumerate(table.columns, start=1):
            cell = put(ws.cell(row=2, column=col), _TEMPLATE_VALUES[column.kind], column.number_format)
            # every streamed text cell gets this style: a panel's "=…" stays text when edited too
            cell.quotePrefix = column.kind == "text"


def _table_widths(table: Table) -> list[int]:
    widths = []
    for index, column in enumerate(table.columns):
        width = len(column.header) + 3  # room for the filter button
        if column.kind in ("datetime", "date"):
            width = max(width, 19 if column.kind == "datetime" else 10)
        else:
            seen = {row[index] for row in table.rows}
            seen.discard(None)
            width = max([width, *map(_width, seen)])
        widths.append(width)
    return widths


def _header(ws: Worksheet, row: int, columns: Sequence[Column]) -> None:
    for col, column in enumerate(columns, start=1):
        cell = put_cell(ws, row, col, column.header)
        cell.font, cell.fill, cell.border = HEADER_FONT, HEADER_FILL, HEADER_BORDER
        cell.alignment = Alignment(vertical="center")


def _kind_of(value: Any) -> Kind:
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, Decimal):
        return "money"
    return "int" if isinstance(value, int) else "text"


def _width(value: Any) -> int:
    if isinstance(value, Decimal):
        return len(f"{value:,f}") + 2
    if isinstance(value, str):
        return max((len(line) for line in value.splitlines()), default=0)
    return len(str(value))




# --- streaming the rows -------------------------------------------------------------------

_TEMPLATE_ROW = re.compile(r'<row r="2"[^>]*>.*?</row>', re.S)
_STYLE = re.compile(r'<c r="([A-Z]+)2"(?: s="(\d+)")?')
_DIMENSION = re.compile(r'<dimension ref="[^"]*"\s*/>')
CHUNK_ROWS = 2000


def _stream_sheet(
    xml: str, table: Table, dst: zipfile.ZipFile, info: zipfile.ZipInfo, progress: Reporter
) -> None:
    """Copy the laid-out sheet, putting the table's rows where openpyxl's template row is."""
    match = _TEMPLATE_ROW.search(xml)
    if match is None:
        raise RuntimeError(f"{info.filename}: openpyxl wrote no template row to replace")
    styles = dict(_STYLE.findall(match.group(0)))
    letters = [get_column_letter(i) for i in range(1, len(table.columns) + 1)]
    cells = [(letter, f' s="{styles[letter]}"' if styles.get(letter) else "") for letter in letters]
    last = f"{letters[-1]}{len(table.rows) + 1}"
    head = _DIMENSION.sub(f'<dimension ref="A1:{last}" />', xml[: match.start()], count=1)
    target = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    target.compress_type = zipfile.ZIP_DEFLATED
    memo: dict[tuple[type, Any], str] = {}  # statuses, names, campaigns, times repeat: render each once
    with dst.open(target, "w", force_zip64=True) as out:
        out.write(head.encode("utf-8"))
        for start in range(0, len(table.rows), CHUNK_ROWS):
            chunk = table.rows[start : start + CHUNK_ROWS]
            out.write("".join(_rows_xml(chunk, start + 2, cells, memo)).encode("utf-8"))
            progress.advance(len(chunk), info=table.title)
        out.write(xml[match.end() :].encode("utf-8"))


def _rows_xml(
    rows: Iterable[Sequence[Any]], first: int, cells: list[tuple[str, str]], memo: dict[tuple[type, Any], str]
) -> Iterable[str]:
    for number, values in enumerate(rows, start=first):
        parts = [f'<row r="{number}">']
        for (letter, style), value in zip(cells, values):
            if value is None:
                continue
            # keyed by type too: Decimal("15.00") == 15 == 15.0, and True == 1
            key = (type(value), value)
            rest = memo.get(key)
            if rest is None:
                rest = memo[key] = _cell_rest(value)
            parts.append(f'<c r="{letter}{number}"{style}{rest}')
        parts.append("</row>")
        yield "".join(parts)


def _cell_rest(value: Any) -> str:
    """A cell's XML after its reference and style: the type and the value."""
    if isinstance(value, str):
        return f' t="inlineStr"><is>{_text_xml(value)}</is></c>'
    return f"><v>{_number_text(value)}</v></c>"


def _text_xml(text: str) -> str:
    text = clean_text(text)
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if text[:1].isspace() or text[-1:].isspace():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def _number_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return repr((value - _EXCEL_EPOCH).total_seconds() / 86400)
    if isinstance(value, date):
        return str((value - _EXCEL_EPOCH.date()).days)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} to a cell")
