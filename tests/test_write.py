"""Write-back of results into the user's workbook or CSV: columns, fidelity, safety, atomicity."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from bulkorders.errors import UsageError, WriteBackError
from bulkorders.models import OUTPUT_COLUMNS
from bulkorders.sheets.headers import OUTPUT_TITLES
from bulkorders.sheets.write import backup_copy, default_output_path, write_back
from bulkorders.sheets.write_package import CHARGE_FORMAT
from bulkorders.sheets.write_values import CellOut, cell_out, utc_iso

NOTHING_LOST = "Nothing is lost: the ledger holds every result."


@dataclass
class FakeSheet:
    """What `read_sheet` returns, built by hand so these tests do not depend on the reader."""

    path: Path
    headers: list[str]
    header_row: int = 1
    sheet_name: str | None = None
    columns: dict[str, int] = field(default_factory=dict)
    rows: list[Any] = field(default_factory=list)
    issues: list[Any] = field(default_factory=list)
    csv_delimiter: str | None = None
    csv_bom: bool = False
    csv_encoding: str | None = None


HEADERS = ["link", "service", "quantity"]


def simple_workbook(path: Path, rows: int = 3, headers: list[str] = HEADERS) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(headers)
    for i in range(rows):
        ws.append([f"https://x.test/{i}", 1001, 100 * (i + 1)][: len(headers)])
    wb.save(path)
    return path


def fidelity_workbook(path: Path) -> Path:
    """Styles, widths, freeze panes, formulas (one far right without a cached value), data
    validation, merged cells, a defined name, conditional formatting, a second sheet, a chart."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(["link", "service", "quantity", "double"])
    header_font = Font(bold=True, color="FFFFFF", name="Arial", size=12)
    header_fill = PatternFill("solid", fgColor="1F4E78")
    header_border = Border(bottom=Side(style="thick", color="FF0000"))
    for cell in ws[1]:
        cell.font = header_font
        cell.fill = header_fill
        cell.border = header_border
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
        cell.number_format = "@"
    for i in range(2, 6):
        ws.cell(i, 1, f"https://x.test/{i}")
        ws.cell(i, 2, 1001)
        ws.cell(i, 3, 100 * i).number_format = "#,##0"
        ws.cell(i, 4, f"=C{i}*2")
    ws["H2"] = "=C2+1"  # no header, no cached value: still a used column
    ws.column_dimensions["A"].width = 42
    ws.row_dimensions[1].height = 30
    ws.freeze_panes = "A2"
    validation = DataValidation(type="list", formula1='"1001,1002"', allow_blank=True)
    ws.add_data_validation(validation)
    validation.add("B2:B100")
    ws.merge_cells("A10:C10")
    ws["A10"] = "merged note"
    ws.conditional_formatting.add(
        "C2:C5", openpyxl.formatting.rule.CellIsRule(operator="greaterThan", formula=["300"], fill=header_fill)
    )
    notes = wb.create_sheet("Notes")
    notes["A1"] = 0.5
    notes["A2"] = "keep me"
    notes["B1"] = "=Orders!C2*Notes!A1"
    wb.defined_names["Rate"] = DefinedName("Rate", attr_text="Notes!$A$1")
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=3, min_row=1, max_row=5), titles_from_data=True)
    notes.add_chart(chart, "D2")
    wb.save(path)
    return path


def values_of(ws) -> dict[str, Any]:
    return {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}


# --- paths ----------------------------------------------------------------------------


def test_default_output_path_keeps_the_suffix_beside_the_input(tmp_path):
    assert default_output_path(tmp_path / "orders.xlsx") == tmp_path / "orders.results.xlsx"
    assert default_output_path(tmp_path / "orders.csv") == tmp_path / "orders.results.csv"
    assert default_output_path(tmp_path / "orders.xlsm") == tmp_path / "orders.results.xlsm"
    assert default_output_path(tmp_path / "orders.results.xlsx") == tmp_path / "orders.results.xlsx"


def test_backup_copy_is_timestamped_and_never_overwrites(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    clock = lambda: datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC).timestamp()  # noqa: E731
    first = backup_copy(source, clock=clock)
    second = backup_copy(source, clock=clock)
    assert first == tmp_path / "orders.backup-20240501-123005.xlsx"
    assert second == tmp_path / "orders.backup-20240501-123005-2.xlsx"
    assert first.read_bytes() == source.read_bytes() == second.read_bytes()


def test_backup_copy_failure_says_nothing_was_written(tmp_path):
    with pytest.raises(WriteBackError) as err:
        backup_copy(tmp_path / "gone.xlsx", clock=lambda: 0)
    assert str(err.value) == (
        f"Could not keep a copy of {tmp_path / 'gone.xlsx'} before writing it in place: the folder does "
        f"not exist. Nothing was written. {NOTHING_LOST}"
    )


# --- values ---------------------------------------------------------------------------


def test_values_become_numbers_or_text_as_the_column_wants():
    assert cell_out("order_id", "23501").is_number and cell_out("order_id", "23501").text == "23501"
    assert not cell_out("order_id", "00123").is_number  # an id with a leading zero is not a number
    assert not cell_out("order_id", "1234567890123456").is_number  # 16 digits: Excel would round
    assert cell_out("remains", "-12").is_number and cell_out("remains", "-12").text == "-12"
    assert cell_out("charge", Decimal("0.00001234")).text == "0.00001234"
    assert cell_out("charge", Decimal("1.2300")).text == "1.23"
    assert cell_out("charge", "0.718").is_number
    assert cell_out("charge", Decimal("-0.5")) == cell_out("charge", "-0.5")
    assert cell_out("charge", Decimal("-0.5")).is_number and not cell_out("charge", Decimal("-0.5")).formula_like
    assert cell_out("status", "-5").formula_like and not cell_out("status", "-5").is_number
    assert cell_out("status", None) is None
    # cancel_result is in words (models.cancel_words), written as the ledger keeps them: text
    assert cell_out("cancel_result", "requested") == CellOut("requested")
    assert cell_out("cancel_result", "uncertain") == CellOut("uncertain")
    assert cell_out("cancel_result", "refused: Order is final") == CellOut("refused: Order is final")


def test_times_are_utc_iso_8601():
    plus_two = datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc_iso(plus_two) == "2024-05-01T12:00:00Z"
    assert utc_iso(datetime(2024, 5, 1, 12, 0, 0)) == "2024-05-01T12:00:00Z"
    assert cell_out("checked_at", plus_two).text == "2024-05-01 12:00:00"  # UTC, as spreadsheets read it


# --- xlsx -----------------------------------------------------------------------------


def test_fidelity_everything_else_survives(tmp_path):
    source = fidelity_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "orders.results.xlsx"
    before = openpyxl.load_workbook(source)
    updates = {
        2: {"order_id": "23501", "charge": Decimal("0.718"), "currency": "USD", "status": "Pending",
            "submitted_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC)},
        3: {"status": "invalid", "error": "quantity: \"abc\" is not a whole number"},
    }  # fmt: skip
    summary = write_back(FakeSheet(source, ["link", "service", "quantity", "double"]), updates, out)
    assert summary.path == out and summary.rows_written == 2 and summary.warnings == []
    assert summary.columns_added == list(OUTPUT_COLUMNS)

    after = openpyxl.load_workbook(out)
    ws, old = after["Orders"], before["Orders"]
    # new columns right of H (the formula without a header), in SPEC's order
    assert [ws.cell(1, 9 + i).value for i in range(12)] == list(OUTPUT_TITLES)
    assert ws["I2"].value == 23501 and ws["I2"].data_type == "n"
    assert ws["J2"].value == pytest.approx(0.718) and ws["J2"].number_format == CHARGE_FORMAT
    assert ws["K2"].value == "USD" and ws["M2"].value == "Pending"
    assert ws["S2"].value == datetime(2024, 5, 1, 12, 0) and ws["S2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws["M3"].value == "invalid" and ws["R3"].value == 'quantity: "abc" is not a whole number'
    assert ws["I3"].value is None
    # every original cell, formulas included, unchanged
    new_cells = {c.coordinate for row in ws.iter_rows(min_col=9) for c in row}
    assert {k: v for k, v in values_of(ws).items() if k not in new_cells} == values_of(old)
    assert ws["D2"].value == "=C2*2" and ws["H2"].value == "=C2+1"
    assert values_of(after["Notes"]) == values_of(before["Notes"])
    # styles, widths, panes, validation, merges, names, conditional formatting
    assert ws["C2"].number_format == "#,##0"
    assert ws.column_dimensions["A"].width == 42 and ws.row_dimensions[1].height == 30
    assert ws.freeze_panes == "A2"
    assert [str(dv.sqref) for dv in ws.data_validations.dataValidation] == ["B2:B100"]
    assert [str(r) for r in ws.merged_cells.ranges] == ["A10:C10"]
    assert after.defined_names["Rate"].attr_text == "Notes!$A$1"
    assert [str(r.sqref) for r in ws.conditional_formatting] == ["C2:C5"]
    assert len(after["Notes"]._charts) == 1
    # the new header cells look exactly like the last header cell
    last = ws["D1"]
    for cell in ws[1][8:]:
        assert cell._style == last._style  # same font, fill, border, alignment, number format
        assert (cell.font.b, cell.font.name, cell.fill.fgColor.rgb, cell.border.bottom.style) == (
            True, "Arial", "001F4E78", "thick")  # fmt: skip
    with zipfile.ZipFile(source) as a, zipfile.ZipFile(out) as b:
        assert a.namelist() == b.namelist()
        changed = {n for n in a.namelist() if a.read(n) != b.read(n)}
    assert changed == {"xl/worksheets/sheet1.xml", "xl/styles.xml"}


def test_second_run_reuses_the_columns(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "orders.results.xlsx"
    write_back(FakeSheet(source, HEADERS), {2: {"order_id": "1", "status": "Pending"}}, out)
    headers = HEADERS + list(OUTPUT_TITLES)
    summary = write_back(FakeSheet(out, headers), {2: {"status": "Completed"}, 3: {"order_id": "2"}}, out)
    assert summary.columns_added == []
    ws = openpyxl.load_workbook(out).active
    assert [c.value for c in ws[1]] == headers
    assert [ws["D2"].value, ws["H2"].value, ws["D3"].value] == [1, "Completed", 2]


def test_an_order_id_header_of_the_user_is_reused(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx", headers=["link", "service", "quantity", "Order ID"])
    out = tmp_path / "out.xlsx"
    summary = write_back(FakeSheet(source, ["link", "service", "quantity", "Order ID"]), {2: {"order_id": "77"}}, out)
    assert summary.columns_added == list(OUTPUT_COLUMNS[1:])
    ws = openpyxl.load_workbook(out).active
    assert [c.value for c in ws[1]] == ["link", "service", "quantity", "Order ID", *OUTPUT_TITLES[1:]]
    assert ws["D2"].value == 77


def test_known_columns_of_the_reader_win_over_header_text(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx", headers=["link", "service", "quantity", "Auftrag"])
    out = tmp_path / "out.xlsx"
    sheet = FakeSheet(source, ["link", "service", "quantity", "Auftrag"], columns={"order_id": 3})
    write_back(sheet, {2: {"order_id": "77"}}, out)
    ws = openpyxl.load_workbook(out).active
    assert ws["D1"].value == "Auftrag" and ws["D2"].value == 77 and ws["E1"].value == "charge"


def test_none_clears_a_cell_and_absent_columns_stay(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "out.xlsx"
    write_back(FakeSheet(source, HEADERS), {2: {"status": "Pending", "error": "x"}}, out)
    headers = HEADERS + list(OUTPUT_TITLES)
    write_back(FakeSheet(out, headers), {2: {"error": None}}, out)
    ws = openpyxl.load_workbook(out).active
    assert ws["H2"].value == "Pending" and ws["M2"].value is None


def test_header_below_title_rows_and_rows_missing_from_the_xml(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "Campaign May"
    ws.append([])
    ws.append(HEADERS)
    ws.append(["https://x.test/1", 1001, 100])
    ws["A7"] = "https://x.test/7"
    wb.save(tmp_path / "t.xlsx")
    out = tmp_path / "t.results.xlsx"
    write_back(FakeSheet(tmp_path / "t.xlsx", HEADERS, header_row=3), {4: {"order_id": "1"}, 6: {"error": "gap"}}, out)
    ws = openpyxl.load_workbook(out).active
    assert ws["D3"].value == "order_id" and ws["D1"].value is None
    assert ws["D4"].value == 1 and ws["M6"].value == "gap" and ws["A7"].value == "https://x.test/7"


def test_writes_into_the_named_sheet_only(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Readme"
    wb.active["A1"] = "instructions"
    orders = wb.create_sheet("Orders")
    orders.append(HEADERS)
    orders.append(["https://x.test/1", 1001, 100])
    wb.save(tmp_path / "b.xlsx")
    write_back(FakeSheet(tmp_path / "b.xlsx", HEADERS, sheet_name="Orders"), {2: {"order_id": "5"}}, tmp_path / "o.xlsx")
    after = openpyxl.load_workbook(tmp_path / "o.xlsx")
    assert values_of(after["Readme"]) == {"A1": "instructions"}
    assert after["Orders"]["D2"].value == 5


def _rezip(source: Path, target: Path, edit) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, edit(info.filename, src.read(info)))
        dst.writestr("xl/calcChain.xml", b'<calcChain xmlns="http://schemas.openxmlformats.org/'
                     b'spreadsheetml/2006/main"><c r="D2" i="1"/><c r="D3"/></calcChain>')  # fmt: skip
    return target


def test_formulas_in_a_reused_column(tmp_path):
    """An overwritten formula takes the calculation chain with it (Excel rebuilds it); the
    master of a shared formula is kept, with a warning, since other cells depend on it."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([*HEADERS, "status"])
    ws.append(["https://x.test/1", 1001, 100, "=1+1"])
    ws.append(["https://x.test/2", 1001, 100, "=1+2"])
    wb.save(tmp_path / "plain.xlsx")

    def edit(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", b'<Override PartName="/xl/calcChain.xml" ContentType="application/'
                                b'vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>')  # fmt: skip
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(b"</Relationships>", b'<Relationship Id="rId9" Type="http://schemas.openxml'
                                b'formats.org/officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/>'
                                b"</Relationships>")  # fmt: skip
        if name == "xl/worksheets/sheet1.xml":
            return data.replace(b"<f>1+2</f>", b'<f t="shared" ref="D3:D4" si="0">1+2</f>')
        return data

    source = _rezip(tmp_path / "plain.xlsx", tmp_path / "orders.xlsx", edit)
    out = tmp_path / "out.xlsx"
    summary = write_back(FakeSheet(source, [*HEADERS, "status"], columns={"status": 3}), {2: {"status": "Pending"}, 3: {"status": "x"}}, out)
    assert summary.warnings == ["row 3, column D: the cell holds a formula shared with other cells, left as it is"]
    with zipfile.ZipFile(out) as zf:
        assert "xl/calcChain.xml" not in zf.namelist()
        assert b"calcChain" not in zf.read("[Content_Types].xml") + zf.read("xl/_rels/workbook.xml.rels")
    ws = openpyxl.load_workbook(out).active
    assert (ws["D2"].value, ws["D3"].value) == ("Pending", "=1+2")


def test_panel_text_that_looks_like_a_formula_stays_text_in_xlsx(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx", rows=6)
    out = tmp_path / "out.xlsx"
    nasty = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    updates = {row: {"error": text} for row, text in enumerate(nasty, start=2)}
    updates[2]["charge"] = Decimal("-0.5")
    write_back(FakeSheet(source, HEADERS), updates, out)
    ws = openpyxl.load_workbook(out).active
    for row, text in enumerate(nasty, start=2):
        cell = ws.cell(row, 13)
        assert (cell.value, cell.data_type, cell.quotePrefix) == (text.replace("\r", "\n"), "s", True)
    assert ws["E2"].value == -0.5 and ws["E2"].data_type == "n"
    with zipfile.ZipFile(out) as zf:
        assert b"<f>" not in zf.read("xl/worksheets/sheet1.xml").split(b"<sheetData>")[1]


def test_texts_are_kept_exactly(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "out.xlsx"
    texts = {2: "  a < b & c > d  ", 3: "Заказ 😀\nline 2", 4: "bell\x07gone", 5: "_x0041_"}
    write_back(FakeSheet(source, HEADERS), {row: {"error": t} for row, t in texts.items()}, out)
    ws = openpyxl.load_workbook(out).active
    assert [ws.cell(r, 13).value for r in (2, 3, 4)] == [texts[2], texts[3], "bellgone"]
    # Excel reads `_x0041_` as "A": the underscore is escaped so it shows the text as given
    # (openpyxl does not unescape, so it shows the escape itself)
    assert ws["M5"].value == "_x005F_x0041_"


def test_xlsm_keeps_its_macros(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    macro = tmp_path / "orders.xlsm"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(macro, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 pretend VBA")
    out = tmp_path / "orders.results.xlsm"
    write_back(FakeSheet(macro, HEADERS), {2: {"order_id": "9"}}, out)
    with zipfile.ZipFile(out) as zf:
        assert zf.read("xl/vbaProject.bin") == b"\xd0\xcf\x11\xe0 pretend VBA"


def test_results_keep_the_input_format(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    with pytest.raises(UsageError) as err:
        write_back(FakeSheet(source, HEADERS), {}, tmp_path / "out.csv")
    assert str(err.value) == (
        "Cannot write the results of orders.xlsx to out.csv: the results keep the input's format, "
        "so give --out a name ending in .xlsx."
    )


def test_updates_name_output_columns_below_the_header(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    with pytest.raises(ValueError, match="not output columns"):
        write_back(FakeSheet(source, HEADERS), {2: {"link": "x"}}, tmp_path / "o.xlsx")
    with pytest.raises(ValueError, match="not below the header row"):
        write_back(FakeSheet(source, HEADERS), {1: {"status": "x"}}, tmp_path / "o.xlsx")


# --- atomic write -----------------------------------------------------------------------


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_target_is_a_folder(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    original = source.read_bytes()
    out = tmp_path / "orders.results.xlsx"
    out.mkdir()
    with pytest.raises(WriteBackError) as err:
        write_back(FakeSheet(source, HEADERS), {2: {"order_id": "1"}}, out)
    assert str(err.value) == f"Could not write the results to {out}: a folder of that name is in the way. {NOTHING_LOST}"
    assert source.read_bytes() == original and out.is_dir() and _no_temp_files(tmp_path)


def test_file_open_in_excel_leaves_it_intact(tmp_path, monkeypatch):
    source = simple_workbook(tmp_path / "orders.xlsx")
    original = source.read_bytes()

    def locked(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(WriteBackError) as err:
        write_back(FakeSheet(source, HEADERS), {2: {"order_id": "1"}}, source)  # --in-place
    assert str(err.value) == (
        f"Could not write the results to {source}: permission denied (close the file if it is open in "
        f"Excel or another program, and check that you may write to that folder). {NOTHING_LOST}"
    )
    assert source.read_bytes() == original and _no_temp_files(tmp_path)


@pytest.mark.parametrize(
    ("lock", "program"), [("~$orders.results.xlsx", "Excel"), (".~lock.orders.results.xlsx#", "LibreOffice")]
)
def test_a_file_open_in_a_spreadsheet_program_is_not_overwritten(tmp_path, lock, program):
    source = simple_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "orders.results.xlsx"
    out.write_bytes(b"what the user has open")
    (tmp_path / lock).write_text("")
    with pytest.raises(WriteBackError) as err:
        write_back(FakeSheet(source, HEADERS), {2: {"order_id": "1"}}, out)
    assert str(err.value) == (
        f"Could not write the results to {out}: it is open in {program} (its lock file {lock} is "
        f"there): close it first. {NOTHING_LOST}"
    )
    assert out.read_bytes() == b"what the user has open" and _no_temp_files(tmp_path)


def test_disk_full_leaves_no_half_file(tmp_path, monkeypatch):
    source = simple_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "orders.results.xlsx"
    out.write_bytes(b"previous results")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteBackError) as err:
        write_back(FakeSheet(source, HEADERS), {2: {"order_id": "1"}}, out)
    assert str(err.value) == f"Could not write the results to {out}: the disk is full. {NOTHING_LOST}"
    assert out.read_bytes() == b"previous results" and _no_temp_files(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    source = simple_workbook(folder / "orders.xlsx")
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteBackError, match="permission denied"):
            write_back(FakeSheet(source, HEADERS), {2: {"order_id": "1"}}, folder / "o.xlsx")
    finally:
        folder.chmod(0o700)


def test_not_a_workbook_is_a_clear_error(tmp_path):
    fake = tmp_path / "orders.xlsx"
    fake.write_bytes(b"not a zip")
    with pytest.raises(WriteBackError) as err:
        write_back(FakeSheet(fake, HEADERS), {2: {"order_id": "1"}}, tmp_path / "o.xlsx")
    assert str(err.value) == (
        f"Could not write the results to {tmp_path / 'o.xlsx'}: orders.xlsx is not a workbook that can be "
        f"edited (File is not a zip file). {NOTHING_LOST}"
    )


def test_in_place_keeps_the_permissions(tmp_path):
    source = simple_workbook(tmp_path / "orders.xlsx")
    source.chmod(0o640)
    write_back(FakeSheet(source, HEADERS), {2: {"order_id": "1"}}, source)
    assert source.stat().st_mode & 0o777 == 0o640


# --- csv ------------------------------------------------------------------------------


def test_csv_keeps_delimiter_bom_line_endings_and_other_records(tmp_path):
    body = (
        'Kampagne Mai;;\r\n'
        'link;service;quantity;note\r\n'
        '"https://x.test/1";1001;100;"two\r\nlines; here"\r\n'
        'https://x.test/2;1002;200\r\n'
        '\r\n'
        'https://x.test/3;1003;"300";ok\r\n'
    )  # fmt: skip
    source = tmp_path / "orders.csv"
    source.write_bytes(b"\xef\xbb\xbf" + body.encode())
    sheet = FakeSheet(source, ["link", "service", "quantity", "note"], header_row=2,
                      csv_delimiter=";", csv_bom=True, csv_encoding="utf-8")  # fmt: skip
    out = tmp_path / "orders.results.csv"
    updates = {
        3: {"order_id": "23501", "charge": Decimal("-0.5"), "status": "=1+1", "error": 'say "hi"; bye'},
        6: {"status": "rejected", "error": "@cmd"},
    }
    summary = write_back(sheet, updates, out)
    assert summary.columns_added == list(OUTPUT_COLUMNS)
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data[3:].decode().split("\r\n")
    assert lines == [
        "Kampagne Mai;;",
        "link;service;quantity;note;" + ";".join(OUTPUT_TITLES),
        '"https://x.test/1";1001;100;"two',
        'lines; here";23501;-0.5;;;\'=1+1;;;;;"say ""hi""; bye";;',
        "https://x.test/2;1002;200",
        "",
        'https://x.test/3;1003;"300";ok;;;;;rejected;;;;;\'@cmd;;',
        "",
    ]


def test_csv_second_run_reuses_columns_and_keeps_values(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_text("link,service,quantity,Order ID\nhttps://x.test/1,1001,100,\nhttps://x.test/2,1001,100,")
    sheet = FakeSheet(source, ["link", "service", "quantity", "Order ID"], csv_delimiter=",")
    out = tmp_path / "orders.results.csv"
    write_back(sheet, {2: {"order_id": "1", "status": "Pending"}}, out)
    headers = ["link", "service", "quantity", "Order ID", *OUTPUT_TITLES[1:]]
    again = FakeSheet(out, headers, csv_delimiter=",")
    summary = write_back(again, {3: {"order_id": "2", "status": "Pending"}}, out)
    assert summary.columns_added == []
    assert out.read_text().split("\n") == [
        "link,service,quantity,Order ID," + ",".join(OUTPUT_TITLES[1:]),
        "https://x.test/1,1001,100,1,,,,Pending,,,,,,,",
        "https://x.test/2,1001,100,2,,,,Pending,,,,,,,",
    ]


def test_csv_tab_and_characters_the_encoding_cannot_hold(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_bytes("link\tservice\tquantity\nhttps://x.test/é\t1001\t5\n".encode("cp1252"))
    sheet = FakeSheet(source, HEADERS, csv_delimiter="\t", csv_encoding="cp1252")
    summary = write_back(sheet, {2: {"error": "naïve 😀"}}, tmp_path / "o.csv")
    assert summary.warnings == ["row 2, error: characters that cp1252 cannot hold were written as ?"]
    text = (tmp_path / "o.csv").read_bytes().decode("cp1252")
    assert text.split("\n")[1] == "https://x.test/é\t1001\t5" + "\t" * 10 + "naïve ?\t\t"


# --- the reader reads what the writer wrote ----------------------------------------------


def test_the_reader_finds_the_results(tmp_path):
    read = pytest.importorskip("bulkorders.sheets.read")
    source = simple_workbook(tmp_path / "orders.xlsx")
    sheet = read.read_sheet(source)
    out = tmp_path / "orders.results.xlsx"
    write_back(sheet, {2: {"order_id": "23501", "status": "Pending"}, 3: {"status": "rejected"}}, out)
    results = read.read_sheet(out, purpose="results")
    assert results.columns["order_id"] == 3 and results.columns["checked_at"] == 14
    again = write_back(results, {2: {"status": "Completed"}}, out)
    assert again.columns_added == []


# --- regressions: repeated writes, hidden columns, the user's cell styles, cell order, CSV --------


def _styles_counts(path: Path) -> tuple[int, int]:
    """(cellXfs formats, numFmts formats) of a workbook's styles part, counted, not read from `count`."""
    with zipfile.ZipFile(path) as zf:
        styles = zf.read("xl/styles.xml")
    xfs = re.search(rb"<cellXfs\b.*?</cellXfs>", styles, re.S)
    fmts = re.search(rb"<numFmts\b.*?</numFmts>", styles, re.S)
    assert xfs is not None
    return len(re.findall(rb"<xf\b", xfs.group(0))), len(re.findall(rb"<numFmt\b", fmts.group(0))) if fmts else 0


def test_writing_the_results_again_and_again_adds_no_formats(tmp_path):
    """`status` (and `status --watch`) rewrites the results file it wrote: the styles part must not grow."""
    source = simple_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "orders.results.xlsx"
    headers = HEADERS + list(OUTPUT_TITLES)
    updates = {2: {"charge": Decimal("0.718"), "error": "=1+1"}, 3: {"charge": Decimal("1.5")}}
    write_back(FakeSheet(source, HEADERS), updates, out)
    first = _styles_counts(out)
    for run in range(3):
        write_back(FakeSheet(out, headers), {2: {"charge": Decimal(f"0.7{run}"), "error": f"+{run}"}}, out)
        assert _styles_counts(out) == first
        ws = openpyxl.load_workbook(out).active
        assert ws["E2"].value == pytest.approx(float(f"0.7{run}")) and ws["E2"].number_format == CHARGE_FORMAT
        assert ws["E3"].number_format == CHARGE_FORMAT
        assert (ws["M2"].value, ws["M2"].quotePrefix) == (f"+{run}", True)


def _hidden_columns(path: Path, sheet: str = "xl/worksheets/sheet1.xml") -> set[int]:
    """1-based columns that a `<col hidden>` range hides."""
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(sheet).decode()
    hidden: set[int] = set()
    for attrs in re.findall(r"<col\b([^>]*)/>", xml):
        span = dict(re.findall(r'\b(min|max|hidden)="([^"]*)"', attrs))
        if span.get("hidden") in ("1", "true"):
            hidden.update(range(int(span["min"]), int(span["max"]) + 1))
    return hidden


def _cols(path: Path, sheet: str = "xl/worksheets/sheet1.xml") -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return re.findall(r"<col\b[^>]*/>", zf.read(sheet).decode())


def hidden_tail_workbook(path: Path) -> Path:
    """Orders in A:D, every column from E to XFD hidden (a width and a style on the range)."""
    from openpyxl.worksheet.dimensions import ColumnDimension

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([*HEADERS, "note"])
    for i in range(2):
        ws.append([f"https://x.test/{i}", 1001, 100, "n"])
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["E"] = ColumnDimension(ws, index="E", min=5, max=16384, hidden=True, width=13)
    wb.save(path)
    return path


def test_added_columns_in_hidden_columns_are_shown(tmp_path):
    source = hidden_tail_workbook(tmp_path / "orders.xlsx")
    assert _hidden_columns(source) == set(range(5, 16385))
    out = tmp_path / "out.xlsx"
    summary = write_back(FakeSheet(source, [*HEADERS, "note"]), {2: {"order_id": "7", "status": "Pending"}}, out)
    assert summary.columns_added == list(OUTPUT_COLUMNS)
    # E:P hold the results and show; Q:XFD stay hidden, with the range's width kept
    assert _hidden_columns(out) == set(range(17, 16385))
    assert _cols(out) == [
        '<col width="40" customWidth="1" min="1" max="1" />',
        '<col width="13" customWidth="1" min="5" max="16" />',
        '<col hidden="1" width="13" customWidth="1" min="17" max="16384" />',
    ]
    ws = openpyxl.load_workbook(out).active
    assert ws["E1"].value == "order_id" and ws["E2"].value == 7 and ws["I2"].value == "Pending"
    # a second write adds nothing, and touches the columns no more
    again = write_back(FakeSheet(out, [*HEADERS, "note", *OUTPUT_TITLES]), {2: {"status": "Completed"}}, out)
    assert again.columns_added == [] and _hidden_columns(out) == set(range(17, 16385))


def test_hidden_ranges_are_split_around_the_added_columns_only(tmp_path):
    """A hidden zero-width range over the added columns and beyond on both sides; a hidden
    range elsewhere and a visible one are left as they were."""
    source = simple_workbook(tmp_path / "plain.xlsx")

    def edit(name: str, data: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            cols = (b'<cols><col min="2" max="2" width="0" hidden="1" customWidth="1"/>'
                    b'<col min="3" max="3" width="20" customWidth="1"/>'
                    b'<col min="4" max="20" width="0" style="1" hidden="1" customWidth="1"/></cols>')  # fmt: skip
            return data.replace(b"<sheetData>", cols + b"<sheetData>")
        return data

    source = _rezip(source, tmp_path / "orders.xlsx", edit)
    out = tmp_path / "out.xlsx"
    write_back(FakeSheet(source, HEADERS), {2: {"order_id": "7"}}, out)
    assert _cols(out) == [
        '<col min="2" max="2" width="0" hidden="1" customWidth="1"/>',
        '<col min="3" max="3" width="20" customWidth="1"/>',
        '<col min="4" max="15" style="1"/>',
        '<col min="16" max="20" width="0" style="1" hidden="1" customWidth="1"/>',
    ]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_added_columns_show_in_a_workbook_libreoffice_saved(tmp_path):
    """LibreOffice writes `hidden="true"`, a style on every cell and its own attribute order."""
    made = hidden_tail_workbook(tmp_path / "made.xlsx")
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "xlsx",
         "--outdir", str(tmp_path / "lo"), str(made)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    source = tmp_path / "lo" / "made.xlsx"
    assert set(range(5, 1025)) <= _hidden_columns(source)
    out = tmp_path / "out.xlsx"
    write_back(FakeSheet(source, [*HEADERS, "note"]), {2: {"order_id": "7", "charge": Decimal("0.5")}}, out)
    hidden = _hidden_columns(out)
    assert not hidden & set(range(1, 17)) and set(range(17, 1025)) <= hidden
    ws = openpyxl.load_workbook(out).active
    assert [ws.cell(1, c).value for c in range(5, 17)] == list(OUTPUT_TITLES)
    assert ws["F2"].value == 0.5 and ws["F2"].number_format == CHARGE_FORMAT


def test_a_styled_cell_keeps_its_style_when_a_result_is_written(tmp_path):
    """A reused column, the user's yellow bold rows and their own currency format: written
    values take the cell's style, not ours; cells with no style of their own still get ours."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([*HEADERS, "charge", "error"])
    yellow = PatternFill("solid", fgColor="FFFF00")
    for i in range(2):
        ws.append([f"https://x.test/{i}", 1001, 100])
    for cell in ws[2][:5]:
        cell.fill, cell.font = yellow, Font(bold=True)
    ws["D2"].number_format = '"$"#,##0.000'
    wb.save(tmp_path / "orders.xlsx")
    out = tmp_path / "out.xlsx"
    updates = {2: {"charge": Decimal("0.718"), "error": "=bad"}, 3: {"charge": Decimal("1.5"), "error": "-x"}}
    ours = {"charge": 3, "error": 4}  # columns bulkorders wrote (headers.ours)
    write_back(FakeSheet(tmp_path / "orders.xlsx", [*HEADERS, "charge", "error"], columns=ours), updates, out)
    ws = openpyxl.load_workbook(out).active
    for ref in ("D2", "E2"):
        assert (ws[ref].fill.fgColor.rgb, ws[ref].font.b) == ("00FFFF00", True), ref
    assert ws["D2"].value == pytest.approx(0.718) and ws["D2"].number_format == '"$"#,##0.000'
    assert (ws["E2"].value, ws["E2"].data_type) == ("=bad", "s")  # an inline string: text whatever the style
    assert ws["D3"].number_format == CHARGE_FORMAT and (ws["E3"].value, ws["E3"].quotePrefix) == ("-x", True)
    with zipfile.ZipFile(out) as zf:
        assert b"<f>" not in zf.read("xl/worksheets/sheet1.xml")


def test_cells_stay_in_column_order_when_a_cell_text_holds_an_r_attribute(tmp_path):
    """The last cell's text `<a r="A2">` must not be taken for the row's last cell."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([*HEADERS, "status", "note"])
    ws.append(["https://x.test/1", 1001, 100, "old", '<a r="A2">link</a>'])
    wb.save(tmp_path / "orders.xlsx")
    out = tmp_path / "out.xlsx"
    sheet = FakeSheet(tmp_path / "orders.xlsx", [*HEADERS, "status", "note"], columns={"status": 3})
    write_back(sheet, {2: {"status": "Pending"}}, out)
    with zipfile.ZipFile(out) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode()
    row = re.search(r'<row r="2".*?</row>', xml).group(0)
    refs = re.findall(r'<c r="([A-Z]+)2"', row)
    assert refs == ["A", "B", "C", "D", "E"]
    ws = openpyxl.load_workbook(out).active
    assert (ws["D2"].value, ws["E2"].value) == ("Pending", '<a r="A2">link</a>')


def test_csv_sep_line_is_kept_and_not_counted_as_a_row(tmp_path):
    read = pytest.importorskip("bulkorders.sheets.read")
    source = tmp_path / "orders.csv"
    source.write_bytes(b"sep=;\r\nlink;service;quantity\r\nhttps://x.test/1;1001;100\r\nhttps://x.test/2;1001;200\r\n")
    sheet = read.read_sheet(source)
    assert (sheet.header_row, [r.row for r in sheet.rows], sheet.csv_delimiter) == (1, [2, 3], ";")
    out = tmp_path / "orders.results.csv"
    write_back(sheet, {3: {"order_id": "9", "status": "Pending"}}, out)
    assert out.read_bytes().split(b"\r\n") == [
        b"sep=;",
        b"link;service;quantity;" + ";".join(OUTPUT_TITLES).encode(),
        b"https://x.test/1;1001;100",
        b"https://x.test/2;1001;200;9;;;;Pending;;;;;;;",
        b"",
    ]
    again = read.read_sheet(out, purpose="results")
    assert [(r.row, r.values["order_id"]) for r in again.rows] == [(2, None), (3, "9")]
    write_back(again, {2: {"order_id": "8"}}, out)
    assert out.read_bytes().split(b"\r\n")[:3] == [
        b"sep=;",
        b"link;service;quantity;" + ";".join(OUTPUT_TITLES).encode(),
        b"https://x.test/1;1001;100;8" + b";" * 11,
    ]


def test_csv_sep_line_with_a_bom_names_the_delimiter(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_bytes(b"\xef\xbb\xbfsep=,\nlink,service,quantity\nhttps://x.test/1,1001,100\n")
    sheet = FakeSheet(source, HEADERS, csv_delimiter=";", csv_bom=True, csv_encoding="utf-8")
    write_back(sheet, {2: {"status": "Pending"}}, tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_bytes().split(b"\n")[:3] == [
        b"\xef\xbb\xbfsep=,", b"link,service,quantity," + ",".join(OUTPUT_TITLES).encode(),
        b"https://x.test/1,1001,100,,,,,Pending,,,,,,,",
    ]


def test_csv_trailing_empty_columns_of_every_line_are_unused(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_text('link,service,quantity,,,\nhttps://x.test/1,1001,100,,"",\nhttps://x.test/2,1001,200,,,\n')
    sheet = FakeSheet(source, [*HEADERS, "", "", ""], csv_delimiter=",")
    out = tmp_path / "orders.results.csv"
    summary = write_back(sheet, {2: {"order_id": "5"}}, out)
    assert summary.columns_added == list(OUTPUT_COLUMNS)
    assert out.read_text().split("\n") == [
        "link,service,quantity," + ",".join(OUTPUT_TITLES),
        'https://x.test/1,1001,100,5,"",,,,,,,,,,',  # the quoted empty field is kept as it was
        "https://x.test/2,1001,200,,,",
        "",
    ]


def test_csv_trailing_fields_used_on_one_line_keep_their_columns(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_text("link,service,quantity,,\nhttps://x.test/1,1001,100,,\nhttps://x.test/2,1001,200,,kept\n")
    sheet = FakeSheet(source, [*HEADERS, "", ""], csv_delimiter=",")
    out = tmp_path / "orders.results.csv"
    write_back(sheet, {2: {"order_id": "5"}}, out)
    assert out.read_text().split("\n")[:3] == [
        "link,service,quantity,,," + ",".join(OUTPUT_TITLES),
        "https://x.test/1,1001,100,,,5" + "," * 11,
        "https://x.test/2,1001,200,,kept",
    ]
