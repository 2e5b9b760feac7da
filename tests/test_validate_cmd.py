"""`validate` and `template` end to end with the sandbox panel (CliRunner, tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import bulkorders as run
from conftest import run as sandbox
from openpyxl import Workbook, load_workbook

from bulkorders.errors import SheetError
from bulkorders.sheets import read_sheet

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
GOLDEN = (ROOT / "tests" / "golden" / "mistakes.txt").read_text(encoding="utf-8")


def orders(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def test_valid_campaign_exits_0_with_the_cost_and_balance():
    result = run("--panel", "sandbox", "validate", str(SAMPLES / "weekly-campaign.xlsx"))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f'{SAMPLES / "weekly-campaign.xlsx"}, sheet "Orders" (header on row 3): 16 rows: '
                        "16 valid, 0 invalid, 0 with warnings")  # fmt: skip
    assert lines[1] == "Estimated cost of the valid rows: 38.147 USD"
    assert lines[2] == "    1009  Instagram Profile Boost Package                     1 row  15.00 USD"
    assert "    1001  Instagram Followers [Real, 30-day refill]          2 rows  2.475 USD" in lines
    assert lines[-1] == "Balance: 1000.00 USD, enough (961.853 USD left after these orders)."


def test_csv_campaign_exits_0():
    result = run("--panel", "sandbox", "validate", str(SAMPLES / "weekly-campaign.csv"))
    assert result.exit_code == 0
    assert "16 rows: 16 valid, 0 invalid, 0 with warnings" in result.stdout


def test_mistakes_exit_1_with_every_problem_grouped_by_row_then_the_summary():
    result = run("--panel", "sandbox", "validate", str(SAMPLES / "weekly-campaign-mistakes.xlsx"))
    assert result.exit_code == 1
    problems, summary = result.stdout.split("\n\n", 1)
    assert problems + "\n" == GOLDEN
    assert summary.splitlines()[0].endswith("24 rows: 5 valid, 19 invalid, 3 with warnings")
    assert "Estimated cost of the valid rows: 17.375 USD" in summary


def test_json_output_is_one_document():
    result = run("--panel", "sandbox", "--json", "validate", str(SAMPLES / "weekly-campaign-mistakes.xlsx"))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["rows"], data["valid"], data["invalid"], data["warned"]) == (24, 5, 19, 3)
    assert data["issues"][0] == {"row": 3, "column": "quantity", "severity": "error",
                                 "message": '"abc" is not a whole number'}  # fmt: skip
    assert data["cost"]["total"] == "17.375" and data["cost"]["currency"] == "USD"
    assert {"service": "1009", "name": "Instagram Profile Boost Package", "rows": 1, "cost": "15.00"} in data["cost"]["by_service"]
    assert data["balance"] == {"amount": "1000.00", "currency": "USD", "enough": True, "short_by": "0.00"}
    assert data["header_row"] == 1 and data["sheet"] == "Orders"


def test_short_balance_is_said_with_the_amount(tmp_path):
    path = orders(tmp_path / "big.xlsx", [["link", "service", "quantity"],
                                          *[[f"https://yt.example/{i}", 1006, 1000000] for i in range(1, 3)]])  # fmt: skip
    result = run("--panel", "sandbox", "validate", str(path))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "Balance: 1000.00 USD, SHORT by 1400.00 USD: top up before submit."


def test_offline_needs_a_cached_catalogue_then_skips_the_balance(tmp_path):
    path = str(SAMPLES / "weekly-campaign.csv")
    result = run("--panel", "sandbox", "validate", path, "--offline")
    assert result.exit_code == 3
    assert result.stderr == ("Error: No cached catalogue for panel sandbox: run `bulkorders services` once "
                             "while online, then --offline works.\n")  # fmt: skip
    assert run("--panel", "sandbox", "validate", path).exit_code == 0  # caches the catalogue
    result = run("--panel", "sandbox", "validate", path, "--offline")
    assert result.exit_code == 0
    assert "Estimated cost of the valid rows: 38.147\n" in result.stdout
    assert result.stdout.splitlines()[-1] == "Balance: not checked (--offline)."


def test_a_bad_file_exits_2_before_any_panel_is_needed(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {path} is an old Excel 97-2003 workbook (.xls). Open it in Excel (or "
                             "LibreOffice) and save it as .xlsx (Excel Workbook) or CSV UTF-8, then rerun.\n")  # fmt: skip
    assert result.stdout == ""


def test_unknown_sheet_exits_2_listing_the_sheets():
    result = run("--panel", "sandbox", "validate", str(SAMPLES / "weekly-campaign.xlsx"), "--sheet", "Week 49")
    assert result.exit_code == 2
    assert result.stderr == (f'Error: {SAMPLES / "weekly-campaign.xlsx"} has no sheet "Week 49". Its sheets: '
                             '"Orders". Use --sheet with one of them.\n')  # fmt: skip


def test_no_panel_configured_exits_3(tmp_path):
    result = run("validate", str(SAMPLES / "weekly-campaign.csv"))
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: No panel configured.")


def test_sheet_option_reads_that_sheet(tmp_path):
    workbook = Workbook()
    workbook.active.title = "Notes"
    week = workbook.create_sheet("Week 48")
    week.append(["link", "service", "quantity"])
    week.append(["https://a.example/", 1001, "abc"])
    workbook.save(tmp_path / "o.xlsx")
    result = run("--panel", "sandbox", "validate", str(tmp_path / "o.xlsx"), "--sheet", "Week 48")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == 'row 2, quantity: "abc" is not a whole number'


# --- template ---------------------------------------------------------------------------


def test_template_writes_orders_and_services_sheets(tmp_path):
    out = tmp_path / "t.xlsx"
    result = run("--panel", "sandbox", "template", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"Wrote {out}: an Orders sheet to fill and 22 services of panel sandbox.\n"
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["Orders", "Services"]
    sheet = workbook["Orders"]
    headers = [cell.value for cell in sheet[1]]
    assert headers[:6] == ["link", "service", "quantity", "runs", "interval", "comments"]
    assert {"usernames", "username", "min", "max", "delay", "expiry", "device", "type_of_traffic", "notes"} <= set(headers)
    assert all(cell.comment is not None and cell.comment.text for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width == 42
    lists = [v for v in sheet.data_validations.dataValidation if v.type == "list"]
    assert [(v.formula1, str(v.sqref)) for v in lists] == [("Services!$A$2:$A$23", "B2:B5001")]
    services = workbook["Services"]
    assert [c.value for c in services[1]][:10] == ["service", "name", "type", "category", "rate", "min", "max",
                                                    "refill", "cancel", "fields"]  # fmt: skip
    assert [c.value for c in services[2]][:10] == [1001, "Instagram Followers [Real, 30-day refill]", "Default",
                                                   "Instagram Followers", 0.9, 10, 100000, "yes", "yes", "link, quantity"]  # fmt: skip
    assert services["J21"].value == "username, min, max, delay"
    assert services.auto_filter.ref == "A1:J23" and services.freeze_panes == "A2"


def test_template_read_back_is_an_order_sheet_without_rows(tmp_path):
    out = tmp_path / "t.xlsx"
    assert run("--panel", "sandbox", "template", "--out", str(out)).exit_code == 0
    with pytest.raises(SheetError, match="the header is on row 1 but no rows follow it"):
        read_sheet(out)
    workbook = load_workbook(out)
    workbook["Orders"].append(["https://a.example/", 1001, 100])
    workbook.save(out)
    assert run("--panel", "sandbox", "validate", str(out)).exit_code == 0


def test_template_refuses_to_overwrite_and_other_formats(tmp_path):
    out = tmp_path / "t.xlsx"
    out.write_bytes(b"mine")
    result = run("--panel", "sandbox", "template", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {out} exists already. Give another --out, or --force to overwrite it.\n"
    assert run("--panel", "sandbox", "template", "--out", str(out), "--force").exit_code == 0
    result = run("--panel", "sandbox", "template", "--out", str(tmp_path / "t.ods"))
    assert result.exit_code == 2
    assert result.stderr == ("Error: The template is an Excel workbook or a CSV file: give --out a name ending "
                             "in .xlsx or .csv (not t.ods).\n")  # fmt: skip


def test_template_default_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("--panel", "sandbox", "template").exit_code == 0
    assert (tmp_path / "bulkorders-template.xlsx").exists()


def test_shipped_blank_templates_have_the_template_headers():
    workbook = load_workbook(ROOT / "templates" / "bulkorders-template.xlsx")
    headers = [cell.value for cell in workbook["Orders"][1]]
    csv_headers = (ROOT / "templates" / "bulkorders-template.csv").read_text(encoding="utf-8").strip().split(",")
    assert headers == csv_headers and headers[:3] == ["link", "service", "quantity"]
    lists = [v for v in workbook["Orders"].data_validations.dataValidation if v.type == "list"]
    assert lists[0].formula1 == "Services!$A$2:$A$1001"


def test_validate_counts_only_what_submit_would_send_and_names_the_placed_rows(tmp_path, isolated_user_dirs):
    """Issue 12: `validate` consults the ledger; the cost and balance are those of the rows
    `submit` would send, and a ledger that does not exist is not created."""
    ledger_file = isolated_user_dirs / "data" / "bulkorders" / "ledger.sqlite"
    sheet = orders(tmp_path / "week.xlsx", [["link", "service", "quantity"],
                                             ["https://instagram.com/a", 1001, 100],
                                             ["https://instagram.com/b", 1001, 200]])  # fmt: skip
    before = sandbox("validate", str(sheet))
    assert before.exit_code == 0
    assert "Estimated cost of the valid rows: 0.27 USD" in before.stdout
    assert not ledger_file.exists()
    placed = sandbox("submit", str(sheet), "--yes")
    assert placed.exit_code == 0, placed.stderr
    assert ledger_file.exists()
    orders(sheet, [["link", "service", "quantity"],
                   ["https://instagram.com/a", 1001, 100],
                   ["https://instagram.com/b", 1001, 200],
                   ["https://instagram.com/c", 1001, 400]])  # fmt: skip
    after = sandbox("validate", str(sheet))
    assert after.exit_code == 0, after.stderr
    lines = after.stdout.splitlines()
    assert lines[1] == ("Campaign week (ledger): 2 rows of this sheet already placed, not sent again; "
                        "submit would send 1 row.")  # fmt: skip
    assert lines[2] == "Estimated cost of the 1 row submit would send: 0.36 USD"
    assert lines[3].split() == ["1001", "Instagram", "Followers", "[Real,", "30-day", "refill]", "1", "row",
                                "0.36", "USD"]  # fmt: skip
    assert lines[-1] == "Balance: 999.73 USD, enough (999.37 USD left after these orders)."
    data = json.loads(sandbox("--json", "validate", str(sheet)).stdout)
    assert data["campaign"] == {"name": "week", "in_ledger": True, "already_placed": 2, "held": 0,
                                "to_send": 1, "to_send_rows": [4], "refused": None}  # fmt: skip
    assert data["cost"]["total"] == "0.36"
    other = json.loads(sandbox("--json", "validate", str(sheet), "--campaign", "next-week").stdout)
    assert (other["campaign"]["in_ledger"], other["campaign"]["to_send"], other["cost"]["total"]) == (False, 3, "0.63")


def test_validate_says_submit_refuses_a_same_named_sheet_of_another_folder(tmp_path):
    rows = [["link", "service", "quantity"], ["https://instagram.com/a", 1001, 100]]
    (tmp_path / "clientA").mkdir()
    (tmp_path / "clientB").mkdir()
    first = orders(tmp_path / "clientA" / "week.xlsx", rows)
    other = orders(tmp_path / "clientB" / "week.xlsx", rows)
    assert sandbox("submit", str(first), "--yes").exit_code == 0
    result = sandbox("validate", str(other))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        f"Campaign week (ledger): submit refuses this sheet: campaign week was placed from {first}, and "
        f"{other} has the same name. Rerun with --campaign NEW-NAME for a new campaign, or --campaign week "
        "to continue that one."
    )
    assert "Estimated cost of the valid rows: 0.09 USD" in result.stdout
    named = sandbox("validate", str(other), "--campaign", "week")
    assert "1 row of this sheet already placed, not sent again; submit would send 0 rows." in named.stdout


def test_json_failures_are_a_json_error_on_stdout(tmp_path):
    """Issue 12: with --json a failure is `{"error": {"message", "exit_code"}}` on stdout."""
    missing = sandbox("--json", "status", str(tmp_path / "nothere.xlsx"))
    assert missing.exit_code == 2
    error = json.loads(missing.stdout)["error"]
    assert error["exit_code"] == 2 and error["message"] in missing.stderr
    assert set(json.loads(missing.stdout)) == {"error"}
    usage = sandbox("--json", "status", "--rows", "x", str(SAMPLES / "weekly-campaign.xlsx"))
    assert json.loads(usage.stdout)["error"]["exit_code"] == usage.exit_code == 2
    bad = sandbox("--json", "validate", "--sheet", "Nope", str(SAMPLES / "weekly-campaign.xlsx"))
    assert json.loads(bad.stdout) == {"error": {"message": bad.stderr.removeprefix("Error: ").strip(),
                                                "exit_code": bad.exit_code}}  # fmt: skip
    click_error = sandbox("--json", "submit", str(SAMPLES / "weekly-campaign.xlsx"), "--concurrency", "zero")
    assert json.loads(click_error.stdout)["error"]["exit_code"] == click_error.exit_code == 2
    plain = sandbox("status", str(tmp_path / "nothere.xlsx"))
    assert plain.stdout == ""  # without --json, stdout stays for results


def _keys(document: object) -> list[str]:
    if isinstance(document, dict):
        return [*document, *(key for value in document.values() for key in _keys(value))]
    if isinstance(document, list):
        return [key for value in document for key in _keys(value)]
    return []


def test_json_keys_are_identifiers(tmp_path):
    """Issue 12: no sentence (or status name) as a JSON key in any --json output."""
    sheet = tmp_path / "week.xlsx"
    orders(sheet, [["link", "service", "quantity"], ["https://instagram.com/a", 1001, 100],
                   ["https://instagram.com/b", 1002, 100]])  # fmt: skip
    outputs = [sandbox("--json", *args) for args in (
        ("validate", str(sheet)), ("submit", str(sheet), "--yes"), ("status", str(sheet)),
        ("refill", str(sheet)), ("cancel", "--yes", str(sheet)), ("balance",),
    )]  # fmt: skip
    for result in outputs:
        keys = _keys(json.loads(result.stdout))
        assert keys, result.output
        assert [key for key in keys if not key.isidentifier()] == [], result.stdout
