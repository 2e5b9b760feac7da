"""`status`/`refill`/`cancel` given a campaign's input sheet follow its results sheet,
writing it again from the ledger first when the submit's write-back failed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run
from test_submit import ROWS, orders_per_link, read_csv, write_csv

from bulkorders.errors import UsageError, WriteBackError
from bulkorders.ledger.records import Campaign
from bulkorders.lifecycle.follow import sheet_to_follow


def test_status_on_the_input_writes_the_results_a_failed_submit_could_not(tmp_path, monkeypatch):
    import bulkorders.submit.writing

    def refuse(sheet, updates, out, **_):
        raise WriteBackError(f"Could not write the results to {out}: the disk is full.")

    source = write_csv(tmp_path / "weekly.csv", ROWS)
    results = tmp_path / "weekly.results.csv"
    with monkeypatch.context() as patch:
        patch.setattr(bulkorders.submit.writing, "write_back", refuse)
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


def test_after_submit_in_place_status_and_refill_write_into_the_sheet_itself(tmp_path):
    source = write_csv(tmp_path / "weekly.csv", ROWS)
    assert run("submit", "--yes", "--in-place", str(source)).exit_code == 0
    ids = [row["order_id"] for row in read_csv(source)]
    status = run("status", str(source))
    assert status.exit_code == 0, status.output
    assert (
        "weekly.csv holds the results of campaign weekly (submit --in-place): writing them into it."
    ) in status.stderr
    assert "Kept a copy of the input as" in status.stderr  # as --in-place does
    assert not (tmp_path / "weekly.results.csv").exists()
    rows = read_csv(source)
    assert [r["order_id"] for r in rows] == ids and all(r["status"] for r in rows)
    refill = run("refill", str(source), "--rows", "2")
    assert refill.exit_code in (0, 1), refill.output
    assert not (tmp_path / "weekly.results.csv").exists()
    assert read_csv(source)[0]["error"] or read_csv(source)[0]["refill_id"]  # written here, either way
    out = run("status", str(source), "--out", str(tmp_path / "copy.csv"))  # --out still goes where it says
    assert out.exit_code == 0 and (tmp_path / "copy.csv").exists()


def test_a_sheet_of_no_campaign_is_used_as_given(tmp_path):
    sheet = write_csv(tmp_path / "mine.csv", [["99999"]], header=["order_id"])
    result = run("status", str(sheet))
    assert result.exit_code == 1
    assert "input of campaign" not in result.stderr
    assert read_csv(tmp_path / "mine.results.csv")[0]["error"] == "status: Incorrect order ID"


# --- an input that fed several campaigns ---------------------------------------------------------


def campaign(number: int, name: str, source: Path, results: Path | None, needs_write: bool = False) -> Campaign:
    return Campaign(number, name, "sandbox", str(source.absolute()), str(results.absolute()) if results else None,
                    needs_write)  # fmt: skip


def follow(source: Path, campaigns: list[Campaign]) -> tuple[Path, list[str]]:
    notes: list[str] = []

    def rewrite(chosen: Campaign) -> Path:
        raise AssertionError(f"nothing to rewrite, asked for {chosen.name}")

    return sheet_to_follow(source, campaigns, "sandbox", rewrite, notes.append), notes


def test_an_input_of_several_campaigns_with_different_results_is_refused(tmp_path):
    source = tmp_path / "weekly.csv"
    spring, autumn = tmp_path / "spring.csv", tmp_path / "autumn.csv"
    spring.write_text("x")
    autumn.write_text("x")
    # by name the ledger lists "autumn" first; that says nothing about which was used last
    found = [campaign(2, "autumn", source, autumn), campaign(1, "spring", source, spring)]
    with pytest.raises(UsageError) as info:
        follow(source, found)
    assert str(info.value) == (
        "weekly.csv is the input of 2 campaigns on sandbox:\n"
        f"  campaign autumn: {autumn.absolute()}\n"
        f"  campaign spring: {spring.absolute()}\n"
        "Run the command on the results sheet of the campaign you mean."
    )


def test_campaigns_sharing_one_results_sheet_follow_it(tmp_path):
    source = tmp_path / "weekly.csv"
    results = tmp_path / "weekly.results.csv"
    results.write_text("x")
    found = [campaign(1, "a", source, results), campaign(2, "b", source, results),
             campaign(3, "c", source, None), campaign(4, "other", tmp_path / "other.csv", tmp_path / "o.csv")]
    assert follow(source, found) == (
        results.absolute(), [f"weekly.csv is the input of campaigns a, b: working on their results, {results.absolute()}."]
    )  # fmt: skip
    # one of them still has to be written: which one is the user's choice
    with pytest.raises(UsageError):
        follow(source, [campaign(1, "a", source, results, needs_write=True), campaign(2, "b", source, results)])


def test_cli_status_on_an_input_of_two_campaigns_says_which_sheets(tmp_path):
    source = write_csv(tmp_path / "weekly.csv", ROWS[:1])
    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run("submit", "--yes", "--campaign", "one", "--out", str(first), str(source)).exit_code == 0
    placed = run("submit", "--yes", "--campaign", "two", "--out", str(second), str(source))
    assert placed.exit_code in (0, 1), placed.output
    result = run("status", str(source))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: weekly.csv is the input of 2 campaigns on sandbox:\n"
        f"  campaign one: {first}\n  campaign two: {second}\n"
        "Run the command on the results sheet of the campaign you mean."
    )
    assert not (tmp_path / "weekly.results.csv").exists()
