"""Writing the audit workbook: openpyxl lays it out, the long tables' rows are streamed.

openpyxl builds the whole workbook: the Summary with its charts, and for every table sheet
its styled header, frozen header row, auto filter, fitted widths and the number formats of
its columns. Without lxml, openpyxl serialises about 100k cells a second, which makes a
100k-order ledger take well over the 20 s budget. So each table sheet gets one template
data row from openpyxl, and the saved file is then copied with that row replaced by the
table's real rows, written as plain cell XML carrying the style ids openpyxl gave the
template's cells. Every figure is a value, never a formula; text is an inline string, so a
panel text starting with "=" stays text, and its template cell carries the quote prefix, so
it stays text when edited too (`sheets.safe` writes every cell openpyxl lays out).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bulkorders.errors import ReportWriteError
from bulkorders.progress import Reporter, SilentReporter
from bulkorders.report.pages import column_points, set_up_pages
from bulkorders.report.sheet_model import (
    _EXCEL_EPOCH,
    _TEMPLATE_VALUES,
    MAX_WIDTH,
    MONEY_FORMAT,
    RIGHT,
    WRAP,
    Chart,
    Column,
    SummaryLayout,
    Table,
    text_width,
    write_header,
)
from bulkorders.report.summary_sheet import write_summary
from bulkorders.sheets import clean_text, put

__all__ = ["MONEY_FORMAT", "Chart", "Column", "SummaryLayout", "Table", "write_workbook"]


def write_workbook(
    path: Path, summary: SummaryLayout, tables: Sequence[Table], progress: Reporter | None = None
) -> None:
    """Write the workbook to `path` (atomically: a half-written file never replaces a good one).

    `progress` counts the table rows written.
    """
    progress = progress or SilentReporter()
    wb = Workbook()
    write_summary(wb.active, summary)
    sheets = []
    for table in tables:
        ws = wb.create_sheet(table.title)
        _lay_out_table(ws, table, (summary.title, summary.period))
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
        raise ReportWriteError(
            f"Cannot write {path}: {exc.strerror or exc}. Close it if it is open in Excel, "
            "check the folder exists and has space, then rerun."
        ) from exc
    finally:
        progress.close()
        tmp.unlink(missing_ok=True)


# --- table sheets -----------------------------------------------------------------------


def _lay_out_table(ws: Worksheet, table: Table, page_header: tuple[str, str]) -> None:
    """Header, frozen header row, filter, widths, page setup, and the template row 2 when
    there are rows (its cells' styles are every row's: ids right, long texts wrapped)."""
    write_header(ws, 1, table.columns)
    last = get_column_letter(len(table.columns))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{last}{len(table.rows) + 1}"
    widths = _table_widths(table)
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(width + 2, MAX_WIDTH)
    if table.rows:
        for col, (column, width) in enumerate(zip(table.columns, widths), start=1):
            cell = ws.cell(row=2, column=col)
            put(cell, _TEMPLATE_VALUES[column.kind], column.number_format)
            # every streamed text cell gets this style: a panel's "=…" stays text when edited too
            cell.quotePrefix = column.kind in ("text", "id")
            if column.kind == "id":
                cell.alignment = RIGHT
            elif column.kind == "text" and width + 2 > MAX_WIDTH:
                cell.alignment = WRAP
    content = sum(column_points(min(w + 2, MAX_WIDTH)) for w in widths)
    set_up_pages(ws, content, page_header, title_rows="1:1")


def _table_widths(table: Table) -> list[int]:
    widths = []
    for index, column in enumerate(table.columns):
        width = len(column.header) + 3  # room for the filter button
        if column.kind in ("datetime", "date"):
            width = max(width, 19 if column.kind == "datetime" else 10)
        else:
            seen = {row[index] for row in table.rows}
            seen.discard(None)
            width = max([width, *map(text_width, seen)])
        widths.append(width)
    return widths


# --- streaming the rows -------------------------------------------------------------------

_TEMPLATE_ROW = re.compile(r'<row r="2"[^>]*>.*?</row>', re.S)
_STYLE = re.compile(r'<c r="([A-Z]+)2"(?: s="(\d+)")?')
_DIMENSION = re.compile(r'<dimension ref="[^"]*"\s*/>')
CHUNK_ROWS = 2000


def _stream_sheet(xml: str, table: Table, dst: zipfile.ZipFile, info: zipfile.ZipInfo, progress: Reporter) -> None:
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
