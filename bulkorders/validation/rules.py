"""Every row of a sheet against the catalogue and the row schema: problems as data, plus the
estimated cost. Pure: no I/O (the catalogue and the sheet are handed in).

Messages read after "row 7, quantity: " (`RowIssue.__str__`), name the column as the user
wrote it, and say what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bulkorders.models import (
    TYPE_FIELDS,
    TYPE_RULES,
    OrderRow,
    RowIssue,
    Service,
    ServiceLookup,
    Severity,
    TypeRule,
    count_lines,
    type_rule,
)
from bulkorders.sheets import BadCell, day_month_year, display, lines, shown, text, whole_number
from bulkorders.validation.links import link_problem
from bulkorders.validation.rowschema import RowSchema, row_schema

if TYPE_CHECKING:
    from bulkorders.sheets import Sheet

ERROR, WARNING = Severity.ERROR, Severity.WARNING
INTEGER_FIELDS = frozenset(
    {"runs", "interval", "min", "max", "posts", "old_posts", "delay", "device", "type_of_traffic", "answer_number"}
)
LIST_FIELDS = frozenset({"comments", "usernames", "hashtags", "groups"})
DATE_FIELDS = frozenset({"expiry"})
_SPACE = re.compile(r"\s").search


@dataclass
class ValidationReport:
    """The verdict on a whole sheet: valid rows ready to send, every problem, the cost."""

    rows: list[OrderRow]
    issues: list[RowIssue]
    invalid_rows: list[int]
    warned_rows: list[int]
    total: Decimal
    by_service: dict[str, Decimal]
    row_count: int = 0  # data rows read (blank rows not counted)
    placed_rows: list[int] = field(default_factory=list)  # rows that already carry an order_id
    services: dict[str, Service] = field(default_factory=dict)  # the services the rows use

    @property
    def ok(self) -> bool:
        return not self.invalid_rows

    def issues_by_row(self) -> dict[int, list[RowIssue]]:
        grouped: dict[int, list[RowIssue]] = {}
        for issue in self.issues:
            grouped.setdefault(issue.row, []).append(issue)
        return grouped


class _RowCheck:
    """The checks of one row; collects issues instead of stopping at the first."""

    __slots__ = ("row", "sheet", "issues", "failed")

    def __init__(self, row: int, sheet: Sheet) -> None:
        self.row = row
        self.sheet = sheet
        self.issues: list[RowIssue] = []
        self.failed = False

    def error(self, column: str | None, message: str) -> None:
        self.failed = True
        self.issues.append(RowIssue(self.row, self._header(column), message, ERROR))

    def warn(self, column: str | None, message: str) -> None:
        self.issues.append(RowIssue(self.row, self._header(column), message, WARNING))

    def _header(self, column: str | None) -> str | None:
        return self.sheet.header(column) if column else None


def validate_sheet(sheet: Sheet, catalogue: ServiceLookup, *, schema: RowSchema | None = None) -> ValidationReport:
    """Check every row of `sheet`; valid rows become `OrderRow`s with their estimate."""
    schema = schema or row_schema()
    issues: list[RowIssue] = list(sheet.issues)
    refused = {issue.row for issue in issues if issue.severity == ERROR}  # found by the reader
    orders: list[OrderRow] = []
    placed: list[int] = []
    used: dict[str, Service] = {}
    seen: dict[tuple[str, str], int] = {}
    has_order_id = "order_id" in sheet.columns
    present = [name for name in sheet.columns if name in _FIELD_PARSERS]
    plans: dict[str, _Plan] = {}
    known: dict[Any, tuple[Service | None, str, bool]] = {}
    for sheet_row in sheet.rows:
        values = sheet_row.values
        if has_order_id and values.get("order_id") is not None:
            placed.append(sheet_row.row)
            continue
        check = _RowCheck(sheet_row.row, sheet)
        service = _service(check, values, catalogue, known)
        order = None
        if service is not None:
            plan = plans.get(service.service)
            if plan is None:
                plan = plans[service.service] = _Plan(service, present)
                used[service.service] = service
            order = _order(check, plan, values, schema)
            _duplicate(check, service, order, values, seen)
        if check.issues:
            issues.extend(check.issues)
        if order is not None and not check.failed and sheet_row.row not in refused:
            orders.append(order)
    return _report(sheet, orders, issues, placed, used)


def _report(
    sheet: Sheet, orders: list[OrderRow], issues: list[RowIssue], placed: list[int], used: dict[str, Service]
) -> ValidationReport:
    issues.sort(key=lambda issue: (issue.row, issue.severity != ERROR))
    invalid = sorted({i.row for i in issues if i.severity == ERROR})
    warned = sorted({i.row for i in issues if i.severity == WARNING})
    by_service: dict[str, Decimal] = {}
    for order in orders:
        by_service[order.service] = by_service.get(order.service, Decimal(0)) + order.estimate
    return ValidationReport(
        rows=orders,
        issues=issues,
        invalid_rows=invalid,
        warned_rows=warned,
        total=sum(by_service.values(), Decimal(0)),
        by_service=by_service,
        row_count=len(sheet.rows),
        placed_rows=placed,
        services=used,
    )


def _service(
    check: _RowCheck,
    values: dict[str, Any],
    catalogue: ServiceLookup,
    known: dict[Any, tuple[Service | None, str, bool]],
) -> Service | None:
    raw = values.get("service")
    try:
        verdict = known.get(raw)
    except TypeError:  # an unhashable cell value: judge it afresh
        verdict = None
    if verdict is None:
        verdict = _judge_service(raw, catalogue)
        try:
            known[raw] = verdict
        except TypeError:
            pass
    service, message, is_error = verdict
    if message:
        (check.error if is_error else check.warn)("service", message)
    return service


def _judge_service(raw: Any, catalogue: ServiceLookup) -> tuple[Service | None, str, bool]:
    """(service, message, message is an error) for one service cell value."""
    try:
        service_id = text(raw)
    except BadCell as exc:
        return None, str(exc), True
    if service_id is None:
        return None, "missing; give the id of a service (see `bulkorders services`)", True
    service = catalogue.get(service_id)
    why = getattr(catalogue, "unreadable", {}).get(service_id.strip()) if service is None else None
    if why is not None:  # the panel lists it, in a form that cannot be read: say what it sent
        return None, f"service {shown(service_id)}: the panel's catalogue entry cannot be read: {why}", True
    if service is None:
        return None, f'"{shown(service_id)}" is not a service of this panel (see `bulkorders services`)', True
    if service.type not in TYPE_RULES:
        unknown = (
            f'service {service.service} has the type "{service.type}", unknown to bulkorders; '
            "only link and quantity will be sent"
        )
        return service, unknown, False
    return service, "", False


class _Plan:
    """What rows of one service need, worked out once per service: rule and field parsers."""

    __slots__ = ("service", "rule", "parsers", "refused", "required")

    def __init__(self, service: Service, present: list[str]) -> None:
        self.service = service
        self.rule = rule = type_rule(service.type)
        allowed = set(rule.fields) | set(rule.optional)
        self.parsers = [(name, _FIELD_PARSERS[name]) for name in present if name in allowed]
        self.refused = [name for name in present if name not in allowed]
        self.required = rule.fields


def _order(check: _RowCheck, plan: _Plan, values: dict[str, Any], schema: RowSchema) -> OrderRow | None:
    service, rule = plan.service, plan.rule
    link = _link(check, rule, service, values)
    fields: dict[str, Any] = {}
    for name in plan.refused:
        if values[name] is not None:
            check.error(
                name,
                f"service {service.service} ({service.type}) does not take {name}; "
                "clear the cell or pick another service",
            )
    for name, parse in plan.parsers:
        raw = values[name]
        if raw is None:
            continue
        try:
            value = parse(raw)
        except BadCell as exc:
            check.error(name, str(exc))
            continue
        if value is None:
            continue
        problem = schema.value_problem(name, value)
        if problem:
            check.error(name, problem)
        else:
            fields[name] = value
    for name in plan.required:
        if name not in fields and values.get(name) is None:
            hint = " (one per line)" if name in LIST_FIELDS else ""
            check.error(name, f"missing; service {service.service} ({service.type}) needs {name}{hint}")
    quantity = _quantity(check, rule, service, values, fields)
    if fields:
        if rule.drip_feed:
            _drip_feed(check, fields)
        if service.type in _TYPE_CHECKS:
            _TYPE_CHECKS[service.type](check, service, fields)
    if check.failed:
        return None
    document: dict[str, Any] = {"type": service.type, "service": service.service}
    if link is not None and rule.needs_link:
        document["link"] = link
    if quantity is not None and rule.quantity == "required":
        document["quantity"] = quantity
    if fields:
        document.update(fields)
    for message in schema.shape_problems(document):
        check.error(None, f"does not fit the row schema: {message}")
    sent = {name: str(value) for name, value in fields.items()} if fields else {}
    quantity = document.get("quantity")
    return OrderRow(
        row=check.row,
        service=service.service,
        link=document.get("link"),
        quantity=quantity,
        fields=sent,
        runs=fields.get("runs"),
        estimate=service.order_cost(quantity, sent),
    )


def _link(check: _RowCheck, rule: TypeRule, service: Service, values: dict[str, Any]) -> str | None:
    link = values.get("link")
    if link.__class__ is str:
        link = link.strip() or None
    else:
        try:
            link = text(link)
        except BadCell as exc:
            check.error("link", str(exc))
            return None
    if not rule.needs_link:
        if link is not None:
            check.warn("link", f"service {service.service} ({service.type}) takes no link; it will not be sent")
        return None
    if link is None:
        where = "" if "link" in check.sheet.columns else " (the sheet has no link column)"
        check.error("link", f"missing; service {service.service} needs a link{where}")
        return None
    problem = link_problem(link)
    if problem is not None and problem[0]:
        check.error("link", f'"{shown(link)}" {problem[1]}')
        return None
    if _SPACE(link):
        check.error("link", f'"{shown(link)}" has spaces inside; a link has none')
        return None
    shows = getattr(check.sheet, "link_texts", {}).get(check.row)
    if shows and _another_address(shows, link):
        check.error("link", f'the cell shows "{shown(shows)}" but its hyperlink goes to "{shown(link)}"; '
                            "make the two the same address (or the shown text a plain name) and rerun")  # fmt: skip
        return None
    if problem is not None:
        check.warn("link", f'"{shown(link)}" {problem[1]}')
    return link


def _another_address(shows: str, link: str) -> bool:
    """Is the text a link cell shows a web address other than the one it links to?"""
    text = shows.strip()
    if not re.match(r"(?i)(https?://|www\.)", text):
        return False
    return _address_key(text) != _address_key(link)


def _address_key(address: str) -> str:
    """`https://www.x.test/p/` and `www.x.test/p` are one address."""
    key = re.sub(r"(?i)^https?://", "", address.strip())
    key = re.sub(r"(?i)^www\.", "", key).rstrip("/")
    host, _, rest = key.partition("/")
    return f"{host.lower()}/{rest}"


def _quantity(
    check: _RowCheck, rule: TypeRule, service: Service, values: dict[str, Any], fields: dict[str, Any]
) -> int | None:
    raw = values.get("quantity")
    quantity = None
    if raw is not None:
        try:
            quantity = whole_number(raw)
        except BadCell as exc:
            if rule.quantity == "required":
                check.error("quantity", str(exc))
                return None
    if rule.quantity == "required":
        if raw is None:
            where = "" if "quantity" in check.sheet.columns else " (the sheet has no quantity column)"
            check.error("quantity", f"missing; service {service.service} needs a quantity{where}")
        elif quantity is not None:
            _bounds(check, "quantity", service, quantity)
        return quantity
    if rule.counted_field:
        counted = fields.get(rule.counted_field)
        count = count_lines(counted) if counted else 0
        if counted:
            _bounds(check, rule.counted_field, service, count, unit=" lines")
        if raw is not None and quantity != count and counted:
            # The panel counts the lines; a different quantity is a mistake in one of the two.
            check.error("quantity", f'"{display(raw)}" does not match the {count} line(s) of '
                                    f"{rule.counted_field}: the panel orders one per line; fix the "
                                    "quantity or leave it blank")  # fmt: skip
    elif raw is not None and quantity != 1 and service.type != "Subscriptions":
        check.warn(
            "quantity",
            f'"{display(raw)}" is ignored: service {service.service} ({service.type}) is one package per order',
        )
    elif raw is not None and service.type == "Subscriptions":
        check.warn("quantity", f'"{display(raw)}" is ignored: a subscription orders min to max per post')
    return None


def _bounds(check: _RowCheck, column: str, service: Service, amount: int, unit: str = "") -> None:
    if amount < service.min:
        check.error(column, f"{amount}{unit} is below the minimum {service.min} of service {service.service}")
    elif amount > service.max:
        check.error(column, f"{amount}{unit} is above the maximum {service.max} of service {service.service}")


def _drip_feed(check: _RowCheck, fields: dict[str, Any]) -> None:
    runs, interval = "runs" in fields, "interval" in fields
    if runs and not interval and "interval" not in _failed_columns(check):
        check.error("interval", "missing; drip-feed needs both runs and interval (minutes between runs)")
    if interval and not runs and "runs" not in _failed_columns(check):
        check.error("runs", "missing; drip-feed needs both runs and interval")


def _failed_columns(check: _RowCheck) -> set[str]:
    return {check.sheet.header(name) for name in ("runs", "interval")} & {i.column for i in check.issues}


def _subscription_checks(check: _RowCheck, service: Service, fields: dict[str, Any]) -> None:
    low, high = fields.get("min"), fields.get("max")
    if low is not None and high is not None:
        if low > high:
            check.error("min", f"{low} is above max {high}")
        else:
            _bounds(check, "min", service, low)
            _bounds(check, "max", service, high)


def _web_traffic_checks(check: _RowCheck, service: Service, fields: dict[str, Any]) -> None:
    traffic = fields.get("type_of_traffic")
    for code, needed in ((1, "google_keyword"), (2, "referring_url")):
        if traffic == code and needed not in fields:
            check.error(needed, f"missing; type_of_traffic {code} needs {needed}")
        elif traffic is not None and traffic != code and needed in fields:
            del fields[needed]
            check.warn(needed, f"is used only with type_of_traffic {code}; it will not be sent")


_TYPE_CHECKS: dict[str, Callable[[_RowCheck, Service, dict[str, Any]], None]] = {
    "Subscriptions": _subscription_checks,
    "Web Traffic": _web_traffic_checks,
}


def _duplicate(
    check: _RowCheck, service: Service, order: OrderRow | None, values: dict[str, Any], seen: dict[tuple[str, str], int]
) -> None:
    target = order.link if order else _plain(values.get("link"))
    column = "link"
    if target is None and order is not None and "username" in order.fields:
        target, column = order.fields["username"], "username"
    if not target:
        return
    key = (service.service, target.rstrip("/").lower())
    first = seen.setdefault(key, check.row)
    if first != check.row:
        check.warn(
            column,
            f"same {column} and service {service.service} as row {first}; panels refuse "
            "a second order on one link while the first is active",
        )


def _plain(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


_FIELD_PARSERS: dict[str, Callable[[Any], Any]] = {
    name: (
        whole_number
        if name in INTEGER_FIELDS
        else lines
        if name in LIST_FIELDS
        else day_month_year
        if name in DATE_FIELDS
        else text
    )
    for name in TYPE_FIELDS
}
