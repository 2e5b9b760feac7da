"""Rebuild samples/ and templates/ (run from the repository root: python samples/make_samples.py).

The weekly campaign is valid against the sandbox catalogue (bulkorders/panel/sandbox_catalogue.py);
the mistakes sample holds the errors people really make, one or two per row, and
tests/golden/mistakes.txt lists what `validate` says about each.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from bulkorders.template import ORDER_COLUMNS, write_template

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["link", "service", "quantity", "runs", "interval", "comments", "usernames", "username",
           "answer_number", "min", "max", "posts", "delay", "expiry", "country", "device",
           "type_of_traffic", "google_keyword", "notes"]  # fmt: skip
IG = "https://www.instagram.com"

WEEKLY: list[dict[str, object]] = [
    {"link": f"{IG}/northwindcoffee/", "service": 1001, "quantity": 2000, "notes": "main account"},
    {"link": f"{IG}/p/C1a2b3c4d5e/", "service": 1002, "quantity": 1500, "notes": "Monday post"},
    {"link": f"{IG}/p/C1a2b3c4d5f/", "service": 1002, "quantity": 500, "runs": 4, "interval": 60,
     "notes": "drip-feed: 4 x 500, hourly"},
    {"link": f"{IG}/reel/C9x8y7z6w5v/", "service": 1004, "quantity": 25000, "notes": "launch reel"},
    {"link": "https://www.tiktok.com/@northwindcoffee", "service": 1005, "quantity": 1000},
    {"link": "https://www.youtube.com/watch?v=Nw1cOffee42", "service": 1006, "quantity": "10,000",
     "notes": "typed as text with a comma: still 10000"},
    {"link": f"{IG}/p/C1a2b3c4d5e/", "service": 1007,
     "comments": "Best cold brew in town!\nThat crema 😍\nNeed this every morning\n"
                 "Where is this café?\nLove the new cups\nOrdering one right now",
     "notes": "6 comments = quantity 6"},
    {"link": f"{IG}/northwindcoffee/", "service": 1009, "notes": "profile boost package"},
    {"link": f"{IG}/p/C1a2b3c4d5g/", "service": 1010, "quantity": 200,
     "usernames": "latte_art_daily\nbarista_life\ncoffee.snob"},
    {"link": "https://t.me/northwind_polls/42", "service": 1018, "quantity": 300, "answer_number": 2},
    {"service": 1020, "username": "northwindcoffee", "min": 100, "max": 200, "posts": 10, "delay": 0,
     "expiry": dt.date(2026, 12, 31), "notes": "auto likes on the next 10 posts"},
    {"link": "https://northwindcoffee.example/", "service": 1021, "quantity": 5000, "country": "US",
     "device": 5, "type_of_traffic": 1, "google_keyword": "best cold brew"},
    {"link": "https://x.com/northwind/status/1790000000000000000", "service": 1022, "quantity": 150},
    {"link": f"{IG}/p/C1a2b3c4d5h/", "service": 1003, "quantity": 800, "runs": 2, "interval": 1440,
     "notes": "two days, 800 a day"},
    {"link": f"{IG}/p/C1a2b3c4d5i/", "service": 1016, "quantity": 100, "username": "coffee_lover_88"},
    {"link": f"{IG}/p/C1a2b3c4d5j/", "service": 1001.0, "quantity": 750.0, "notes": "numbers as 1001.0"},
]  # fmt: skip

MISTAKES: list[dict[str, object]] = [
    {"link": f"{IG}/p/ok1/", "service": 1001, "quantity": 1000, "notes": "fine"},
    {"link": f"{IG}/p/m3/", "service": 1001, "quantity": "abc", "notes": "not a number"},
    {"link": f"{IG}/p/m4/", "service": 1001, "quantity": 1000.5, "notes": "a fraction"},
    {"link": f"{IG}/p/m5/", "service": 1001, "quantity": -5, "notes": "negative"},
    {"link": f"{IG}/p/m6/", "service": 1001, "quantity": dt.date(2025, 3, 1), "notes": "a date"},
    {"link": f"{IG}/p/m7/", "service": 1001, "quantity": True, "notes": "TRUE"},
    {"link": f"{IG}/p/m8/", "service": 9999, "quantity": 100, "notes": "unknown service"},
    {"link": f"{IG}/p/m9/", "quantity": 100, "notes": "no service"},
    {"service": 1002, "quantity": 500, "notes": "no link"},
    {"link": f"{IG}/p/m11 extra/", "service": 1002, "quantity": 500, "notes": "space in link"},
    {"link": "instagram.com/p/m12/", "service": 1002, "quantity": 500, "notes": "no https://"},
    {"link": f"{IG}/p/m13/", "service": 1001, "quantity": 5, "notes": "below min"},
    {"link": f"{IG}/p/m14/", "service": 1002, "quantity": 60000, "notes": "above max"},
    {"link": f"{IG}/p/m15/", "service": 1002, "quantity": 500, "runs": 3, "notes": "runs without interval"},
    {"link": f"{IG}/p/m16/", "service": 1002, "quantity": 500, "runs": 1, "interval": 30, "notes": "runs 1"},
    {"link": f"{IG}/p/m17/", "service": 1007, "comments": "Nice!\nGreat\nWow", "notes": "3 comments, min 5"},
    {"link": f"{IG}/p/m18/", "service": 1001, "quantity": 100, "comments": "hello", "notes": "wrong service"},
    {"service": 1020, "username": "northwindcoffee", "min": 300, "max": 200, "delay": 0, "notes": "min > max"},
    {"link": "https://northwindcoffee.example/", "service": 1021, "quantity": 1000, "country": "US",
     "device": 7, "type_of_traffic": 1, "notes": "device 7, no keyword"},
    {"link": f"{IG}/p/ok1/", "service": 1001, "quantity": 500, "notes": "same link as row 2"},
    {"service": 1020, "username": "northwindcoffee", "min": 100, "max": 200, "delay": 0,
     "expiry": "31/02/2026", "notes": "no such date"},
    {"link": f"{IG}/northwindcoffee/", "service": 1009, "quantity": 5, "notes": "package with quantity"},
    {"link": f"{IG}/p/m24/", "service": 1001, "quantity": "1,000", "notes": "fine: 1,000 is 1000"},
    {"link": f"{IG}/p/m25/", "service": 1010, "quantity": 200, "notes": "mentions without usernames"},
]  # fmt: skip


def write_xlsx(path: Path, rows: list[dict[str, object]], title: str | None) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    if title:
        sheet.append([title])
        sheet["A1"].font = Font(bold=True, size=14)
        sheet.append([])
    sheet.append(COLUMNS)
    header = sheet.max_row
    for cell in sheet[header]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([row.get(name) for name in COLUMNS])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and "\n" in cell.value:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            if isinstance(cell.value, dt.date):
                cell.number_format = "dd/mm/yyyy"
    widths = {name: width for name, _, width in ORDER_COLUMNS}
    for index, name in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[sheet.cell(row=header, column=index).column_letter].width = widths.get(name, 12)
    sheet.freeze_panes = sheet.cell(row=header + 1, column=1)
    workbook.save(path)


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_csv_value(row.get(name)) for name in COLUMNS])


def _csv_value(value: object) -> object:
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return "" if value is None else value


def main() -> None:
    samples, templates = ROOT / "samples", ROOT / "templates"
    write_xlsx(samples / "weekly-campaign.xlsx", WEEKLY, "Northwind Coffee — weekly campaign, week 48")
    write_csv(samples / "weekly-campaign.csv", WEEKLY)
    write_xlsx(samples / "weekly-campaign-mistakes.xlsx", MISTAKES, None)
    write_template(templates / "bulkorders-template.xlsx", None)
    with (templates / "bulkorders-template.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow([name for name, _, _ in ORDER_COLUMNS])


if __name__ == "__main__":
    main()
