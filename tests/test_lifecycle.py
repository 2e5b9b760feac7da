"""`status`, `refill`, `cancel`: planning rules, the pipelines against the sandbox, the CLI wiring."""

from __future__ import annotations

import csv
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import BOTH_ENGINES, FakeClock, bulkorders, environment, run, sandbox_client

from bulkorders.errors import BulkOrdersError, ExitCode, Interrupted, PanelUnreachable, UsageError
from bulkorders.lifecycle.outcome import summary_text
from bulkorders.lifecycle.pipelines import LifecycleIO, SheetOptions, cancel_sheet, refill_sheet, status_sheet
from bulkorders.lifecycle.plan import (
    Target,
    by_status,
    cancel_refusal,
    cell_text,
    changes,
    id_problem,
    id_text,
    refill_refusal,
    settled,
    spend,
    status_values,
    targets_from_rows,
)
from bulkorders.lifecycle.rowspec import parse_rows
from bulkorders.models import CancelResult, OrderStatus, RefillResult
from bulkorders.panel.client import PanelClient
from bulkorders.panel.connect import SANDBOX_STATE_FILE
from bulkorders.panel.sandbox import panel as sandbox
from bulkorders.sheets.headers import OUTPUT_TITLES

T0 = 1_800_000_000.0
SERVICES = sandbox.catalogue()
REFILL_AND_CANCEL = "1001"  # refill and cancel
NO_REFILL = "1002"  # cancel only
NO_CANCEL = "1003"  # refill only


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def client(tmp_path, clock):
    with sandbox_client(tmp_path / "sandbox.jsonl", clock=clock) as panel_client:
        yield panel_client


@pytest.fixture
def notes() -> list[str]:
    return []


@pytest.fixture(params=BOTH_ENGINES)
def engine(request) -> str:
    """The pipelines' tests on a ledger file and on a team ledger (PostgreSQL) alike."""
    return request.param


@pytest.fixture
def io(client, ledger, clock, notes):
    return LifecycleIO(client=client, ledger=ledger, panel="sandbox", notify=notes.append,
                       clock=clock, sleep=clock.sleep)  # fmt: skip


def place(client: PanelClient, service: str = REFILL_AND_CANCEL, count: int = 1, quantity: int = 100) -> list[str]:
    """Orders placed directly through the client (one per link)."""
    ids = []
    for _ in range(count):
        n = len(place.links)
        place.links.append(n)
        result = client.add({"service": service, "link": f"https://example.com/p/{n}", "quantity": str(quantity)})
        assert result.order is not None, result
        ids.append(result.order)
    return ids


place.links = []  # type: ignore[attr-defined]


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> dict[int, dict[str, str]]:
    """Excel row number -> {header: cell} of a CSV results file."""
    text = path.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=first.count)  # a one-column input has no delimiter of its own
    records = list(csv.reader(text.splitlines(), delimiter=delimiter))
    header = records[0]
    # Rows the write left untouched keep their own (shorter) records.
    return {
        number: dict(zip(header, record + [""] * (len(header) - len(record))))
        for number, record in enumerate(records[1:], start=2)
    }


def id_sheet(tmp_path: Path, ids: list[str], name: str = "orders.csv") -> Path:
    """A user-made sheet: only an order_id column."""
    return write_csv(tmp_path / name, ["order_id"], [[i] for i in ids])


# --- pure planning -------------------------------------------------------------------------


def test_cell_text_normalises_ids():
    assert cell_text(23501.0) == "23501"
    assert cell_text(" 00123 ") == "00123"
    assert cell_text(Decimal("23501")) == "23501"
    assert cell_text("") is None and cell_text(None) is None and cell_text("  ") is None


def test_targets_follow_rows_selection():
    rows = [(2, {"order_id": 1.0}), (3, {"order_id": None}), (4, {"order_id": "7", "service": 1001})]
    assert [t.row for t in targets_from_rows(rows)] == [2, 3, 4]
    chosen = targets_from_rows(rows, parse_rows("3-4"))
    assert [(t.row, t.order_id, t.service, t.asked) for t in chosen] == [(3, None, None, True), (4, "7", "1001", True)]


def test_refill_eligibility_says_why():
    ok = Target(2, "9", service=REFILL_AND_CANCEL, status="Completed")
    assert refill_refusal(ok, SERVICES) is None
    assert refill_refusal(Target(2, "9", service=REFILL_AND_CANCEL, status="partial"), SERVICES) is None
    assert refill_refusal(Target(2, "9", service="999999", status="Partial"), SERVICES) is None  # the panel decides
    assert refill_refusal(Target(2, None), SERVICES) == "no order_id: nothing to refill"
    assert refill_refusal(Target(2, "9", service=NO_REFILL, status="Completed"), SERVICES) == (
        "not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill"
    )
    assert refill_refusal(Target(2, "9", service=REFILL_AND_CANCEL, status="In progress"), SERVICES) == (
        "not refillable: the order is In progress; refill needs Completed or Partial"
    )


def test_cancel_eligibility_says_why():
    assert cancel_refusal(Target(2, "9", service=REFILL_AND_CANCEL, status="Pending"), SERVICES) is None
    assert cancel_refusal(Target(2, None), SERVICES) == "no order_id: nothing to cancel"
    assert cancel_refusal(Target(2, "9", service=NO_CANCEL, status="Pending"), SERVICES) == (
        "not cancellable: service 1003 (Instagram Likes [Refill 60 days]) does not allow cancel"
    )
    assert cancel_refusal(Target(2, "9", service=REFILL_AND_CANCEL, status="Canceled"), SERVICES) == (
        "not cancellable: the order is already Canceled"
    )


def test_summary_counts_each_order_once():
    before = [Target(2, "1", status="Pending"), Target(3, "2", status="In progress")]
    after = [
        Target(2, "1", status="Completed", charge=Decimal("0.09"), currency="USD"),
        Target(3, "2", status="In progress", charge=Decimal("0.718"), currency="USD"),
        Target(4, "1", status="Completed", charge=Decimal("0.09"), currency="USD"),  # same order twice
        Target(5, None),
    ]
    assert by_status(after) == {"Completed": 1, "In progress": 1}
    assert spend(after) == {"USD": Decimal("0.808")}
    assert [(c.row, c.before, c.after) for c in changes(before, after)] == [(2, "Pending", "Completed")]
    assert not settled(after)
    assert settled(after, unanswerable={"2"})


# --- status --------------------------------------------------------------------------------


def test_status_of_a_user_sheet_with_only_order_ids(tmp_path, client, io, ledger, clock):
    ids = place(client, count=3)
    sheet = id_sheet(tmp_path, ids)
    clock.now += 5  # In progress
    report = status_sheet(sheet, SheetOptions(), io)
    assert report.exit_code == ExitCode.OK
    assert (report.asked, report.succeeded, report.requests) == (3, 3, 1)
    assert report.output == tmp_path / "orders.results.csv"
    rows = read_csv(report.output)
    assert [rows[r]["status"] for r in (2, 3, 4)] == ["In progress"] * 3
    assert rows[2]["charge"] == "0.09" and rows[2]["currency"] == "USD"
    assert rows[2]["checked_at (UTC)"] == "2027-01-15 08:00:05"
    assert rows[2]["error"] == ""
    assert report.by_status == {"In progress": 3}
    assert report.spend == {"USD": Decimal("0.27")}
    assert [(c.before, c.after) for c in report.changes] == [(None, "In progress")] * 3
    # Orders unknown to the ledger were added, with the observation and its time.
    records = ledger.orders("sandbox", ids)
    assert {i: r.status for i, r in records.items()} == dict.fromkeys(ids, "In progress")
    seen = ledger.observations(order_ids=ids)
    assert [(o["kind"], o["at"]) for o in seen] == [("status", "2027-01-15T08:00:05Z")] * 3


def test_second_look_reports_changes_and_skips_final_orders(tmp_path, client, io, clock):
    ids = place(client, count=2)
    sheet = id_sheet(tmp_path, ids)
    clock.now += 1
    status_sheet(sheet, SheetOptions(), io)  # Pending
    clock.now += 60
    report = status_sheet(tmp_path / "orders.results.csv", SheetOptions(), io)
    assert [(c.before, c.after) for c in report.changes] == [("Pending", "Completed")] * 2
    assert report.output == tmp_path / "orders.results.csv"  # a results file is updated itself
    again = status_sheet(tmp_path / "orders.results.csv", SheetOptions(), io)
    assert (again.asked, again.requests) == (0, 0)
    assert again.left_out == {"already final, not checked again (--all checks them too)": 2}
    assert again.changes == [] and again.output is None
    forced = status_sheet(tmp_path / "orders.results.csv", SheetOptions(), io, refresh_all=True)
    assert (forced.asked, forced.requests) == (2, 1)


def test_253_orders_cost_exactly_3_status_requests(tmp_path, client, io, clock):
    ids = place(client, count=253, quantity=10)
    sheet = id_sheet(tmp_path, ids)
    report = status_sheet(sheet, SheetOptions(), io)
    assert report.requests == 3
    assert (report.asked, report.succeeded, report.exit_code) == (253, 253, ExitCode.OK)


def test_unknown_order_id_fails_its_row_only(tmp_path, client, io, clock):
    ids = place(client, count=2)
    sheet = id_sheet(tmp_path, [ids[0], "99999999", ids[1]])
    report = status_sheet(sheet, SheetOptions(), io)
    assert report.exit_code == ExitCode.ROWS_FAILED
    assert [str(issue) for issue in report.failures] == [
        "row 3, order_id: order 99999999: status: Incorrect order ID"
    ]
    rows = read_csv(report.output)
    assert rows[3]["error"] == "status: Incorrect order ID" and rows[3]["status"] == ""
    assert rows[2]["status"] == rows[4]["status"] == "Pending"


def test_watch_ends_when_every_order_is_final(tmp_path, client, io, clock, notes):
    ids = place(client, count=3)
    sheet = id_sheet(tmp_path, [*ids, "99999999"])  # a bad id does not keep the watch going
    report = status_sheet(sheet, SheetOptions(), io, watch=True, every=4)
    # t+0 Pending, t+4 In progress, t+8 In progress, t+12 final (done at 10 s).
    assert report.rounds == 4 and clock.sleeps == [4, 4, 4]
    assert report.stop is None and report.exit_code == ExitCode.ROWS_FAILED  # the bad id
    rows = read_csv(report.output)
    assert {rows[r]["status"] for r in (2, 3, 4)} <= {"Completed", "Partial"}
    assert list(rows[2]) == ["order_id", "charge", "currency", "start_count", "status", "remains",
                             "refill_id", "refill_status", "cancel_result", "error", "submitted_at (UTC)",
                             "checked_at (UTC)"]  # fmt: skip
    assert report.requests == 4  # only the orders still running are asked again, in one request
    assert notes[:3] == [
        "Round 1: 4 checked, 3 changed, 3 still running. Next check in 4 s (Ctrl-C stops).",
        "Round 2: 3 checked, 3 changed, 3 still running. Next check in 4 s (Ctrl-C stops).",
        "Round 3: 3 checked, 0 changed, 3 still running. Next check in 4 s (Ctrl-C stops).",
    ]


def test_watch_in_place_reuses_the_columns_it_added(tmp_path, client, io, clock):
    ids = place(client, count=2)
    sheet = id_sheet(tmp_path, ids)
    report = status_sheet(sheet, SheetOptions(in_place=True), io, watch=True, every=6)
    assert report.output == sheet and report.rounds == 3
    rows = read_csv(sheet)
    assert list(rows[2]) == ["order_id", "charge", "currency", "start_count", "status", "remains",
                             "refill_id", "refill_status", "cancel_result", "error", "submitted_at (UTC)",
                             "checked_at (UTC)"]  # fmt: skip
    assert {row["status"] for row in rows.values()} <= {"Completed", "Partial"}
    backups = list(tmp_path.glob("orders.backup-*.csv"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8").startswith("order_id\n")


def test_ctrl_c_while_watching_keeps_the_last_round(tmp_path, client, io, clock):
    ids = place(client, count=2)
    sheet = id_sheet(tmp_path, ids)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    io.sleep = interrupt
    report = status_sheet(sheet, SheetOptions(), io, watch=True)
    assert isinstance(report.stop, Interrupted) and report.exit_code == ExitCode.INTERRUPTED
    assert report.stop.message.startswith("Stopped watching after 1 round(s)")
    assert [row["status"] for row in read_csv(report.output).values()] == ["Pending", "Pending"]


def test_status_refreshes_pending_refills(tmp_path, client, io, ledger, clock):
    ids = place(client, count=1)
    sheet = id_sheet(tmp_path, ids)
    clock.now += 20
    refill_sheet(sheet, SheetOptions(), io, SERVICES)
    results = tmp_path / "orders.results.csv"
    assert read_csv(results)[2]["refill_id"] == "1"
    clock.now += 3
    report = status_sheet(results, SheetOptions(), io)
    assert report.requests == 1  # the order is final: only the refill is asked about
    assert (report.asked, report.refills_checked) == (0, 1)
    assert read_csv(results)[2]["refill_status"] == "In progress"
    clock.now += 10
    status_sheet(results, SheetOptions(), io)
    assert read_csv(results)[2]["refill_status"] == "Completed"
    assert ledger.orders("sandbox", ids)[ids[0]].refill_status == "Completed"
    quiet = status_sheet(results, SheetOptions(), io)
    assert quiet.requests == 0


# --- refill --------------------------------------------------------------------------------


def test_refill_asks_only_eligible_orders(tmp_path, client, io, ledger, clock):
    done = place(client, REFILL_AND_CANCEL, count=2)
    no_refill = place(client, NO_REFILL, count=1)
    clock.now += 20
    running = place(client, REFILL_AND_CANCEL, count=1)
    sheet = write_csv(tmp_path / "c.csv", ["order_id", "service"],
                      [[done[0], 1001], [no_refill[0], 1002], [running[0], 1001], [done[1], 1001], ["", 1001]])
    report = refill_sheet(sheet, SheetOptions(), io, SERVICES)
    assert report.exit_code == ExitCode.OK
    assert (report.asked, report.succeeded) == (2, 2)
    # statuses of the three orders not known to be final (one request), then one refill request
    assert report.requests == 2
    assert report.without_order == 1
    assert report.left_out == {
        "not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill": 1,
        "not refillable: the order is Pending; refill needs Completed or Partial": 1,
    }
    rows = read_csv(report.output)
    assert (rows[2]["refill_id"], rows[5]["refill_id"]) == ("1", "2")
    assert rows[3]["refill_id"] == rows[4]["refill_id"] == ""
    # issue 12: a whole-sheet run says on each row it skipped why (this used to leave `error` blank)
    assert rows[3]["error"] == "not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill"
    assert rows[4]["error"] == "not refillable: the order is Pending; refill needs Completed or Partial"
    assert rows[4]["status"] == "Pending"
    assert ledger.orders("sandbox", done)[done[0]].refill_id == "1"
    kinds = [o["kind"] for o in ledger.observations(order_ids=done)]
    assert kinds.count("refill") == 2


def test_refill_rows_asked_for_say_why_not(tmp_path, client, io, clock):
    done = place(client, REFILL_AND_CANCEL, count=1)
    no_refill = place(client, NO_REFILL, count=1)
    clock.now += 20
    sheet = write_csv(tmp_path / "c.csv", ["order_id", "service", "error"],
                      [[done[0], 1001, ""], [no_refill[0], 1002, ""], ["", 1001, "rejected: Incorrect service ID"],
                       ["", 1001, ""]])  # fmt: skip
    report = refill_sheet(sheet, SheetOptions(rows=parse_rows("2-5")), io, SERVICES)
    assert report.exit_code == ExitCode.ROWS_FAILED
    assert [str(issue) for issue in report.failures] == [
        "row 3, order_id: not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill",
        "row 4, order_id: no order_id: nothing to refill (rejected: Incorrect service ID)",
        "row 5, order_id: no order_id: nothing to refill",
    ]
    rows = read_csv(report.output)
    assert rows[2]["refill_id"] == "1" and rows[2]["error"] == ""
    assert rows[3]["error"] == "not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill"
    assert rows[4]["error"] == "rejected: Incorrect service ID"  # submit's reason is kept
    assert rows[5]["error"] == "no order_id: nothing to refill"


def test_refill_refused_by_the_panel_lands_in_error(tmp_path, client, io, clock):
    done = place(client, REFILL_AND_CANCEL, count=2)
    clock.now += 20
    sheet = id_sheet(tmp_path, done)
    refill_sheet(sheet, SheetOptions(), io, SERVICES)
    clock.now += 1  # the first refills are still running
    report = refill_sheet(tmp_path / "orders.results.csv", SheetOptions(), io, SERVICES)
    assert report.exit_code == ExitCode.ROWS_FAILED
    rows = read_csv(report.output)
    assert rows[2]["error"] == "refill: Refill is already in progress for this order"
    assert rows[2]["refill_id"] == "1"  # the refill that exists is still shown


def test_refill_without_service_column_lets_the_panel_decide(tmp_path, client, io, clock):
    ids = place(client, NO_REFILL, count=1)
    clock.now += 20
    report = refill_sheet(id_sheet(tmp_path, ids), SheetOptions(), io, SERVICES)
    assert report.requests == 2  # status first (unknown), then the refill
    assert read_csv(report.output)[2]["error"] == "refill: Refill is disabled for this service"


# --- cancel --------------------------------------------------------------------------------


def test_cancel_shows_the_plan_then_cancels(tmp_path, client, io, ledger, clock):
    clock.now -= 30
    finished = place(client, REFILL_AND_CANCEL, count=1)
    clock.now += 30
    pending = place(client, REFILL_AND_CANCEL, count=2)
    no_cancel = place(client, NO_CANCEL, count=1)
    sheet = write_csv(tmp_path / "c.csv", ["order_id", "service"],
                      [[pending[0], 1001], [no_cancel[0], 1003], [finished[0], 1001], [pending[1], 1001]])
    plans = []
    report = cancel_sheet(sheet, SheetOptions(), io, SERVICES, confirm=lambda plan: plans.append(plan) or True)
    assert plans[0].orders == pending
    assert plans[0].left_out == {
        "not cancellable: service 1003 (Instagram Likes [Refill 60 days]) does not allow cancel": 1,
        "not cancellable: the order is already Completed": 1,
    }
    assert report.exit_code == ExitCode.OK and (report.asked, report.succeeded) == (2, 2)
    rows = read_csv(report.output)
    assert (rows[2]["cancel_result"], rows[5]["cancel_result"]) == ("requested", "requested")
    assert rows[3]["cancel_result"] == rows[4]["cancel_result"] == ""
    assert ledger.orders("sandbox", pending)[pending[0]].cancel_result == "requested"
    clock.now += 1
    after = status_sheet(report.output, SheetOptions(), io)
    assert read_csv(after.output)[2]["status"] == "Canceled"


def test_cancel_not_confirmed_sends_nothing(tmp_path, client, io, clock):
    pending = place(client, REFILL_AND_CANCEL, count=1)
    sheet = id_sheet(tmp_path, pending)
    with pytest.raises(BulkOrdersError) as info:
        cancel_sheet(sheet, SheetOptions(), io, SERVICES, confirm=lambda plan: False)
    assert str(info.value) == "Nothing cancelled: the cancellation was not confirmed."
    assert client.status(pending[0]).status == "Pending"
    assert not (tmp_path / "orders.results.csv").exists()


def test_cancel_refused_by_the_panel(tmp_path, client, io, clock):
    running = place(client, REFILL_AND_CANCEL, count=1)
    clock.now += 5  # In progress: not final, but the panel only cancels Pending orders
    report = cancel_sheet(id_sheet(tmp_path, running), SheetOptions(), io, SERVICES, confirm=lambda plan: True)
    assert report.exit_code == ExitCode.ROWS_FAILED
    row = read_csv(report.output)[2]
    assert row["cancel_result"] == "refused: Order cannot be canceled: its status is In progress"
    assert row["error"] == "cancel: Order cannot be canceled: its status is In progress"


def test_rows_selecting_nothing_is_a_usage_error(tmp_path, client, io):
    sheet = id_sheet(tmp_path, place(client, count=1))
    with pytest.raises(UsageError) as info:
        status_sheet(sheet, SheetOptions(rows=parse_rows("40-45")), io)
    assert str(info.value) == "--rows 40-45: none of these rows of orders.csv holds data."


def test_xlsx_results_keep_the_workbook(tmp_path, client, io, clock):
    import openpyxl

    ids = place(client, count=2)
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Orders"
    ws.append(["Campaign week 48"])
    ws.append([])
    ws.append(["Order ID", "note"])
    ws.append([int(ids[0]), "first"])
    ws.append([int(ids[1]), "second"])
    book.create_sheet("Other")["A1"] = "kept"
    path = tmp_path / "week.xlsx"
    book.save(path)
    clock.now += 5
    report = status_sheet(path, SheetOptions(rows=parse_rows("5")), io)
    assert report.output == tmp_path / "week.results.xlsx" and report.orders == 1
    out = openpyxl.load_workbook(report.output)
    sheet = out["Orders"]
    headers = [c.value for c in sheet[3]]
    assert headers == ["Order ID", "note", *OUTPUT_TITLES[1:]]  # the id column is reused
    assert [c.value for c in sheet[5]][:7] == [int(ids[1]), "second", 0.09, "USD", 2338,
                                               "In progress", 63]  # fmt: skip
    assert [c.value for c in sheet[4]][2:] == [None] * 11  # not in --rows
    assert out["Other"]["A1"].value == "kept"


# --- the command line ------------------------------------------------------------------------


def sandbox_orders(home: Path, service: str, count: int, *, age: float) -> list[str]:
    """Orders in the sandbox the CLI uses, created `age` seconds ago (negative: in the future)."""
    state = home / "data" / "bulkorders" / SANDBOX_STATE_FILE
    state.parent.mkdir(parents=True, exist_ok=True)
    with sandbox_client(state, clock=lambda: time.time() - age) as panel_client:
        return place(panel_client, service, count)


def test_cli_status_json(tmp_path, isolated_user_dirs):
    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 2, age=100)
    sheet = id_sheet(tmp_path, ids)
    result = run("--json", "status", str(sheet))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["command"] == "status" and data["asked"] == 2 and data["requests"] == 1
    # issue 12: JSON keys are identifiers, so statuses are values ({"status", "orders"}), no longer keys
    assert sum(item["orders"] for item in data["by_status"]) == 2
    assert {item["status"] for item in data["by_status"]} <= {"Completed", "Partial"}
    assert data["output"] == str(tmp_path / "orders.results.csv")
    assert "Results written to" in result.stderr


def test_cli_status_human_summary_and_failure_exit(tmp_path, isolated_user_dirs):
    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 1, age=100)
    result = run("status", str(id_sheet(tmp_path, [*ids, "424242"])))
    assert result.exit_code == 1
    assert "row 3, order_id: order 424242: status: Incorrect order ID" in result.stderr
    assert "2 rows, 2 orders; 2 checked, 1 ok, 1 row failed (1 request)." in result.stdout


def test_cli_cancel_needs_yes_without_a_terminal(tmp_path, isolated_user_dirs):
    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 1, age=-3600)  # Pending for an hour
    sheet = id_sheet(tmp_path, ids)
    result = run("cancel", str(sheet))
    assert result.exit_code == 2
    assert "1 order will be cancelled:" in result.stderr
    assert result.stderr.strip().endswith(
        "Error: Nothing cancelled: there is no terminal to confirm on. Rerun with --yes to cancel these orders."
    )
    result = run("cancel", "--yes", str(sheet))
    assert result.exit_code == 0, result.output
    assert read_csv(tmp_path / "orders.results.csv")[2]["cancel_result"] == "requested"


def test_cli_cancel_asks_on_a_terminal(tmp_path, isolated_user_dirs):
    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 1, age=-3600)
    result = run("cancel", str(id_sheet(tmp_path, ids)), input="n\n", obj=environment(terminal=True))
    assert result.exit_code == 3
    # issue 12: declining is the user's own choice, not an error (this used to start "Error: ")
    assert "Nothing cancelled: the cancellation was not confirmed." in result.stderr.splitlines()
    assert "Error:" not in result.stderr


def test_cli_refill_rows(tmp_path, isolated_user_dirs):
    ids = sandbox_orders(isolated_user_dirs, NO_REFILL, 1, age=100)
    sheet = write_csv(tmp_path / "c.csv", ["order_id", "service"], [[ids[0], 1002]])
    result = run("refill", "--rows", "2", str(sheet))
    assert result.exit_code == 1
    assert "row 2, order_id: not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill" in result.stderr


def test_cli_a_stop_and_a_failed_write_are_one_error(tmp_path, isolated_user_dirs, monkeypatch):
    import bulkorders.cli.lifecycle_cmds
    import bulkorders.sheets
    from bulkorders.cli.io import lifecycle_io
    from bulkorders.errors import WriteBackError

    def refuse(sheet, updates, out, **_):
        raise WriteBackError(f"Could not write the results to {out}: the disk is full.")

    def interrupting_io(app):
        def interrupt(seconds: float) -> None:
            raise KeyboardInterrupt

        io = lifecycle_io(app)
        io.sleep = interrupt
        return io

    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 1, age=-3600)  # Pending: the watch sleeps
    sheet = id_sheet(tmp_path, ids)
    monkeypatch.setattr(bulkorders.sheets, "write_back", refuse)
    monkeypatch.setattr(bulkorders.cli.lifecycle_cmds, "lifecycle_io", interrupting_io)
    result = run("status", "--watch", str(sheet))
    assert result.exit_code == ExitCode.INTERRUPTED
    assert result.stderr.count("Error:") == 1
    assert result.stderr.endswith(
        "Error: Stopped watching after 1 round(s); the sheet holds every answer received. Rerun status to "
        f"continue.\nCould not write the results to {tmp_path / 'orders.results.csv'}: the disk is full.\n"
        "Nothing is lost: the ledger holds every answer. Rerun the same command to write the sheet again.\n"
    )
    data = json.loads(run("--json", "status", "--watch", str(sheet)).stdout)
    assert data["stopped"].startswith("Stopped watching after 1 round(s)")
    assert data["write_error"] == (
        f"Could not write the results to {tmp_path / 'orders.results.csv'}: the disk is full.\n"
        "Nothing is lost: the ledger holds every answer. Rerun the same command to write the sheet again."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "--rows", "x"], 'Error: --rows: "x" is not a row number or a range; use Excel row numbers such as "2-40,45".'),
        (["status", "--every", "5"], "Error: --every only applies with --watch."),
        (["refill", "--out", "a.csv", "--in-place"], "Error: Choose --out FILE or --in-place, not both."),
    ],
)
def test_cli_usage_errors(tmp_path, args, message):
    sheet = id_sheet(tmp_path, ["1"])
    result = run(args[0], str(sheet), *args[1:])
    assert result.exit_code == 2
    assert result.stderr.strip() == message


def test_every_lifecycle_command_has_help():
    for name in ("status", "refill", "cancel"):
        result = bulkorders(name, "--help")
        assert result.exit_code == 0 and "--rows" in result.output and "--in-place" in result.output


# --- answers lost, orders twice ---------------------------------------------------------------


class LosingClient:
    """The sandbox client, except that refill and cancel answers never come back."""

    def __init__(self, inner: PanelClient) -> None:
        self.inner = inner

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def refills(self, ids):
        return [RefillResult(order=i, lost=True, detail="the connection was dropped") for i in ids]

    def cancel(self, ids):
        return [CancelResult(order=i, lost=True, detail="the connection was dropped") for i in ids]


def test_lost_refill_and_cancel_answers_say_what_to_do(tmp_path, client, io, ledger, clock):
    done = place(client, REFILL_AND_CANCEL, count=1)
    clock.now += 20
    pending = place(client, REFILL_AND_CANCEL, count=1)
    io.client = LosingClient(client)
    refilled = refill_sheet(id_sheet(tmp_path, done, "a.csv"), SheetOptions(), io, SERVICES)
    assert refilled.exit_code == ExitCode.ROWS_FAILED
    assert read_csv(refilled.output)[2]["error"] == (
        "refill: answer lost (the connection was dropped): a refill may or may not have been made; "
        "check the panel before asking again"
    )
    cancelled = cancel_sheet(id_sheet(tmp_path, pending, "b.csv"), SheetOptions(), io, SERVICES,
                             confirm=lambda plan: True)  # fmt: skip
    row = read_csv(cancelled.output)[2]
    assert row["cancel_result"] == "uncertain"
    assert row["error"] == (
        "cancel: answer lost (the connection was dropped): the order may or may not be cancelled; "
        "run status to see"
    )
    assert ledger.orders("sandbox", pending)[pending[0]].error == "the panel's answer was lost: check the panel, then ask again"


def test_an_order_in_two_rows_is_asked_once_and_written_twice(tmp_path, client, io, clock):
    ids = place(client, count=1)
    clock.now += 20
    sheet = id_sheet(tmp_path, [ids[0], ids[0]])
    report = status_sheet(sheet, SheetOptions(), io)
    assert (report.rows, report.orders, report.asked) == (2, 1, 1)
    rows = read_csv(report.output)
    assert rows[2]["status"] == rows[3]["status"] == "Completed"
    refilled = refill_sheet(report.output, SheetOptions(), io, SERVICES)
    assert (refilled.asked, refilled.succeeded) == (1, 1)
    rows = read_csv(refilled.output)
    assert rows[2]["refill_id"] == rows[3]["refill_id"] == "1"


class FlakyClient(LosingClient):
    """The sandbox client, except that the second status request finds the panel unreachable."""

    calls = 0

    def statuses(self, ids):
        self.calls += 1
        if self.calls == 2:
            raise PanelUnreachable("Cannot reach the panel at https://sandbox.invalid/api/v2 after 4 attempts.")
        return self.inner.statuses(ids)


def test_a_failed_round_does_not_stop_a_watch(tmp_path, client, io, clock, notes):
    ids = place(client, count=1)
    io.client = FlakyClient(client)
    report = status_sheet(id_sheet(tmp_path, ids), SheetOptions(), io, watch=True, every=6)
    assert report.rounds == 3 and report.exit_code == ExitCode.OK
    assert notes[1] == (
        "Round 2 failed: Cannot reach the panel at https://sandbox.invalid/api/v2 after 4 attempts. "
        "Next check in 6 s (Ctrl-C stops)."
    )
    assert read_csv(report.output)[2]["status"] in ("Completed", "Partial")


def test_a_failed_single_check_is_a_panel_failure(tmp_path, client, io):
    ids = place(client, count=1)
    flaky = FlakyClient(client)
    flaky.calls = 1
    io.client = flaky
    with pytest.raises(PanelUnreachable):
        status_sheet(id_sheet(tmp_path, ids), SheetOptions(), io)


# --- after submit -------------------------------------------------------------------------------


def test_status_refill_cancel_on_the_results_of_submit(tmp_path, client, io, ledger, clock):
    from bulkorders.catalog import Catalogue
    from bulkorders.submit.pipeline import SubmitIO, SubmitOptions, submit_sheet

    source = write_csv(tmp_path / "week.csv", ["link", "service", "quantity"], [
        ["https://example.com/s/1", 1001, 100],
        ["https://example.com/s/2", 1002, 200],
        ["https://example.com/s/3", 1001, 5],  # under the minimum: invalid, no order
        ["https://example.com/s/4", 1001, 300],
    ])  # fmt: skip
    catalogue = Catalogue(panel="sandbox", fetched_at=clock(), services=SERVICES)
    submit_io = SubmitIO(client=client, ledger=ledger, catalogue=catalogue, panel="sandbox",
                         confirm=lambda plan: True, clock=clock)  # fmt: skip
    placed = submit_sheet(source, SubmitOptions(), submit_io)
    results = placed.output
    assert results == tmp_path / "week.results.csv"
    clock.now += 1
    cancelled = cancel_sheet(results, SheetOptions(rows=parse_rows("5")), io, catalogue, confirm=lambda plan: True)
    assert cancelled.exit_code == ExitCode.OK and cancelled.output == results
    clock.now += 30
    report = status_sheet(results, SheetOptions(), io)
    assert report.exit_code == ExitCode.OK
    assert (report.rows, report.orders, report.without_order) == (4, 3, 1)
    rows = read_csv(results)
    assert [rows[r]["status"] for r in (2, 3, 4, 5)] == ["Completed", "Completed", "invalid", "Canceled"]
    assert rows[4]["error"].startswith("quantity")  # submit's reason, untouched
    assert rows[5]["charge"] == "0" and rows[5]["cancel_result"] == "requested"  # the panel's figure now
    refilled = refill_sheet(results, SheetOptions(), io, catalogue)
    assert (refilled.asked, refilled.succeeded, refilled.requests) == (1, 1, 1)
    assert refilled.left_out == {
        "not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill": 1,
        "not refillable: the order is Canceled; refill needs Completed or Partial": 1,
    }
    record = ledger.orders("sandbox", [rows[2]["order_id"]])[rows[2]["order_id"]]
    assert (record.campaign, record.excel_row, record.refill_id, record.status) == ("week", 2, "1", "Completed")


def test_cli_cancel_end_of_input_at_the_prompt_is_a_no(tmp_path, isolated_user_dirs):
    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 1, age=-3600)
    result = run("cancel", str(id_sheet(tmp_path, ids)), input="", obj=environment(terminal=True))
    assert result.exit_code == 3
    assert "Aborted" not in result.output
    # issue 12: declining is the user's own choice, not an error (this used to start "Error: ")
    assert "Nothing cancelled: the cancellation was not confirmed." in result.stderr.splitlines()
    assert "Error:" not in result.stderr


# --- regressions: the sheet as a view of the ledger, ids as spreadsheets write them -------------


def test_status_writes_what_the_ledger_knows_into_a_sheet_behind_it(tmp_path, client, io, ledger, clock):
    ids = place(client, count=3)
    clock.now += 20  # final
    status_sheet(id_sheet(tmp_path, ids, "first.csv"), SheetOptions(), io)
    records = ledger.orders("sandbox", ids)
    assert {r.status for r in records.values()} <= {"Completed", "Partial"}
    # An older copy: the ids, with empty status and charge cells.
    behind = write_csv(tmp_path / "old.csv", ["order_id", "status", "charge"], [[i, "", ""] for i in ids])
    out = tmp_path / "fresh.csv"
    report = status_sheet(behind, SheetOptions(out=out), io)
    assert (report.asked, report.requests, report.exit_code) == (0, 0, ExitCode.OK)
    assert report.output == out
    rows = read_csv(out)
    for number, order in zip((2, 3, 4), ids, strict=True):
        record = records[order]
        assert rows[number]["status"] == record.status
        assert rows[number]["charge"] == str(record.charge) == "0.09"
        assert rows[number]["currency"] == "USD"
        assert rows[number]["start_count"] == str(record.start_count)
        assert rows[number]["remains"] == str(record.remains)
        assert rows[number]["checked_at (UTC)"] == "2027-01-15 08:00:20"
    assert report.from_ledger == 3
    assert "3 rows brought up to date from the ledger." in summary_text(report)
    # Nothing differs any more: the default output is not written again, but --out always is.
    quiet = status_sheet(out, SheetOptions(), io)
    assert quiet.from_ledger == 0 and quiet.output is None
    again = status_sheet(out, SheetOptions(out=tmp_path / "copy.csv"), io)
    assert again.output == tmp_path / "copy.csv"
    assert read_csv(tmp_path / "copy.csv") == rows


def test_status_writes_the_refill_id_the_ledger_knows(tmp_path, client, io, clock):
    ids = place(client, count=1)
    clock.now += 20
    refill_sheet(id_sheet(tmp_path, ids, "a.csv"), SheetOptions(), io, SERVICES)
    clock.now += 3
    report = status_sheet(id_sheet(tmp_path, ids, "b.csv"), SheetOptions(), io)
    row = read_csv(report.output)[2]
    assert (row["refill_id"], row["refill_status"]) == ("1", "In progress")


def test_a_mistyped_refill_id_is_not_adopted_nor_asked_again(tmp_path, client, io, ledger, clock):
    ids = place(client, count=1)
    sheet = write_csv(tmp_path / "r.csv", ["order_id", "refill_id"], [[ids[0], "777"]])
    report = status_sheet(sheet, SheetOptions(), io, watch=True, every=4)
    assert report.rounds == 4
    assert report.requests == 5  # a status request a round; the refill asked about once
    assert report.refills_checked == 1
    row = read_csv(report.output)[2]
    assert row["error"] == "refill status: Refill not found"
    assert row["refill_id"] == "777" and row["refill_status"] == ""
    assert row["status"] in ("Completed", "Partial")
    assert ledger.orders("sandbox", ids)[ids[0]].refill_id is None
    # With the cell corrected (emptied), nothing is asked about a refill any more.
    fixed = write_csv(tmp_path / "fixed.csv", ["order_id", "refill_id"], [[ids[0], ""]])
    after = status_sheet(fixed, SheetOptions(), io)
    assert (after.requests, after.refills_checked, after.exit_code) == (0, 0, ExitCode.OK)


class TerseClient(LosingClient):
    """The sandbox client, except that status answers leave out currency and start_count."""

    def statuses(self, ids):
        from dataclasses import replace

        return {k: replace(v, currency=None, start_count=None) for k, v in self.inner.statuses(ids).items()}


def test_a_field_the_panel_leaves_out_keeps_its_cell(tmp_path, client, io, clock):
    ids = place(client, count=1)
    clock.now += 5
    sheet = write_csv(tmp_path / "t.csv", ["order_id", "currency", "start_count", "status"],
                      [[ids[0], "USD", "2338", "Pending"]])  # fmt: skip
    io.client = TerseClient(client)
    report = status_sheet(sheet, SheetOptions(), io)
    row = read_csv(report.output)[2]
    assert (row["status"], row["charge"], row["currency"], row["start_count"], row["remains"]) == (
        "In progress", "0.09", "USD", "2338", "63"
    )


def test_status_values_leave_out_what_the_answer_does_not_say():
    answer = OrderStatus(order="1", status="In progress", charge=Decimal("0.09"))
    assert status_values(answer, "T") == {
        "status": "In progress", "charge": Decimal("0.09"), "checked_at": "T", "error": None
    }  # fmt: skip


def test_ids_are_normalised_as_spreadsheets_write_them():
    from bulkorders.report.audit import _id_text

    for value in ("23,501", " 23501 ", "23501.0", 23501.0, "23 501", "23\u00a0501", Decimal("23501"), 23501):
        assert id_text(value) == "23501", value
    assert id_text("00123") == "00123" and id_text("23501.5") == "23501.5"
    assert id_text("  ") is None and id_text(None) is None
    assert id_text("1,2") == "1,2" and id_text("23501,23502") == "23501,23502"
    assert id_problem("order_id", "23501,23502") == (
        'order_id "23501,23502" cannot be sent to the panel: an id holds no commas or spaces; correct the cell'
    )
    assert id_problem("order_id", "23501") is None
    assert _id_text("23,501") == _id_text("23501.0") == "23501" and _id_text(None) == ""


def test_a_bad_order_id_cell_fails_its_row_only(tmp_path, client, io, clock):
    ids = place(client, count=3)
    assert ids == ["23501", "23502", "23503"]
    clock.now += 5
    sheet = write_csv(tmp_path / "ids.csv", ["order_id"], [["23,501"], ["23502.0"], ["23502,23503"], [" 23503 "]])
    report = status_sheet(sheet, SheetOptions(), io)
    assert report.exit_code == ExitCode.ROWS_FAILED
    assert (report.orders, report.asked, report.succeeded, report.without_order) == (3, 3, 3, 0)
    message = 'order_id "23502,23503" cannot be sent to the panel: an id holds no commas or spaces; correct the cell'
    assert [str(issue) for issue in report.failures] == [f"row 4, order_id: {message}"]
    rows = read_csv(report.output)
    assert [rows[r]["status"] for r in (2, 3, 4, 5)] == ["In progress", "In progress", "", "In progress"]
    assert [rows[r]["error"] for r in (2, 3, 4, 5)] == ["", "", message, ""]
    assert rows[2]["order_id"] == "23,501"  # the user's cell is left as it is


def test_a_bad_order_id_cell_does_not_crash_the_command_line(tmp_path, isolated_user_dirs):
    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 1, age=100)
    result = run("status", str(write_csv(tmp_path / "o.csv", ["order_id"], [[ids[0]], ["23,501,7"]])))
    assert result.exit_code == 1, result.output
    assert ('row 3, order_id: order_id "23,501,7" cannot be sent to the panel: an id holds no commas or '
            "spaces; correct the cell") in result.stderr  # fmt: skip
    assert "This is a bug" not in result.output


def test_an_answer_goes_only_into_the_rows_the_command_acted_on(tmp_path, client, io, clock):
    ids = place(client, REFILL_AND_CANCEL, count=1)
    clock.now += 20
    sheet = write_csv(tmp_path / "dup.csv", ["order_id", "service"], [[ids[0], 1001], [ids[0], 1002]])
    report = refill_sheet(sheet, SheetOptions(rows=parse_rows("2-3")), io, SERVICES)
    why = "not refillable: service 1002 (Instagram Likes [Fast]) does not allow refill"
    assert [str(issue) for issue in report.failures] == [f"row 3, order_id: {why}"]
    rows = read_csv(report.output)
    assert (rows[2]["refill_id"], rows[2]["error"]) == ("1", "")
    assert (rows[3]["refill_id"], rows[3]["error"]) == ("", why)


def test_a_bad_refill_id_cell_fails_its_row_and_the_status_still_lands(tmp_path, client, io, clock):
    ids = place(client, count=1)
    clock.now += 5
    sheet = write_csv(tmp_path / "r.csv", ["order_id", "refill_id"], [[ids[0], "1,2"]])
    report = status_sheet(sheet, SheetOptions(), io)
    message = 'refill_id "1,2" cannot be sent to the panel: an id holds no commas or spaces; correct the cell'
    assert [str(issue) for issue in report.failures] == [f"row 2, refill_id: {message}"]
    assert (report.requests, report.refills_checked, report.exit_code) == (1, 0, ExitCode.ROWS_FAILED)
    row = read_csv(report.output)[2]
    assert (row["status"], row["refill_id"], row["error"]) == ("In progress", "1,2", message)


def test_spend_is_what_the_balance_paid_canceled_and_refunded_cost_nothing():
    from bulkorders.lifecycle.plan import Target, spend

    targets = [
        Target(row=2, order_id="1", status="Completed", charge=Decimal("1.50"), currency="USD"),
        Target(row=3, order_id="2", status="Cancelled", charge=Decimal("0.90"), currency="USD"),
        Target(row=4, order_id="3", status="refunded", charge=Decimal("2"), currency="USD"),
        Target(row=5, order_id="4", status="Partial", charge=Decimal("0.45"), currency="USD"),
        Target(row=6, order_id="5", status="Fail", charge=Decimal("0.10"), currency="EUR"),
    ]
    assert spend(targets) == {"EUR": Decimal("0.10"), "USD": Decimal("1.95")}
    from bulkorders.lifecycle.outcome import LifecycleReport, summary_text

    report = LifecycleReport("status", Path("x.csv"), spend=spend(targets))
    assert "Spend (what the balance paid; canceled and refunded orders cost nothing): 0.10 EUR, 1.95 USD." in (
        summary_text(report).splitlines())


def test_cli_whole_sheet_cancel_says_on_each_skipped_row_why_and_groups_them(tmp_path, isolated_user_dirs):
    """Issue 12: each row skipped in this run says why (an earlier note replaced); the terminal
    groups them by reason with their rows; the JSON's left_out is a list, its keys identifiers."""
    ids = sandbox_orders(isolated_user_dirs, REFILL_AND_CANCEL, 1, age=-3600)
    kept = sandbox_orders(isolated_user_dirs, NO_CANCEL, 3, age=-3600)
    sheet = write_csv(tmp_path / "c.csv", ["order_id", "service", "error"],
                      [[ids[0], 1001, ""], [kept[0], 1003, ""], [kept[1], 1003, "refill: an earlier run's note"],
                       [kept[2], 1003, ""]])  # fmt: skip
    result = run("cancel", "--yes", str(sheet))
    assert result.exit_code == 0, result.output
    grouped = "3 rows not cancellable: service 1003 (Instagram Likes [Refill 60 days]) does not allow cancel, rows 3–5."
    assert grouped in result.stderr.splitlines()  # the plan, before confirming
    assert grouped in result.stdout.splitlines()  # the summary
    assert "Left out" not in result.output
    rows = read_csv(tmp_path / "c.results.csv")
    why = "not cancellable: service 1003 (Instagram Likes [Refill 60 days]) does not allow cancel"
    assert [rows[r]["error"] for r in (3, 4, 5)] == [why, why, why]  # row 4's earlier note replaced
    assert rows[2]["cancel_result"] == "requested"
    again = run("--json", "cancel", "--yes", str(tmp_path / "c.results.csv"))
    data = json.loads(again.stdout)
    assert {"reason": why, "count": 3, "rows": [3, 4, 5]} in data["left_out"]
    assert again.exit_code == 0, again.stderr
    assert read_csv(tmp_path / "c.results.csv")[3]["error"] == why


def test_left_out_lines_group_rows_by_reason():
    from bulkorders.lifecycle.outcome import left_out_lines

    pending = "not refillable: the order is Pending; refill needs Completed or Partial"
    final = "already final, not checked again (--all checks them too)"
    assert left_out_lines({pending: 4, final: 2}, {pending: [9, 2, 3, 4]}) == [
        "4 rows not refillable: the order is Pending; refill needs Completed or Partial, rows 2–4, 9.",
        "Left out: 2 rows: already final, not checked again (--all checks them too).",
    ]
    assert left_out_lines({pending: 1}, {pending: [7]}) == [
        "1 row not refillable: the order is Pending; refill needs Completed or Partial, row 7."
    ]


def test_wording_counts_and_nothing_is_lost_once():
    """Issue 12: "1 row" not "1 row(s)"; "Nothing is lost" said once."""
    from bulkorders.errors import WriteBackError
    from bulkorders.lifecycle.outcome import LifecycleReport, summary_text
    from bulkorders.lifecycle.run import _nothing_lost
    from bulkorders.sheets.write import NOTHING_LOST

    report = LifecycleReport("refill", Path("x.csv"), rows=1, orders=1, asked=1, succeeded=1, requests=1,
                             without_order=1, refills_checked=1)  # fmt: skip
    lines = summary_text(report).splitlines()
    assert lines[:3] == ["1 row, 1 order; 1 refill asked, 1 ok, 0 rows failed (1 request).",
                         "1 refill status checked.", "1 row without an order id was skipped."]  # fmt: skip
    written = WriteBackError(f"Could not write the results to x.csv: the disk is full. {NOTHING_LOST}")
    assert _nothing_lost(written.message) == ""
    assert _nothing_lost("Could not write the results to x.csv: the disk is full.").count("Nothing is lost") == 1
