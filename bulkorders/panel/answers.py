"""The panel's answers, in every dialect of API v2 seen on real panels -> plain models.

Pure (no I/O but reading the schemas). Each parser unwraps the panel's wrapper, folds the
case of field names (`shapes`), checks the schema of what it reads (`decoding`) and reads
the values exactly (`values`: money as `Decimal` by the thousands-separator rule, ids as
text, counts as ints). A multi answer is read entry by entry: an entry that cannot be read
fails its order only, with the panel's raw text in its error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from bulkorders.errors import BadAnswer
from bulkorders.models import (
    Balance,
    CancelResult,
    OrderStatus,
    RefillResult,
    RefillStatus,
    Service,
)
from bulkorders.panel import shapes, values
from bulkorders.panel.decoding import (
    AnswerShapeError,
    NotJson,
    check,
    check_entry,
    decode,
    looks_like_html,
    page_excerpt,
    short,
)
from bulkorders.panel.shapes import (
    is_auth_refusal,
    is_funds_refusal,
    is_rate_limit,
    is_server_failure,
    unwrap,
)

__all__ = [
    "AnswerShapeError", "NotJson", "decode", "is_auth_refusal", "is_funds_refusal",
    "is_rate_limit", "is_server_failure", "looks_like_html", "page_excerpt", "short", "unwrap",
]  # fmt: skip

_R = TypeVar("_R")
NO_ANSWER = "no answer for this order from the panel"
NO_ANSWER_REFILL = "no answer for this refill from the panel"


# --- errors the panel states ----------------------------------------------------------


def top_error(doc: Any) -> str | None:
    """The text of a whole-answer refusal in any shape (see `shapes`), or None."""
    if isinstance(doc, str):
        return None if _looks_like_id(doc) else shapes.refusal(doc)
    return shapes.refusal(doc) if isinstance(doc, dict) else None


def _looks_like_id(text: str) -> bool:
    return bool(re.fullmatch(r"\s*[0-9]+\s*", text))


class Unreadable(str):
    """The text of an entry bulkorders cannot read (why, and the panel's raw text). For a
    refill or cancel it says nothing about what the panel did: the answer counts as lost."""


def unreadable(entry: Any, why: str) -> Unreadable:
    """The `error` of an entry bulkorders cannot read: why, and the panel's raw text."""
    return Unreadable(f"unreadable answer from the panel ({why}): {short(entry, 200)}")


def _change_result(kind: Callable[..., _R], order: str, value: str | None, error: str | None) -> _R:
    """A refill/cancel result: an unreadable entry is a lost answer, not a refusal."""
    if isinstance(error, Unreadable):
        return kind(order=order, lost=True, detail=str(error))
    return kind(order=order, **{"refill" if kind is RefillResult else "cancel": value}, error=error)


# --- values ---------------------------------------------------------------------------


def as_id(value: Any) -> str:
    """An id the panel sent (int, integral Decimal or string) -> its text."""
    return values.read_id(value)


def as_money(value: Any, field: str = "amount") -> Decimal | None:
    """A money value -> exact Decimal (the rule of `values`); not given -> None."""
    return values.read_money(value, field)


def as_count(value: Any, field: str = "count") -> int | None:
    """A count -> int; not given -> None."""
    return values.read_count(value, field)


def as_flag(value: Any) -> bool:
    """true/false, 1/0, "1"/"0", "true"/"false" (missing or blank: False)."""
    return values.read_flag(value)


# --- parsers, one per action and form -------------------------------------------------
# Each unwraps the panel's wrapper, folds the case of field names, checks the schema of
# what it reads and reads the values exactly. A multi answer is read entry by entry: an
# entry that cannot be read fails its order only, with the raw text in its error.


def parse_services(doc: Any, skipped: dict[str, str] | None = None) -> list[Service]:
    """The catalogue; an entry that cannot be read is left out, its raw text in `skipped`
    under its service id (or `#N`, its place, when even the id cannot be read)."""
    doc = shapes.unwrap(doc)
    if isinstance(doc, dict) and isinstance(doc.get("services"), list):
        doc = doc["services"]
    elif isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in doc.values()):
        doc = list(doc.values())
    check("services", doc)
    found = []
    for place, raw in enumerate(doc):
        item = shapes.fold(raw)
        problem = check_entry("services#/$defs/entry", item)
        if problem is None:
            try:
                found.append(_service(item))
                continue
            except values.ValueProblem as exc:
                problem = str(exc)
        if skipped is not None:
            service = _id_or_none(item.get("service")) if isinstance(item, dict) else None
            skipped[service or f"#{place + 1}"] = unreadable(raw, problem)
    return found


def _service(item: dict[str, Any]) -> Service:
    rate = as_money(item["rate"], "rate")
    if rate is None:
        raise values.ValueProblem("rate", item["rate"], "is not given")
    return Service(
        service=as_id(item["service"]),
        name=str(item["name"]).strip(),
        type=values.read_type(item.get("type")),
        category=values.read_text(item.get("category")) or "",
        rate=rate,
        min=as_count(item.get("min"), "min") or 0,
        max=as_count(item.get("max"), "max") or 0,
        refill=as_flag(item.get("refill")),
        cancel=as_flag(item.get("cancel")),
    )


class NoCurrency(BadAnswer):
    """The panel's balance answer names no currency, and the profile sets none."""


def parse_balance(doc: Any, currency: str | None = None) -> Balance:
    """The balance; a panel that names no currency takes the profile's `currency`."""
    doc = shapes.unwrap(doc)
    check("balance", doc)
    try:
        amount = as_money(doc["balance"], "balance")
    except values.ValueProblem as exc:
        raise AnswerShapeError("balance", str(exc)) from None
    if amount is None:
        raise AnswerShapeError("balance", f"no amount in {short(doc)}")
    named = values.read_text(doc.get("currency"))
    if named is None and not currency:
        raise NoCurrency(
            f"The panel's balance answer names no currency ({short(doc)}). Set currency = \"USD\" "
            "(the panel's currency) in the panel's [panels.NAME] profile of the config file, then rerun."
        )
    return Balance(amount=amount, currency=named or str(currency))


_ADD_ID_KEYS = ("order", "order_id", "orderid", "id")


def add_order_id(doc: Any) -> str | None:
    """The new order's id wherever the panel put it (`order`, `order_id`, `orderId`,
    `data.order`, a bare number), or None when the answer carries none."""
    doc = shapes.unwrap(doc)
    if isinstance(doc, int | Decimal) and not isinstance(doc, bool) or (
        isinstance(doc, str) and _looks_like_id(doc)
    ):
        return _id_or_none(doc)
    if not isinstance(doc, dict):
        return None
    for key in _ADD_ID_KEYS:
        value = doc.get(key)
        if isinstance(value, dict):
            value = shapes.fold(value).get("id", shapes.fold(value).get("order"))
        found = _id_or_none(value)
        if found is not None:
            return found
    inner = doc.get("data")
    return add_order_id(inner) if isinstance(inner, dict) else None


def _id_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        found = as_id(value)
    except values.ValueProblem:
        return None
    return None if found in ("0", "") else found


def no_order_id(doc: Any) -> str:
    """What is wrong with an add answer that carries no order id."""
    return f"no order id (order, order_id, orderId or data.order) in {short(doc)}"


def _order_status(order_id: str, raw: Any) -> OrderStatus:
    """One status entry (single answer or an entry of a multi one) -> OrderStatus."""
    error = shapes.refusal(raw)
    if error is not None:
        return OrderStatus(order=order_id, error=error)
    entry = shapes.fold(raw)
    problem = check_entry("status", entry)
    if problem is not None:
        return OrderStatus(order=order_id, error=unreadable(raw, problem))
    try:
        return OrderStatus(
            order=order_id,
            status=values.read_text(entry["status"]),
            charge=as_money(entry.get("charge"), "charge"),
            currency=values.read_text(entry.get("currency")),
            start_count=as_count(entry.get("start_count"), "start_count"),
            remains=as_count(entry.get("remains"), "remains"),
        )
    except values.ValueProblem as exc:
        return OrderStatus(order=order_id, error=unreadable(raw, str(exc)))


def parse_status(order_id: str, doc: Any) -> OrderStatus:
    return _order_status(order_id, shapes.unwrap(doc))


def _keyed(doc: Any, id_keys: tuple[str, ...]) -> dict[str, Any]:
    """A multi answer as {id: entry}: an object keyed by id, or a list of entries naming theirs."""
    if isinstance(doc, dict):
        return {str(k).strip(): v for k, v in doc.items()}
    keyed: dict[str, Any] = {}
    for item in doc if isinstance(doc, list) else []:
        low = shapes.fold(item)
        for key in id_keys:
            found = _id_or_none(low.get(key)) if isinstance(low, dict) else None
            if found is not None:
                keyed.setdefault(found, item)
                break
    return keyed


def _lookup(entries: dict[str, Any], wanted: str) -> Any:
    if wanted in entries:
        return entries[wanted]
    folded = {k.lower(): v for k, v in entries.items()}
    return folded.get(wanted.lower())


def _single_form(doc: Any, ids: Sequence[str], field: str) -> bool:
    """A one-id multi request answered in the single form (`{"status": …}` for that id)."""
    return len(ids) == 1 and isinstance(doc, dict) and field in doc and ids[0] not in doc


def parse_statuses(order_ids: Sequence[str], doc: Any) -> dict[str, OrderStatus]:
    """The multi form: an object keyed by order id (or a list, or the single form for one id);
    ids left out get NO_ANSWER; a refusal of the whole request is every order's error."""
    doc = shapes.unwrap(doc)
    whole = top_error(doc)
    if whole is not None or _single_form(doc, order_ids, "status"):
        return {i: _order_status(i, doc) for i in order_ids}
    check("status", doc, multi=True)
    entries = _keyed(doc, ("order", "order_id", "id"))
    result: dict[str, OrderStatus] = {}
    for order_id in order_ids:
        entry = _lookup(entries, order_id)
        if entry is None:
            result[order_id] = OrderStatus(order=order_id, error=NO_ANSWER)
        else:
            result[order_id] = _order_status(order_id, shapes.unwrap(entry) if isinstance(entry, dict) else entry)
    return result


_Read = Callable[[Any], str | None]


def _answers_by_id(
    ids: Sequence[str], doc: Any, *, id_key: str, value_key: str, read: _Read, schema: tuple[str, bool]
) -> dict[str, tuple[str | None, str | None]]:
    """A refill/cancel/refill_status answer as {id: (value, error)}, in every shape seen:
    a list of {id_key, value_key}, an object keyed by id, the single form for one id, a
    refusal of the whole request, refusals on the items or in place of them."""
    doc = shapes.unwrap(doc)
    whole = top_error(doc)
    if whole is not None:
        return {i: (None, whole) for i in ids}
    if _single_form(doc, ids, value_key):
        return {ids[0]: _entry_value(doc, value_key, read)}
    check(schema[0], doc, multi=schema[1])
    id_keys = (id_key,) if isinstance(doc, dict) else (id_key, "order_id", "id")
    entries = _keyed(doc, id_keys)
    if isinstance(doc, list) and len(doc) == len(ids):
        # One item per id, in order: an item naming no id (a bare text, an error) is the
        # answer about the id in its place, when that id has no item of its own.
        unmatched = {i for i in ids if _lookup(entries, i) is None}
        for wanted, item in zip(ids, doc):
            if wanted in unmatched and not _names_an_id(item, id_keys):
                entries[wanted] = item
    found: dict[str, tuple[str | None, str | None]] = {}
    for wanted in ids:
        entry = _lookup(entries, wanted)
        if entry is None:
            found[wanted] = (None, NO_ANSWER_REFILL if id_key == "refill" else NO_ANSWER)
        elif isinstance(doc, dict) and not isinstance(entry, dict):
            found[wanted] = _read_value(entry, {value_key: entry}, read)  # keyed: {"7": "Completed"}
        else:
            found[wanted] = _entry_value(entry, value_key, read)
    return found


def _names_an_id(item: Any, id_keys: tuple[str, ...]) -> bool:
    low = shapes.fold(item)
    return isinstance(low, dict) and any(_id_or_none(low.get(key)) is not None for key in id_keys)


def _entry_value(entry: Any, value_key: str, read: _Read) -> tuple[str | None, str | None]:
    if not isinstance(entry, dict):
        return None, shapes.refusal(entry) or unreadable(entry, "not an object")
    low = shapes.fold(entry)
    if value_key in low and low[value_key] not in (None, ""):
        return _read_value(low[value_key], entry, read)
    error = shapes.refusal(low)
    return None, error or unreadable(entry, f'no "{value_key}"')


def _read_value(value: Any, entry: Any, read: _Read) -> tuple[str | None, str | None]:
    if isinstance(value, dict | list):
        return None, shapes.refusal(value) or unreadable(entry, "not a value")
    try:
        got = read(value)
    except _Refused as exc:
        return None, str(exc)
    except values.ValueProblem as exc:
        return None, unreadable(entry, str(exc))
    return (got, None) if got is not None else (None, unreadable(entry, "no value"))


def _cancel_value(value: Any) -> str | None:
    """`cancel`: an id, or true/1 ("asked") -> text; false/0 is a refusal without words."""
    if value is True or (isinstance(value, str) and value.strip().lower() == "true"):
        return "1"
    if value is False or value == 0 or (isinstance(value, str) and value.strip().lower() in ("false", "0")):
        raise _Refused(f"the panel answered cancel: {short(value)}, without a reason")
    return as_id(value)


class _Refused(ValueError):
    """A value that is itself a refusal (`"cancel": false`)."""


def parse_refill(order_id: str, doc: Any) -> RefillResult:
    return parse_refills([order_id], doc)[0]


def parse_refills(order_ids: Sequence[str], doc: Any) -> list[RefillResult]:
    """One result per order: a refill id or the panel's refusal."""
    found = _answers_by_id(order_ids, doc, id_key="order", value_key="refill", read=as_id,
                           schema=("refill", True))  # fmt: skip
    return [_change_result(RefillResult, i, *found[i]) for i in order_ids]


def parse_refill_status(refill_id: str, doc: Any) -> RefillStatus:
    return parse_refill_statuses([refill_id], doc)[refill_id]


def parse_refill_statuses(refill_ids: Sequence[str], doc: Any) -> dict[str, RefillStatus]:
    """Keyed by refill id: a status text or the panel's refusal."""
    found = _answers_by_id(refill_ids, doc, id_key="refill", value_key="status",
                           read=values.read_text, schema=("refill_status", True))  # fmt: skip
    return {i: RefillStatus(refill=i, status=found[i][0], error=found[i][1]) for i in refill_ids}


def parse_cancels(order_ids: Sequence[str], doc: Any) -> list[CancelResult]:
    """One result per order: `cancel` is the panel's cancel id ("1" for true), or its refusal."""
    found = _answers_by_id(order_ids, doc, id_key="order", value_key="cancel", read=_cancel_value,
                           schema=("cancel", False))  # fmt: skip
    return [_change_result(CancelResult, i, *found[i]) for i in order_ids]
