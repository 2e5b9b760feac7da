"""Input files built to hurt: links that are not links, NUL bytes, zip bombs, XML bombs.

Each is a real file on disk read by the real command (`validate`, `submit` on the sandbox):
the exit code, the exact message and what was (not) sent are asserted.
"""

from __future__ import annotations

import csv
from pathlib import Path

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
