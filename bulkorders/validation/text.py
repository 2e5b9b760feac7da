"""A `ValidationReport` shown to people (problems grouped by row, then a summary) or as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bulkorders.models import Balance, OrderRow, Severity, format_money
from bulkorders.validation.rules import ValidationReport

if TYPE_CHECKING:
    from bulkorders.sheets import Sheet


@dataclass(frozen=True)
class Pending:
    """What `submit` would send of a sheet's valid rows, as the ledger knows the campaign."""

    campaign: str
    known: bool  # the ledger has the campaign (else nothing of it was sent yet)
    rows: list[OrderRow] = field(default_factory=list)  # the rows submit would send
    placed: int = 0  # valid rows the campaign placed already: not sent again
    held: int = 0  # uncertain or rejected rows a plain submit does not send again
    refused: str | None = None  # why submit would refuse the sheet as it is (a same-named file elsewhere)


def _rows_word(count: int) -> str:
    return f"{count} row" + ("" if count == 1 else "s")


def _costed(report: ValidationReport, pending: Pending | None) -> tuple[Sequence[OrderRow], Decimal, dict[str, Decimal]]:
    """The rows the cost counts (the ones submit would send), their total and cost by service."""
    if pending is None:
        return report.rows, report.total, report.by_service
    by_service: dict[str, Decimal] = {}
    for row in pending.rows:
        by_service[row.service] = by_service.get(row.service, Decimal(0)) + row.estimate
    return pending.rows, sum(by_service.values(), Decimal(0)), by_service


def _ledger_lines(pending: Pending | None) -> list[str]:
    if pending is not None and pending.refused:
        return [f"Campaign {pending.campaign} (ledger): submit refuses this sheet: {pending.refused}"]
    if pending is None or not pending.known:
        return []
    lines = [
        f"Campaign {pending.campaign} (ledger): {_rows_word(pending.placed)} of this sheet already placed, "
        f"not sent again; submit would send {_rows_word(len(pending.rows))}."
    ]
    if pending.held:
        lines.append(
            f"{_rows_word(pending.held)} uncertain or rejected: not sent again without "
            "--resend-uncertain / --retry-rejected (not counted below)."
        )
    return lines


def issue_lines(report: ValidationReport) -> list[str]:
    """Every problem, grouped by row (errors first), in SPEC's `row 7, quantity: …` form."""
    lines = []
    for _, issues in sorted(report.issues_by_row().items()):
        for issue in issues:
            lines.append(str(issue) if issue.severity is Severity.ERROR else f"warning: {issue}")
    return lines


def summary_lines(
    report: ValidationReport, sheet: Sheet, balance: Balance | None, pending: Pending | None = None
) -> list[str]:
    """Counts, the estimated cost in total and by service, and how it compares to the balance.

    With `pending` (what submit would send, from the ledger) the cost and balance lines count
    only those rows, and a line says how many the campaign placed already.
    """
    currency = f" {balance.currency}" if balance else ""
    valid = len(report.rows)
    lines = [
        f"{_where(sheet)}: {report.row_count} rows: {valid} valid, {len(report.invalid_rows)} invalid, "
        f"{len(report.warned_rows)} with warnings"
    ]
    if report.placed_rows:
        lines.append(f"{len(report.placed_rows)} row(s) already have an order_id: not checked or counted again.")
    lines += _ledger_lines(pending)
    rows, total, by_service = _costed(report, pending)
    what = "the valid rows" if pending is None or not pending.known else f"the {_rows_word(len(rows))} submit would send"
    lines.append(f"Estimated cost of {what}: {format_money(total)}{currency}")
    counts = _count_by_service(rows)
    for service_id, cost in sorted(by_service.items(), key=lambda item: (-item[1], item[0])):
        service = report.services.get(service_id)
        name = service.name if service else ""
        lines.append(f"  {service_id:>6}  {name[:46]:<46} {_rows_word(counts[service_id]):>10}  {format_money(cost)}{currency}")
    lines.append(_balance_line(balance, total, currency))
    return lines


def _balance_line(balance: Balance | None, total: Decimal, currency: str) -> str:
    if balance is None:
        return "Balance: not checked (--offline)."
    if balance.amount >= total:
        left = format_money(balance.amount - total)
        return f"Balance: {format_money(balance.amount)}{currency}, enough ({left}{currency} left after these orders)."
    short = format_money(total - balance.amount)
    return f"Balance: {format_money(balance.amount)}{currency}, SHORT by {short}{currency}: top up before submit."


def report_json(
    report: ValidationReport, sheet: Sheet, balance: Balance | None, pending: Pending | None = None
) -> dict[str, Any]:
    """The same as the text, as one JSON-ready document (amounts as exact decimal strings)."""
    rows, total, by_service = _costed(report, pending)
    counts = _count_by_service(rows)
    money = None
    if balance is not None:
        money = {
            "amount": format_money(balance.amount),
            "currency": balance.currency,
            "enough": balance.amount >= total,
            "short_by": format_money(max(total - balance.amount, Decimal(0))),
        }
    return {
        "file": str(sheet.path),
        "sheet": sheet.sheet_name,
        "header_row": sheet.header_row,
        "rows": report.row_count,
        "valid": len(report.rows),
        "invalid": len(report.invalid_rows),
        "warned": len(report.warned_rows),
        "invalid_rows": report.invalid_rows,
        "warned_rows": report.warned_rows,
        "placed_rows": report.placed_rows,
        "issues": [issue.to_dict() for issue in report.issues],
        "campaign": _campaign_json(pending),
        "cost": {
            "total": format_money(total),
            "currency": balance.currency if balance else None,
            "by_service": [
                {
                    "service": sid,
                    "name": report.services[sid].name if sid in report.services else None,
                    "rows": counts[sid],
                    "cost": format_money(cost),
                }
                for sid, cost in sorted(by_service.items())
            ],
        },
        "balance": money,
    }


def _where(sheet: Sheet) -> str:
    name = f', sheet "{sheet.sheet_name}"' if sheet.sheet_name else ""
    return f"{sheet.path}{name} (header on row {sheet.header_row})"


def _campaign_json(pending: Pending | None) -> dict[str, Any] | None:
    if pending is None:
        return None
    return {
        "name": pending.campaign,
        "in_ledger": pending.known,
        "already_placed": pending.placed,
        "held": pending.held,
        "to_send": len(pending.rows),
        "to_send_rows": [row.row for row in pending.rows],
        "refused": pending.refused,
    }


def _count_by_service(rows: Sequence[OrderRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.service] = counts.get(row.service, 0) + 1
    return counts
