"""What the sandbox panel accepts in an `add`, by service type (pure, no I/O).

The checks a real panel makes before it places an order: required fields, quantity
bounds, drip-feed runs and interval, counted quantities, type-specific values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bulkorders.models import Service, count_lines, type_rule

INCORRECT_REQUEST = "Incorrect request"


def order_terms(
    service: Service, form: Mapping[str, str]
) -> tuple[str, int, dict[str, str], int | None] | str:
    """Check an `add` form as the panel would: (link, total quantity, fields, per-run
    quantity) when it can be placed, else the panel's error text."""
    rule = type_rule(service.type)
    link = _text(form, "link")
    if rule.needs_link and not link:
        return INCORRECT_REQUEST
    fields: dict[str, str] = {}
    for name in rule.fields:
        if not _text(form, name):
            return INCORRECT_REQUEST
        fields[name] = _text(form, name)
    fields.update({name: _text(form, name) for name in rule.optional if _text(form, name)})
    if service.type == "Subscriptions":
        return _subscription(service, link, fields)
    per_run: int | None = None
    if rule.quantity == "none":
        quantity = 1
    else:
        if rule.counted_field:
            quantity = count_lines(fields[rule.counted_field])
        else:
            parsed = _whole(_text(form, "quantity"))
            if parsed is None:
                return INCORRECT_REQUEST
            quantity = per_run = parsed
        problem = _bounds(service, quantity)
        if problem:
            return problem
    runs = 1
    if rule.drip_feed:
        drip = _drip_feed(fields)
        if isinstance(drip, str):
            return drip
        runs = drip
    problem = _type_checks(service.type, fields)
    if problem:
        return problem
    return link, quantity * runs, fields, per_run


def _drip_feed(fields: dict[str, str]) -> int | str:
    runs, interval = fields.get("runs"), fields.get("interval")
    if runs is None and interval is None:
        return 1
    if runs is None or interval is None:
        return "Drip-feed needs both runs and interval"
    count = _whole(runs)
    if count is None or count < 2:
        return "Incorrect runs: drip-feed needs at least 2 runs"
    minutes = _whole(interval)
    if minutes is None or minutes < 1:
        return "Incorrect interval: at least 1 minute between runs"
    return count


def _type_checks(kind: str, fields: dict[str, str]) -> str | None:
    if kind == "Poll" and not (_whole(fields["answer_number"]) or 0) >= 1:
        return "Incorrect answer number"
    if kind == "Web Traffic":
        device, traffic = _whole(fields["device"]), _whole(fields["type_of_traffic"])
        if device is None or not 1 <= device <= 5:
            return "Incorrect device: use 1 to 5"
        if traffic is None or not 1 <= traffic <= 3:
            return "Incorrect type of traffic: use 1 to 3"
        if traffic == 1 and not fields.get("google_keyword"):
            return "Google keyword is required for this type of traffic"
        if traffic == 2 and not fields.get("referring_url"):
            return "Referring URL is required for this type of traffic"
    return None


def _subscription(
    service: Service, link: str, fields: dict[str, str]
) -> tuple[str, int, dict[str, str], int | None] | str:
    low, high, delay = _whole(fields["min"]), _whole(fields["max"]), _whole(fields["delay"])
    if low is None or high is None or low > high:
        return "Incorrect min or max: whole numbers with min not above max"
    problem = _bounds(service, low) or _bounds(service, high)
    if problem:
        return problem
    if delay is None:
        return "Incorrect delay"
    posts = _whole(fields.get("posts", "1"))
    if posts is None or posts < 1 or _whole(fields.get("old_posts", "0")) is None:
        return "Incorrect posts"
    if "expiry" in fields:
        try:
            datetime.strptime(fields["expiry"], "%d/%m/%Y")
        except ValueError:
            return "Incorrect expiry date: use d/m/Y"
    return link, high * posts, fields, None


def _bounds(service: Service, quantity: int) -> str | None:
    if quantity < service.min:
        return f"Quantity less than minimal {service.min}"
    if quantity > service.max:
        return f"Quantity more than maximum {service.max}"
    return None


def _text(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if digits(text) else None


def digits(text: str) -> bool:
    """True for plain ASCII digits only (str.isdigit alone accepts "²")."""
    return text.isascii() and text.isdigit()
