"""`report`: the audit workbook from a ledger of orders placed and followed on the sandbox.

The ledger is built the way submit/status/refill/cancel build it: the sandbox panel (with
an injected clock, so statuses progress without waiting) answers through the real client,
and every answer is recorded with the ledger API. The workbook is read back with openpyxl.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from conftest import BOTH_ENGINES, FakeClock, bulkorders, planned_rows, sandbox_client, submit

from bulkorders.catalog import load_catalogue
from bulkorders.clock import utc_now_iso
from bulkorders.ledger.location import LedgerLocation
from bulkorders.ledger.store import Ledger, PlannedRow
from bulkorders.panel.client import PanelClient
from bulkorders.panel.sandbox.panel import CURRENCY, DONE_SECONDS
from bulkorders.report.layout import UNCERTAIN_ADVICE
from bulkorders.report.xlsx import MONEY_FORMAT
from bulkorders.settings import Settings

DAY1 = 1_764_000_000.0  # 2025-11-24T16:00:00Z
DAY2 = DAY1 + 86_400
PANEL = "sandbox"


@dataclass
class Built:
    ledger_path: Path
    charges: dict[str, Decimal]  # order id -> latest charge the panel gave
    statuses: dict[str, str]
    campaigns: dict[str, list[str]]  # campaign -> order ids
    observations: int


def _place(ledger: Ledger, client: PanelClient, clock: FakeClock, name: str, rows: list[tuple[str, str, str]]):
    """What submit does: record intent, send, record the outcome. Returns placed order ids."""
    campaign = ledger.campaign(name, PANEL, Path(f"{name}.xlsx"))
    payloads = [{"service": s, "link": link, "quantity": q} for link, s, q in rows]
    placed = []
    for row in ledger.sync_rows(campaign, planned_rows(payloads, estimate=Decimal("0.5"))):
        at = utc_now_iso(clock)
        ledger.mark_sending([row.id], at)
        result = client.add(row.payload)
        if result.order:
            ledger.mark_placed(row.id, result.order, row.estimate, CURRENCY, at)
            placed.append(result.order)
        else:
            ledger.mark_rejected(row.id, result.error or "", at)
    return campaign, placed


@pytest.fixture
def built(tmp_path) -> Built:
    """Two campaigns on two days: placed, rejected, uncertain, cancelled, partial, refilled."""
    clock = FakeClock(DAY1)
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path, clock=clock)
    client = sandbox_client(tmp_path / "sb.jsonl", clock=clock)
    load_catalogue(Settings(panel_spec=PANEL), client, clock=clock)  # the cache the report reads names from
    spring, spring_ids = _place(ledger, client, clock, "spring", [
        ("https://instagram.com/a", "1001", "100"),
        ("https://instagram.com/b", "1002", "250"),
        ("https://instagram.com/c", "1004", "1000"),
        ("https://instagram.com/d", "1001", "5"),  # below the minimum: rejected
        ("https://instagram.com/e", "9999", "100"),  # no such service: rejected
        ("https://instagram.com/f", "1022", "700"),
        ("https://instagram.com/g", "1003", "300"),
        ("https://instagram.com/h", "1001", "40"),
    ])  # fmt: skip
    lost = ledger.sync_rows(spring, [PlannedRow("lost-row", 12, "1002", "https://instagram.com/x",
                                                {"service": "1002", "link": "https://instagram.com/x",
                                                 "quantity": "60"}, Decimal("0.015"))])[0]  # fmt: skip
    ledger.mark_sending([lost.id], utc_now_iso(clock))
    ledger.mark_uncertain(lost.id, "the connection dropped after the request was sent", utc_now_iso(clock))
    clock.now += DONE_SECONDS + 1
    ledger.record_statuses(PANEL, list(client.statuses(spring_ids).values()), utc_now_iso(clock))
    refillable = spring_ids[0]  # 1001 allows refill, and it is Completed by now
    ledger.record_refills(PANEL, client.refills([refillable]), utc_now_iso(clock))

    clock.now = DAY2
    _, summer_ids = _place(ledger, client, clock, "summer", [
        ("https://tiktok.com/@a", "1005", "100"),
        ("https://tiktok.com/@b", "1005", "200"),
        ("https://instagram.com/k", "1002", "=HYPERLINK(\"x\")"),  # rejected: not a number
    ])  # fmt: skip
    ledger.record_cancels(PANEL, client.cancel([summer_ids[1]]), utc_now_iso(clock))
    clock.now += 1
    final = client.statuses(spring_ids + summer_ids)
    ledger.record_statuses(PANEL, list(final.values()), utc_now_iso(clock))
    ledger.close()
    client.close()
    with Ledger.open(path) as again:
        observations = len(again.observations())
    return Built(
        ledger_path=path,
        charges={i: s.charge for i, s in final.items()},
        statuses={i: s.status for i, s in final.items()},
        campaigns={"spring": spring_ids, "summer": summer_ids},
        observations=observations,
    )


def run(built: Built, *args: str, panel: str | None = None):
    options = ["--ledger", str(built.ledger_path)] + (["--panel", panel] if panel else [])
    return bulkorders(*options, *args)


def table(ws, title: str) -> list[dict]:
    """A Summary block read back: the rows under its title's header row, as dicts."""
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == title) + 1
    header = [h for h in rows[start] if h is not None]
    found = []
    for row in rows[start + 1 :]:
        if row[0] is None:
            break
        found.append(dict(zip(header, row)))
    return found


def records(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def exact(value: float) -> Decimal:
    """A money cell as the Decimal it was written from (Excel keeps ~15 digits)."""
    return Decimal(repr(value))


def test_workbook_has_every_sheet_with_totals_counts_and_charts(built, tmp_path):
    out = tmp_path / "audit.xlsx"
    result = run(built, "report", "--out", str(out))
    assert result.exit_code == 0, result.output
    total = sum(built.charges.values(), Decimal(0))
    placed = len(built.charges)
    cancelled = sum(1 for s in built.statuses.values() if s == "Canceled")
    assert cancelled == 1 and "Partial" in built.statuses.values()
    head, spend = result.stdout.rsplit("; spend ", 1)
    assert head == (
        f"Wrote {out}: {placed} orders placed, 3 rejected, 1 uncertain, {cancelled} cancelled or refunded"
    )
    assert spend.endswith(" USD.\n") and Decimal(spend.split()[0]) == total
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Orders", "Problems", "History", "Reconciliation"]

    orders = records(wb["Orders"])
    assert len(orders) == placed
    assert {o["order id"] for o in orders} == set(built.charges)
    assert sum(exact(o["charge (USD)"]) for o in orders) == total
    assert {o["order id"]: o["status"] for o in orders} == built.statuses
    first = next(o for o in orders if o["order id"] == built.campaigns["spring"][0])
    assert first["service name"] == "Instagram Followers [Real, 30-day refill]"
    assert first["campaign"] == "spring" and first["excel row"] == 2 and first["quantity"] == 100
    assert first["refill id"] and isinstance(first["submitted at (UTC)"], datetime)
    assert first["submitted at (UTC)"] == datetime(2025, 11, 24, 16, 0, 0)

    summary = wb["Summary"]
    assert table(summary, "Orders") == [
        {"outcome": "orders placed", "count": placed},
        {"outcome": "rows rejected by the panel", "count": 3},
        {"outcome": "rows uncertain (answer lost)", "count": 1},
        {"outcome": "orders cancelled or refunded", "count": cancelled},
    ]
    by_currency = table(summary, "Spend by currency (net of cancels and refunds)")
    assert [(r["currency"], r["orders"], exact(r["spend"])) for r in by_currency] == [("USD", placed, total)]
    by_status = {r["status"]: r["orders"] for r in table(summary, "By status")}
    assert by_status == dict(Counter(built.statuses.values()))
    by_campaign = table(summary, "By campaign")
    assert {r["campaign"]: (r["orders"], exact(r["spend (USD)"])) for r in by_campaign} == {
        name: (len(ids), sum((built.charges[i] for i in ids), Decimal(0)))
        for name, ids in built.campaigns.items()
    }
    by_service = table(summary, "By service")
    assert sum(exact(r["spend (USD)"]) for r in by_service) == total
    assert {r["service id"]: r["category"] for r in by_service}["1005"] == "TikTok"
    by_day = table(summary, "By day")
    assert [(r["day (UTC)"], r["orders"]) for r in by_day] == [
        (datetime(2025, 11, 24), len(built.campaigns["spring"])),
        (datetime(2025, 11, 25), len(built.campaigns["summer"])),
    ]

    problems = records(wb["Problems"])
    assert [(p["campaign"], p["state"]) for p in problems] == [
        ("spring", "rejected"), ("spring", "rejected"), ("spring", "uncertain"), ("summer", "rejected"),
    ]
    assert problems[0]["message"] == "Quantity less than minimal 10"
    assert problems[1]["message"] == "Incorrect service ID"
    assert problems[2]["what to do"] == UNCERTAIN_ADVICE
    assert problems[2]["message"] == "the connection dropped after the request was sent"

    history = records(wb["History"])
    assert len(history) == built.observations
    assert Counter(h["observation"] for h in history) == {
        "status": 2 * len(built.campaigns["spring"]) + len(built.charges) - len(built.campaigns["spring"]),
        "refill asked": 1, "cancel asked": 1,
    }  # fmt: skip
    assert all(isinstance(h["time (UTC)"], datetime) for h in history)

    with zipfile.ZipFile(out) as xlsx:
        charts = [n for n in xlsx.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) >= 2
        kinds = "".join(xlsx.read(n).decode() for n in charts)
        assert "<barChart>" in kinds and "<pieChart>" in kinds


def test_presentation_is_excel_native(built, tmp_path):
    out = tmp_path / "audit.xlsx"
    assert run(built, "report", "--out", str(out)).exit_code == 0
    wb = openpyxl.load_workbook(out)
    for name, last in (("Orders", "T"), ("Problems", "L"), ("History", "M")):  # Orders: 20 columns
        ws = wb[name]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}"
        assert ws["A1"].font.bold and ws["A1"].fill.fgColor.rgb.endswith("1F4E78")
        assert all(ws.column_dimensions[c].width > 8 for c in "ABC")
    orders = wb["Orders"]
    assert orders["H1"].value == "charge (USD)" and orders["H2"].number_format == MONEY_FORMAT
    assert orders["Q1"].value == "submitted at (UTC)" and orders["Q2"].is_date
    assert orders.column_dimensions["D"].width >= len("https://instagram.com/a")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            assert not any(cell.data_type == "f" for cell in row), f"a formula in {ws.title}"


def test_campaign_and_day_filters_narrow(built, tmp_path):
    out = tmp_path / "audit.xlsx"
    result = run(built, "--json", "report", "--campaign", "summer", "--out", str(out))
    assert result.exit_code == 0
    figures = json.loads(result.stdout)
    assert figures["orders"]["placed"] == len(built.campaigns["summer"])
    assert figures["orders"]["rejected"] == 1 and figures["orders"]["uncertain"] == 0
    assert [c["campaign"] for c in figures["by_campaign"]] == ["summer"]
    orders = records(openpyxl.load_workbook(out)["Orders"])
    assert {o["order id"] for o in orders} == set(built.campaigns["summer"])

    result = run(built, "--json", "report", "--until", "2025-11-24", "--out", str(out))
    figures = json.loads(result.stdout)
    assert figures["orders"]["placed"] == len(built.campaigns["spring"])
    assert figures["filters"]["until"] == "2025-11-24"
    result = run(built, "--json", "report", "--since", "2025-11-25", "--until", "2025-11-25",
                 "--out", str(out))
    assert [d["day"] for d in json.loads(result.stdout)["by_day"]] == ["2025-11-25"]


def test_a_sheet_narrows_to_its_orders(built, tmp_path):
    chosen = built.campaigns["spring"][:2]
    sheet = tmp_path / "spring.results.csv"
    sheet.write_text(
        "link,service,quantity,order_id,status\n"
        + "".join(f"https://x/{i},1001,100,{order},Completed\n" for i, order in enumerate(chosen)),
        encoding="utf-8",
    )
    out = tmp_path / "audit.xlsx"
    result = run(built, "--json", "report", str(sheet), "--out", str(out))
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["orders"]["placed"] == 2
    assert Decimal(figures["spend"]["USD"]) == sum((built.charges[i] for i in chosen), Decimal(0))
    assert figures["orders"]["rejected"] == 2  # the problem rows of the sheet's campaign only
    assert {o["order id"] for o in records(openpyxl.load_workbook(out)["Orders"])} == set(chosen)


def test_json_prints_the_summary_figures(built, tmp_path):
    out = tmp_path / "audit.xlsx"
    result = run(built, "--json", "report", "--out", str(out))
    assert result.exit_code == 0
    figures = json.loads(result.stdout)
    total = sum(built.charges.values(), Decimal(0))
    assert list(figures["spend"]) == ["USD"] and Decimal(figures["spend"]["USD"]) == total
    assert figures["orders"] == {
        "placed": len(built.charges), "rejected": 3, "uncertain": 1, "cancelled": 1,
    }  # fmt: skip
    assert {s["status"]: s["orders"] for s in figures["by_status"]} == dict(Counter(built.statuses.values()))
    service = next(s for s in figures["by_service"] if s["service"] == "1005")
    assert service["service_name"] == "TikTok Followers [Refill 30 days]"
    assert Decimal(service["spend"]["USD"]) == sum(
        (built.charges[i] for i in built.campaigns["summer"]), Decimal(0)
    )
    assert figures["out"] == str(out)
    assert result.stderr.startswith(f"Wrote {out}: ")


def test_empty_selection_says_so_and_writes_nothing(built, tmp_path):
    out = tmp_path / "audit.xlsx"
    result = run(built, "report", "--campaign", "autumn", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Nothing to report: the ledger {built.ledger_path} has no orders or problem rows "
        "for campaign autumn. No campaign named autumn; the ledger has: spring, summer. "
        "No workbook was written.\n"
    )
    assert not out.exists()
    result = run(built, "report", "--since", "2030-01-01", "--out", str(out), panel="other")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Nothing to report: the ledger {built.ledger_path} has no orders or problem rows "
        "for panel other, placed on or after 2030-01-01. No workbook was written.\n"
    )
    assert not out.exists()


def test_no_ledger_yet(tmp_path):
    missing = tmp_path / "none.sqlite"
    result = bulkorders("--ledger", str(missing), "report", "--out", str(tmp_path / "a.xlsx"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Nothing to report: there is no ledger at {missing} yet (submit creates it), or "
        "choose one with --ledger. No workbook was written.\n"
    )
    assert not missing.exists()


def test_the_report_pipeline_needs_no_command_line(built, tmp_path):
    from bulkorders.errors import UsageError
    from bulkorders.report import ReportFilters, ReportIO, report_workbook

    opened: list[Ledger] = []

    def open_ledger() -> Ledger:
        opened.append(Ledger.open(built.ledger_path))
        return opened[-1]

    warnings: list[str] = []
    io = ReportIO(ledger=LedgerLocation.parse(built.ledger_path), open_ledger=open_ledger, cache_dir=tmp_path / "no-cache",
                  warn=warnings.append)  # fmt: skip
    with pytest.raises(UsageError):
        report_workbook(tmp_path / "audit.csv", ReportFilters(), io)
    assert opened == []  # refused before the ledger is read
    out = tmp_path / "audit.xlsx"
    audit = report_workbook(out, ReportFilters(campaigns=("spring",)), io)
    opened[0].close()
    assert warnings == [
        "no cached catalogue of panel sandbox: service names and categories are blank. "
        "Run `bulkorders --panel sandbox services` once to fill them in."
    ]
    orders = openpyxl.load_workbook(out)["Orders"]
    assert sorted(str(orders.cell(row, 1).value) for row in range(2, orders.max_row + 1)) == sorted(
        built.campaigns["spring"]
    )
    assert audit.uncatalogued == ["sandbox"]


def test_usage_errors(built, tmp_path):
    out = str(tmp_path / "a.xlsx")
    result = run(built, "report", "--since", "2025-11-25", "--until", "2025-11-24", "--out", out)
    assert result.exit_code == 2
    assert result.stderr == "Error: --since 2025-11-25 is after --until 2025-11-24: nothing can match.\n"
    result = run(built, "report", "--out", str(tmp_path / "a.csv"))
    assert result.exit_code == 2
    assert "name it *.xlsx" in result.stderr
    result = run(built, "report", "--since", "24/11/2025", "--out", str(tmp_path / "a.xlsx"))
    assert result.exit_code == 2


def test_money_is_summed_exactly_and_text_stays_text(tmp_path):
    """0.1 + 0.2 is 0.3 (not 0.30000000000000004); a link that looks like a formula stays text."""
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        campaign = ledger.campaign("exact", PANEL)
        links = ["=HYPERLINK(\"http://evil\")", "https://x/2", "https://x/3"]
        planned = [
            PlannedRow(f"id{i}", i + 2, "1001", link, {"service": "1001", "link": link, "quantity": "10"},
                       Decimal("0.1"))
            for i, link in enumerate(links)
        ]  # fmt: skip
        for row, charge in zip(ledger.sync_rows(campaign, planned), ("0.1", "0.2", "0.000105")):
            ledger.mark_sending([row.id], "2025-11-24T10:00:00Z")
            ledger.mark_placed(row.id, f"9{row.id}", Decimal(charge), "USD", "2025-11-24T10:00:01Z")
    out = tmp_path / "audit.xlsx"
    result = bulkorders("--ledger", str(path), "--json", "report", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spend"] == {"USD": "0.300105"}
    assert result.stderr.startswith(
        "Warning: no cached catalogue of panel sandbox: service names and categories are blank. "
        "Run `bulkorders --panel sandbox services` once to fill them in.\n"
    )
    ws = openpyxl.load_workbook(out)["Orders"]
    assert ws["D2"].value == "=HYPERLINK(\"http://evil\")" and ws["D2"].data_type == "s"
    assert ws["F2"].value is None  # no cached catalogue: the service name is blank
    assert exact(ws["H4"].value) == Decimal("0.000105")


def test_rejected_rows_alone_still_make_a_report(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        campaign = ledger.campaign("refused", PANEL)
        payload = {"service": "1001", "link": "https://x/1", "quantity": "5"}
        planned = [PlannedRow("r", 2, "1001", "https://x/1", payload, Decimal("0.0045"))]
        row = ledger.sync_rows(campaign, planned)[0]
        ledger.mark_sending([row.id], "2025-11-24T10:00:00Z")
        ledger.mark_rejected(row.id, "Quantity less than minimal 10", "2025-11-24T10:00:01Z")
    out = tmp_path / "audit.xlsx"
    result = bulkorders("--ledger", str(path), "--json", "report", "--out", str(out))
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["orders"] == {"placed": 0, "rejected": 1, "uncertain": 0, "cancelled": 0}
    assert figures["spend"] == {} and figures["by_status"] == []
    wb = openpyxl.load_workbook(out)
    assert wb["Orders"].max_row == 1
    assert [(p["campaign"], p["excel row"], p["message"]) for p in records(wb["Problems"])] == [
        ("refused", 2, "Quantity less than minimal 10"),
    ]


def test_report_of_a_campaign_placed_and_refreshed_with_the_cli(tmp_path):
    """submit and status on the sandbox, then report on the results sheet: the same orders and spend."""
    sheet = tmp_path / "launch.csv"
    sheet.write_text(
        "link,service,quantity\n"
        "https://instagram.com/a,1001,100\n"
        "https://instagram.com/b,1002,250\n"
        "https://tiktok.com/@c,1005,50\n"
        "https://instagram.com/d,1001,5\n",
        encoding="utf-8",
    )
    placed = submit(str(sheet), "--yes")
    assert placed.exit_code == 1, placed.output  # row 5 is invalid (below the minimum)
    results = tmp_path / "launch.results.csv"
    assert bulkorders("--panel", "sandbox", "status", str(results)).exit_code == 0
    with results.open(encoding="utf-8") as fh:
        rows = [row for row in csv.DictReader(fh) if row["order_id"]]
    assert len(rows) == 3

    out = tmp_path / "audit.xlsx"
    result = bulkorders("--json", "report", str(results), "--out", str(out))
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["orders"]["placed"] == 3
    assert Decimal(figures["spend"]["USD"]) == sum((Decimal(r["charge"]) for r in rows), Decimal(0))
    orders = records(openpyxl.load_workbook(out)["Orders"])
    assert {(o["order id"], o["status"], o["campaign"]) for o in orders} == {
        (r["order_id"], r["status"], "launch") for r in rows
    }


def test_equal_values_of_different_types_are_written_as_themselves():
    """A charge of 15.00 once made every later excel row 15 read back as 15.0 (one memo)."""
    from bulkorders.report.xlsx import _rows_xml

    cells = [(letter, "") for letter in "ABCD"]
    xml = "".join(_rows_xml([(Decimal("15.00"), 15, True, 1)], 2, cells, {}))
    assert '<c r="A2"><v>15.00</v></c>' in xml
    assert '<c r="B2"><v>15</v></c>' in xml
    assert '<c r="C2"><v>1</v></c>' in xml and '<c r="D2"><v>1</v></c>' in xml


def test_a_default_panel_narrows_the_report_and_says_so_and_all_panels_widens_it(built, tmp_path, isolated_user_dirs):
    """Issue 12: `report` says which panel a default profile narrows it to; --all-panels reports every panel."""
    other = "https://panel.example/api/v2"
    with Ledger.open(built.ledger_path) as ledger:
        campaign = ledger.campaign("elsewhere", other, Path("elsewhere.xlsx"))
        payload = {"service": "1", "link": "https://instagram.com/z", "quantity": "100"}
        row = ledger.sync_rows(campaign, planned_rows([payload], estimate=Decimal("2.5")))[0]
        ledger.mark_sending([row.id], "2025-11-24T16:00:00Z")
        ledger.mark_placed(row.id, "900", Decimal("2.5"), "USD", "2025-11-24T16:00:00Z")
    config = isolated_user_dirs / "config" / "bulkorders" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('panel = "sandbox"\n', encoding="utf-8")
    narrowed = run(built, "--json", "report", "--out", str(tmp_path / "a.xlsx"))
    assert narrowed.exit_code == 0, narrowed.stderr
    assert (f"Narrowed to panel sandbox, the default panel of {config}; --all-panels reports across every "
            "panel of the ledger.") in narrowed.stderr.splitlines()  # fmt: skip
    placed = json.loads(narrowed.stdout)["orders"]["placed"]
    assert placed == len(built.campaigns["spring"]) + len(built.campaigns["summer"])
    every = run(built, "--json", "report", "--all-panels", "--out", str(tmp_path / "b.xlsx"))
    assert every.exit_code == 0, every.stderr
    assert json.loads(every.stdout)["orders"]["placed"] == placed + 1
    assert "Narrowed" not in every.stderr
    chosen = run(built, "--json", "report", "--out", str(tmp_path / "c.xlsx"), panel="sandbox")
    assert "Narrowed" not in chosen.stderr  # the user's own --panel: nothing to say
    both = run(built, "report", "--all-panels", "--out", str(tmp_path / "d.xlsx"), panel="sandbox")
    assert both.exit_code == 2 and "Error: Give --panel NAME or --all-panels, not both." in both.stderr


# --- who placed what ---------------------------------------------------------------------


@pytest.fixture(params=BOTH_ENGINES)
def team_ledger(request, tmp_path) -> str:
    """Where two operators keep their ledger: a file, or a team database."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else str(tmp_path / "team.sqlite")


def test_the_report_says_which_operator_placed_each_order(team_ledger, tmp_path, monkeypatch):
    """alice places the first two rows of a campaign, bob the two he added; an order the
    ledger only met (a status answer) was placed by no recorded run."""
    import socket

    from bulkorders.models import OrderStatus

    host = socket.gethostname()
    sheet = tmp_path / "camp.csv"
    lines = ["service,link,quantity", "1001,https://instagram.com/a,100", "1002,https://instagram.com/b,250"]
    sheet.write_text("\n".join(lines) + "\n")
    for user, added in (("alice", []), ("bob", ["1001,https://instagram.com/c,400", "1004,https://instagram.com/d,1000"])):
        monkeypatch.setenv("LOGNAME", user)  # what getpass.getuser() reads first
        sheet.write_text("\n".join(lines + added) + "\n")
        assert bulkorders("--ledger", team_ledger, "--panel", PANEL, "submit", str(sheet), "--yes").exit_code == 0
    with Ledger.open(team_ledger) as ledger:
        ledger.record_statuses(PANEL, [OrderStatus("999001", "Completed", Decimal("1.25"), "USD")], "2025-11-25T00:00:00Z")
    out = tmp_path / "audit.xlsx"
    result = bulkorders("--ledger", team_ledger, "--json", "report", "--out", str(out))
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    placed = {r["link"]: r["operator"] for r in records(wb["Orders"])}
    assert placed == {
        "https://instagram.com/a": f"alice@{host}", "https://instagram.com/b": f"alice@{host}",
        "https://instagram.com/c": f"bob@{host}", "https://instagram.com/d": f"bob@{host}", None: None,
    }  # fmt: skip
    by_operator = {r["operator"]: r["orders"] for r in table(wb["Summary"], "By operator")}
    assert by_operator == {f"alice@{host}": 2, f"bob@{host}": 2, "(not placed by a recorded run)": 1}
    figures = json.loads(result.stdout)["by_operator"]
    assert {item["operator"]: item["orders"] for item in figures} == by_operator
    spend = {item["operator"]: Decimal(item["spend"]["USD"]) for item in figures}
    with Ledger.open(team_ledger) as ledger:
        charges = {o.link: o.charge for o in ledger.order_records()}
    links = "https://instagram.com/"
    assert spend[f"bob@{host}"] == charges[links + "c"] + charges[links + "d"]
    assert spend["(not placed by a recorded run)"] == Decimal("1.25")
