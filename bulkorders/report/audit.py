"""The audit report: the ledger's orders, chosen by the filters, grouped with pandas.

`build_report` reads the ledger (and the sheets that narrow it) and groups the orders:
spend by currency, and orders and spend by campaign, service, status and day. Money is
summed as `Decimal`, so the totals are exact. `layout.write_report` turns the result into the
workbook (see `layout` and `xlsx`); `pipeline.report_workbook` drives both. Nothing here
talks to a panel: the service names come from the cached catalogue when there is one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bulkorders.catalog import read_cached
from bulkorders.clock import Clock
from bulkorders.errors import NothingToReport
from bulkorders.ledger import RowState, intervals, order_columns, order_operators
from bulkorders.models import Service, costs_nothing, format_money
from bulkorders.report.filters import ReportFilters
from bulkorders.report.spend import by_values, order_spend

if TYPE_CHECKING:
    from bulkorders.ledger import Interval, Ledger, LedgerRow, OrderRecord
    from bulkorders.sheets import Sheet

ZERO = Decimal(0)
NOT_CHECKED = "(not checked yet)"
NO_CAMPAIGN = "(no campaign)"
UNKNOWN = "(unknown)"
NO_OPERATOR = "(not placed by a recorded run)"  # met by a command, or placed before runs were kept
GROUPINGS = {  # Summary block -> the columns it groups on
    "campaign": ["campaign"],
    "service": ["service", "service_name", "category"],
    "status": ["status"],
    "operator": ["operator"],
    "day": ["day"],
}

CachedServices = Callable[[str], Mapping[str, Service]]  # panel -> its cached catalogue
SheetReader = Callable[[Path], "Sheet"]


@dataclass
class AuditReport:
    """Everything the workbook and `--json` show. Times are naive UTC datetimes."""

    filters: ReportFilters
    ledger: str  # where the ledger is, as shown (a URL's password masked)
    made_at: datetime
    orders: list[OrderRecord]
    operators: list[str | None]  # per order: user@host of the run that placed it, None if none
    problems: list[tuple[str, LedgerRow]]
    observations: list[dict[str, Any]]
    services: dict[tuple[str, str], Service]  # (panel, service id) -> cached catalogue entry
    campaign_panels: dict[str, str]  # campaign name -> its panel (problem rows name no panel)
    uncatalogued: list[str]  # panels with no cached catalogue: their service names are blank
    counts: dict[str, int]
    currencies: list[str]  # most orders first
    by_currency: pd.DataFrame  # currency, orders, spend
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)  # GROUPINGS key -> table
    by: dict[str, list[str]] = field(default_factory=dict)  # --by column -> its value per order
    by_groups: dict[str, pd.DataFrame] = field(default_factory=dict)  # --by column -> table
    reconciliation: list[Interval] = field(default_factory=list)  # between balance readings

    def service(self, panel: str, service_id: str | None) -> Service | None:
        return self.services.get((panel, service_id or ""))


def build_report(
    ledger: Ledger,
    filters: ReportFilters,
    *,
    where: str | None = None,
    services: CachedServices = lambda panel: {},
    read_sheet: SheetReader | None = None,
    clock: Clock = time.time,
    by: Sequence[str] = (),
) -> AuditReport:
    """Select the orders, problem rows and observations of `filters` and group them.

    `where`: how the ledger is named (the front ends give `LedgerLocation.shown`, which masks
    a URL's password wherever libpq reads one; default: the ledger's own `where`).
    `by`: sheet columns (a `client`…) to group the spend by too. An empty selection raises
    (exit 1): an empty workbook would only look like good news.
    """
    where = ledger.where if where is None else where
    orders, problems = _select(ledger, filters, read_sheet)
    if not orders and not problems:
        raise NothingToReport(_nothing_message(ledger, where, filters))
    keep = {(o.panel, o.order_id) for o in orders}
    observations = ledger.observations(order_ids=sorted({o.order_id for o in orders}), panel=filters.panel)
    observations = [b for b in observations if (b["panel"], b["order_id"]) in keep]
    campaign_panels: dict[str, str] = {}
    for campaign in ledger.campaigns():
        if filters.panel in (None, campaign.panel):
            campaign_panels.setdefault(campaign.name, campaign.panel)
    panels = {o.panel for o in orders} | {campaign_panels.get(name, "") for name, _ in problems}
    catalogue: dict[tuple[str, str], Service] = {}
    uncatalogued = []
    for panel in sorted(panels - {""}):
        known = services(panel)
        catalogue.update(((panel, sid), svc) for sid, svc in known.items())
        if not known:
            uncatalogued.append(panel)
    operators = _operators(ledger, filters.panel, orders)
    frame = _order_frame(orders, catalogue, operators)
    currencies = list(frame["currency"].value_counts(sort=True).index) if len(frame) else []
    values, by_groups = _by_columns(ledger, filters, orders, frame, currencies, by)
    return AuditReport(
        filters=filters,
        ledger=where,
        made_at=datetime.fromtimestamp(clock(), timezone.utc).replace(tzinfo=None, microsecond=0),
        orders=orders,
        operators=operators,
        problems=problems,
        observations=observations,
        services=catalogue,
        campaign_panels=campaign_panels,
        uncatalogued=uncatalogued,
        counts=_counts(orders, problems),
        currencies=currencies,
        by_currency=_by_currency(frame, currencies),
        groups={name: _group(frame, keys, currencies) for name, keys in GROUPINGS.items()},
        by=values,
        by_groups=by_groups,
        reconciliation=_reconciliation(ledger, filters),
    )


def _by_columns(
    ledger: Ledger, filters: ReportFilters, orders: list[OrderRecord], frame: pd.DataFrame,
    currencies: list[str], by: Sequence[str],
) -> tuple[dict[str, list[str]], dict[str, pd.DataFrame]]:  # fmt: skip
    """Each --by column's value per order, and orders and spend per value."""
    kept = order_columns(ledger, filters.panel) if by else {}
    values = {name: by_values(orders, kept, name) for name in dict.fromkeys(by)}
    tables = {
        name: _group(frame.assign(by=column), ["by"], currencies).rename(columns={"by": name})
        for name, column in values.items()
    }
    return values, tables


def _reconciliation(ledger: Ledger, filters: ReportFilters) -> list[Interval]:
    """The intervals between balance readings that end in the report's days."""
    found = intervals(ledger, filters.panel)
    since = filters.since.isoformat() if filters.since else ""
    until = filters.until.isoformat() if filters.until else "9999"
    return [i for i in found if since <= i.end.at[:10] <= until]


def summary_figures(report: AuditReport, out: Path | None = None) -> dict[str, Any]:
    """The Summary's figures as JSON-ready data (money as exact decimal strings)."""
    figures: dict[str, Any] = {
        "made_at": report.made_at.isoformat() + "Z",
        "ledger": report.ledger,
        "filters": report.filters.to_dict(),
        "orders": report.counts,
        "spend": {row.currency: format_money(row.spend) for row in report.by_currency.itertuples()},
    }
    for name, keys in GROUPINGS.items():
        rows = _records(report.groups[name])
        figures[f"by_{name}"] = [_group_item(row, keys, report.currencies) for row in rows]
    figures["reconciliation"] = [_interval_item(i) for i in report.reconciliation]
    if report.by_groups:
        figures["by_column"] = {
            name: [_group_item(row, [name], report.currencies) for row in _records(table)]
            for name, table in report.by_groups.items()
        }
    if out is not None:
        figures["out"] = str(out)
    return figures


def _interval_item(interval: Interval) -> dict[str, Any]:
    return {
        "from": interval.start.at, "to": interval.end.at, "panel": interval.end.panel,
        "currency": interval.end.currency, "balance_change": format_money(interval.change),
        "ledger_spend": format_money(interval.spend), "difference": format_money(interval.difference),
        "uncertain": len(interval.uncertain), "likely_exist": interval.likely,
        "explanation": interval.explanation(),
    }  # fmt: skip


def summary_text(report: AuditReport, out: Path) -> str:
    """One line for people: what was written, the counts and the spend."""
    counts = report.counts
    spend = ", ".join(f"{format_money(row.spend)} {row.currency}" for row in report.by_currency.itertuples())
    return (
        f"Wrote {out}: {counts['placed']} orders placed, {counts['rejected']} rejected, "
        f"{counts['uncertain']} uncertain, {counts['cancelled']} cancelled or refunded; "
        f"spend {spend or 'nothing'}."
    )


def cached_services(cache_dir: Path, panel: str) -> Mapping[str, Service]:
    """The services of `panel`'s cached catalogue, {} when none is cached. Never fetches."""
    cached = read_cached(cache_dir, panel)
    return cached.services if cached is not None else {}


# --- selection --------------------------------------------------------------------------


def _select(
    ledger: Ledger, filters: ReportFilters, read_sheet: SheetReader | None
) -> tuple[list[OrderRecord], list[tuple[str, LedgerRow]]]:
    common: dict[str, Any] = {
        "campaigns": list(filters.campaigns) or None,
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
        "panel": filters.panel,
    }
    order_ids = _sheet_order_ids(filters.sheets, read_sheet) if filters.sheets else None
    orders = ledger.order_records(**common, order_ids=order_ids)
    problems = ledger.problem_rows(**common)
    if filters.sheets:
        # Problem rows have no order id: a sheet keeps those of its own campaigns.
        wanted = {str(p.absolute()) for p in filters.sheets}
        mine = {(o.panel, o.campaign) for o in orders}
        mine |= {(c.panel, c.name) for c in ledger.campaigns() if {c.source_path, c.results_path} & wanted}
        names = {name for _, name in mine}
        problems = [p for p in problems if p[0] in names]
    return orders, problems


def _sheet_order_ids(paths: Sequence[Path], read_sheet: SheetReader | None) -> list[str]:
    if read_sheet is None:
        from bulkorders.sheets import read_sheet as read

        read_sheet = lambda path: read(path, purpose="results")  # noqa: E731
    ids: set[str] = set()
    for path in paths:
        sheet = read_sheet(path)
        for row in sheet.rows:
            value = row.values.get("order_id")
            text = _id_text(value)
            if text:
                ids.add(text)
    return sorted(ids)


def _operators(ledger: Ledger, panel: str | None, orders: Sequence[OrderRecord]) -> list[str | None]:
    """Per order, `user@host` of the run that placed it (None: no recorded run did)."""
    placed_by = order_operators(ledger, panel)
    return [placed_by.get((o.panel, o.order_id)) for o in orders]


def _id_text(value: Any) -> str:
    """An order id cell as text, normalised as the lifecycle commands do (`id_text`):
    23501, 23501.0, "23501.0", "23,501" and " 23501 " are all "23501"."""
    from bulkorders.sheets import id_text

    return id_text(value) or ""


def _nothing_message(ledger: Ledger, shown: str, filters: ReportFilters) -> str:
    chosen = filters.phrases()
    where = f" for {', '.join(chosen)}" if chosen else ""
    message = f"Nothing to report: the ledger {shown} has no orders or problem rows{where}."
    if filters.campaigns:
        known = sorted({c.name for c in ledger.campaigns()})
        unknown = [name for name in filters.campaigns if name not in known]
        if unknown:
            message += f" No campaign named {', '.join(unknown)}; the ledger has: {', '.join(known) or 'none'}."
    return message + " No workbook was written."


# --- grouping ---------------------------------------------------------------------------


def _order_frame(
    orders: Sequence[OrderRecord], catalogue: Mapping[tuple[str, str], Service], operators: Sequence[str | None]
) -> pd.DataFrame:
    """One row per order with the grouping keys; `charge` stays Decimal (object dtype)."""
    names: dict[tuple[str, str | None], tuple[str, str]] = {}
    for o in orders:
        key = (o.panel, o.service)
        if key not in names:
            svc = catalogue.get((o.panel, o.service or ""))
            names[key] = (svc.name, svc.category) if svc else ("", "")
    return pd.DataFrame(
        {
            "campaign": [o.campaign or NO_CAMPAIGN for o in orders],
            "service": [o.service or UNKNOWN for o in orders],
            "service_name": [names[(o.panel, o.service)][0] for o in orders],
            "category": [names[(o.panel, o.service)][1] for o in orders],
            "status": [o.status or NOT_CHECKED for o in orders],
            "operator": [who or NO_OPERATOR for who in operators],
            "day": [(o.submitted_at or "")[:10] or UNKNOWN for o in orders],
            "currency": [o.currency or UNKNOWN for o in orders],
            # What the balance paid: canceled/refunded orders cost nothing, whatever charge
            # the panel still shows; Partial ones what the panel charged after its refund.
            "charge": pd.Series([order_spend(o) for o in orders], dtype=object),
        },
        columns=["campaign", "service", "service_name", "category", "status", "operator", "day", "currency", "charge"],
    )


def _decimal_sum(values: pd.Series) -> Decimal:
    return sum(values, ZERO)


def _by_currency(frame: pd.DataFrame, currencies: list[str]) -> pd.DataFrame:
    grouped = frame.groupby("currency", sort=False)["charge"].agg(["size", _decimal_sum])
    grouped.columns = ["orders", "spend"]
    return grouped.reindex(currencies).reset_index()


def _group(frame: pd.DataFrame, keys: list[str], currencies: list[str]) -> pd.DataFrame:
    """Orders and spend per currency ("spend USD" columns) for each value of `keys`.

    Sorted by spend of the main currency, then orders, biggest first; days oldest first.
    """
    columns = [*keys, "orders", *(f"spend {c}" for c in currencies)]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    orders = frame.groupby(keys, sort=False).size().rename("orders")
    spend = frame.groupby([*keys, "currency"], sort=False)["charge"].agg(_decimal_sum)
    spend = spend.unstack("currency", fill_value=ZERO).reindex(columns=currencies, fill_value=ZERO)
    spend.columns = [f"spend {c}" for c in currencies]
    table = pd.concat([orders, spend], axis=1).reset_index()
    table = table[columns]
    if keys == ["day"]:
        known = table["day"] != UNKNOWN
        return pd.concat([table[known].sort_values("day"), table[~known]], ignore_index=True)
    by = [f"spend {currencies[0]}", "orders"] if currencies else ["orders"]
    return table.sort_values(by, ascending=False, kind="stable").reset_index(drop=True)


def _counts(orders: Sequence[OrderRecord], problems: Sequence[tuple[str, LedgerRow]]) -> dict[str, int]:
    states = [row.state for _, row in problems]
    return {
        "placed": len(orders),
        "rejected": states.count(RowState.REJECTED),
        "uncertain": states.count(RowState.UNCERTAIN),
        "cancelled": sum(1 for o in orders if costs_nothing(o.status)),
    }


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return table.to_dict("records")


def _group_item(row: dict[str, Any], keys: list[str], currencies: list[str]) -> dict[str, Any]:
    item = {key: row[key] for key in keys}
    item["orders"] = int(row["orders"])
    item["spend"] = {c: format_money(row[f"spend {c}"]) for c in currencies}
    return item
