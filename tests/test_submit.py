"""`submit` end to end against the in-process sandbox, and the pipeline with injected I/O.

Every test counts the orders the sandbox really created, so "nothing ordered twice" is
checked against the panel, not against what bulkorders believes.
"""

from __future__ import annotations

import csv
import json
import re
import signal
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import openpyxl
import pytest
from conftest import bulkorders, environment, run, sandbox_client, submit
from openpyxl.styles import Font, PatternFill

from bulkorders.catalog import Catalogue
from bulkorders.errors import AuthError, BulkOrdersError, FundsError, Interrupted, WriteBackError
from bulkorders.ledger.store import Ledger
from bulkorders.models import AddResult, Balance
from bulkorders.panel.client import PanelClient
from bulkorders.panel.connect import SANDBOX_STATE_FILE
from bulkorders.panel.sandbox.panel import catalogue as sandbox_catalogue
from bulkorders.panel.sandbox.store import LiveSandbox
from bulkorders.panel.sandbox.transport import SandboxTransport
from bulkorders.settings import SANDBOX_URL, data_dir
from bulkorders.submit.pipeline import SubmitIO, SubmitOptions, describe_plan, submit_sheet

HEADER = ["link", "service", "quantity", "note"]
ROWS = [
    ["https://instagram.com/p/a", "1001", "100", "first"],  # 0.90 × 100 / 1000 = 0.09
    ["https://instagram.com/p/b", "1002", "200", "second"],  # 0.25 × 200 / 1000 = 0.05
    ["https://instagram.com/p/c", "1004", "1200", "third"],  # 0.015 × 1200 / 1000 = 0.018
]
BAD_ROW = ["https://instagram.com/p/d", "1001", "abc", "bad"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def sandbox_state_path() -> Path:
    return data_dir() / SANDBOX_STATE_FILE


def sandbox_orders() -> list:
    """Every order the sandbox panel created, from its own state."""
    path = sandbox_state_path()
    if not path.exists():
        return []
    live = LiveSandbox(path)
    try:
        return list(live.state().orders.values())
    finally:
        live.close()


def orders_per_link() -> Counter:
    return Counter(order.link for order in sandbox_orders())


def ledger_rows(name: str) -> list:
    with Ledger.open(data_dir() / "ledger.sqlite") as ledger:
        campaign = ledger.find_campaign(name, "sandbox")
        return ledger.rows(campaign) if campaign else []


# --- the command ------------------------------------------------------------------------


def test_submit_places_valid_rows_reports_invalid_ones_and_writes_results(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", [*ROWS, BAD_ROW])
    result = submit(str(sheet), "--yes")
    assert result.exit_code == 1, result.output
    assert "row 5, quantity" in result.stderr
    assert "Campaign orders: 3 orders to place, estimated 0.158 USD." in result.stderr
    assert orders_per_link() == Counter(row[0] for row in ROWS)
    out = read_csv(tmp_path / "orders.results.csv")
    assert [r["note"] for r in out] == ["first", "second", "third", "bad"]
    assert [r["charge"] for r in out] == ["0.09", "0.05", "0.018", ""]
    assert [r["currency"] for r in out] == ["USD", "USD", "USD", ""]
    assert all(r["order_id"].isdigit() for r in out[:3]) and out[3]["order_id"] == ""
    assert out[3]["status"] == "invalid" and "quantity" in out[3]["error"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["submitted_at (UTC)"]) for r in out[:3])
    assert "Placed 3 orders for an estimated 0.158 USD." in result.stdout
    assert {row.state for row in ledger_rows("orders")} == {"placed"}


def test_all_rows_placed_exits_0_and_a_rerun_places_nothing_but_writes_the_sheet(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    assert submit(str(sheet), "--yes").exit_code == 0
    first = read_csv(tmp_path / "orders.results.csv")
    (tmp_path / "orders.results.csv").unlink()
    # No --yes and no terminal: fine, since there is nothing to place (nothing to confirm).
    again = submit(str(sheet))
    assert again.exit_code == 0, again.output
    assert "Placed no new order." in again.stdout and "3 placed before" in again.stdout
    assert read_csv(tmp_path / "orders.results.csv") == first
    assert orders_per_link() == Counter(row[0] for row in ROWS)


def test_dry_run_says_what_would_be_placed_and_places_nothing(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    result = submit(str(sheet), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was sent." in result.stdout
    assert "Campaign orders: 3 orders to place, estimated 0.158 USD." in result.stdout
    assert "Balance 1000.00 USD (about 999.842 USD after)." in result.stdout
    assert sandbox_orders() == []
    assert not (tmp_path / "orders.results.csv").exists()


def test_max_spend_refuses_saying_by_how_much(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    result = submit(str(sheet), "--yes", "--max-spend", "0.1")
    assert result.exit_code == 3
    assert result.stderr.strip().endswith(
        "Error: Nothing placed. The estimated cost of the 3 rows to place, 0.158 USD, is over "
        "--max-spend 0.10 USD by 0.058 USD. Raise --max-spend or remove rows, then rerun."
    )
    assert sandbox_orders() == []


def test_over_the_balance_refuses_saying_by_how_much(tmp_path):
    rows = [[f"https://youtube.com/v/{i}", "1006", "1000000"] for i in range(1)]  # 1200.00
    sheet = write_csv(tmp_path / "big.csv", rows, ["link", "service", "quantity"])
    result = submit(str(sheet), "--yes")
    assert result.exit_code == 3
    assert (
        "Error: Nothing placed. The estimated cost of the 1 row to place, 1200.00 USD, is over "
        "the balance of 1000.00 USD by 200.00 USD. Top up the panel balance or remove rows, then rerun."
    ) in result.stderr
    assert sandbox_orders() == []


def test_without_a_terminal_and_without_yes_it_refuses_and_places_nothing(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    result = submit(str(sheet))
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "Error: Nothing placed: there is no terminal to confirm on. Check the plan with --dry-run, "
        "then rerun with --yes to place the orders."
    )
    assert sandbox_orders() == []
    assert {row.state for row in ledger_rows("orders")} == {"planned"}


def test_json_output_is_one_document_with_counts_and_outcomes(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", [*ROWS, BAD_ROW])
    result = run("--json", "submit", str(sheet), "--yes")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["placed_now"], doc["placed"], doc["invalid"], doc["uncertain"]) == (3, 3, 1, 0)
    assert (doc["spent"], doc["currency"], doc["campaign"]) == ("0.158", "USD", "orders")
    assert doc["output"] == str(tmp_path / "orders.results.csv")
    assert [(o["row"], o["state"]) for o in doc["outcomes"]] == [
        (2, "placed"), (3, "placed"), (4, "placed"), (5, "invalid")]
    assert "Placed 3 orders" in result.stderr


def test_sorted_edited_and_inserted_rows_place_only_what_is_new(tmp_path):
    rows = [[f"https://instagram.com/p/{i}", "1001", "100"] for i in range(6)]
    package = ["https://instagram.com/brand", "1009", ""]
    rows += [package, list(package)]  # the same content twice: two rows, two orders
    sheet = write_csv(tmp_path / "camp.csv", rows, ["link", "service", "quantity"])
    first = submit(str(sheet), "--yes")
    assert first.exit_code == 0, first.output
    assert len(sandbox_orders()) == 8
    edited = list(reversed(rows))
    edited[3] = ["https://instagram.com/p/4-edited", "1001", "100"]  # was p/4: a new row
    edited.insert(1, ["https://instagram.com/p/new", "1002", "50"])
    write_csv(sheet, edited, ["link", "service", "quantity"])
    result = submit(str(sheet), "--yes")
    assert result.exit_code == 0, result.output
    assert "Placed 2 orders" in result.stdout
    per_link = orders_per_link()
    assert per_link[package[0]] == 2  # its two occurrences, not more
    assert per_link["https://instagram.com/p/4"] == 1
    assert per_link["https://instagram.com/p/4-edited"] == 1
    assert per_link["https://instagram.com/p/new"] == 1
    assert len(sandbox_orders()) == 10
    # The results follow the rows to where they are now; p/4's row is gone from the sheet.
    out = read_csv(tmp_path / "camp.results.csv")
    assert len(out) == 9 and all(row["order_id"] for row in out)
    by_id = {str(o.id): o.link for o in sandbox_orders()}
    assert [by_id[row["order_id"]] for row in out] == [row["link"] for row in out]


def test_rows_that_already_carry_an_order_id_are_not_sent(tmp_path):
    rows = [[*ROWS[0][:3], "777"], [*ROWS[1][:3], ""]]
    sheet = write_csv(tmp_path / "mixed.csv", rows, ["link", "service", "quantity", "order_id"])
    result = submit(str(sheet), "--yes")
    assert result.exit_code == 0, result.output
    assert orders_per_link() == Counter({ROWS[1][0]: 1})
    out = read_csv(tmp_path / "mixed.results.csv")
    assert out[0]["order_id"] == "777"
    assert out[1]["order_id"].isdigit()


def test_a_second_submit_while_one_holds_the_campaign_refuses(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    with Ledger.open(data_dir() / "ledger.sqlite") as ledger:
        campaign = ledger.campaign("orders", "sandbox")
        with ledger.lock(campaign):
            result = submit(str(sheet), "--yes")
    assert result.exit_code == 3
    pid = __import__("os").getpid()
    assert result.stderr.strip() == (
        f'Error: Campaign "orders" is being submitted by another bulkorders process (pid {pid}). '
        "Wait for it to finish, or stop it, then rerun."
    )
    assert sandbox_orders() == []


def test_an_unwritable_output_is_refused_before_anything_is_placed(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    result = submit(str(sheet), "--yes", "--out", str(blocker / "out.csv"))
    assert result.exit_code == 3
    assert result.stderr.endswith(
        f"Error: Cannot write the results to {blocker / 'out.csv'}: the folder {blocker} does not "
        "exist. Nothing was sent to the panel; fix that (or choose another --out), then rerun.\n"
    )
    (tmp_path / "~$orders.results.csv").write_text("")  # Excel has the results open
    result = submit(str(sheet), "--yes")
    assert result.exit_code == 3
    assert "it is open in Excel (its lock file ~$orders.results.csv is there): close it first" in result.stderr
    assert sandbox_orders() == []


def test_a_failed_write_back_keeps_everything_and_the_rerun_writes_it(tmp_path, monkeypatch):
    import bulkorders.submit.writing

    def refuse(sheet, updates, out, **_):
        raise WriteBackError(f"Could not write the results to {out}: the disk is full. Nothing is "
                             "lost: the ledger holds every result.")  # fmt: skip

    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    with monkeypatch.context() as patch:
        patch.setattr(bulkorders.submit.writing, "write_back", refuse)
        result = submit(str(sheet), "--yes", "--out", str(tmp_path / "out.csv"))
    assert result.exit_code == 3
    assert "Nothing is lost: the ledger holds every result. To write the sheet again, rerun the " \
           "same submit command (it places nothing new), or run `bulkorders status orders.csv`." in result.stderr
    with Ledger.open(data_dir() / "ledger.sqlite") as ledger:
        assert ledger.find_campaign("orders", "sandbox").needs_write
    again = submit(str(sheet), "--yes", "--out", str(tmp_path / "out.csv"))
    assert again.exit_code == 0, again.output
    assert len(read_csv(tmp_path / "out.csv")) == 3
    assert len(sandbox_orders()) == 3
    with Ledger.open(data_dir() / "ledger.sqlite") as ledger:
        assert not ledger.find_campaign("orders", "sandbox").needs_write


def test_out_and_in_place_together_is_a_usage_error(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    result = submit(str(sheet), "--in-place", "--out", str(tmp_path / "x.csv"))
    assert result.exit_code == 2
    assert "Choose --out FILE or --in-place, not both." in result.stderr


# --- workbooks ----------------------------------------------------------------------------


def make_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(["Campaign week 48"])
    ws.append([])
    ws.append(["Link", "Service ID", "Qty", "Cost check"])
    for i, row in enumerate(ROWS, start=4):
        ws.append([row[0], int(row[1]), int(row[2]), f"=C{i}*2"])
    for cell in ws[3]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E78")
    ws.column_dimensions["A"].width = 42
    ws.freeze_panes = "A4"
    other = wb.create_sheet("Notes")
    other["A1"] = "keep me"
    wb.save(path)
    return path


def test_workbook_results_keep_the_rest_of_the_workbook(tmp_path):
    book = make_workbook(tmp_path / "week48.xlsx")
    result = submit(str(book), "--yes")
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(tmp_path / "week48.results.xlsx")
    ws = wb["Orders"]
    headers = [cell.value for cell in ws[3]]
    assert headers[:4] == ["Link", "Service ID", "Qty", "Cost check"]
    assert headers[4:7] == ["order_id", "charge", "currency"]
    assert ws.cell(3, 5).font.bold  # styled like the existing header
    assert ws["D4"].value == "=C4*2" and ws.freeze_panes == "A4"
    assert ws.column_dimensions["A"].width == 42
    assert wb["Notes"]["A1"].value == "keep me"
    ids = {str(ws.cell(r, 5).value) for r in range(4, 7)}
    assert ids == {str(o.id) for o in sandbox_orders()}
    assert [ws.cell(r, 6).value for r in range(4, 7)] == [0.09, 0.05, 0.018]


def test_in_place_keeps_a_copy_of_the_input(tmp_path):
    book = make_workbook(tmp_path / "week48.xlsx")
    result = submit(str(book), "--yes", "--in-place")
    assert result.exit_code == 0, result.output
    copies = [p for p in tmp_path.iterdir() if p.name.startswith("week48") and p != book]
    assert len(copies) == 1 and "Kept a copy of the input as" in result.stderr
    ws = openpyxl.load_workbook(book)["Orders"]
    assert ws.cell(3, 5).value == "order_id" and ws.cell(4, 5).value is not None
    # Rerun on the updated input: every row already carries its order id.
    again = submit(str(book), "--yes", "--in-place")
    assert again.exit_code == 0, again.output
    assert len(sandbox_orders()) == 3


# --- the pipeline with injected I/O -----------------------------------------------------------


class FakePanelClient:
    """Stands in for PanelClient: `add` answers scripted by link, and every call counted."""

    def __init__(self, script: Mapping[str, object] | None = None, balance: str = "100") -> None:
        self.script = dict(script or {})
        self.calls: list[str] = []
        self._balance = Balance(Decimal(balance), "USD")
        self._next = 900

    def balance(self) -> Balance:
        return self._balance

    def add(self, payload: Mapping[str, str]) -> AddResult:
        self.calls.append(payload["link"])
        action = self.script.get(payload["link"], "ok")
        if isinstance(action, BaseException):
            raise action
        if action == "ok":
            self._next += 1
            return AddResult(order=str(self._next))
        if action == "lost":
            return AddResult(lost=True, detail="no answer within 60 s (ReadTimeout)")
        return AddResult(error=str(action))


def pipeline_io(tmp_path: Path, client, **extra) -> SubmitIO:
    ledger = Ledger.open(tmp_path / "pipeline-ledger.sqlite")
    catalogue = Catalogue("sandbox", 0.0, sandbox_catalogue())
    return SubmitIO(client=client, ledger=ledger, catalogue=catalogue, panel="sandbox",
                    confirm=lambda plan: True, **extra)  # fmt: skip


def test_a_panel_error_starting_with_equals_is_written_as_text(tmp_path):
    sheet = write_csv(tmp_path / "evil.csv", ROWS)
    client = FakePanelClient({ROWS[1][0]: '=HYPERLINK("http://evil.test","click")'})
    io = pipeline_io(tmp_path, client)
    outcome = submit_sheet(sheet, SubmitOptions(), io)
    assert outcome.exit_code == 1 and outcome.count("rejected") == 1
    text = (tmp_path / "evil.results.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and ',=HYPERLINK' not in text and ',"=HYPERLINK' not in text
    book = make_workbook(tmp_path / "evil.xlsx")
    outcome = submit_sheet(book, SubmitOptions(campaign="evil-book"), io)
    ws = openpyxl.load_workbook(tmp_path / "evil.evil-book.results.xlsx")["Orders"]  # named after its campaign
    error_col = [c.value for c in ws[3]].index("error") + 1
    cell = ws.cell(5, error_col)
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://evil.test","click")'
    io.ledger.close()


def test_not_enough_funds_stops_writes_back_and_the_rerun_places_the_rest(tmp_path):
    rows = [[f"https://instagram.com/p/{i}", "1001", "100"] for i in range(30)]
    sheet = write_csv(tmp_path / "funds.csv", rows, ["link", "service", "quantity"])
    client = FakePanelClient({rows[12][0]: FundsError("The panel says the balance is too low.")})
    io = pipeline_io(tmp_path, client)
    outcome = submit_sheet(sheet, SubmitOptions(concurrency=3), io)
    assert isinstance(outcome.stop, FundsError) and outcome.exit_code == 3
    placed = outcome.count("placed")
    assert 12 <= placed <= 14 and outcome.count("planned") == 30 - placed
    out = read_csv(tmp_path / "funds.results.csv")
    assert sum(1 for r in out if r["order_id"]) == placed
    assert {(r["status"], r["error"]) for r in out if not r["order_id"]} == {(
        "not sent",
        "not sent: the panel ran out of funds before it was sent; rerun the same submit command to place it",
    )}  # fmt: skip
    client.script.clear()
    again = submit_sheet(sheet, SubmitOptions(concurrency=3), io)
    assert again.exit_code == 0 and again.placed_now == 30 - placed
    assert Counter(client.calls) == Counter({row[0]: 1 for row in rows} | {rows[12][0]: 2})
    io.ledger.close()


def test_a_bad_key_stops_before_anything_is_placed(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    client = sandbox_client(sandbox_state_path(), key="wrong-key", accepts="right-key")
    io = pipeline_io(tmp_path, client)
    with pytest.raises(AuthError) as caught:
        submit_sheet(sheet, SubmitOptions(), io)
    assert caught.value.exit_code == 3 and "Invalid API key" in caught.value.message
    assert sandbox_orders() == []
    io.ledger.close()


class Interrupting:
    """A progress reporter that interrupts (in the main thread) after `after` answers: by a
    real SIGINT, as Ctrl-C does, or by raising KeyboardInterrupt right after an outcome was
    committed (the worst moment for code that does not expect it)."""

    def __init__(self, after: int, *, signal_it: bool = False) -> None:
        self.after, self.seen, self.signal_it = after, 0, signal_it

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, steps: int = 1, *, info: str = "") -> None:
        self.seen += steps
        if self.seen == self.after:
            if self.signal_it:
                signal.raise_signal(signal.SIGINT)
            else:
                raise KeyboardInterrupt

    def close(self) -> None:
        pass


@pytest.mark.parametrize("signal_it", [True, False], ids=["sigint", "keyboardinterrupt"])
def test_ctrl_c_stops_cleanly_writes_back_and_resumes(tmp_path, signal_it):
    rows = [[f"https://instagram.com/p/{i}", "1001", "100"] for i in range(40)]
    sheet = write_csv(tmp_path / "ctrlc.csv", rows, ["link", "service", "quantity"])
    client = sandbox_client(sandbox_state_path())
    io = pipeline_io(tmp_path, client, reporter=Interrupting(after=7, signal_it=signal_it))
    outcome = submit_sheet(sheet, SubmitOptions(concurrency=4), io)
    assert isinstance(outcome.stop, Interrupted) and outcome.exit_code == 130
    assert outcome.count("sending") == 0
    assert outcome.count("placed") == len(sandbox_orders())
    assert outcome.placed_now == len(sandbox_orders())  # each answer counted once
    out = read_csv(tmp_path / "ctrlc.results.csv")
    assert sum(1 for r in out if r["order_id"]) == len(sandbox_orders())
    assert {(r["status"], r["error"]) for r in out if not r["order_id"]} == {(
        "not sent",
        "not sent: the run was interrupted (Ctrl-C) before it was sent; rerun the same submit command to place it",
    )}  # fmt: skip
    io.reporter = Interrupting(after=-1)
    again = submit_sheet(sheet, SubmitOptions(concurrency=4), io)
    assert again.exit_code == 0
    assert orders_per_link() == Counter({row[0]: 1 for row in rows})
    io.ledger.close()


@pytest.mark.parametrize("signal_it", [True, False], ids=["sigint", "keyboardinterrupt"])
def test_ctrl_c_after_the_last_row_was_sent_does_not_say_to_place_the_rest(tmp_path, signal_it):
    sheet = write_csv(tmp_path / "late.csv", ROWS)
    client = sandbox_client(sandbox_state_path())
    io = pipeline_io(tmp_path, client, reporter=Interrupting(after=3, signal_it=signal_it))
    outcome = submit_sheet(sheet, SubmitOptions(concurrency=4), io)
    assert isinstance(outcome.stop, Interrupted) and outcome.exit_code == 130
    assert outcome.stop.message == (
        "Interrupted after every row was sent: each answer is saved in the ledger; nothing is left to place."
    )
    assert outcome.count("placed") == 3 == len(sandbox_orders())
    io.ledger.close()


class LosingTransport(httpx.BaseTransport):
    """Passes requests to the sandbox, but loses the answer of `add`s for some links."""

    def __init__(self, inner: httpx.BaseTransport, lose: set[str]) -> None:
        self.inner, self.lose = inner, lose
        self.adds = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.read().decode()))
        response = self.inner.handle_request(request)
        if form.get("action") == "add":
            self.adds += 1
            if form.get("link") in self.lose:
                raise httpx.ReadTimeout("lost", request=request)
        return response


def test_rows_not_sent_after_five_lost_answers_say_so(tmp_path):
    rows = [[f"https://instagram.com/p/{i}", "1001", "100"] for i in range(12)]
    sheet = write_csv(tmp_path / "lost5.csv", rows, ["link", "service", "quantity"])
    transport = LosingTransport(SandboxTransport(sandbox_state_path()), {row[0] for row in rows})
    client = PanelClient(SANDBOX_URL, "sandbox-test-key", transport=transport)
    outcome = submit_sheet(sheet, SubmitOptions(concurrency=1), pipeline_io(tmp_path, client))
    assert outcome.exit_code == 3 and outcome.count("uncertain") == 5
    out = read_csv(tmp_path / "lost5.results.csv")
    assert [r["status"] for r in out] == ["uncertain"] * 5 + ["not sent"] * 7
    assert {r["error"] for r in out[5:]} == {
        "not sent: sending stopped after 5 lost answers in a row; rerun the same submit command to place it"}


def test_uncertain_rows_are_resent_only_with_resend_uncertain_and_duplicates_say_so(tmp_path):
    sheet = write_csv(tmp_path / "lost.csv", ROWS)
    transport = LosingTransport(SandboxTransport(sandbox_state_path()), {ROWS[0][0]})
    client = PanelClient(SANDBOX_URL, "sandbox-test-key", transport=transport)
    io = pipeline_io(tmp_path, client)
    outcome = submit_sheet(sheet, SubmitOptions(), io)
    assert outcome.exit_code == 1 and outcome.count("uncertain") == 1
    out = read_csv(tmp_path / "lost.results.csv")
    assert out[0]["status"] == "uncertain" and out[0]["order_id"] == ""
    assert out[0]["error"].startswith("answer lost (")
    assert len(sandbox_orders()) == 3  # the lost answer's order exists on the panel
    transport.lose.clear()
    again = submit_sheet(sheet, SubmitOptions(), io)
    assert again.placed_now == 0 and transport.adds == 3  # not re-sent without the flag
    resent = submit_sheet(sheet, SubmitOptions(resend_uncertain=True), io)
    assert transport.adds == 4 and resent.count("rejected") == 1
    row = read_csv(tmp_path / "lost.results.csv")[0]
    assert row["status"] == "rejected"
    assert row["error"].startswith("You have active order with this link.")
    assert "it was most likely placed the first time" in row["error"]
    assert orders_per_link()[ROWS[0][0]] == 1
    io.ledger.close()


def test_declining_the_confirmation_places_nothing(tmp_path):
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    client = FakePanelClient()
    io = pipeline_io(tmp_path, client)
    io.confirm = lambda plan: False
    with pytest.raises(BulkOrdersError) as caught:
        submit_sheet(sheet, SubmitOptions(), io)
    assert caught.value.exit_code == 3
    assert caught.value.message == "Nothing placed: the submission was not confirmed."
    assert client.calls == [] and not (tmp_path / "orders.results.csv").exists()
    io.ledger.close()


def test_refusals_before_spending_are_named_errors(tmp_path):
    from bulkorders.errors import NotConfirmed, SpendRefused
    from bulkorders.submit.outcome import Plan, cost_guard

    plan = Plan(campaign="c", to_place=1, total=Decimal("5"), balance=Balance(Decimal("1"), "USD"),
                already_placed=0, rejected=0, uncertain=0, invalid=0)  # fmt: skip
    with pytest.raises(SpendRefused) as refused:
        cost_guard(plan, None)
    assert refused.value.exit_code == 3 and refused.value.message.startswith("Nothing placed. The estimated cost")
    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    io = pipeline_io(tmp_path, FakePanelClient())
    io.confirm = lambda plan: False
    with pytest.raises(NotConfirmed) as declined:
        submit_sheet(sheet, SubmitOptions(), io)
    assert declined.value.exit_code == 3
    io.ledger.close()


def test_rejected_rows_are_sent_again_only_with_retry_rejected(tmp_path):
    sheet = write_csv(tmp_path / "busy.csv", ROWS)
    client = FakePanelClient({ROWS[0][0]: "You have active order with this link. Please wait until order being completed."})
    io = pipeline_io(tmp_path, client)
    first = submit_sheet(sheet, SubmitOptions(), io)
    assert first.count("rejected") == 1 and client.calls.count(ROWS[0][0]) == 1
    client.script.clear()  # the earlier order on that link has completed
    again = submit_sheet(sheet, SubmitOptions(), io)
    assert again.placed_now == 0 and client.calls.count(ROWS[0][0]) == 1
    assert "1 rejected earlier (not sent again without --retry-rejected)" in describe_plan(again.plan)
    retried = submit_sheet(sheet, SubmitOptions(retry_rejected=True), io)
    assert retried.placed_now == 1 and client.calls.count(ROWS[0][0]) == 2
    assert retried.count("placed") == 3 and len(client.calls) == 4
    assert read_csv(tmp_path / "busy.results.csv")[0]["order_id"] == "903"  # 901, 902 went to rows 3 and 4
    io.ledger.close()


def test_a_rerun_that_places_nothing_says_how_to_start_a_new_campaign(tmp_path):
    sheet = write_csv(tmp_path / "weekly.csv", ROWS)
    assert submit(str(sheet), "--yes").exit_code == 0
    again = submit(str(sheet), "--yes")
    assert again.exit_code == 0
    assert again.stdout.splitlines()[:3] == [
        "Placed no new order.",
        "Also: 3 placed before.",
        "Rows placed before were placed by an earlier run of campaign weekly. To order the same "
        "rows again as a new campaign, rerun with --campaign NEW-NAME.",
    ]
    fresh = submit(str(sheet), "--yes", "--dry-run", "--campaign", "weekly-49")
    assert fresh.exit_code == 0, fresh.output
    assert "Campaign weekly-49: 3 orders to place, estimated 0.158 USD." in fresh.stdout


def test_a_twin_inserted_above_a_placed_row_of_a_results_sheet_is_placed(tmp_path):
    """The row carrying the order id keeps its ledger row; the new identical row is new."""
    sheet = write_csv(tmp_path / "twins.csv", [ROWS[1]])
    assert submit(str(sheet), "--yes", "--in-place").exit_code == 0
    placed = read_csv(sheet)
    first_order = placed[0]["order_id"]
    header = list(placed[0])
    twin = dict(zip(HEADER, ROWS[1]))
    with sheet.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerow({name: twin.get(name, "") for name in header})  # inserted above
        writer.writerow(placed[0])
    result = submit(str(sheet), "--yes", "--in-place")
    out = read_csv(sheet)
    assert [row["order_id"] for row in out][1] == first_order
    # The inserted twin was sent: the sandbox refuses it while the first order on that
    # link is active. Before the fix it took the placed row's identity and was never sent.
    assert result.exit_code == 1
    assert out[0]["order_id"] == "" and out[0]["status"] == "rejected"
    assert out[0]["error"].startswith("You have active order with this link.")
    assert len(sandbox_orders()) == 1


def test_the_lock_holds_through_a_symlinked_ledger_path(tmp_path):
    real = tmp_path / "real.sqlite"
    link = tmp_path / "link.sqlite"
    with Ledger.open(real) as first:
        link.symlink_to(real)
        with Ledger.open(link) as second:
            campaign = first.campaign("week", "sandbox")
            with first.lock(campaign):
                with pytest.raises(BulkOrdersError) as err:
                    with second.lock(second.campaign("week", "sandbox")):
                        pass
    assert 'Campaign "week" is being submitted by another bulkorders process' in str(err.value)


def _two_clients(tmp_path: Path) -> tuple[Path, Path]:
    """clientA/orders.csv and clientB/orders.csv: same name, same rows, two clients."""
    (tmp_path / "clientA").mkdir()
    (tmp_path / "clientB").mkdir()
    return write_csv(tmp_path / "clientA" / "orders.csv", ROWS[:2]), write_csv(tmp_path / "clientB" / "orders.csv", ROWS[:2])


def test_a_same_named_file_in_another_folder_is_refused_before_anything_is_sent(tmp_path):
    a, b = _two_clients(tmp_path)
    assert submit(str(a), "--yes").exit_code == 0
    result = submit(str(b), "--yes")
    assert result.exit_code == 2, result.output
    assert (
        f"Nothing sent: campaign orders was placed from {a}, and {b} has the same name. Rerun with "
        "--campaign NEW-NAME for a new campaign, or --campaign orders to continue that one."
    ) in result.stderr
    assert len(sandbox_orders()) == 2
    assert not (tmp_path / "clientB" / "orders.results.csv").exists()  # no order id of A's in B's folder
    with Ledger.open(data_dir() / "ledger.sqlite") as ledger:
        assert ledger.find_campaign("orders").source_path == str(a)


def test_naming_the_campaign_continues_it_or_starts_a_new_one(tmp_path):
    a, b = _two_clients(tmp_path)
    assert submit(str(a), "--yes").exit_code == 0
    joined = submit(str(b), "--yes", "--campaign", "orders")
    assert joined.exit_code == 0, joined.output
    assert joined.stdout.startswith("Placed no new order.")
    assert [row["order_id"] for row in read_csv(tmp_path / "clientB" / "orders.results.csv")] == [
        row["order_id"] for row in read_csv(tmp_path / "clientA" / "orders.results.csv")
    ]
    c = write_csv(tmp_path / "clientB" / "orders.csv", ROWS[2:])
    new = submit(str(c), "--yes", "--campaign", "orders-b")
    assert new.exit_code == 0, new.output
    assert new.stdout.startswith("Placed 1 order")
    assert len(sandbox_orders()) == 3


def test_a_sheet_moved_to_another_folder_continues_its_campaign(tmp_path):
    (tmp_path / "jan").mkdir()
    first = write_csv(tmp_path / "jan" / "orders.csv", ROWS[:2])
    assert submit(str(first), "--yes").exit_code == 0
    moved = tmp_path / "archive"
    (tmp_path / "jan").rename(moved)
    result = submit(str(moved / "orders.csv"), "--yes")
    assert result.exit_code == 0, result.output
    assert (
        f"Campaign orders was placed from {first}, which is no longer there: continuing it from "
        f"{moved / 'orders.csv'} (rows placed then are not placed again; for a new campaign, rerun "
        "with --campaign NEW-NAME)."
    ) in result.stderr
    assert result.stdout.startswith("Placed no new order.")
    assert len(sandbox_orders()) == 2


def test_the_same_sheet_by_a_symlinked_folder_continues_its_campaign(tmp_path):
    (tmp_path / "real").mkdir()
    sheet = write_csv(tmp_path / "real" / "orders.csv", ROWS[:2])
    assert submit(str(sheet), "--yes").exit_code == 0
    (tmp_path / "link").symlink_to(tmp_path / "real")
    again = submit(str(tmp_path / "link" / "orders.csv"), "--yes")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("Placed no new order.")
    assert len(sandbox_orders()) == 2


def test_the_campaigns_own_results_sheet_continues_it(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    sheet = write_csv(tmp_path / "in" / "orders.csv", ROWS[:2])
    results = tmp_path / "out" / "orders.csv"
    assert submit(str(sheet), "--yes", "--out", str(results)).exit_code == 0
    again = submit(str(results), "--yes")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("Placed no new order.")
    back = submit(str(sheet), "--yes")  # the input is still the campaign's input
    assert back.exit_code == 0, back.output
    assert len(sandbox_orders()) == 2


def test_a_new_campaign_from_the_same_file_keeps_the_earlier_results(tmp_path):
    sheet = write_csv(tmp_path / "d.csv", ROWS[:1])
    assert submit(str(sheet), "--yes").exit_code == 0
    first = read_csv(tmp_path / "d.results.csv")
    result = submit(str(sheet), "--yes", "--campaign", "d 2/next", "--dry-run")
    assert "Campaign d 2/next: 1 order to place" in result.stdout
    assert not (tmp_path / "d.d-2-next.results.csv").exists()  # a dry run writes nothing
    again = submit(str(sheet), "--yes", "--campaign", "d2")
    assert again.exit_code in (0, 1)  # the sandbox may refuse the still-active link
    assert f"Results written to {tmp_path / 'd.d2.results.csv'}." in again.stdout
    assert read_csv(tmp_path / "d.results.csv") == first


def test_a_sheet_of_order_ids_under_a_new_campaign_does_not_take_the_orders(tmp_path):
    sheet = write_csv(tmp_path / "ip.csv", ROWS)
    assert submit(str(sheet), "--yes", "--in-place").exit_code == 0
    result = submit(str(sheet), "--yes", "--campaign", "ip2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["Placed no new order.", "Also: 3 already carrying an order id."]
    with Ledger.open(data_dir() / "ledger.sqlite") as ledger:
        owners = {r.campaign for r in ledger.order_records()}
    assert owners == {"ip"}  # the audit still credits the campaign that placed them
    assert len(sandbox_orders()) == 3


def test_a_funds_stop_shows_the_panels_words_on_the_row_it_refused(tmp_path):
    rows = [[f"https://instagram.com/p/{i}", "1001", "100"] for i in range(6)]
    sheet = write_csv(tmp_path / "funds.csv", rows, ["link", "service", "quantity"])
    refusal = FundsError("The panel says the balance is too low (Insufficient balance).",
                         said="Insufficient balance")  # fmt: skip
    io = pipeline_io(tmp_path, FakePanelClient({rows[3][0]: refusal}))
    outcome = submit_sheet(sheet, SubmitOptions(concurrency=1), io)
    assert outcome.stop is refusal and outcome.count("placed") == 3
    out = read_csv(tmp_path / "funds.results.csv")
    # the refused row says the panel's words; the rows after it why the run did not send them
    assert [(r["status"], r["error"]) for r in out[3:]] == [
        ("not sent", "not sent yet (the panel said: Insufficient balance): rerun the same submit command to place it"),
        ("not sent", "not sent: the panel ran out of funds before it was sent; rerun the same submit command to place it"),
        ("not sent", "not sent: the panel ran out of funds before it was sent; rerun the same submit command to place it"),
    ]  # fmt: skip
    io.ledger.close()


class PayloadPanel(FakePanelClient):
    """Keeps every `add` payload as sent."""

    def __init__(self, send_quantity: bool = True) -> None:
        super().__init__()
        self.send_quantity = send_quantity
        self.sent: list[dict[str, str]] = []

    def add(self, payload: Mapping[str, str]) -> AddResult:
        self.sent.append(dict(payload))
        return super().add(payload)


@pytest.mark.parametrize("send_quantity", [True, False])
def test_packages_and_lists_send_a_quantity_unless_the_profile_says_not(tmp_path, send_quantity):
    rows = [["https://instagram.com/p/1", "1009", "", ""],
            ["https://instagram.com/p/2", "1007", "", "a\nb\nc\nd\ne\nf"],
            ["https://instagram.com/p/3", "1001", "100", ""]]  # fmt: skip
    sheet = write_csv(tmp_path / "kinds.csv", rows, ["link", "service", "quantity", "comments"])
    client = PayloadPanel(send_quantity)
    io = pipeline_io(tmp_path, client)
    assert submit_sheet(sheet, SubmitOptions(concurrency=1), io).exit_code == 0
    quantities = {p["service"]: p.get("quantity") for p in client.sent}
    assert quantities == ({"1009": "1", "1007": "6", "1001": "100"} if send_quantity
                          else {"1009": None, "1007": None, "1001": "100"})  # fmt: skip
    campaign = io.ledger.find_campaign("kinds", "sandbox")
    # the row's identity (its ledger payload) is what it was: rows placed before stay placed
    assert ["quantity" in r.payload for r in io.ledger.rows(campaign)] == [False, False, True]


@pytest.fixture
def open_umask():
    """The most open umask: nothing bulkorders makes private may rely on the umask."""
    import os

    old = os.umask(0)
    yield
    os.umask(old)


def test_private_files_stay_private_whatever_the_umask(tmp_path, open_umask):
    import stat

    from bulkorders.ledger.backups import backups
    from bulkorders.settings import cache_dir

    sheet = write_csv(tmp_path / "orders.csv", ROWS)
    ledger = tmp_path / "ledger.sqlite"
    result = bulkorders("--panel", "sandbox", "--ledger", str(ledger), "submit", str(sheet), "--yes")
    assert result.exit_code == 0, result.output

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    (cache,) = cache_dir().glob("catalogue-*.json")
    (backup,) = backups(ledger)
    assert [mode(p) for p in (ledger, backup, cache)] == [0o600] * 3
    assert [mode(p) for p in (backup.parent, cache.parent)] == [0o700] * 2
    assert list(cache.parent.glob("*.tmp")) == []
    # The results are the user's document: they follow the umask like any file they save.
    assert mode(tmp_path / "orders.results.csv") == 0o666


class OneIdPanel(FakePanelClient):
    """A misbehaving panel: every add is answered with the same order id."""

    def add(self, payload: Mapping[str, str]) -> AddResult:
        self.calls.append(payload["link"])
        return AddResult(order="777")


def test_one_order_id_for_two_adds_flags_both_rows_and_stops(tmp_path):
    rows = [[f"https://instagram.com/p/same{i}", "1001", "100"] for i in range(20)]
    sheet = write_csv(tmp_path / "same.csv", rows, ["link", "service", "quantity"])
    client = OneIdPanel()
    io = pipeline_io(tmp_path, client)
    outcome = submit_sheet(sheet, SubmitOptions(concurrency=1), io)
    assert outcome.exit_code == 3 and client.calls == [rows[0][0], rows[1][0]]
    assert outcome.stop.message == (
        "The panel answered order 777 for row 3, an order id it had already given to row 2 of "
        "campaign same: the panel is misbehaving, so sending stopped. Both rows are flagged in "
        "the sheet; check both rows' links in the panel's order list, then rerun."
    )
    assert (outcome.count("placed"), outcome.count("uncertain"), outcome.count("planned")) == (1, 1, 18)
    out = read_csv(tmp_path / "same.results.csv")
    assert (out[0]["order_id"], out[0]["error"]) == ("777", (
        "the panel gave this row's order 777 also to row 3 of a later add: check both rows' "
        "links in the panel's order list."))  # fmt: skip
    assert (out[1]["order_id"], out[1]["status"], out[1]["error"]) == ("", "uncertain", (
        "the panel answered order 777, which it had already given to row 2 of campaign same: "
        "check both rows' links in the panel's order list before sending this row again "
        "(--resend-uncertain)."))  # fmt: skip
    (order,) = io.ledger.order_records()
    assert (order.order_id, order.excel_row) == ("777", 2)  # the order stays the first row's

    fixed = FakePanelClient()
    io.client = fixed
    again = submit_sheet(sheet, SubmitOptions(concurrency=4), io)
    assert again.exit_code == 1 and again.placed_now == 18  # the flagged row waits for the user
    assert sorted(fixed.calls) == sorted(row[0] for row in rows[2:])
    io.ledger.close()


def test_the_same_order_id_on_another_panel_is_another_order(tmp_path):
    io = pipeline_io(tmp_path, OneIdPanel())
    sheet = write_csv(tmp_path / "one.csv", ROWS[:1])
    assert submit_sheet(sheet, SubmitOptions(), io).exit_code == 0
    io.panel = "https://other.example/api/v2"
    again = submit_sheet(sheet, SubmitOptions(campaign="elsewhere"), io)
    assert again.exit_code == 0 and again.count("placed") == 1
    io.ledger.close()


def test_an_order_id_typed_into_the_results_sheet_records_an_uncertain_row(tmp_path):
    """The audit's advice for an uncertain row: find it on the panel, put its id in the row's
    order_id cell, run submit again. The id typed into the results sheet is recorded, not lost."""
    sheet = write_csv(tmp_path / "lost.csv", ROWS)
    client = FakePanelClient({ROWS[1][0]: "lost"})
    io = pipeline_io(tmp_path, client)
    assert submit_sheet(sheet, SubmitOptions(concurrency=1), io).count("uncertain") == 1
    results = tmp_path / "lost.results.csv"
    rows = read_csv(results)
    assert (rows[1]["status"], rows[1]["order_id"]) == ("uncertain", "")
    rows[1]["order_id"] = "4242"  # found in the panel's order list
    with results.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sent_before = len(client.calls)
    again = submit_sheet(sheet, SubmitOptions(), io)
    assert len(client.calls) == sent_before  # nothing sent again
    assert again.count("uncertain") == 0 and again.exit_code == 0
    assert read_csv(results)[1]["order_id"] == "4242"
    campaign = io.ledger.find_campaign("lost", "sandbox")
    assert [r.order_id for r in io.ledger.rows(campaign)][1] == "4242"
    io.ledger.close()


def _order_book(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def test_a_row_edited_after_its_order_was_placed_is_named_in_the_plan(tmp_path):
    """Issue 12: same link and service, another quantity: the plan says a second order is placed."""
    header = ["link", "service", "quantity"]
    sheet = _order_book(tmp_path / "edit.xlsx", [header, ["https://instagram.com/a", 1001, 1500],
                                                 ["https://instagram.com/b", 1001, 100]])  # fmt: skip
    first = submit(str(sheet), "--yes")
    assert first.exit_code == 0, first.stderr
    order_a = json.loads(bulkorders("--panel", "sandbox", "--json", "submit", str(sheet), "--dry-run").stdout)
    placed_a = next(row["order_id"] for row in order_a["outcomes"] if row["row"] == 2)
    _order_book(sheet, [header, ["https://instagram.com/a", 1001, 1600], ["https://instagram.com/b", 1001, 100]])
    dry = submit(str(sheet), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    note = (f"  row 2: order {placed_a} of this campaign has quantity 1500 for this link and service; "
            "placing a second order of 1600")  # fmt: skip
    lines = dry.stdout.splitlines()  # the dry run's plan is its result
    assert "Edited after their order was placed (the earlier orders stay on the panel):" in lines
    assert note in lines
    declined = submit(str(sheet), input="n\n", obj=environment(terminal=True))
    assert declined.exit_code == 3, declined.stderr
    before_question = declined.stderr.split("Place these orders?")[0]
    assert note in before_question.splitlines()  # shown before the confirmation, not only by --dry-run
    placed = submit(str(sheet), "--yes")  # the sandbox refuses a second order while the first is active
    assert placed.exit_code == 1, placed.stderr
    assert ('1 order of campaign edit no longer matches a row (edited or deleted after placing; 1.35 USD): '
            'listed in the sheet "Orders not in this sheet" of edit.results.xlsx.') in placed.stderr.splitlines()
    book = openpyxl.load_workbook(tmp_path / "edit.results.xlsx")
    listed = [[cell.value for cell in row] for row in book["Orders not in this sheet"].iter_rows()]
    assert listed[0] == ["order_id", "was row", "service", "link", "quantity", "charge", "currency", "status",
                         "submitted_at (UTC)"]  # fmt: skip
    assert listed[1][:7] == [placed_a, 2, "1001", "https://instagram.com/a", 1500, 1.35, "USD"]
    assert listed[-1][:7] == ["total", None, None, None, None, 1.35, "USD"]
    orders_sheet = [[cell.value for cell in row] for row in book[book.sheetnames[0]].iter_rows()]
    assert orders_sheet[1][:3] == ["https://instagram.com/a", 1001, 1600]  # the sheet itself as before
    rerun = submit(str(sheet), "--yes")  # places nothing; the listing is written again, not twice
    assert rerun.exit_code == 1, rerun.stderr
    book = openpyxl.load_workbook(tmp_path / "edit.results.xlsx")
    assert book.sheetnames.count("Orders not in this sheet") == 1
    assert [[cell.value for cell in row] for row in book["Orders not in this sheet"].iter_rows()] == listed
    sheet.unlink()
    _order_book(sheet, [header, ["https://instagram.com/b", 1001, 100]])
    again = submit(str(sheet), "--dry-run")
    assert "Edited after" not in again.stdout + again.stderr  # nothing to send: no note


def test_a_csv_says_where_the_orders_no_longer_in_it_are(tmp_path):
    sheet = tmp_path / "edit.csv"
    sheet.write_text("link,service,quantity\nhttps://instagram.com/a,1001,1500\n", encoding="utf-8")
    assert submit(str(sheet), "--yes").exit_code == 0
    sheet.write_text("link,service,quantity\nhttps://instagram.com/z,1001,100\n", encoding="utf-8")
    second = submit(str(sheet), "--yes")
    assert second.exit_code == 0, second.stderr
    assert ("1 order of campaign edit no longer matches a row (edited or deleted after placing; 1.35 USD): "
            "`bulkorders report --campaign edit` lists them with every order.") in second.stderr.splitlines()


def test_edited_notes_name_other_fields_when_the_quantity_is_the_same():
    from bulkorders.ledger import LedgerRow
    from bulkorders.submit.outcome import edited_notes

    def row(row_id: int, payload: dict[str, str], order_id: str | None) -> LedgerRow:
        return LedgerRow(row_id, f"i{row_id}", 2, "1003", "https://x.com/p", payload, Decimal(1), "placed",
                         order_id, None, None, None, None, None)  # fmt: skip

    old = row(1, {"link": "https://x.com/p", "service": "1003", "comments": "a\nb"}, "77")
    new = row(2, {"link": "https://x.com/p", "service": "1003", "comments": "c\nd"}, None)
    assert edited_notes([(5, new)], [old]) == (
        "row 5: order 77 of this campaign has other comments for this link and service; placing a second order",
    )
    assert edited_notes([(5, new)], [row(3, old.payload, None)]) == ()  # never placed: nothing to say


def test_resend_uncertain_shows_the_risk_in_its_confirmation(tmp_path):
    """Issue 12: how many rows may exist already, and what resending them costs if they do."""
    sheet = write_csv(tmp_path / "lost.csv", ROWS)
    transport = LosingTransport(SandboxTransport(sandbox_state_path()), {ROWS[0][0], ROWS[1][0]})
    client = PanelClient(SANDBOX_URL, "sandbox-test-key", transport=transport)
    io = pipeline_io(tmp_path, client)
    assert submit_sheet(sheet, SubmitOptions(), io).count("uncertain") == 2
    transport.lose.clear()
    plans = []
    io.confirm = lambda plan: plans.append(plan) or False
    with pytest.raises(BulkOrdersError):
        submit_sheet(sheet, SubmitOptions(resend_uncertain=True), io)
    cost = sum((row.estimate for row in io.ledger.rows(io.ledger.find_campaign("lost")) if row.state == "uncertain"),
               Decimal(0))  # fmt: skip
    assert (plans[0].resent, plans[0].resent_cost) == (2, cost) and cost == Decimal("0.14")  # rows a and b
    assert ("Risk: 2 rows sent again by --resend-uncertain may already exist on the panel (their answer was "
            "lost); if they do, resending them costs 0.14 USD more for duplicate orders. Look for their "
            "links in the panel's order list first.") in describe_plan(plans[0]).splitlines()  # fmt: skip
    assert "Risk:" not in describe_plan(replace(plans[0], resent=0))
    io.ledger.close()
