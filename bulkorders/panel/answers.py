"""The panel's answers: JSON Schema checks, then plain models (no I/O but reading the schemas).

Every answer is checked against the schema of its action and form (bulkorders/schemas/)
before anything is read from it, so the parsers below may trust the shape. Panels send
numbers as numbers or strings and ids as ints or strings: money becomes `Decimal` (the
JSON is decoded with `parse_float=Decimal`, never through float), ids strings, counts ints.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from bulkorders.errors import BadAnswer
from bulkorders.models import (
    Balance,
    CancelResult,
    OrderStatus,
    RefillResult,
    RefillStatus,
    Service,
)

SCHEMA_BASE = "https://bulkorders.invalid/schemas/"
NO_ANSWER = "no answer for this order from the panel"
NO_ANSWER_REFILL = "no answer for this refill from the panel"
_AUTH_TEXTS = ("invalid api key", "incorrect api key")
_FUNDS_TEXTS = ("not enough funds", "neworder.error.not_enough_funds")


class NotJson(ValueError):
    """The body is not a JSON document."""


class AnswerShapeError(BadAnswer):
    """A JSON answer that breaks its action's schema; `what` says where and how."""

    def __init__(self, action: str, what: str) -> None:
        super().__init__(
            f"The panel's answer to {action} is not what API v2 promises: {what}. "
            "Check that the panel URL is its API v2 endpoint (usually ending in /api/v2); "
            "--debug shows the requests."
        )
        self.action = action
        self.what = what


# --- decoding and checking ------------------------------------------------------------


def decode(text: str) -> Any:
    """JSON text -> Python, with every non-integer number as an exact `Decimal`."""
    text = text.lstrip("\ufeff").strip()
    if not text:
        raise NotJson("empty body")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise NotJson(str(exc)) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def schema_name(action: str, multi: bool = False) -> str:
    """The schema file (without .json) of an action's answer, e.g. `status-multi`."""
    return f"{action}-multi" if multi else action


def check(action: str, doc: Any, *, multi: bool = False) -> None:
    """Raise AnswerShapeError naming the action and what was wrong when `doc` breaks its schema."""
    validator = _validator(schema_name(action, multi))
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise AnswerShapeError(action, _describe(errors[0]))


@functools.cache
def _registry() -> Registry:
    folder = resources.files("bulkorders") / "schemas"
    registry: Registry = Registry()
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            contents = json.loads(entry.read_text(encoding="utf-8"))
            registry = registry.with_resource(SCHEMA_BASE + entry.name, Resource.from_contents(contents))
    return registry


def _is_integer(checker: Any, instance: Any) -> bool:
    # parse_float=Decimal turns 10.0 into Decimal("10.0"): still a whole number.
    if isinstance(instance, Decimal):
        return instance.is_finite() and instance == instance.to_integral_value()
    return jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(instance, "integer")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@functools.cache
def _validator(name: str) -> Any:
    schema = _registry().contents(SCHEMA_BASE + name + ".json")
    return _Validator(schema, registry=_registry())


def _describe(error: ValidationError) -> str:
    where = error.json_path
    value = _short(error.instance)
    if error.validator in ("anyOf", "oneOf") and "description" in error.schema:
        what = f"{value} is not {error.schema['description']}"
    elif error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        what = "no " + ", ".join(f'"{name}"' for name in missing) + f" in {value}"
    elif error.validator == "type":
        expected = error.validator_value
        what = f"{value} is not {_TYPE_WORDS.get(str(expected), f'of type {expected}')}"
    else:
        what = error.message if len(error.message) < 160 else error.message[:157] + "…"
    return what if where == "$" else f"at {where}, {what}"


_TYPE_WORDS = {
    "array": "a list", "object": "an object", "string": "a text", "integer": "a whole number",
    "number": "a number", "['object', 'array']": "an object",
}  # fmt: skip


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- errors the panel states ----------------------------------------------------------


def top_error(doc: Any) -> str | None:
    """The text of a whole-answer `{"error": …}`, or None when the answer is not one."""
    if isinstance(doc, dict) and doc.get("error") not in (None, "", False):
        return error_text(doc["error"])
    return None


def error_text(value: Any) -> str:
    """An `error` value as one line of text (panels mostly send strings, some objects)."""
    if isinstance(value, str):
        return " ".join(value.split()) or "(empty error)"
    return _short(value, 200)


def is_auth_error(text: str) -> bool:
    """`Invalid API key` / `Incorrect API key`, anywhere in the text, any case."""
    low = text.lower()
    return any(t in low for t in _AUTH_TEXTS)


def is_funds_error(text: str) -> bool:
    """`Not enough funds…` or the raw key `neworder.error.not_enough_funds`."""
    low = text.lower()
    return any(t in low for t in _FUNDS_TEXTS)


# --- values ---------------------------------------------------------------------------


def as_id(value: Any) -> str:
    """An id the panel sent (int, integral Decimal or string) -> its text."""
    if isinstance(value, Decimal):
        return str(int(value))
    return str(value).strip()


def as_money(value: Any) -> Decimal | None:
    """A money value -> exact Decimal; blank or null -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return Decimal(str(value).strip())


def as_count(value: Any) -> int | None:
    """A count -> int; blank or null -> None."""
    money = as_money(value)
    return None if money is None else int(money)


def as_flag(value: Any) -> bool:
    """true/false, 1/0, "1"/"0", "true"/"false" (missing or blank: False)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in ("1", "true")


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# --- parsers, one per action and form (each checks the schema first) ------------------


def parse_services(doc: Any) -> list[Service]:
    """The catalogue. A missing `type` means Default, missing refill/cancel mean no."""
    check("services", doc)
    return [
        Service(
            service=as_id(item["service"]),
            name=str(item["name"]).strip(),
            type=_text_or_none(item.get("type")) or "Default",
            category=_text_or_none(item.get("category")) or "",
            rate=Decimal(str(item["rate"]).strip()),
            min=int(as_money(item["min"]) or 0),
            max=int(as_money(item["max"]) or 0),
            refill=as_flag(item.get("refill")),
            cancel=as_flag(item.get("cancel")),
        )
        for item in doc
    ]


def parse_balance(doc: Any) -> Balance:
    check("balance", doc)
    return Balance(amount=Decimal(str(doc["balance"]).strip()), currency=str(doc["currency"]).strip())


def parse_add(doc: Any) -> str:
    """The new order's id."""
    check("add", doc)
    return as_id(doc["order"])


def _order_status(order_id: str, entry: dict[str, Any]) -> OrderStatus:
    return OrderStatus(
        order=order_id,
        status=_text_or_none(entry["status"]),
        charge=as_money(entry.get("charge")),
        currency=_text_or_none(entry.get("currency")),
        start_count=as_count(entry.get("start_count")),
        remains=as_count(entry.get("remains")),
    )


def parse_status(order_id: str, doc: Any) -> OrderStatus:
    check("status", doc)
    return _order_status(order_id, doc)


def parse_statuses(order_ids: Sequence[str], doc: Any) -> dict[str, OrderStatus]:
    """The multi form: an object keyed by order id; ids left out get NO_ANSWER."""
    check("status", doc, multi=True)
    entries = {as_id(k): v for k, v in doc.items()} if isinstance(doc, dict) else {}
    result: dict[str, OrderStatus] = {}
    for order_id in order_ids:
        entry = entries.get(order_id)
        if entry is None:
            result[order_id] = OrderStatus(order=order_id, error=NO_ANSWER)
        elif "error" in entry:
            result[order_id] = OrderStatus(order=order_id, error=error_text(entry["error"]))
        else:
            result[order_id] = _order_status(order_id, entry)
    return result


def _id_or_error(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, dict):
        return None, error_text(value.get("error"))
    return as_id(value), None


def parse_refill(order_id: str, doc: Any) -> RefillResult:
    check("refill", doc)
    refill, error = _id_or_error(doc["refill"])
    return RefillResult(order=order_id, refill=refill, error=error)


def parse_refills(order_ids: Sequence[str], doc: Any) -> list[RefillResult]:
    """The multi form: a list of {order, refill}; refill may be {"error": …}."""
    check("refill", doc, multi=True)
    by_order = {as_id(item["order"]): item for item in doc}
    results = []
    for order_id in order_ids:
        item = by_order.get(order_id)
        if item is None:
            results.append(RefillResult(order=order_id, error=NO_ANSWER))
            continue
        refill, error = _id_or_error(item["refill"] if "refill" in item else {"error": item["error"]})
        results.append(RefillResult(order=order_id, refill=refill, error=error))
    return results


def _text_or_error(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, dict):
        return None, error_text(value.get("error"))
    return _text_or_none(value), None


def parse_refill_status(refill_id: str, doc: Any) -> RefillStatus:
    check("refill_status", doc)
    status, error = _text_or_error(doc["status"])
    return RefillStatus(refill=refill_id, status=status, error=error)


def parse_refill_statuses(refill_ids: Sequence[str], doc: Any) -> dict[str, RefillStatus]:
    """The multi form: a list of {refill, status}; status may be {"error": …}."""
    check("refill_status", doc, multi=True)
    by_refill = {as_id(item["refill"]): item for item in doc}
    result: dict[str, RefillStatus] = {}
    for refill_id in refill_ids:
        item = by_refill.get(refill_id)
        if item is None:
            result[refill_id] = RefillStatus(refill=refill_id, error=NO_ANSWER_REFILL)
            continue
        status, error = _text_or_error(item["status"] if "status" in item else {"error": item["error"]})
        result[refill_id] = RefillStatus(refill=refill_id, status=status, error=error)
    return result


def parse_cancels(order_ids: Sequence[str], doc: Any) -> list[CancelResult]:
    """A list of {order, cancel}; cancel is an id or {"error": …}."""
    check("cancel", doc)
    by_order = {as_id(item["order"]): item for item in doc}
    results = []
    for order_id in order_ids:
        item = by_order.get(order_id)
        if item is None:
            results.append(CancelResult(order=order_id, error=NO_ANSWER))
            continue
        cancel, error = _id_or_error(item["cancel"] if "cancel" in item else {"error": item["error"]})
        results.append(CancelResult(order=order_id, cancel=cancel, error=error))
    return results


# --- pages that are not JSON ----------------------------------------------------------

_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)


def page_excerpt(text: str, limit: int = 120) -> str:
    """A short, tag-free excerpt of an HTML (or any text) body: its title, then its text."""
    title = _TITLE.search(text)
    head = " ".join(html.unescape(title.group(1)).split()) if title else ""
    rest = " ".join(html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", text))).split())
    if head and rest.startswith(head):  # a <title> outside <head>
        rest = rest[len(head) :].strip()
    words = f"{head}: {rest}" if head and rest else head or rest
    if not words:
        return "(empty body)"
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def looks_like_html(text: str) -> bool:
    head = text.lstrip("\ufeff \t\r\n")[:200].lower()
    return head.startswith("<") or "<html" in head or "<!doctype" in head
