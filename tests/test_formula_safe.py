"""Every cell bulkorders writes is formula-safe, in every workbook, from every source.

A loopback panel names its service `=HYPERLINK(…)`, its category `@SUM(1)` and its currency
a text with a quote and a `;`; then `services --out`, `template`, `submit`, `status` and
`report` run against it, and every file is read back: no cell is a formula (openpyxl's
data_type 'f', or an `<f>` in the raw XML), formula-like texts carry the quote prefix,
CSV fields start with `'`, and the number formats hold the currency only as a literal.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from bulkorders.cli import cli
from bulkorders.sheets import literal_format, read_sheet, write_back

KEY = "formula-test-key-0123456789"
EVIL_NAME = '=HYPERLINK("http://evil.test","click")'
EVIL_CATEGORY = "@SUM(1)"
EVIL_CURRENCY = 'U"SD;@'
CATALOGUE = [{"service": 1, "name": EVIL_NAME, "type": "Default", "category": EVIL_CATEGORY,
              "rate": "1.00", "min": 10, "max": 10000, "refill": 0, "cancel": 0}]  # fmt: skip
FORMULA = re.compile(rb"<(?:[\w.-]+:)?f[\s>/]")


def evil(form: dict[str, str], ids: Iterator[int]) -> tuple[int, str, str]:
    action = form["action"]
    if action == "services":
        doc: Any = CATALOGUE
    elif action == "balance":
        doc = {"balance": "1000", "currency": EVIL_CURRENCY}
    elif action == "add":
        doc = {"order": next(ids)}
    else:  # status, multi form
        doc = {i: {"charge": "0.1", "start_count": "5", "status": "Completed", "remains": "0",
                   "currency": EVIL_CURRENCY} for i in form["orders"].split(",")}  # fmt: skip
    return 200, json.dumps(doc), "application/json"


@pytest.fixture
def evil_panel(loopback_panel) -> str:
    ids = itertools.count(5001)
    return loopback_panel(lambda form: evil(form, ids))


def no_formulas(path: Path) -> list[str]:
    """Cells that are formulas, as openpyxl and the raw XML of each worksheet see them."""
    found = [f"{ws.title}!{cell.coordinate}" for ws in openpyxl.load_workbook(path).worksheets
             for row in ws.iter_rows() for cell in row if cell.data_type == "f"]  # fmt: skip
    with zipfile.ZipFile(path) as zf:
        found += [name for name in zf.namelist() if name.startswith("xl/worksheets/") and FORMULA.search(zf.read(name))]
    return found


def cells_holding(path: Path, text: str) -> list[Any]:
    return [cell for ws in openpyxl.load_workbook(path).worksheets
            for row in ws.iter_rows() for cell in row if cell.value == text]  # fmt: skip


def number_formats(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        styles = zf.read("xl/styles.xml").decode()
    return re.findall(r'formatCode="([^"]*)"', styles)


def test_panel_texts_are_never_formulas_in_any_file(evil_panel, tmp_path):
    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, ["--panel", evil_panel, "--ledger", str(tmp_path / "l.sqlite"), *args],
                                    env={"BULKORDERS_API_KEY": KEY})  # fmt: skip
        assert result.exit_code == 0, result.output
        return result

    run("services", "--out", str(tmp_path / "services.xlsx"))
    run("services", "--out", str(tmp_path / "services.csv"))
    run("template", "--out", str(tmp_path / "template.xlsx"))
    wb = openpyxl.Workbook()
    wb.active.append(["link", "service", "quantity"])
    for i in range(3):
        wb.active.append([f"https://instagram.com/p/f{i}", 1, 100])
    wb.save(tmp_path / "evil.xlsx")
    run("submit", str(tmp_path / "evil.xlsx"), "--yes")
    run("status", str(tmp_path / "evil.results.xlsx"))
    run("report", "--campaign", "evil", "--out", str(tmp_path / "audit.xlsx"))

    for name in ("services.xlsx", "template.xlsx", "evil.results.xlsx", "audit.xlsx"):
        path = tmp_path / name
        assert no_formulas(path) == [], name
        for text in (EVIL_NAME, EVIL_CATEGORY):
            for cell in cells_holding(path, text):
                assert (cell.data_type, cell.quotePrefix) == ("s", True), f"{name}!{cell.coordinate}"
    assert cells_holding(tmp_path / "template.xlsx", EVIL_NAME)  # the check saw the texts
    assert cells_holding(tmp_path / "audit.xlsx", EVIL_NAME)
    with (tmp_path / "services.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][1:4] == ["'" + EVIL_NAME, "Default", "'" + EVIL_CATEGORY]
    assert all(not field.startswith(("=", "+", "-", "@")) for row in rows for field in row)
    for code in number_formats(tmp_path / "audit.xlsx"):
        assert EVIL_CURRENCY not in code.replace("&quot;", '"'), code
    assert any(literal_format(" " + EVIL_CURRENCY).replace('"', "&quot;") in code
               for code in number_formats(tmp_path / "audit.xlsx"))  # fmt: skip


def test_literal_format_quotes_plain_codes_and_escapes_anything_with_a_quote():
    assert literal_format(" USD") == '" USD"'
    assert literal_format(' U"SD;@') == '\\ \\U\\"\\S\\D\\;\\@'


def test_a_cell_the_user_styled_keeps_its_look_and_the_text_stays_text(tmp_path):
    source = tmp_path / "orders.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["link", "service", "quantity"])
    wb.active.append(["https://x.test/1", 1001, 100])
    wb.save(source)
    out = tmp_path / "orders.results.xlsx"
    write_back(read_sheet(source), {2: {"error": "first"}}, out)
    wb = openpyxl.load_workbook(out)  # the user makes the error column bold
    column = [c.value for c in wb.active[1]].index("error") + 1
    wb.active.cell(2, column).font = openpyxl.styles.Font(bold=True, color="FF0000")
    wb.save(out)

    for _ in range(2):  # twice: the second write reuses the style the first added
        write_back(read_sheet(out), {2: {"error": EVIL_NAME}}, out)
        cell = openpyxl.load_workbook(out).active.cell(2, column)
        assert (cell.value, cell.data_type, cell.quotePrefix) == (EVIL_NAME, "s", True)
        assert cell.font.bold and cell.font.color.rgb == "00FF0000"
        with zipfile.ZipFile(out) as zf:
            count = re.search(rb'<cellXfs count="(\d+)"', zf.read("xl/styles.xml")).group(1)
        if _ == 0:
            first = count
    assert count == first
