"""`status`/`refill`/`cancel` given a campaign's input sheet follow its results sheet,
writing it again from the ledger first when the submit's write-back failed."""

from __future__ import annotations

from click.testing import CliRunner
from test_submit import ROWS, orders_per_link, read_csv, write_csv

from bulkorders.cli import cli
from bulkorders.errors import WriteBackError


def run(*args: str):
    return CliRunner().invoke(cli, ["--panel", "sandbox", *args], catch_exceptions=False)


def test_status_on_the_input_writes_the_results_a_failed_submit_could_not(tmp_path, monkeypatch):
    import bulkorders.submit

    def refuse(sheet, updates, out):
        raise WriteBackError(f"Could not write the results to {out}: the disk is full.")

    source = write_csv(tmp_path / "weekly.csv", ROWS)
    results = tmp_path / "weekly.results.csv"
    with monkeypatch.context() as patch:
        patch.setattr(bulkorders.submit, "write_back", refuse)
        placed = run("submit", "--yes", str(source))
    assert placed.exit_code == 3
    assert "Could not write the results to" in placed.stderr
    assert not results.exists()

    result = run("status", str(source))
    assert result.exit_code == 0, result.output
    assert f"Wrote the results of campaign weekly again from the ledger: {results}." in result.stderr
    assert f"weekly.csv is the input of campaign weekly: working on its results, {results}." in result.stderr
    rows = read_csv(results)
    assert [r["link"] for r in rows] == [r[0] for r in ROWS]
    assert all(r["order_id"] and r["status"] for r in rows)
    assert orders_per_link() == {r[0]: 1 for r in ROWS}  # written again, not ordered again


def test_status_on_the_input_works_on_the_existing_results(tmp_path):
    source = write_csv(tmp_path / "weekly.csv", ROWS)
    assert run("submit", "--yes", str(source)).exit_code == 0
    before = (tmp_path / "weekly.results.csv").read_text()
    result = run("status", str(source))
    assert result.exit_code == 0, result.output
    assert "Wrote the results" not in result.stderr
    assert "weekly.csv is the input of campaign weekly: working on its results" in result.stderr
    assert not (tmp_path / "weekly.results.results.csv").exists()
    assert read_csv(tmp_path / "weekly.results.csv")[0]["order_id"] in before


def test_a_sheet_of_no_campaign_is_used_as_given(tmp_path):
    sheet = write_csv(tmp_path / "mine.csv", [["99999"]], header=["order_id"])
    result = run("status", str(sheet))
    assert result.exit_code == 1
    assert "input of campaign" not in result.stderr
    assert read_csv(tmp_path / "mine.results.csv")[0]["error"] == "status: Incorrect order ID"
