"""Reading sheets: header detection, aliases, row numbers, cell values, CSV dialects, bad files."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from bulkorders.errors import ExitCode, SheetError
from bulkorders.sheets import read_sheet, sheet_names


def xlsx(path: Path, rows: list[list[object]], *, title: str = "Orders", extra: dict | None = None) -> Path:
    """A workbook whose first sheet holds `rows` from A1 (None = empty cell)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for name, other in (extra or {}).items():
        more = workbook.create_sheet(name)
        for row in other:
            more.append(row)
    workbook.save(path)
    return path


def patch_sheet(path: Path, old: str, new: str, part: str = "xl/worksheets/sheet1.xml") -> Path:
    """Rewrite one worksheet's XML (to make cells openpyxl cannot write: cached formula values, errors)."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    text = members[part].decode()
    assert old in text, text
    members[part] = text.replace(old, new).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def message(excinfo: pytest.ExceptionInfo[SheetError]) -> str:
    return excinfo.value.message


# --- header row and columns -------------------------------------------------------------


def test_title_and_blank_rows_above_the_header_are_skipped_and_row_numbers_kept(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [
        ["Weekly campaign"], [], ["link", "service", "quantity"],
        ["https://a.example/1", 1001, 100], [], [None, None, None], ["https://a.example/2", 1002, 200],
    ])  # fmt: skip
    sheet = read_sheet(path)
    assert sheet.header_row == 3
    assert sheet.sheet_name == "Orders"
    assert [row.row for row in sheet.rows] == [4, 7]
    assert sheet.rows[1].values == {"link": "https://a.example/2", "service": 1002, "quantity": 200}


def test_data_starting_right_of_column_a_keeps_column_indexes(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet["C4"], sheet["D4"], sheet["E4"] = "Link", "Service", "Qty"
    sheet["C5"], sheet["D5"], sheet["E5"] = "https://a.example", "1001", "10"
    workbook.save(tmp_path / "o.xlsx")
    read = read_sheet(tmp_path / "o.xlsx")
    assert read.header_row == 4
    assert read.columns == {"link": 2, "service": 3, "quantity": 4}
    assert read.headers == ["", "", "Link", "Service", "Qty"]
    assert read.rows[0].row == 5


def test_headers_match_case_space_and_underscore_insensitively_with_aliases(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [
        [" URL ", "Service_ID", "QTY", "Type Of  Traffic", "ANSWER_NUMBER", "google keyword", "My notes",
         "Order ID", "status"],
        ["https://a.example", 1021, 100, 1, 2, "kw", "n", None, None],
    ])  # fmt: skip
    sheet = read_sheet(path)
    assert sheet.columns == {
        "link": 0, "service": 1, "quantity": 2, "type_of_traffic": 3, "answer_number": 4,
        "google_keyword": 5, "order_id": 7, "status": 8,
    }  # fmt: skip
    assert sheet.headers[6] == "My notes"
    assert sheet.header("quantity") == "QTY"
    assert "My notes" not in sheet.rows[0].values


@pytest.mark.parametrize("alias", ["service id", "Service ID", "service_id", "SERVICE"])
def test_service_aliases(tmp_path, alias):
    assert read_sheet(xlsx(tmp_path / "o.xlsx", [["link", alias, "amount"], ["x", 1, 2]])).columns == {
        "link": 0, "service": 1, "quantity": 2,
    }  # fmt: skip


def test_every_type_specific_field_is_recognised(tmp_path):
    fields = ["comments", "usernames", "hashtags", "hashtag", "username", "media", "answer_number",
              "groups", "min", "max", "posts", "old_posts", "delay", "expiry", "country", "device",
              "type_of_traffic", "google_keyword", "referring_url", "runs", "interval"]  # fmt: skip
    sheet = read_sheet(xlsx(tmp_path / "o.xlsx", [["link", "service", *fields], ["x", 1, *range(21)]]))
    assert list(sheet.columns) == ["link", "service", *fields]


def test_a_username_column_stands_for_link_in_subscription_sheets(tmp_path):
    sheet = read_sheet(xlsx(tmp_path / "o.xlsx", [["username", "service", "min", "max", "delay"],
                                                  ["northwind", 1020, 100, 200, 0]]))  # fmt: skip
    assert sheet.header_row == 1 and "link" not in sheet.columns


def test_results_purpose_finds_the_order_id_header(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["Report"], ["order_id", "status", "link"], ["23501", "Pending", "x"]])
    sheet = read_sheet(path, purpose="results")
    assert sheet.header_row == 2
    assert sheet.columns == {"order_id": 0, "status": 1, "link": 2}


def test_results_purpose_without_order_id_column(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["x", 1, 2]])
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path, purpose="results")
    assert message(excinfo) == (
        f'{path} (sheet "Orders") has no "order_id" column, so no order of it was placed yet (row 1 has: '
        '"link", "service", "quantity"). Run submit first, or give the results file it wrote '
        "(NAME.results.xlsx)."
    )


def test_a_row_with_only_unknown_columns_filled_is_kept_not_skipped(tmp_path):
    sheet = read_sheet(xlsx(tmp_path / "o.xlsx", [["link", "service", "notes"], ["x", 1, None],
                                                  [None, None, "call the client"]]))  # fmt: skip
    assert [row.row for row in sheet.rows] == [2, 3]
    assert sheet.rows[1].values == {"link": None, "service": None}


# --- cell values ------------------------------------------------------------------------


def test_cell_values_are_kept_as_read(tmp_path):
    when = dt.datetime(2025, 3, 1)
    path = xlsx(tmp_path / "o.xlsx", [
        ["link", "service", "quantity", "comments", "expiry"],
        ["https://a.example", 1001, 1000.5, "one\ntwo\nthree", when],
        ["  ", "1001", True, None, "31/12/2025"],
    ])  # fmt: skip
    first, second = read_sheet(path).rows
    assert first.values == {"link": "https://a.example", "service": 1001, "quantity": 1000.5,
                            "comments": "one\ntwo\nthree", "expiry": dt.date(2025, 3, 1)}  # fmt: skip
    assert second.values == {"link": None, "service": "1001", "quantity": True, "comments": None,
                             "expiry": "31/12/2025"}  # fmt: skip


def test_formulas_are_read_as_their_computed_values(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["https://a.example", 1001, "=B2"]])
    patch_sheet(path, "<f>B2</f><v />", "<f>B2*2</f><v>2002</v>")
    sheet = read_sheet(path)
    assert sheet.rows[0].values["quantity"] == 2002
    assert sheet.issues == []


def test_a_formula_without_computed_value_is_an_issue_naming_row_and_column(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "Qty"], ["https://a.example", 1001, "=10*100"],
                                      ["https://a.example/2", 1001, 5]])  # fmt: skip
    sheet = read_sheet(path)
    assert [str(issue) for issue in sheet.issues] == [
        "row 2, Qty: the formula has no computed value (the file was saved by a program that does not "
        "calculate). Open the file in Excel, save it, and rerun"
    ]
    assert sheet.rows[0].values["quantity"] is None


def test_a_row_of_uncalculated_formulas_only_is_not_silently_skipped(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["=A1", "=B1", "=C1"]])
    sheet = read_sheet(path)
    assert sheet.rows == []
    assert {(issue.row, issue.column) for issue in sheet.issues} == {(2, "link"), (2, "service"), (2, "quantity")}


def test_an_excel_error_cell_is_an_issue(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["https://a.example", 1001, "x"]])
    patch_sheet(path, '<c r="C2" t="inlineStr"><is><t>x</t></is></c>', '<c r="C2" t="e"><f>1/0</f><v>#DIV/0!</v></c>')
    assert [str(issue) for issue in read_sheet(path).issues] == [
        "row 2, quantity: the cell holds the Excel error #DIV/0!; fix the formula or the value"
    ]


def test_formulas_in_columns_bulkorders_ignores_are_not_issues(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity", "notes"],
                                      ["https://a.example", 1001, None, "=A2"]])  # fmt: skip
    assert read_sheet(path).issues == []


# --- sheets of a workbook ---------------------------------------------------------------


def test_sheet_option_picks_a_worksheet(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["nothing here"]], title="Notes",
                extra={"Week 48": [["link", "service", "quantity"], ["x", 1, 2]]})  # fmt: skip
    assert sheet_names(path) == ["Notes", "Week 48"]
    assert read_sheet(path, "Week 48").sheet_name == "Week 48"
    assert read_sheet(path, "week 48").sheet_name == "Week 48"


def test_unknown_sheet_lists_the_sheets(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service"]], extra={"Services": [["id"]]})
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path, "Oders")
    assert message(excinfo) == (
        f'{path} has no sheet "Oders". Its sheets: "Orders", "Services". Use --sheet with one of them.'
    )
    assert excinfo.value.exit_code == ExitCode.USAGE


def test_the_first_visible_worksheet_is_the_default(tmp_path):
    workbook = Workbook()
    workbook.active.title = "Hidden"
    workbook.active.sheet_state = "hidden"
    visible = workbook.create_sheet("Orders")
    visible.append(["link", "service", "quantity"])
    visible.append(["x", 1, 2])
    workbook.save(tmp_path / "o.xlsx")
    assert read_sheet(tmp_path / "o.xlsx").sheet_name == "Orders"


def test_xlsm_is_read(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["x", 1, 2]])
    macro = path.rename(tmp_path / "o.xlsm")
    assert read_sheet(macro).rows[0].values == {"link": "x", "service": 1, "quantity": 2}


# --- CSV --------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiter_is_detected(tmp_path, delimiter):
    path = tmp_path / "o.csv"
    lines = [["link", "service", "quantity", "notes"], ["https://a.example/1", "1001", "1,000", "a, b; c"]]
    path.write_text("\n".join(delimiter.join(f'"{c}"' if "," in c or ";" in c else c for c in line)
                              for line in lines) + "\n", encoding="utf-8")  # fmt: skip
    sheet = read_sheet(path)
    assert sheet.csv_delimiter == delimiter
    assert sheet.rows[0].values == {"link": "https://a.example/1", "service": "1001", "quantity": "1,000"}


def test_csv_with_bom_title_rows_and_multiline_cells(tmp_path):
    path = tmp_path / "o.csv"
    text = 'Campaign week 48,,\n,,\nlink,service,comments\r\n"https://a.example",1007,"great\r\nnice\r\nwow"\r\n,,\r\nhttps://b.example,1001,\r\n'
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    sheet = read_sheet(path)
    assert (sheet.csv_bom, sheet.csv_encoding, sheet.header_row, sheet.sheet_name) == (True, "utf-8", 3, None)
    assert [row.row for row in sheet.rows] == [4, 6]
    assert sheet.rows[0].values["comments"].splitlines() == ["great", "nice", "wow"]
    assert sheet.rows[1].values == {"link": "https://b.example", "service": "1001", "comments": None}


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_sep_line_names_the_delimiter_and_is_not_a_row(tmp_path, bom):
    """Excel's `sep=;` first line is not shown by Excel: row numbers are counted after it."""
    path = tmp_path / "o.csv"
    lines = ["sep=|", "Campaign, week 48||", "link|service|quantity", "https://a.example/1|1001|1,000", "",
             "https://b.example|1002|5", ""]  # fmt: skip
    text = "\r\n".join(lines)
    path.write_bytes(bom + text.encode())
    sheet = read_sheet(path)
    assert (sheet.csv_delimiter, sheet.csv_bom, sheet.header_row) == ("|", bool(bom), 2)
    assert [(row.row, row.values["quantity"]) for row in sheet.rows] == [(3, "1,000"), (5, "5")]


def test_csv_short_records_are_padded(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("link,service,quantity\nhttps://a.example,1001\n", encoding="utf-8")
    assert read_sheet(path).rows[0].values == {"link": "https://a.example", "service": "1001", "quantity": None}


def test_csv_in_another_encoding(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes("link,service,quantity\nhttps://caf\u00e9.example,1001,10\n".encode("cp1252"))
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f"{path} is not UTF-8 text (byte 0xe9 on line 2): it was saved in another encoding. "
        'Open it in Excel and save it as "CSV UTF-8 (Comma delimited) (*.csv)", then rerun.'
    )


def test_csv_in_utf16(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes("link\tservice\tquantity\n".encode("utf-16"))
    with pytest.raises(SheetError, match=re.escape('is saved as UTF-16 (Excel\'s "Unicode Text"), not UTF-8.')):
        read_sheet(path)


def test_csv_has_no_sheets(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("link,service\nx,1\n", encoding="utf-8")
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path, "Orders")
    assert message(excinfo) == f"{path} is a CSV file: it has no sheets, so drop --sheet Orders."


# --- bad files --------------------------------------------------------------------------


def test_missing_required_column_names_it_and_lists_the_headers(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["Campaign"], ["Link", "Qty", "Notes"], ["x", 10, ""]])
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f'{path} (sheet "Orders") has no header row with a "service" column. The header row needs link '
        "(or username for subscriptions), service and quantity; the row most like a header, row 2, has: "
        '"Link", "Qty", "Notes". Name the columns so (url, service id, qty and amount also work) and rerun.'
    )
    assert excinfo.value.exit_code == ExitCode.USAGE


def test_missing_link_column(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("page,service,quantity\nx,1,2\n", encoding="utf-8")
    with pytest.raises(SheetError, match=re.escape('has no header row with a "link" column.')):
        read_sheet(path)


def test_header_with_no_data(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], [], [None, "", " "]])
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f'{path} (sheet "Orders"): the header is on row 1 but no rows follow it. '
        "Add one row per order below the header and rerun."
    )


def test_empty_sheet(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [])
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f'{path} (sheet "Orders") is empty. Put a header row (link, service, quantity) and one row per '
        "order in it."
    )


def test_empty_file(tmp_path):
    path = tmp_path / "o.xlsx"
    path.write_bytes(b"")
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == f"{path} is empty (0 bytes). Put the orders in it, or check that this is the right file."


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SheetError) as excinfo:
        read_sheet(tmp_path / "nope.xlsx")
    assert message(excinfo) == f"{tmp_path / 'nope.xlsx'}: no such file. Check the path and rerun."
    with pytest.raises(SheetError, match="is a folder, not a sheet"):
        read_sheet(tmp_path)


def test_not_a_workbook(tmp_path):
    path = tmp_path / "o.xlsx"
    path.write_text("link,service,quantity\n", encoding="utf-8")
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f"{path} is not an Excel workbook (an .xlsx file is a zip archive; this one is not). If it is "
        "really a CSV file, rename it to .csv; otherwise save it again from Excel as .xlsx."
    )


def test_binary_file_with_unknown_name(tmp_path):
    path = tmp_path / "o.pdf"
    path.write_bytes(b"%PDF\x00\x01\x02")
    with pytest.raises(SheetError, match=re.escape("is not a sheet bulkorders can read: use an .xlsx, .xlsm or .csv file.")):
        read_sheet(path)


SAVE_AS = "Open it in Excel (or LibreOffice) and save it as .xlsx (Excel Workbook) or CSV UTF-8, then rerun."
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def test_old_xls(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(OLE + b"\x00" * 600 + "Workbook".encode("utf-16-le"))
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == f"{path} is an old Excel 97-2003 workbook (.xls). {SAVE_AS}"


def test_password_protected_workbook(tmp_path):
    path = tmp_path / "secret.xlsx"
    path.write_bytes(OLE + b"\x00" * 600 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 100)
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f"{path} is password-protected. Open it in Excel, remove the password (File > Info > Protect "
        "Workbook > Encrypt with Password, clear the box), save it, and rerun."
    )


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_ods_and_xlsb_say_to_save_as_xlsx(tmp_path):
    ods = _zip(tmp_path / "o.ods", {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
                                    "content.xml": b"<x/>"})  # fmt: skip
    with pytest.raises(SheetError) as excinfo:
        read_sheet(ods)
    assert message(excinfo) == f"{ods} is an OpenDocument spreadsheet (.ods). {SAVE_AS}"
    xlsb = _zip(tmp_path / "o.xlsb", {"xl/workbook.bin": b"\x00"})
    with pytest.raises(SheetError) as excinfo:
        read_sheet(xlsb)
    assert message(excinfo) == f"{xlsb} is an Excel binary workbook (.xlsb). {SAVE_AS}"


def test_zip_without_workbook(tmp_path):
    path = _zip(tmp_path / "o.xlsx", {"readme.txt": b"hello"})
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f"{path} is a zip file but not an Excel workbook (no workbook inside). Use an .xlsx, .xlsm or .csv file."
    )


def test_damaged_workbook(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["x", 1, 2]])
    patch_sheet(path, "<sheetData>", "<sheetData><row r=")
    with pytest.raises(SheetError, match=re.escape(f"{path} cannot be read as a workbook (")):
        read_sheet(path)


def test_workbook_with_csv_name(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link"]]).rename(tmp_path / "o.csv")
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == f"{path} is an Excel workbook with a .csv name. Rename it to .xlsx and rerun."


def test_xml_entity_declarations_are_refused(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["x", 1, 2]])
    bomb = ('<?xml version="1.0"?><!-- <trap/> --><!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>')
    patch_sheet(path, "<workbook ", bomb + "<workbook ", part="xl/workbook.xml")
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f"{path} contains XML declarations (DOCTYPE/ENTITY in xl/workbook.xml) that Excel never writes; "
        "refusing it as possibly malicious. Save the sheet again from Excel and rerun."
    )


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["x", 1, 2]])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/filler.bin", b"\x00" * (60 << 20))
    with pytest.raises(SheetError, match=r"unpacks to 62,914,560 bytes from [\d,]+ \(xl/media/filler.bin\); refusing"):
        read_sheet(path)


def test_a_declared_size_filled_with_empty_styled_cells_is_fine(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["x", 1, 2]])
    patch_sheet(path, '<dimension ref="A1:C2" />', '<dimension ref="A1:XFD1048576" />')
    patch_sheet(path, "</sheetData>", '<row r="1048576"><c r="XFD1048576" s="0"/></row></sheetData>')
    assert len(read_sheet(path).rows) == 1


def test_a_sheet_spanning_millions_of_cells_is_refused(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "quantity"], ["x", 1, 2]])
    patch_sheet(path, '<dimension ref="A1:C2" />', '<dimension ref="A1:Z1000000" />')
    patch_sheet(path, "</sheetData>", '<row r="1000000"><c r="Z1000000" t="n"><v>1</v></c></row></sheetData>')
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f'{path}: sheet "Orders" spans 1,000,000 rows x 26 columns (26,000,000 cells), more than the '
        "5,000,000 cells an order sheet can need, too many to read safely. Delete the unused rows and "
        "columns below and right of the orders (Ctrl+End shows the last used cell), save, and rerun; or "
        "raise the limit with BULKORDERS_MAX_CELLS."
    )


def test_two_columns_with_one_meaning(tmp_path):
    path = xlsx(tmp_path / "o.xlsx", [["link", "service", "URL"], ["x", 1, "y"]])
    with pytest.raises(SheetError) as excinfo:
        read_sheet(path)
    assert message(excinfo) == (
        f'{path} (sheet "Orders"): the header row (row 1) has 2 "link" columns (A and C). Keep one, '
        "rename or delete the others, and rerun."
    )
