"""Finance: spend by the sheet's own columns, statements, net of refunds, and the ledger's side of it.

Campaigns are placed, cancelled and refreshed with the CLI on the sandbox panel, whose
clock is injected (so orders end, and Partial ones are refunded, without waiting); the
figures the report shows are compared with the sandbox's own orders and balance.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from test_report import table  # a Summary block read back

from bulkorders.cli import cli
from bulkorders.ledger import Ledger, order_columns
from bulkorders.ledger.finance import MAX_COLUMNS, MAX_VALUE_CHARS, column_text
from bulkorders.panel import connect
from bulkorders.panel import sandbox as sandbox_package
from bulkorders.panel.sandbox.panel import DONE_SECONDS
from bulkorders.panel.sandbox.store import LiveSandbox
from bulkorders.panel.sandbox.transport import SandboxTransport
from bulkorders.report.spend import BLANK, SPEND_NOTE, net_spend, sheet_title

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z
ZERO = Decimal(0)

SPRING = (
    "link,service,quantity,Client,project\n"
    "https://instagram.com/a,1001,100,Acme,launch\n"
    "https://instagram.com/b,1002,250,Beta,launch\n"
    "https://instagram.com/c,1004,1000,Acme,brand\n"
    "https://instagram.com/d,1003,300,,brand\n"
)
SUMMER = (
    "link,service,quantity,client,project\n"
    "https://tiktok.com/@e,1005,100,Beta,summer\n"
    "https://tiktok.com/@f,1005,200,Beta,summer\n"
    "https://instagram.com/g,1001,400,Acme,summer\n"
    "https://instagram.com/h,1022,50, Acme ,summer\n"
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The sandbox panel of every CLI command runs on this clock."""
    now = Clock(T0)

    def transport(path, *, clock=None, **options):
        return SandboxTransport(path, clock=now, **options)

    monkeypatch.setattr(sandbox_package, "SandboxTransport", transport)
    return now


def cli_run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["--panel", "sandbox", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def sandbox(home: Path) -> LiveSandbox:
    return LiveSandbox(home / "data" / "bulkorders" / connect.SANDBOX_STATE_FILE)


def sandbox_spend(home: Path, now: float) -> dict[str, Decimal]:
    """link -> what the sandbox's balance paid for its order (cancels refunded, partials settled)."""
    state = sandbox(home).state(now)
    paid = {}
    for order in state.orders.values():
        status = order.status_at(now)
        paid[order.link] = ZERO if order.canceled is not None else (
            order.final_charge if status == "Partial" else order.charge
        )
    return paid


@pytest.fixture
def two_campaigns(tmp_path, clock, isolated_user_dirs):
    """spring and summer placed; one summer order cancelled; both refreshed once everything ended."""
    spring, summer = tmp_path / "spring.csv", tmp_path / "summer.csv"
    spring.write_text(SPRING, encoding="utf-8")
    summer.write_text(SUMMER, encoding="utf-8")
    cli_run("submit", str(spring), "--yes")
    cli_run("submit", str(summer), "--yes")
    cli_run("cancel", str(tmp_path / "summer.results.csv"), "--rows", "3", "--yes")
    clock.now += DONE_SECONDS + 1
    for name in ("spring", "summer"):
        cli_run("status", str(tmp_path / f"{name}.results.csv"))
    return tmp_path


def by_link(home: Path) -> dict[str, dict[str, str]]:
    """link -> client and project, as the sheets say."""
    found = {}
    for text in (SPRING, SUMMER):
        lines = text.strip().splitlines()
        header = [h.strip().lower() for h in lines[0].split(",")]
        for line in lines[1:]:
            cells = dict(zip(header, (c.strip() for c in line.split(","))))
            found[cells["link"]] = cells
    return found


def test_spend_by_client_over_two_campaigns_is_what_the_sandbox_charged(two_campaigns, clock, isolated_user_dirs):
    out = two_campaigns / "audit.xlsx"
    result = cli_run("--json", "report", "--by", "client", "--by", "project", "--out", str(out))
    figures = json.loads(result.stdout)
    paid = sandbox_spend(isolated_user_dirs, clock.now)
    sheets = by_link(isolated_user_dirs)
    expected: dict[str, Decimal] = {}
    for link, amount in paid.items():
        client = sheets[link]["client"] or BLANK
        expected[client] = expected.get(client, ZERO) + amount
    assert set(expected) == {"Acme", "Beta", BLANK}
    got = {item["client"]: Decimal(item["spend"]["USD"]) for item in figures["by_column"]["client"]}
    assert got == expected
    # the whole spend is what left the sandbox's balance, cancels and Partial refunds included
    state = sandbox(isolated_user_dirs).state(clock.now)
    assert sum(got.values()) == Decimal("1000.00") - state.balance == Decimal(figures["spend"]["USD"])
    assert any(o.partial for o in state.orders.values()), "the fixture should have a Partial order"
    assert sum(1 for o in state.orders.values() if o.canceled) == 1

    summary = openpyxl.load_workbook(out)["Summary"]
    rows = table(summary, "By client")
    assert {r["client"]: (r["orders"], Decimal(repr(r["spend (USD)"]))) for r in rows} == {
        client: (sum(1 for link in paid if (sheets[link]["client"] or BLANK) == client), amount)
        for client, amount in expected.items()
    }
    assert {r["project"] for r in table(summary, "By project")} == {"launch", "brand", "summer"}
    assert [c.title.tx.rich.p[0].r[0].t for c in summary._charts][-2:] == [
        "Spend by client (USD)", "Spend by project (USD)",
    ]  # fmt: skip
    notes = [row for row in summary.iter_rows(values_only=True) if row[0] == "Spend"]
    assert notes == [("Spend", SPEND_NOTE, *[None] * (len(notes[0]) - 2))]


def test_statements_one_sheet_per_client_with_its_orders_and_total(two_campaigns, clock, isolated_user_dirs):
    out = two_campaigns / "audit.xlsx"
    cli_run("report", "--by", "client", "--statements", "--out", str(out))
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Orders", "Problems", "History", "Reconciliation", "(blank)", "Acme", "Beta"]
    paid = sandbox_spend(isolated_user_dirs, clock.now)
    sheets = by_link(isolated_user_dirs)
    for client in ("Acme", "Beta", BLANK):
        rows = list(wb[client].iter_rows(values_only=True))
        header = rows[0]
        assert header[:8] == ("order id", "campaign", "submitted at (UTC)", "link", "service id",
                              "service name", "quantity", "status")  # fmt: skip
        body = [dict(zip(header, r)) for r in rows[1:-1]]
        mine = {link for link in paid if (sheets[link]["client"] or BLANK) == client}
        assert {r["link"] for r in body} == mine
        for r in body:
            assert Decimal(repr(r["spend (USD)"])) == paid[r["link"]]
            assert r["quantity"] == int(sheets[r["link"]]["quantity"])
        total = dict(zip(header, rows[-1]))
        assert total["order id"] == f"Total client {client}"
        assert Decimal(repr(total["spend (USD)"])) == sum((paid[link] for link in mine), ZERO)
    statuses = [r for r in wb["Beta"].iter_rows(min_row=2, values_only=True) if r[7] == "Canceled"]
    assert len(statuses) == 1 and statuses[0][9] == 0  # refunded: costs nothing, whatever its charge


def test_the_ledger_keeps_the_sheets_other_columns_as_capped_text(tmp_path, clock):
    wide = ",".join(f"note{i}" for i in range(MAX_COLUMNS + 5))
    sheet = tmp_path / "wide.csv"
    sheet.write_text(
        f"link,service,quantity,{wide}\nhttps://instagram.com/a,1001,100,{'x' * 500}," + ",".join(
            str(i) for i in range(1, MAX_COLUMNS + 5)) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    cli_run("submit", str(sheet), "--yes")
    with Ledger.open(tmp_path / "home" / "data" / "bulkorders" / "ledger.sqlite") as ledger:
        kept = order_columns(ledger)
    (cells,) = kept.values()
    assert len(cells) == MAX_COLUMNS
    assert cells["note0"] == "x" * MAX_VALUE_CHARS
    assert cells["note1"] == "1" and f"note{MAX_COLUMNS}" not in cells


def test_by_a_column_no_row_has_is_a_usage_error(two_campaigns):
    result = cli_run("report", "--by", "region", "--out", str(two_campaigns / "a.xlsx"), code=2)
    assert result.output.strip().endswith(
        "--by region: no order in the report has a sheet column of that name. "
        "The columns the ledger kept are: Client, project."
    )
    result = cli_run("report", "--statements", "--out", str(two_campaigns / "a.xlsx"), code=2)
    assert "--statements makes a sheet per value of a --by column: add --by COLUMN" in result.output
    assert not (two_campaigns / "a.xlsx").exists()


def test_net_spend_rules():
    assert net_spend("Canceled", Decimal("1.5")) == ZERO
    assert net_spend(" cancelled ", Decimal("1.5")) == ZERO
    assert net_spend("Refunded", Decimal("1.5")) == ZERO
    assert net_spend("Partial", Decimal("0.75")) == Decimal("0.75")
    assert net_spend(None, Decimal("0.718")) == Decimal("0.718")
    assert net_spend("Completed", None) == ZERO


def test_column_text_and_sheet_titles():
    from datetime import date, datetime

    assert column_text(12.0) == "12" and column_text(True) == "TRUE" and column_text("  ") is None
    assert column_text(datetime(2025, 1, 2)) == "2025-01-02" and column_text(date(2025, 1, 2)) == "2025-01-02"
    taken = {"Summary", "Orders"}
    assert sheet_title("orders", taken) == "orders (2)"
    assert sheet_title("a/b:c", taken) == "a-b-c"
    assert len(sheet_title("x" * 40, taken)) == 31


# --- reconciliation with the panel's balance ------------------------------------------------


def test_reconciliation_finds_the_uncertain_orders_the_sandbox_created(tmp_path, monkeypatch):
    """--lose-answers: the panel creates orders whose answers never come back. The balance
    falls by more than the ledger knows; the estimates of that run's uncertain orders add up
    to the difference, so the report says they most likely exist. --resend-uncertain then
    orders them again (they are duplicates on the panel), and that run balances."""
    from bulkorders.panel.sandbox.server import Faults, SandboxServer

    monkeypatch.setenv("BULKORDERS_API_KEY", "finance-test-key")
    sheet = tmp_path / "lossy.csv"
    sheet.write_text(
        "link,service\n" + "".join(f"https://instagram.com/lossy{i},1009\n" for i in range(12)),
        encoding="utf-8",
    )
    state, ledger_path = tmp_path / "sb.jsonl", tmp_path / "ledger.sqlite"
    clock = Clock(T0)

    def submit(server, *extra: str):
        args = ["--panel", server.url, "--ledger", str(ledger_path), "submit", str(sheet), "--yes",
                "--concurrency", "1", *extra]  # fmt: skip
        return CliRunner().invoke(cli, args, catch_exceptions=False)

    with SandboxServer(state, faults=Faults(lose_answers=0.25, seed=3), clock=clock) as server:
        first = submit(server)
        port = server.httpd.server_address[1]  # the same panel (URL) for the rerun
    with Ledger.open(ledger_path) as ledger:
        rows = ledger.rows(ledger.find_campaign("lossy"))
    lost = [row for row in rows if row.state == "uncertain"]
    live = LiveSandbox(state)
    created = len(live.state().orders)
    live.close()
    placed = sum(1 for row in rows if row.state == "placed")
    assert first.exit_code == 1, first.output
    assert lost and created == placed + len(lost)  # every lost answer was an order made
    each = Decimal("15.00")  # one package; packages never end Partial, so no refunds muddle it
    warnings = [line for line in first.stderr.splitlines() if line.startswith("warning: the panel's balance")]
    assert len(warnings) == 1
    assert f"changed by -{each * created} USD" in warnings[0]
    assert f"while the ledger's orders cost {each * placed} USD" in warnings[0]
    assert f"{len(lost)} of the {len(lost)} uncertain order(s) sent in this interval most likely exist" in warnings[0]

    clock.now += DONE_SECONDS + 1  # the lost orders are done: the panel takes their links again
    with SandboxServer(state, port=port, clock=clock) as server:
        second = submit(server, "--resend-uncertain")
    assert second.exit_code == 0, second.output
    assert "warning: the panel's balance" not in second.stderr

    out = tmp_path / "audit.xlsx"
    report = CliRunner().invoke(cli, ["--ledger", str(ledger_path), "--json", "report", "--out", str(out)])
    assert report.exit_code == 0, report.output
    items = json.loads(report.stdout)["reconciliation"]
    n = len(lost)  # 3 with this seed: runs of 12 rows, 9 answered
    assert [(i["balance_change"], i["ledger_spend"], i["difference"], i["likely_exist"]) for i in items] == [
        (f"-{each * 12}", str(each * (12 - n)), str(each * n), n),  # the faulty run
        ("0.00", "0.00", "0.00", None),  # between the runs
        (f"-{each * n}", str(each * n), "0.00", None),  # the resend: balanced
    ]
    assert items[0]["uncertain"] == len(lost) and items[0]["likely_exist"] == len(lost)
    live = LiveSandbox(state)
    sandbox_state = live.state()
    live.close()
    spent = Decimal("1000.00") - sandbox_state.balance
    ledger_spend = Decimal(json.loads(report.stdout)["spend"]["USD"])
    assert len(sandbox_state.orders) == 12 + len(lost)  # the lost ones, and their resent twins
    assert spent == ledger_spend + sum((Decimal(i["difference"]) for i in items), ZERO) == each * (12 + len(lost))
    headline = table(openpyxl.load_workbook(out)["Summary"], "Balance reconciliation (see Reconciliation)")
    assert headline == [{"currency": "USD", "intervals": 3, "not balanced": 1, "difference": float(each * n)}]
    sheet_rows = list(openpyxl.load_workbook(out)["Reconciliation"].iter_rows(values_only=True))
    header = sheet_rows[0]
    first_interval = dict(zip(header, sheet_rows[1]))
    assert first_interval["from reading"] == "submit before" and first_interval["to reading"] == "submit after"
    assert first_interval["most likely exist"] == len(lost)
    assert first_interval["what it means"].startswith(f"{len(lost)} of the {len(lost)} uncertain order(s)")


def test_status_warns_when_someone_else_spent_and_balance_keeps_its_reading(tmp_path, clock, isolated_user_dirs):
    from bulkorders.ledger import balance_readings
    from bulkorders.panel.client import PanelClient
    from bulkorders.settings import SANDBOX_URL

    sheet = tmp_path / "spring.csv"
    sheet.write_text(SPRING, encoding="utf-8")
    placed = cli_run("submit", str(sheet), "--yes")
    assert "warning: the panel's balance" not in placed.stderr  # the run balances
    state = isolated_user_dirs / "data" / "bulkorders" / connect.SANDBOX_STATE_FILE
    with PanelClient(SANDBOX_URL, "sandbox", transport=SandboxTransport(state, clock=clock)) as other:
        assert other.add({"service": "1001", "link": "https://instagram.com/elsewhere", "quantity": "1000"}).order
    checked = cli_run("status", str(tmp_path / "spring.results.csv"))
    (line,) = [x for x in checked.stderr.splitlines() if x.startswith("warning: the panel's balance")]
    assert line.startswith("warning: the panel's balance changed by -0.90 USD since ")
    assert line.endswith(
        "(submit after), while the ledger's orders cost 0.00 USD. The panel took 0.90 USD more than the "
        "ledger's orders cost, and no uncertain order of this interval adds up to it: another user of the "
        "account, an order placed elsewhere, or a panel price change."
    )
    shown = cli_run("balance")
    with Ledger.open(isolated_user_dirs / "data" / "bulkorders" / "ledger.sqlite") as ledger:
        readings = balance_readings(ledger)
    assert [r.command for r in readings] == ["submit before", "submit after", "status", "balance"]
    assert shown.stdout.strip() == f"{readings[-1].amount} USD"
    assert readings[0].amount - readings[1].amount == readings[1].ledger_spend - readings[0].ledger_spend


def test_matching_uncertain_orders_to_a_difference():
    from bulkorders.ledger import Interval
    from bulkorders.ledger.finance import BalanceReading
    from bulkorders.ledger.reconcile import _matched

    def interval(drop: str, spend: str, estimates: list[str]) -> Interval:
        start = BalanceReading("p", "2025-01-01T00:00:00Z", Decimal("100"), "USD", "submit before")
        end = BalanceReading("p", "2025-01-01T00:01:00Z", Decimal("100") - Decimal(drop), "USD", "submit after")
        rows = tuple({"row_id": i, "estimate": e} for i, e in enumerate(estimates))
        return _matched(Interval(start, end, Decimal(spend), rows, None))

    assert interval("7.78", "7.16", ["0.31", "0.31", "0.31"]).likely == 2  # the faulty run
    assert interval("1.00", "0.40", ["0.25", "0.35", "0.10"]).likely == 2  # 0.25 + 0.35
    nothing = interval("1.00", "0.40", ["0.25", "0.25"])
    assert nothing.likely is None and "another user of the account" in nothing.explanation()
    topped = interval("-50", "1.00", ["0.25"])
    assert topped.difference == Decimal("-51.00") and topped.explanation().startswith(
        "The balance fell 51.00 USD less than the ledger's orders cost: a top-up"
    )
    assert interval("1", "1", []).explanation() == "Balanced: the ledger accounts for the whole change."


def test_a_refund_the_ledger_learns_of_later_than_the_balance_is_no_warning():
    """Quick start, then `balance` an hour later (a Partial refund already in it), then `status`
    (the ledger learns of the refund): the two intervals cancel, so status warns of nothing."""
    from bulkorders.ledger import Interval
    from bulkorders.ledger.finance import BalanceReading
    from bulkorders.ledger.reconcile import _late_refunds, balance_warning

    def reading(minute: int, amount: str, spend: str) -> BalanceReading:
        return BalanceReading("p", f"2025-01-01T00:{minute:02}:00Z", Decimal(amount), "USD", "x", None, [], Decimal(spend))

    def between(start: BalanceReading, end: BalanceReading) -> Interval:
        return Interval(start, end, end.ledger_spend - start.ledger_spend, (), None)

    after, shown, status, later = (reading(1, "961.853", "38.147"), reading(2, "961.986", "38.147"),
                                   reading(3, "961.986", "38.014"), reading(4, "961.986", "38.147"))  # fmt: skip
    marked = _late_refunds([between(after, shown), between(shown, status), between(status, later)])
    assert [(i.difference, i.late) for i in marked] == [
        (Decimal("-0.133"), False), (Decimal("0.133"), True), (Decimal("-0.133"), False),
    ]  # the third does not cancel against a difference settled already
    assert balance_warning(marked[1]) is None
    assert marked[1].explanation() == (
        "The ledger learned in this interval of 0.133 USD the panel had refunded or charged before it "
        "began (a status read since): with the interval(s) just before, it accounts for the whole change."
    )
    assert balance_warning(marked[2]) is not None


def test_by_client_merges_spellings_that_differ_in_case_and_spaces(tmp_path, clock, isolated_user_dirs):
    sheet = tmp_path / "mixed.csv"
    sheet.write_text(
        "link,service,quantity,client\n"
        "https://instagram.com/m1,1001,100,acme \n"
        "https://instagram.com/m2,1001,100,Acme\n"
        "https://instagram.com/m3,1001,100, ACME\n"
        "https://instagram.com/m4,1001,100,Acme\n"
        "https://instagram.com/m5,1002,200,Beta  Co\n"
        "https://instagram.com/m6,1002,200,beta co\n",
        encoding="utf-8",
    )
    assert cli_run("submit", str(sheet), "--yes").exit_code == 0
    result = cli_run("--json", "report", "--by", "client", "--out", str(tmp_path / "audit.xlsx"))
    assert result.exit_code == 0, result.output
    got = {item["client"]: item["orders"] for item in json.loads(result.stdout)["by_column"]["client"]}
    assert got == {"Acme": 4, "Beta  Co": 2}  # the most common spelling; a tie: the first seen
