"""What each sheet of the audit workbook shows: an `AuditReport` as titled tables.

Summary: the filters, the counts, spend by currency, and orders and spend by campaign,
service, status and day, with charts. Orders: one row per order. Problems: every rejected
and uncertain row and what to do about it. History: every observation of an order.
Times become naive UTC datetimes (Excel has no time zones; the headers say UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from bulkorders.ledger import RowState
from bulkorders.progress import Reporter
from bulkorders.report.audit import NOT_CHECKED, UNKNOWN, AuditReport
from bulkorders.report.spend import SPEND_NOTE, order_spend, sheet_title
from bulkorders.report.xlsx import Chart, Column, SummaryLayout, Table, write_workbook

TITLE = "bulkorders audit report"

UNCERTAIN_ADVICE = (
    "The panel may or may not have placed this order (its answer was lost). Look for the link in "
    "the panel's order history: if the order is there, put its id in the row's order_id column "
    "and run submit again to record it; if not, run submit again with --resend-uncertain."
)
REJECTED_ADVICE = (
    "The panel refused this row, so no order exists. If the cause was on the panel's side (an "
    "active order on the link, the balance), run submit again with --retry-rejected once it is "
    "gone; otherwise fix what the message says in the sheet and run submit again (a changed row "
    "is sent as a new row)."
)
NO_READINGS = (
    "No two balance readings of this panel yet: submit (before and after placing), status and "
    "balance keep one each time they run."
)
OBSERVATION_LABELS = {
    "status": "status",
    "refill": "refill asked",
    "refill_status": "refill status",
    "cancel": "cancel asked",
}

_BLOCK_KEYS = {
    "campaign": [Column("campaign")],
    "service": [Column("service id", "id"), Column("service name"), Column("category")],
    "status": [Column("status")],
    "operator": [Column("operator")],
    "day": [Column("day (UTC)", "date")],
}
_BLOCK_TITLES = {
    "campaign": "By campaign",
    "service": "By service",
    "status": "By status",
    "operator": "By operator",
    "day": "By day",
}


def summary_layout(report: AuditReport) -> SummaryLayout:
    """The Summary sheet: filters, counts, spend and the groupings, with two charts."""
    counts = report.counts
    blocks = [
        Table(
            "Orders",
            [Column("outcome"), Column("count", "int")],
            [
                ("orders placed", counts["placed"]),
                ("rows rejected by the panel", counts["rejected"]),
                ("rows uncertain (answer lost)", counts["uncertain"]),
                ("orders cancelled or refunded", counts["cancelled"]),
            ],
        ),
        Table(
            "Spend by currency (net of cancels and refunds)",
            [Column("currency"), Column("orders", "int"), Column("spend", "money", currency_from="currency")],
            _rows(report.by_currency),
        ),
    ]
    if report.reconciliation:
        blocks.append(_balance_block(report))
    spend = [Column(f"spend ({c})", "money", _known(c)) for c in report.currencies]
    for name, keys in _BLOCK_KEYS.items():
        table = report.groups[name]
        rows = _rows(table)
        if name == "day":
            rows = [(_day(row[0]), *row[1:]) for row in rows]
        if name == "status":  # not checked yet: last, and out of the pie
            rows = [r for r in rows if r[0] != NOT_CHECKED] + [r for r in rows if r[0] == NOT_CHECKED]
        blocks.append(Table(_BLOCK_TITLES[name], [*keys, Column("orders", "int"), *spend], rows))
    for name, table in report.by_groups.items():
        blocks.append(Table(f"By {name}", [Column(name), Column("orders", "int"), *spend], _rows(table)))
    return SummaryLayout(TITLE, _lines(report), blocks, _charts(report, blocks), _period(report))


def _balance_block(report: AuditReport) -> Table:
    """Per currency: the intervals between balance readings, how many do not balance, and by how much."""
    found: dict[str, list[Any]] = {}
    for interval in report.reconciliation:
        row = found.setdefault(interval.end.currency or UNKNOWN, [0, 0, Decimal(0)])
        row[0] += 1
        row[1] += interval.difference != 0
        row[2] += interval.difference
    columns = [
        Column("currency"), Column("intervals", "int"), Column("not balanced", "int"),
        Column("difference", "money", currency_from="currency"),
    ]  # fmt: skip
    return Table("Balance reconciliation (see Reconciliation)", columns, [(c, *v) for c, v in found.items()])


def _lines(report: AuditReport) -> list[tuple[str, Any]]:
    lines: list[tuple[str, Any]] = [
        ("Made at (UTC)", report.made_at), ("Ledger", report.ledger), ("Spend", SPEND_NOTE),
    ]  # fmt: skip
    return [*lines, *report.filters.described()]


def _charts(report: AuditReport, blocks: Sequence[Table]) -> list[Chart]:
    """Spend by service (bars), spend by status (a pie of money, checked statuses only), by --by."""
    if not report.currencies:
        return [Chart("By status", "pie", "status", "orders", "Orders by status")]
    main = report.currencies[0]
    value = f"spend ({main})"
    names = report.groups["service"]["service_name"]
    label = "service name" if len(names) and all(names) else "service id"
    status = next(b for b in blocks if b.title == "By status")
    where = [c.header for c in status.columns].index(value)
    paid = sum(1 for r in status.rows if r[0] != NOT_CHECKED and r[where])
    charts = [
        Chart("By service", "bar", label, value, f"Spend by service ({main})"),
        Chart("By status", "pie", "status", value, f"Spend by status ({main})", rows=paid),
    ]
    charts += [Chart(f"By {name}", "bar", name, value, f"Spend by {name} ({main})") for name in report.by_groups]
    return charts


def _period(report: AuditReport) -> str:
    """The report's period for the page headers: the filters' days, else the orders' days."""
    days = [d for d in report.groups["day"]["day"] if d != UNKNOWN]
    first = report.filters.since.isoformat() if report.filters.since else (min(days) if days else "")
    last = report.filters.until.isoformat() if report.filters.until else (max(days) if days else "")
    return f"orders placed {first} to {last} (UTC)" if first or last else "all orders"


def tables(report: AuditReport, statements: bool = False) -> list[Table]:
    """The Orders, Problems and History sheets; with `statements`, one sheet per --by value."""
    found = [_orders(report), _problems(report), _history(report), _reconciliation(report)]
    return found + (_statements(report, {t.title for t in found} | {"Summary"}) if statements else [])


def _statements(report: AuditReport, taken: set[str]) -> list[Table]:
    """A statement per value of each --by column: that value's orders, and their total."""
    when = _Times()
    columns = [
        Column("order id", "id"), Column("campaign"), Column("submitted at (UTC)", "datetime"), Column("link"),
        Column("service id", "id"), Column("service name"), Column("quantity", "int"), Column("status"),
        _charge_column(report.currencies), _money_column("spend", report.currencies), Column("currency"),
    ]  # fmt: skip
    found = []
    for name, values in report.by.items():
        chosen: dict[str, list[Any]] = {}
        for order, value in zip(report.orders, values):
            chosen.setdefault(value, []).append(order)
        for value in sorted(chosen, key=str.lower):
            rows: list[tuple[Any, ...]] = []
            totals: dict[str, Any] = {}
            for o in chosen[value]:
                svc = report.service(o.panel, o.service)
                spend = order_spend(o)
                rows.append((
                    o.order_id, o.campaign, when(o.submitted_at), o.link, o.service, svc.name if svc else None,
                    o.quantity, o.status, o.charge, spend, o.currency,
                ))  # fmt: skip
                totals[o.currency or UNKNOWN] = totals.get(o.currency or UNKNOWN, Decimal(0)) + spend
            for currency, total in totals.items():
                rows.append((f"Total {name} {value}", *[None] * 8, total, _known(currency)))
            prefix = f"{name} " if len(report.by) > 1 else ""
            found.append(Table(sheet_title(prefix + value, taken), columns, rows))
    return found


def _orders(report: AuditReport) -> Table:
    when = _Times()
    columns = [
        Column("order id", "id"), Column("campaign"), Column("excel row", "int"), Column("link"),
        Column("service id", "id"), Column("service name"), Column("quantity", "int"),
        _charge_column(report.currencies), Column("currency"),
        Column("status"), Column("start count", "int"), Column("remains", "int"),
        Column("refill id", "id"), Column("refill status"), Column("cancel result"), Column("error"),
        Column("submitted at (UTC)", "datetime"), Column("last checked at (UTC)", "datetime"),
        Column("operator"), Column("panel"),
    ]  # fmt: skip
    rows = []
    for o, operator in zip(report.orders, report.operators):
        svc = report.service(o.panel, o.service)
        rows.append((
            o.order_id, o.campaign, o.excel_row, o.link, o.service, svc.name if svc else None,
            o.quantity, o.charge, o.currency, o.status, o.start_count, o.remains, o.refill_id,
            o.refill_status, o.cancel_result, o.error, when(o.submitted_at), when(o.checked_at),
            operator, o.panel,
        ))  # fmt: skip
    return Table("Orders", columns, rows)


def _problems(report: AuditReport) -> Table:
    when = _Times()
    columns = [
        Column("campaign"), Column("excel row", "int"), Column("state"), Column("message"),
        Column("what to do"), Column("link"), Column("service id", "id"), Column("service name"),
        Column("quantity", "int"), Column("estimate", "money", exact=True), Column("sent at (UTC)", "datetime"),
        Column("answered at (UTC)", "datetime"),
    ]  # fmt: skip
    rows = []
    for campaign, row in report.problems:
        svc = report.service(report.campaign_panels.get(campaign, ""), row.service)
        advice = UNCERTAIN_ADVICE if row.state == RowState.UNCERTAIN else REJECTED_ADVICE
        rows.append((
            campaign, row.excel_row, row.state, row.error, advice, row.link, row.service,
            svc.name if svc else None, _int(row.payload.get("quantity")), row.estimate,
            when(row.sent_at), when(row.answered_at),
        ))  # fmt: skip
    return Table("Problems", columns, rows)


def _history(report: AuditReport) -> Table:
    when = _Times()
    columns = [
        Column("time (UTC)", "datetime"), Column("order id", "id"), Column("campaign"), Column("observation"),
        Column("status"), _charge_column(report.currencies),
        Column("currency"), Column("start count", "int"), Column("remains", "int"),
        Column("refill id", "id"), Column("cancel id", "id"), Column("error"), Column("panel"),
    ]  # fmt: skip
    rows = []
    for item in report.observations:
        data = item["data"]
        rows.append((
            when(item["at"]), item["order_id"], item["campaign"],
            OBSERVATION_LABELS.get(item["kind"], item["kind"]), data.get("status"),
            data.get("charge"), data.get("currency"), data.get("start_count"), data.get("remains"),
            data.get("refill"), data.get("cancel"), data.get("error"), item["panel"],
        ))  # fmt: skip
    return Table("History", columns, rows)


def _reconciliation(report: AuditReport) -> Table:
    """Each interval between two balance readings: the balance's change, the ledger's spend, the gap."""
    when = _Times()
    columns = [
        Column("from (UTC)", "datetime"), Column("from reading"), Column("to (UTC)", "datetime"), Column("to reading"),
        Column("campaign"), Column("balance before", "money", exact=True),
        Column("balance after", "money", exact=True), Column("balance change", "money", exact=True),
        Column("ledger spend", "money", exact=True), Column("difference", "money", exact=True),
        Column("currency"), Column("uncertain orders sent", "int"), Column("most likely exist", "int"),
        Column("what it means"), Column("panel"),
    ]  # fmt: skip
    rows = [
        (when(i.start.at), i.start.command, when(i.end.at), i.end.command, i.end.campaign, i.start.amount,
         i.end.amount, i.change, i.spend, i.difference, i.end.currency, len(i.uncertain), i.likely,
         i.explanation(), i.end.panel)
        for i in report.reconciliation
    ]  # fmt: skip
    if not rows:
        rows = [(*[None] * 13, NO_READINGS, None)]
    return Table("Reconciliation", columns, rows)


class _Times:
    """UTC ISO 8601 text -> naive UTC datetime, remembering repeats (a run shares one time)."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime | str] = {}

    def __call__(self, text: str | None) -> datetime | str | None:
        if not text:
            return None
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = _parse_time(text)
        return found


def _parse_time(text: str) -> datetime | str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # shown as written rather than lost
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _day(text: str) -> date | str:
    return text if text == UNKNOWN else date.fromisoformat(text)


def _rows(table: pd.DataFrame) -> list[tuple[Any, ...]]:
    return [tuple(_plain(v) for v in row) for row in table.itertuples(index=False, name=None)]


def _plain(value: Any) -> Any:
    """numpy scalars from pandas as Python values; an empty name/category as blank."""
    if hasattr(value, "item"):
        return value.item()
    return None if value == "" else value


def _int(text: Any) -> int | None:
    value = str(text or "").strip()
    return int(value) if value.isdigit() else None


def _known(currency: str) -> str | None:
    return None if currency == UNKNOWN else currency


def _charge_column(currencies: Sequence[str]) -> Column:
    """The charge column: in one currency's format when the report has just one."""
    return _money_column("charge", currencies)


def _money_column(name: str, currencies: Sequence[str]) -> Column:
    """Exact amounts; the currency is in the header ("charge (USD)") or the row's currency column."""
    return Column(_money_header(name, currencies), "money", exact=True)


def _money_header(name: str, currencies: Sequence[str]) -> str:
    return f"{name} ({currencies[0]})" if len(currencies) == 1 and currencies[0] != UNKNOWN else name


def write_report(
    report: AuditReport, out: Path, progress: Reporter | None = None, *, statements: bool = False
) -> None:
    """Write the audit workbook of `report` to `out` (`progress` counts the rows written);
    `statements` adds a sheet per value of each --by column."""
    write_workbook(out, summary_layout(report), tables(report, statements), progress)
