"""A `ValidationReport` shown to people (problems grouped by row, then a summary) or as JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bulkorders.models import Balance, Severity, format_money
from bulkorders.validation.rules import ValidationReport

if TYPE_CHECKING:
    from bulkorders.sheets import Sheet


def issue_lines(report: ValidationReport) -> list[str]:
    """Every problem, grouped by row (errors first), in SPEC's `row 7, quantity: …` form."""
    lines = []
    for _, issues in sorted(report.issues_by_row().items()):
        for issue in issues:
            lines.append(str(issue) if issue.severity is Severity.ERROR else f"warning: {issue}")
    return lines


def summary_lines(report: ValidationReport, sheet: Sheet, balance: Balance | None) -> list[str]:
    """Counts, the estimated cost in total and by service, and how it compares to the balance."""
    currency = f" {balance.currency}" if balance else ""
    valid = len(report.rows)
    lines = [
        f"{_where(sheet)}: {report.row_count} rows: {valid} valid, {len(report.invalid_rows)} invalid, "
        f"{len(report.warned_rows)} with warnings"
    ]
    if report.placed_rows:
        lines.append(f"{len(report.placed_rows)} row(s) already have an order_id: not checked or counted again.")
    lines.append(f"Estimated cost of the valid rows: {format_money(report.total)}{currency}")
    counts = _rows_by_service(report)
    for service_id, cost in sorted(report.by_service.items(), key=lambda item: (-item[1], item[0])):
        service = report.services.get(service_id)
        name = service.name if service else ""
        rows = f"{counts[service_id]} row" + ("s" if counts[service_id] != 1 else "")
        lines.append(f"  {service_id:>6}  {name[:46]:<46} {rows:>10}  {format_money(cost)}{currency}")
    if balance is None:
        lines.append("Balance: not checked (--offline).")
    elif balance.amount >= report.total:
        left = format_money(balance.amount - report.total)
        lines.append(
            f"Balance: {format_money(balance.amount)}{currency}, enough ({left}{currency} left after these orders)."
        )
    else:
        short = format_money(report.total - balance.amount)
        lines.append(
            f"Balance: {format_money(balance.amount)}{currency}, SHORT by {short}{currency}: top up before submit."
        )
    return lines


def report_json(report: ValidationReport, sheet: Sheet, balance: Balance | None) -> dict[str, Any]:
    """The same as the text, as one JSON-ready document (amounts as exact decimal strings)."""
    counts = _rows_by_service(report)
    money = None
    if balance is not None:
        money = {
            "amount": format_money(balance.amount),
            "currency": balance.currency,
            "enough": balance.amount >= report.total,
            "short_by": format_money(max(report.total - balance.amount, Decimal(0))),
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
        "cost": {
            "total": format_money(report.total),
            "currency": balance.currency if balance else None,
            "by_service": [
                {
                    "service": sid,
                    "name": report.services[sid].name if sid in report.services else None,
                    "rows": counts[sid],
                    "cost": format_money(cost),
                }
                for sid, cost in sorted(report.by_service.items())
            ],
        },
        "balance": money,
    }


def _where(sheet: Sheet) -> str:
    name = f', sheet "{sheet.sheet_name}"' if sheet.sheet_name else ""
    return f"{sheet.path}{name} (header on row {sheet.header_row})"


def _rows_by_service(report: ValidationReport) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.service] = counts.get(row.service, 0) + 1
    return counts
