"""Showing the catalogue: filtering, a plain-text table, and export to xlsx/csv/json."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from bulkorders.errors import UsageError
from bulkorders.models import Service
from bulkorders.sheets import csv_row, put_row

COLUMNS = ("id", "name", "type", "category", "rate", "min", "max", "refill", "cancel")


def filter_services(
    services: Iterable[Service], *, search: str | None = None, category: str | None = None
) -> list[Service]:
    """Services whose id, name or type contain `search` and whose category contains `category`."""
    needle = (search or "").casefold()
    wanted = (category or "").casefold()
    return [
        s
        for s in services
        if (not needle or needle in f"{s.service} {s.name} {s.type}".casefold())
        and (not wanted or wanted in s.category.casefold())
    ]


def service_cells(service: Service) -> tuple[str, ...]:
    return (
        service.service, service.name, service.type, service.category, str(service.rate),
        str(service.min), str(service.max), _yes_no(service.refill), _yes_no(service.cancel),
    )  # fmt: skip


def format_table(services: Sequence[Service]) -> str:
    """A fixed-width table, one service a line, ids right-aligned."""
    rows = [COLUMNS, *(service_cells(s) for s in services)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    numeric = {0, 4, 5, 6}
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in numeric and row is not rows[0] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


EXPORT_SUFFIXES = (".xlsx", ".csv", ".json")


def check_export_name(out: Path) -> None:
    """Refuse an export file name we cannot write, before any work is done."""
    if out.suffix.lower() not in EXPORT_SUFFIXES:
        raise UsageError(f"Cannot export to {out.name}: use a .xlsx, .csv or .json file name.")


def export_services(services: Sequence[Service], out: Path) -> None:
    """Write the services to .xlsx (styled), .csv or .json, chosen by the file's suffix."""
    check_export_name(out)
    suffix = out.suffix.lower()
    if suffix == ".json":
        out.write_text(
            json.dumps([s.to_panel_dict() for s in services], indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    elif suffix == ".csv":
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(csv_row(service_cells(s)) for s in services)
    else:
        _write_xlsx(services, out)


def _write_xlsx(services: Sequence[Service], out: Path) -> None:
    from openpyxl import Workbook  # loaded only when a workbook is written

    wb = Workbook()
    ws = wb.active
    ws.title = "Services"
    put_row(ws, 1, COLUMNS)
    for row, s in enumerate(services, start=2):
        put_row(ws, row, [
            int(s.service) if s.service.isdigit() else s.service, s.name, s.type, s.category,
            s.rate, s.min, s.max, _yes_no(s.refill), _yes_no(s.cancel),
        ])  # fmt: skip
    style_header_table(ws, len(services) + 1, len(COLUMNS))
    for row in ws.iter_rows(min_row=2, min_col=5, max_col=5):
        row[0].number_format = "0.00####"
    wb.save(out)


def style_header_table(ws, last_row: int, last_col: int, max_width: int = 60) -> None:
    """Bold header, filters on, header frozen, widths fitted to the content."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.auto_filter.ref = f"A1:{get_column_letter(last_col)}{max(last_row, 1)}"
    ws.freeze_panes = "A2"
    for col in range(1, last_col + 1):
        letter = get_column_letter(col)
        longest = max((len(str(c.value)) for c in ws[letter] if c.value is not None), default=4)
        ws.column_dimensions[letter].width = min(max_width, longest + 2)


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
