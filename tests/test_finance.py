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

    def transport(path, *, clock=None, key=None):
        return SandboxTransport(path, clock=now, key=key)

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
    assert wb.sheetnames == ["Summary", "Orders", "Problems", "History", "(blank)", "Acme", "Beta"]
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
