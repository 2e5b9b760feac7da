"""The round trip of a user's sheet: reruns keep the user's edits, the user's own columns stay
theirs. End to end against the in-process sandbox, files read back with openpyxl."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.comments import Comment
from openpyxl.styles import PatternFill
from test_submit import sandbox_orders

from bulkorders.cli import cli

ROWS = [
    ["https://instagram.com/p/a", 1001, 100],
    ["https://instagram.com/p/b", 1002, 200],
    ["https://instagram.com/p/c", 1004, 1200],
]
YELLOW = PatternFill("solid", fgColor="FFFF00")


def run(*args: str):
    return CliRunner().invoke(cli, ["--panel", "sandbox", *args], catch_exceptions=False)


def workbook(path: Path, rows: list[list], header: tuple[str, ...] = ("link", "service", "quantity")) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(list(header))
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def headers(path: Path) -> list:
    ws = openpyxl.load_workbook(path).active
    return [cell.value for cell in ws[1]]


def column(ws, title: str) -> int:
    return next(cell.column for cell in ws[1] if cell.value == title)


def edit_results(path: Path, below: bool = True) -> None:
    """What a user does to a results file: a typed note, a comment, a colour, a sheet of their own."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Orders"]
    ws["Q2"] = "ask the client about row 3"
    if below:  # in an input, a line below the table is a row to validate
        ws["Q10"] = "total checked"
        ws["A12"] = "sent to the client on Monday"  # below the table: not an order
    ws["B2"].comment = Comment("checked by Anna", "Anna")
    ws["C3"].fill = YELLOW
    mine = wb.create_sheet("My notes")
    mine["A1"] = "budget"
    mine["B1"] = 42
    wb.save(path)


def assert_edits_kept(path: Path, below: bool = True) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb["Orders"]
    assert (ws["Q2"].value, ws["Q10"].value) == ("ask the client about row 3", "total checked" if below else None)
    assert ws["A12"].value == ("sent to the client on Monday" if below else None)
    assert ws["B2"].comment is not None and ws["B2"].comment.text == "checked by Anna"
    assert ws["C3"].fill.fgColor.rgb == "00FFFF00"
    assert wb.sheetnames == ["Orders", "My notes"]
    assert (wb["My notes"]["A1"].value, wb["My notes"]["B1"].value) == ("budget", 42)


def test_rerunning_submit_keeps_the_users_edits_in_the_results(tmp_path):
    source = workbook(tmp_path / "orders.xlsx", ROWS)
    results = tmp_path / "orders.results.xlsx"
    assert run("submit", "--yes", str(source)).exit_code == 0
    edit_results(results)
    again = run("submit", "--yes", str(source))
    assert again.exit_code == 0, again.output
    assert_edits_kept(results)
    ws = openpyxl.load_workbook(results)["Orders"]
    ids = [ws.cell(r, column(ws, "order_id")).value for r in (2, 3, 4)]
    assert all(isinstance(i, int) for i in ids)
    assert headers(results).count("order_id") == 1
    assert list(tmp_path.glob("*.backup-*")) == []
    assert len(sandbox_orders()) == 3  # nothing placed twice

    status = run("status", str(results))
    assert status.exit_code == 0, status.output
    assert_edits_kept(results)
    ws = openpyxl.load_workbook(results)["Orders"]
    assert ws.cell(2, column(ws, "status")).value in ("Pending", "In progress", "Completed", "Partial")


def test_status_of_the_input_brings_results_into_the_edited_results_file(tmp_path):
    source = workbook(tmp_path / "orders.xlsx", ROWS)
    results = tmp_path / "orders.results.xlsx"
    assert run("submit", "--yes", str(source)).exit_code == 0
    edit_results(results)
    status = run("status", str(source), "--out", str(results))
    assert status.exit_code == 0, status.output
    assert_edits_kept(results)
    assert headers(results).count("status") == 1


def test_an_input_with_more_rows_adds_them_to_the_edited_results(tmp_path):
    source = workbook(tmp_path / "orders.xlsx", ROWS, header=("link", "service", "quantity", "client"))
    results = tmp_path / "orders.results.xlsx"
    assert run("submit", "--yes", str(source)).exit_code == 0
    edit_results(results)
    workbook(source, [*ROWS, ["https://instagram.com/p/d", 1001, 300, "Acme"]], header=("link", "service", "quantity", "client"))
    again = run("submit", "--yes", str(source))
    assert again.exit_code == 0, again.output
    assert list(tmp_path.glob("*.backup-*")) == []
    assert (
        "Added 1 row new in orders.xlsx to orders.results.xlsx, below its last row of orders "
        "(input row 5 as row 5); your edits there are kept."
    ) in again.stderr
    assert_edits_kept(results)
    ws = openpyxl.load_workbook(results)["Orders"]
    assert [ws.cell(5, c).value for c in (1, 2, 3, 4)] == ["https://instagram.com/p/d", 1001, 300, "Acme"]
    assert [ws.cell(r, column(ws, "order_id")).value is not None for r in (2, 3, 4, 5)] == [True] * 4
    assert headers(results).count("order_id") == 1
    assert len(sandbox_orders()) == 4


def test_a_sorted_results_sheet_stays_sorted_with_its_edits_when_submit_runs_again(tmp_path):
    source = workbook(tmp_path / "orders.xlsx", [*ROWS, ["https://instagram.com/p/d", 1001, "abc"]])
    results = tmp_path / "orders.results.xlsx"
    assert run("submit", "--yes", str(source)).exit_code == 1  # the last row is invalid
    wb = openpyxl.load_workbook(results)
    ws = wb["Orders"]
    table = [[cell.value for cell in row] for row in ws.iter_rows(min_row=2, max_row=5)]
    table.sort(key=lambda cells: cells[0], reverse=True)  # the user sorts by link, Z to A
    for number, cells in enumerate(table, start=2):
        for index, value in enumerate(cells, start=1):
            ws.cell(number, index, value)
    ws["Q3"] = "call the client"
    wb.save(results)
    again = run("submit", "--yes", str(source))
    assert again.exit_code == 1, again.output
    assert list(tmp_path.glob("*.backup-*")) == []
    ws = openpyxl.load_workbook(results)["Orders"]
    order_id, status = column(ws, "order_id"), column(ws, "status")
    assert [ws.cell(r, 1).value for r in (2, 3, 4, 5)] == [f"https://instagram.com/p/{x}" for x in "dcba"]
    assert [ws.cell(r, order_id).value for r in (2, 3, 4, 5)] == [row[order_id - 1] for row in table]
    assert ws.cell(2, status).value == "invalid" and ws["Q3"].value == "call the client"
    assert len(sandbox_orders()) == 3


def test_a_results_row_whose_order_now_orders_something_else_keeps_the_file_as_a_backup(tmp_path):
    source = workbook(tmp_path / "orders.xlsx", ROWS)
    results = tmp_path / "orders.results.xlsx"
    assert run("submit", "--yes", str(source)).exit_code == 0
    wb = openpyxl.load_workbook(results)
    wb["Orders"]["C3"] = 999  # the row of order 2 now says another quantity
    wb.save(results)
    again = run("submit", "--yes", str(source))
    assert again.exit_code == 0, again.output
    (backup,) = tmp_path.glob("orders.results.backup-*.xlsx")
    assert (
        f"orders.results.xlsx no longer matches orders.xlsx (row 3 of the input is not the order of row 3 "
        f"of orders.results.xlsx): kept it as {backup.name}, with any edits you made in it, and wrote a "
        "new orders.results.xlsx."
    ) in again.stderr
    assert openpyxl.load_workbook(backup)["Orders"]["C3"].value == 999
    assert openpyxl.load_workbook(results)["Orders"]["C3"].value == 200
    assert len(sandbox_orders()) == 3


def test_a_csv_results_file_edited_by_the_user_keeps_their_cells(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_text("link,service,quantity,note\n" + "".join(f"{a},{b},{c},\n" for a, b, c in ROWS))
    results = tmp_path / "orders.results.csv"
    assert run("submit", "--yes", str(source)).exit_code == 0
    text = results.read_text()
    results.write_text(text.replace("https://instagram.com/p/b,1002,200,,", "https://instagram.com/p/b,1002,200,call me,"))
    assert run("submit", "--yes", str(source)).exit_code == 0
    assert "https://instagram.com/p/b,1002,200,call me," in results.read_text()
    assert list(tmp_path.glob("*.backup-*")) == []


def test_a_csv_results_file_gets_the_inputs_new_row_and_keeps_a_removed_one(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_text("link,service,quantity,note\n" + "".join(f"{a},{b},{c},\n" for a, b, c in ROWS))
    results = tmp_path / "orders.results.csv"
    assert run("submit", "--yes", str(source)).exit_code == 0
    results.write_text(results.read_text().replace("https://instagram.com/p/b,1002,200,,", "https://instagram.com/p/b,1002,200,call me,"))
    source.write_text("link,service,quantity,note\n" + "".join(f"{a},{b},{c},\n" for a, b, c in ROWS[1:])
                      + "https://instagram.com/p/d,1001,300,=new\n")  # fmt: skip
    again = run("submit", "--yes", str(source))
    assert again.exit_code == 0, again.output
    assert list(tmp_path.glob("*.backup-*")) == []
    with results.open(newline="") as fh:
        out = list(csv.DictReader(fh))
    assert [(r["link"], r["note"]) for r in out] == [
        ("https://instagram.com/p/a", ""),  # no longer in the input: its order stays listed
        ("https://instagram.com/p/b", "call me"),
        ("https://instagram.com/p/c", ""),
        ("https://instagram.com/p/d", "'=new"),  # copied formula-safe
    ]
    assert all(r["order_id"] for r in out) and (out[3]["service"], out[3]["quantity"]) == ("1001", "300")
    assert len(sandbox_orders()) == 4


def test_a_users_own_status_and_error_columns_are_never_written(tmp_path):
    header = ("link", "service", "quantity", "Status", "Error")
    rows = [[*row, "approved by client", "none"] for row in ROWS]
    source = workbook(tmp_path / "orders.xlsx", rows, header)
    results = tmp_path / "orders.results.xlsx"
    first = run("submit", "--yes", str(source))
    assert first.exit_code == 0, first.output
    assert (
        "Your sheet has its own Status and Error columns: they stay as you wrote them, and "
        "bulkorders writes its results to status (panel) and error (panel)."
    ) in first.stderr
    assert headers(results) == [
        *header, "order_id", "charge", "currency", "start_count", "status (panel)", "remains", "refill_id",
        "refill_status", "cancel_result", "error (panel)", "submitted_at (UTC)", "checked_at (UTC)",
    ]  # fmt: skip
    ws = openpyxl.load_workbook(results).active
    assert [(ws.cell(r, 4).value, ws.cell(r, 5).value) for r in (2, 3, 4)] == [("approved by client", "none")] * 3

    status = run("status", str(results))
    assert status.exit_code == 0, status.output
    assert "Your sheet has its own" not in status.stderr  # said on the first write only
    again = run("submit", "--yes", str(source))
    assert again.exit_code == 0, again.output
    assert len(headers(results)) == len(header) + 12  # nothing duplicated
    ws = openpyxl.load_workbook(results).active
    assert [(ws.cell(r, 4).value, ws.cell(r, 5).value) for r in (2, 3, 4)] == [("approved by client", "none")] * 3
    assert ws.cell(2, column(ws, "status (panel)")).value in ("Pending", "In progress", "Completed", "Partial")
    assert len(sandbox_orders()) == 3


def test_a_users_lowercase_status_left_of_the_order_ids_is_theirs(tmp_path):
    """Exactly our title, but before any order id column: the user's, not ours."""
    header = ("link", "service", "quantity", "status")
    source = workbook(tmp_path / "orders.xlsx", [[*row, "ok"] for row in ROWS], header)
    assert run("submit", "--yes", str(source)).exit_code == 0
    titles = headers(tmp_path / "orders.results.xlsx")
    assert titles[3] == "status" and "status (panel)" in titles
    ws = openpyxl.load_workbook(tmp_path / "orders.results.xlsx").active
    assert [ws.cell(r, 4).value for r in (2, 3, 4)] == ["ok"] * 3


def test_in_place_keeps_the_users_edits_and_a_copy(tmp_path):
    source = workbook(tmp_path / "orders.xlsx", ROWS)
    assert run("submit", "--yes", "--in-place", str(source)).exit_code == 0
    edit_results(source, below=False)
    again = run("submit", "--yes", "--in-place", str(source))
    assert again.exit_code == 0, again.output
    assert_edits_kept(source, below=False)
    assert headers(source).count("order_id") == 1
    assert len(list(tmp_path.glob("orders.backup-*.xlsx"))) >= 1


def linked_workbook(path: Path) -> Path:
    """Row 2: a hyperlink under the text "AAA111"; row 3: =HYPERLINK() with its cached text
    "BBB222" (as Excel saves it); row 4: a cell showing one address and linking to another."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(["link", "service", "quantity"])
    ws.append(["AAA111", 1001, 100])
    ws["A2"].hyperlink = "https://instagram.com/p/real1"
    ws.append(['=HYPERLINK("https://instagram.com/p/real2","BBB222")', 1001, 200])
    ws.append(["https://instagram.com/p/shown", 1001, 300])
    ws["A4"].hyperlink = "https://instagram.com/p/other"
    plain = path.with_name("plain.xlsx")
    wb.save(plain)
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":  # the value Excel caches: the text shown
                data = re.sub(rb'<c r="A3"([^>]*)><f>(.*?)</f><v\s*/?>(</v>)?',
                              rb'<c r="A3"\1 t="str"><f>\2</f><v>BBB222</v>', data)  # fmt: skip
                assert b"<v>BBB222</v>" in data
            zout.writestr(item, data)
    return path


def test_hyperlink_targets_are_the_links_sent_to_the_panel(tmp_path):
    source = linked_workbook(tmp_path / "orders.xlsx")
    result = run("submit", "--yes", str(source))
    assert result.exit_code == 1, result.output  # row 4 is invalid
    assert (
        'row 4, link: the cell shows "https://instagram.com/p/shown" but its hyperlink goes to '
        '"https://instagram.com/p/other"; make the two the same address (or the shown text a plain '
        "name) and rerun"
    ) in result.stderr
    assert sorted((o.link, o.quantity) for o in sandbox_orders()) == [
        ("https://instagram.com/p/real1", 100), ("https://instagram.com/p/real2", 200),
    ]  # fmt: skip
    ws = openpyxl.load_workbook(tmp_path / "orders.results.xlsx").active
    assert ws["A2"].value == "AAA111" and ws["A2"].hyperlink.target == "https://instagram.com/p/real1"
    assert ws.cell(4, column(ws, "status")).value == "invalid"


def test_a_hyperlink_to_the_address_shown_is_fine(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["link", "service", "quantity"])
    ws.append(["www.instagram.com/p/same", 1001, 100])
    ws["A2"].hyperlink = "https://www.instagram.com/p/same/"
    wb.save(tmp_path / "orders.xlsx")
    result = run("submit", "--yes", str(tmp_path / "orders.xlsx"))
    assert result.exit_code == 0, result.output
    assert [o.link for o in sandbox_orders()] == ["https://www.instagram.com/p/same/"]


def european_csv(path: Path, rows: list[str], header: str = "link;service;quantity;note") -> Path:
    path.write_text(header + "\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def fields(path: Path, delimiter: str = ";") -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def test_a_semicolon_csv_reads_decimal_commas_and_gets_its_charges_with_them(tmp_path):
    source = european_csv(tmp_path / "orders.csv", [
        "https://instagram.com/p/a;1001;1000,0;erste",   # 0.90 × 1000 / 1000 = 0.9
        "https://instagram.com/p/b;1002;1.500;zweite",    # 0.25 × 1500 / 1000 = 0.375
    ])  # fmt: skip
    result = run("submit", "--yes", "--max-spend", "20,00", str(source))
    assert result.exit_code == 0, result.output
    assert sorted(o.quantity for o in sandbox_orders()) == [1000, 1500]
    rows = fields(tmp_path / "orders.results.csv")
    assert [row["charge"] for row in rows] == ["0,9", "0,375"]
    assert [row["quantity"] for row in rows] == ["1000,0", "1.500"]  # the user's cells as they were
    status = run("status", str(tmp_path / "orders.results.csv"))
    assert status.exit_code == 0, status.output
    assert [row["charge"] for row in fields(tmp_path / "orders.results.csv")] == ["0,9", "0,375"]


def test_max_spend_is_read_with_the_sheets_decimal_comma(tmp_path):
    source = european_csv(tmp_path / "orders.csv", ["https://instagram.com/p/a;1001;1000;x"])
    result = run("submit", "--yes", "--max-spend", "0,500", str(source))  # 0,5 in this file's convention
    assert result.exit_code == 3
    assert "0.4 USD" in result.stderr or "0.40 USD" in result.stderr, result.stderr  # over by 0.9 - 0.5
    assert sandbox_orders() == []
    plain = tmp_path / "plain.csv"
    plain.write_text("link,service,quantity\nhttps://instagram.com/p/a,1001,1000\n")
    ambiguous = run("submit", "--yes", "--max-spend", "20,000", str(plain))
    assert ambiguous.exit_code == 2
    assert ambiguous.stderr.endswith(
        "Error: --max-spend 20,000: is the comma a decimal comma or a thousands separator? Write the amount "
        "without thousands separators (20000 or 20.000), or give --decimal , (or .) to say which.\n"
    )
    assert sandbox_orders() == []


def test_max_spend_says_how_it_was_read(tmp_path):
    source = european_csv(tmp_path / "orders.csv", ["https://instagram.com/p/a;1001;1000;x"])
    result = run("submit", "--yes", "--max-spend", "1.000", str(source))  # a thousand, with thousands dots
    assert result.exit_code == 0, result.output
    assert "Max spend 1000.00 USD (--max-spend 1.000, read as this sheet writes numbers)." in result.stderr.splitlines()
    plain = tmp_path / "plain.csv"
    plain.write_text("link,service,quantity\nhttps://instagram.com/p/b,1001,1000\n")
    dry = run("submit", "--dry-run", "--max-spend", "5", str(plain))
    assert dry.exit_code == 0, dry.output
    assert "Max spend 5.00 USD." in dry.stdout.splitlines()
    assert len(sandbox_orders()) == 1


def test_an_ambiguous_quantity_in_a_decimal_comma_file_is_refused(tmp_path):
    source = european_csv(tmp_path / "orders.csv", ["https://instagram.com/p/a;1001;1,000;x"])
    result = run("validate", str(source))
    assert result.exit_code == 1
    assert ('row 2, quantity: "1,000" is ambiguous (a decimal comma or a thousands comma?): write thousands '
            "without a separator, e.g. 1000") in result.output  # fmt: skip


def test_a_comma_csv_with_decimal_comma_numbers_is_read_and_written_so(tmp_path):
    source = tmp_path / "orders.csv"
    source.write_text('link,service,quantity,price\nhttps://instagram.com/p/b,1002,1500,"0,375"\n')
    assert run("submit", "--yes", str(source)).exit_code == 0
    assert fields(tmp_path / "orders.results.csv", ",")[0]["charge"] == "0,375"


def test_decimal_option_overrides_the_detection(tmp_path):
    source = european_csv(tmp_path / "orders.csv", ["https://instagram.com/p/b;1002;1500;x"])
    result = run("submit", "--yes", "--decimal", ".", str(source))
    assert result.exit_code == 0, result.output
    assert fields(tmp_path / "orders.results.csv")[0]["charge"] == "0.375"
    comma = european_csv(tmp_path / "other.csv", ["https://instagram.com/p/c;1002;1000,0;x"])
    refused = run("validate", "--decimal", ".", str(comma))
    assert refused.exit_code == 1 and 'row 2, quantity: "1000,0" is not a whole number' in refused.output


def test_results_look_added_by_a_careful_person(tmp_path):
    import datetime as dt

    source = workbook(tmp_path / "orders.xlsx", ROWS)
    results = tmp_path / "orders.results.xlsx"
    assert run("submit", "--yes", str(source)).exit_code == 0
    ws = openpyxl.load_workbook(results).active
    at = ws.cell(2, column(ws, "submitted_at (UTC)"))
    assert isinstance(at.value, dt.datetime) and at.number_format == "yyyy-mm-dd hh:mm:ss"
    widths = {title: ws.column_dimensions[openpyxl.utils.get_column_letter(column(ws, title))].width
              for title in ("order_id", "status", "submitted_at (UTC)", "checked_at (UTC)")}  # fmt: skip
    assert widths == {"order_id": 10, "status": 10, "submitted_at (UTC)": 21, "checked_at (UTC)": 21}
    with zipfile.ZipFile(results) as zf:
        styles = zf.read("xl/styles.xml")
    for _ in range(2):
        assert run("status", str(results)).exit_code == 0
    with zipfile.ZipFile(results) as zf:
        assert zf.read("xl/styles.xml") == styles  # no format added twice
    ws = openpyxl.load_workbook(results).active
    checked = ws.cell(2, column(ws, "checked_at (UTC)"))
    assert isinstance(checked.value, dt.datetime) and checked.number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws.column_dimensions[openpyxl.utils.get_column_letter(column(ws, "status"))].width == 10


# --- an independent reader: headless LibreOffice, German locale ---------------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_soffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed: "
                                   "apt-get install -y libreoffice-calc-nogui")  # fmt: skip
GERMAN_CSV = "59,34,76,1,,1031"  # ; separated, " quoted, UTF-8, from line 1, German (1031) numbers
LOCAL_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def soffice(tmp_path: Path, source: Path, target: str, *filters: str) -> Path:
    """Convert `source` with LibreOffice into tmp_path/lo (own profile, so runs do not collide)."""
    out = tmp_path / "lo"
    profile = (tmp_path / "lo-profile").as_uri()
    command = [SOFFICE, "--headless", f"-env:UserInstallation={profile}", *filters,
               "--convert-to", target, "--outdir", str(out), str(source)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    converted = out / f"{source.stem}.{target.split(':')[0]}"
    assert done.returncode == 0 and converted.exists(), done.stdout + done.stderr
    return converted


@pytest.mark.e2e
@needs_soffice
def test_libreoffice_reads_a_european_csvs_charges_as_the_same_numbers(tmp_path):
    source = european_csv(tmp_path / "orders.csv", [
        "https://instagram.com/p/a;1001;1000;a",   # 0.9
        "https://instagram.com/p/b;1002;1500;b",   # 0.375
        "https://instagram.com/p/c;1004;1234;c",   # 0.01851
    ])  # fmt: skip
    assert run("submit", "--yes", str(source)).exit_code == 0
    results = tmp_path / "orders.results.csv"
    ours = [row["charge"] for row in fields(results)]
    assert ours == ["0,9", "0,375", "0,01851"]
    converted = soffice(tmp_path, results, "xlsx", f"--infilter=CSV:{GERMAN_CSV}")
    ws = openpyxl.load_workbook(converted).active
    charges = [ws.cell(r, column(ws, "charge")).value for r in (2, 3, 4)]
    assert all(isinstance(c, float) for c in charges), charges  # numbers, not texts
    assert [Decimal(str(c)) for c in charges] == [Decimal("0.9"), Decimal("0.375"), Decimal("0.01851")]
    submitted = ws.cell(2, column(ws, "submitted_at (UTC)")).value
    assert isinstance(submitted, datetime), submitted  # a date-time, not a text


@pytest.mark.e2e
@needs_soffice
def test_libreoffice_shows_an_xlsxs_charges_and_date_times_as_such(tmp_path):
    source = workbook(tmp_path / "orders.xlsx", ROWS)
    assert run("submit", "--yes", str(source)).exit_code == 0
    results = tmp_path / "orders.results.xlsx"
    converted = soffice(tmp_path, results, f"csv:Text - txt - csv (StarCalc):{GERMAN_CSV}")
    rows = fields(converted)
    # 0.90 × 100, 0.25 × 200, 0.015 × 1200 per 1000, shown as numbers in the charge format (at
    # least cents). LibreOffice's export shows them in the document's locale (its profile's,
    # en-US here), whatever the filter's language token says.
    assert [row["charge"] for row in rows] == ["0.09", "0.05", "0.018"]
    assert all(re.fullmatch(LOCAL_TIME, row["submitted_at (UTC)"]) for row in rows), rows  # not a serial
    reread = soffice(tmp_path, converted, "xlsx", "--infilter=CSV:59,34,76,1,,1033")
    ws = openpyxl.load_workbook(reread).active
    assert isinstance(ws.cell(2, column(ws, "submitted_at (UTC)")).value, datetime)
    assert ws.cell(4, column(ws, "charge")).value == pytest.approx(0.018)


@pytest.mark.parametrize("command", ["status", "refill", "cancel", "submit", "validate"])
def test_a_missing_file_gets_the_friendly_message(tmp_path, command):
    result = run(command, str(tmp_path / "nothere.xlsx"))
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: {tmp_path / 'nothere.xlsx'}: no such file. Check the path and rerun.\n")


def test_template_out_csv_writes_the_csv_template(tmp_path):
    from bulkorders.template import ORDER_COLUMNS

    out = tmp_path / "campaign.csv"
    result = run("template", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stderr and "the order columns to fill" in result.stderr
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert fields(out, ",") == [] and out.read_text(encoding="utf-8-sig").strip() == ",".join(
        name for name, _, _ in ORDER_COLUMNS)  # fmt: skip
    out.write_text(out.read_text(encoding="utf-8-sig") + "https://instagram.com/p/a,1001,100" + "," * 24 + "\n")
    assert run("validate", str(out)).exit_code == 0  # filled in, it is an order sheet


def test_the_results_of_a_run_in_the_samples_folder_are_ignored_by_git():
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["samples/weekly-campaign.results.xlsx", "samples/weekly-campaign.results.backup-20270115-080000.xlsx",
             "samples/weekly-campaign.backup-20270115-080000.csv", "samples/~$weekly-campaign.results.xlsx"]  # fmt: skip
    done = subprocess.run(["git", "check-ignore", *names], cwd=root, capture_output=True, text=True)
    assert done.stdout.split() == names
    assert subprocess.run(["git", "check-ignore", "-q", "samples/weekly-campaign.xlsx"], cwd=root).returncode == 1


def test_a_users_own_status_is_one_of_their_columns_for_the_report(tmp_path):
    """Merge of issues 12 and 13: the user's `Status` is theirs (never written) and so, like
    `client`, one of the sheet's own columns the ledger keeps; ours are not."""
    from bulkorders.sheets import read_sheet

    header = ("link", "service", "quantity", "Status", "client")
    rows = [[*row, "approved", client] for row, client in zip(ROWS, ("Acme", "Beta", "Acme"))]
    source = workbook(tmp_path / "orders.xlsx", rows, header)
    assert run("submit", "--yes", str(source)).exit_code == 0
    results = read_sheet(tmp_path / "orders.results.xlsx", purpose="results")
    assert [row.others for row in results.rows] == [
        {"Status": "approved", "client": "Acme"}, {"Status": "approved", "client": "Beta"},
        {"Status": "approved", "client": "Acme"},
    ]  # fmt: skip
    assert results.headers[results.columns["status"]] == "status (panel)"
    report = run("--json", "report", "--by", "Status", "--out", str(tmp_path / "audit.xlsx"))
    assert report.exit_code == 0, report.output
    by_status = json.loads(report.stdout)["by_column"]["Status"]
    assert [(item["Status"], item["orders"]) for item in by_status] == [("approved", 3)]


def test_a_deleted_ledger_is_recovered_from_a_results_file_with_our_renamed_columns(tmp_path):
    """Merge of issues 11 and 12: the results sheet as second record still reads a results
    file whose columns are `status (panel)`, `error (panel)` and `submitted_at (UTC)`."""
    from bulkorders.settings import data_dir

    header = ("link", "service", "quantity", "Status", "Error")
    source = workbook(tmp_path / "orders.xlsx", [[*row, "approved", "none"] for row in ROWS], header)
    assert run("submit", "--yes", str(source)).exit_code == 0
    results = tmp_path / "orders.results.xlsx"
    assert {"status (panel)", "error (panel)", "submitted_at (UTC)"} <= set(headers(results))
    for path in data_dir().glob("ledger.sqlite*"):
        path.unlink()
    again = run("submit", "--yes", str(source))
    assert again.exit_code == 0, again.output
    assert again.stderr.splitlines()[0].startswith(f"Recovered 3 placed rows into the ledger from the results sheet {results}")
    assert "Placed no new order." in again.stdout
    assert len(sandbox_orders()) == 3
