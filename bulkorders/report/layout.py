"""What each sheet of the audit workbook shows: an `AuditReport` as titled tables.

Summary: the filters, the counts, spend by currency, and orders and spend by campaign,
service, status and day, with charts. Orders: one row per order. Problems: every rejected
and uncertain row and what to do about it. History: every observation of an order.
Times become naive UTC datetimes (Excel has no time zones; the headers say UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from bulkorders.ledger import RowState
from bulkorders.progress import Reporter
from bulkorders.report.audit import UNKNOWN, AuditReport
from bulkorders.report.xlsx import Column, SummaryLayout, Table, write_workbook

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
OBSERVATION_LABELS = {
    "status": "status", "refill": "refill asked", "refill_status": "refill status",
    "cancel": "cancel asked",
}  # fmt: skip

_BLOCK_KEYS = {
    "campaign": [Column("campaign")],
    "service": [Column("service id"), Column("service name"), Column("category")],
    "status": [Column("status")],
    "day": [Column("day (UTC)", "date")],
}
_BLOCK_TITLES = {
    "campaign": "By campaign", "service": "By service", "status": "By status", "day": "By day",
}  # fmt: skip


def summary_layout(report: AuditReport) -> SummaryLayout:
    """The Summary sheet: filters, counts, spend and the groupings, with two charts."""
    counts = report.counts
    blocks = [
        Table("Orders", [Column("outcome"), Column("count", "int")], [
            ("orders placed", counts["placed"]),
            ("rows rejected by the panel", counts["rejected"]),
            ("rows uncertain (answer lost)", counts["uncertain"]),
            ("orders cancelled or refunded", counts["cancelled"]),
        ]),
        Table(
            "Spend by currency (latest known charges; canceled and refunded orders at 0)",
            [Column("currency"), Column("orders", "int"), Column("spend", "money")],
            _rows(report.by_currency),
        ),
    ]  # fmt: skip
    spend = [Column(f"spend ({c})", "money", _known(c)) for c in report.currencies]
    for name, keys in _BLOCK_KEYS.items():
        table = report.groups[name]
        rows = _rows(table)
        if name == "day":
            rows = [(_day(row[0]), *row[1:]) for row in rows]
        blocks.append(Table(_BLOCK_TITLES[name], [*keys, Column("orders", "int"), *spend], rows))
    charts = [("By status", "pie", "status", "orders", "Orders by status")]
    if report.currencies:
        main = report.currencies[0]
        names = report.groups["service"]["service_name"]
        label = "service name" if len(names) and all(names) else "service id"
        charts.insert(0, ("By service", "bar", label, f"spend ({main})", f"Spend by service ({main})"))
    lines: list[tuple[str, Any]] = [("Made at (UTC)", report.made_at), ("Ledger", str(report.ledger_path))]
    return SummaryLayout(TITLE, [*lines, *report.filters.described()], blocks, charts)


def tables(report: AuditReport) -> list[Table]:
    """The Orders, Problems and History sheets."""
    return [_orders(report), _problems(report), _history(report)]


def _orders(report: AuditReport) -> Table:
    when = _Times()
    columns = [
        Column("order id"), Column("campaign"), Column("excel row", "int"), Column("link"),
        Column("service id"), Column("service name"), Column("quantity", "int"),
        _charge_column(report.currencies), Column("currency"),
        Column("status"), Column("start count", "int"), Column("remains", "int"),
        Column("refill id"), Column("refill status"), Column("cancel result"), Column("error"),
        Column("submitted at (UTC)", "datetime"), Column("last checked at (UTC)", "datetime"),
        Column("panel"),
    ]  # fmt: skip
    rows = []
    for o in report.orders:
        svc = report.service(o.panel, o.service)
        rows.append((
            o.order_id, o.campaign, o.excel_row, o.link, o.service, svc.name if svc else None,
            o.quantity, o.charge, o.currency, o.status, o.start_count, o.remains, o.refill_id,
            o.refill_status, o.cancel_result, o.error, when(o.submitted_at), when(o.checked_at),
            o.panel,
        ))  # fmt: skip
    return Table("Orders", columns, rows)


def _problems(report: AuditReport) -> Table:
    when = _Times()
    columns = [
        Column("campaign"), Column("excel row", "int"), Column("state"), Column("message"),
        Column("what to do"), Column("link"), Column("service id"), Column("service name"),
        Column("quantity", "int"), Column("estimate", "money"), Column("sent at (UTC)", "datetime"),
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
        Column("time (UTC)", "datetime"), Column("order id"), Column("campaign"), Column("observation"),
        Column("status"), _charge_column(report.currencies),
        Column("currency"), Column("start count", "int"), Column("remains", "int"),
        Column("refill id"), Column("cancel id"), Column("error"), Column("panel"),
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
    only = _known(currencies[0]) if len(currencies) == 1 else None
    return Column(_money_header("charge", currencies), "money", only)


def _money_header(name: str, currencies: Sequence[str]) -> str:
    return f"{name} ({currencies[0]})" if len(currencies) == 1 and currencies[0] != UNKNOWN else name


def write_report(report: AuditReport, out: Path, progress: Reporter | None = None) -> None:
    """Write the audit workbook of `report` to `out` (`progress` counts the rows written)."""
    write_workbook(out, summary_layout(report), tables(report), progress)
