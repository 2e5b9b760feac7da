"""The Summary sheet: its lines, then each block with its chart right below it, kept whole on a page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bulkorders.report.pages import ROW_PT, PageFlow, column_points, is_landscape, set_up_pages, usable
from bulkorders.report.sheet_model import (
    BLOCK_FONT,
    CHART_ROWS,
    CHART_WIDTH_CM,
    FORMATS,
    LABEL_FONT,
    MAX_WIDTH,
    RIGHT,
    TITLE_FONT,
    WRAP,
    Chart,
    SummaryLayout,
    Table,
    kind_of,
    money_format,
    text_width,
    write_header,
)
from bulkorders.sheets import put, put_cell


@dataclass
class _Placed:
    """Where a Summary block went: its first and header rows, its rows, and its chart's rows."""

    block: Table
    first: int
    header: int
    chart: Chart | None = None
    chart_row: int = 0
    chart_rows: int = 0


def write_summary(ws: Worksheet, layout: SummaryLayout) -> None:
    """The lines, then each block with its chart right below it, page breaks between them."""
    ws.title = "Summary"
    put_cell(ws, 1, 1, layout.title).font = TITLE_FONT
    row = 3
    titles = {1}  # rows whose text may overhang: not counted in the widths
    wrapped = []
    for label, value in layout.lines:
        put_cell(ws, row, 1, label).font = LABEL_FONT
        ws.cell(row=row, column=1).alignment = Alignment(vertical="top")
        put(ws.cell(row=row, column=2), value, FORMATS.get(kind_of(value)))
        if isinstance(value, str) and len(value) > MAX_WIDTH:
            wrapped.append(row)
            titles.add(row)  # wrapped across the tables' width, not widening a column
        row += 1
    lines_end = row - 1
    charts = {c.block: c for c in layout.charts}
    placed = []
    for block in layout.blocks:
        row += 1
        put_cell(ws, row, 1, block.title).font = BLOCK_FONT
        titles.add(row)
        spot = _Placed(block, row, row + 1)
        row = _write_block(ws, block, row + 1)
        chart = charts.get(block.title)
        if chart is not None and block.rows:
            spot.chart, spot.chart_row = chart, row + 1
            spot.chart_rows = _chart_rows(chart, block)
            row += spot.chart_rows
        placed.append(spot)
        row += 1
    widths = fit_widths(ws, titles)
    for number in wrapped:  # long texts (the spend note): wrapped across the tables' columns
        cell = ws.cell(row=number, column=2)
        cell.alignment = WRAP
        last = max(len(widths), 2)
        ws.merge_cells(start_row=number, start_column=2, end_row=number, end_column=last)
        room = sum(min(w + 2, MAX_WIDTH) for w in widths[1:last]) or MAX_WIDTH
        ws.row_dimensions[number].height = ROW_PT * math.ceil(len(str(cell.value)) * 1.1 / room)
    for spot in placed:
        if spot.chart is not None:
            ws.add_chart(_chart(ws, spot), f"A{spot.chart_row}")
    _paginate(ws, layout, widths, lines_end, placed)


def _labels(**shown: bool) -> DataLabelList:
    """Data labels showing only `shown` (readers take an unset flag for "on")."""
    flags = {"showVal": False, "showPercent": False, "showCatName": False, "showSerName": False,
             "showLegendKey": False, "showLeaderLines": False}  # fmt: skip
    return DataLabelList(**{**flags, **shown})


def _write_block(ws: Worksheet, block: Table, header_row: int) -> int:
    """The block's header and rows from `header_row`; returns its last row."""
    write_header(ws, header_row, block.columns)
    headers = [c.header for c in block.columns]
    row = header_row
    for values in block.rows:
        row += 1
        for col, (column, value) in enumerate(zip(block.columns, values), start=1):
            number_format = column.number_format
            if column.currency_from is not None:
                code = values[headers.index(column.currency_from)]
                number_format = money_format(code if code and code != "(unknown)" else None)
            put(ws.cell(row=row, column=col), value, number_format)
            if column.kind == "id":
                ws.cell(row=row, column=col).alignment = RIGHT
    return row


def _chart_rows(chart: Chart, block: Table) -> int:
    """The rows a chart covers: bars get room for their labels, a pie a square."""
    return math.ceil(_chart_height_cm(chart, block) * 28.35 / ROW_PT) + 1


def _chart_height_cm(chart: Chart, block: Table) -> float:
    shown = _charted(chart, block)
    return 6.5 if chart.kind == "pie" else max(6.0, 2.5 + 0.7 * shown)


def _charted(chart: Chart, block: Table) -> int:
    return min(len(block.rows) if chart.rows is None else chart.rows, CHART_ROWS)


def _paginate(ws: Worksheet, layout: SummaryLayout, widths: list[int], lines_end: int,
              placed: Sequence[_Placed]) -> None:  # fmt: skip
    """Page setup, and a page break before any block or chart that would not fit on the page."""
    content = max(sum(column_points(min(w + 2, MAX_WIDTH)) for w in widths), CHART_WIDTH_CM * 28.35)
    landscape = is_landscape(content)
    page_width, page_height = usable(landscape)
    flow = PageFlow(page_height, scale=min(1.0, page_width / content))

    def height(first: int, last: int) -> float:
        return sum(ws.row_dimensions[r].height or ROW_PT for r in range(first, last + 1))

    flow.keep(1, height(1, lines_end))
    for spot in placed:
        end = spot.header + len(spot.block.rows)
        table_pt = height(spot.first, end)
        chart_pt = height(spot.chart_row, spot.chart_row + spot.chart_rows) if spot.chart else 0.0
        if table_pt + chart_pt <= flow.room:
            flow.keep(spot.first, table_pt + chart_pt)
        else:
            flow.keep(spot.first, table_pt)
            if spot.chart:
                flow.keep(spot.chart_row, chart_pt)
    flow.apply(ws)
    set_up_pages(ws, content, (layout.title, layout.period))


def _chart(ws: Worksheet, spot: _Placed) -> Any:
    chart_spec, block = spot.chart, spot.block
    assert chart_spec is not None
    headers = [c.header for c in block.columns]
    label_col, value_col = headers.index(chart_spec.label) + 1, headers.index(chart_spec.value) + 1
    count = _charted(chart_spec, block)
    chart: BarChart | PieChart
    if chart_spec.kind == "pie":
        chart = PieChart()
        chart.dataLabels = _labels(showPercent=True, showVal=True)
    else:
        chart = BarChart()
        chart.type = "bar"  # horizontal bars: long service names stay readable
        chart.y_axis.title = chart_spec.value
        chart.x_axis.scaling.orientation = "maxMin"  # the biggest on top, as in the table
        chart.x_axis.delete = chart.y_axis.delete = False
        chart.x_axis.tickLblSkip = 1  # every bar's name, not every other one
        chart.y_axis.number_format = "#,##0"
        chart.gapWidth = 60
        chart.legend = None
        chart.dataLabels = _labels(showVal=True)  # every bar says its figure
    chart.title = chart_spec.title
    chart.height, chart.width = _chart_height_cm(chart_spec, block), CHART_WIDTH_CM
    header_row = spot.header
    values = Reference(ws, min_col=value_col, min_row=header_row, max_row=header_row + count)
    labels = Reference(ws, min_col=label_col, min_row=header_row + 1, max_row=header_row + count)
    chart.add_data(values, titles_from_data=True)
    chart.set_categories(labels)
    return chart


def fit_widths(ws: Worksheet, skip_rows: set[int]) -> list[int]:
    widths: list[int] = []
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None or cell.row in skip_rows:
                continue
            while len(widths) < cell.column:
                widths.append(0)
            widths[cell.column - 1] = max(widths[cell.column - 1], text_width(cell.value))
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(width + 2, MAX_WIDTH)
    return widths


