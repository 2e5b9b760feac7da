"""The families of real panels the sandbox can play (`sandbox serve --dialect NAME`).

Each is a rendering of the clean answers (`dialect.Dialect`), never other panel logic:
the balance, the orders and the rules stay the sandbox's own. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bulkorders.errors import ConfigError
from bulkorders.models import count_lines, type_rule
from bulkorders.panel.sandbox.catalogue import SERVICES
from bulkorders.panel.sandbox.dialect import Dialect, Exchange, Reply, number_format
from bulkorders.panel.sandbox.panel import INCORRECT_REQUEST, INVALID_KEY, NO_FUNDS
from bulkorders.panel.sandbox.rules import digits

QUANTITY_REQUIRED = "The quantity field is required."
QUANTITY_NOT_LINES = "The quantity must be the number of {field} (one per line)."
SERVICE_TYPES = {str(s["service"]): str(s["type"]) for s in SERVICES}


class PhpDialect(Dialect):
    """A PHP shop script: number_format money, 4xx codes, quantity on every add (but a
    subscription's, which has min/max per post), Cancelled."""

    name = "php"
    describe = 'PHP shop: money as "2,500.00000", 400/402/403/404, quantity required on every add'
    wording = {NO_FUNDS: "Insufficient balance"}
    statuses = {"auth": 403, "funds": 402, "not_found": 404, "refused": 400}
    words = {"In progress": "Processing", "Canceled": "Cancelled"}
    keeps_canceled_charge = True

    def refuse(self, action: str, form: Mapping[str, str]) -> str | None:
        if action != "add":
            return None
        service = SERVICE_TYPES.get((form.get("service") or "").strip())
        if service == "Subscriptions":
            return None  # min/max per post: php panels take a subscription without quantity (SPEC)
        quantity = (form.get("quantity") or "").strip()
        if not (digits(quantity) and int(quantity) >= 1):
            return QUANTITY_REQUIRED
        counted = type_rule(service).counted_field if service else None
        if counted and int(quantity) != count_lines(form.get(counted) or ""):
            return QUANTITY_NOT_LINES.format(field=counted)
        return None

    def money(self, text: str) -> Any:
        return number_format(text)

    def flag(self, value: bool) -> Any:
        return int(value)

    def _add(self, exchange: Exchange, body: dict[str, Any]) -> Any:
        return {"order": str(body["order"])}


class SmartPanelDialect(Dialect):
    """A SmartPanel-style script: status wrappers, lower-case types, pretty JSON as HTML."""

    name = "smartpanel"
    describe = "SmartPanel-style: status success/error wrappers, custom_comments types, no cancel"
    wording = {NO_FUNDS: "Not enough balance", INVALID_KEY: "Invalid or inactive API key"}
    has_cancel = False
    content_type = "text/html; charset=UTF-8"
    indent = 4

    def refuse(self, action: str, form: Mapping[str, str]) -> str | None:
        return INCORRECT_REQUEST if action == "cancel" else None

    def error_body(self, text: str) -> Any:
        return {"status": "error", "message": text}

    def wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"status": "success", **body}

    def type_name(self, kind: str) -> str:
        return kind.lower().replace(" ", "_")

    def status_error(self, text: str) -> Any:
        return self.wording.get(text, text)  # a bare string in place of the entry


class NextJsDialect(Dialect):
    """A Next.js panel: 401/400, lower-case statuses, "1"/"0" flags, one id in single form."""

    name = "nextjs"
    describe = 'Next.js-style: 401/400, lower-case statuses, "1"/"0" flags, errors on list items'
    wording = {NO_FUNDS: "neworder.error.not_enough_funds", INVALID_KEY: "Unauthorized"}
    statuses = {"auth": 401, "funds": 400, "not_found": 400, "refused": 400}

    def word(self, status: str) -> str:
        return status.lower()

    def flag(self, value: bool) -> Any:
        return "1" if value else "0"

    def render(self, exchange: Exchange, body: Any) -> Any:
        if exchange.multi and len(body) == 1:  # one id asked in the multi form: single answer
            return self._single(exchange, body)
        return super().render(exchange, body)

    def _single(self, exchange: Exchange, body: Any) -> Any:
        entry = next(iter(body.values())) if isinstance(body, dict) else body[0]
        inner = entry if exchange.action == "status" else entry.get(_OUTCOME[exchange.action])
        if isinstance(inner, dict) and "error" in inner:
            return self.error(200, inner["error"])
        if exchange.action == "status":
            return self.view(entry)
        if exchange.action == "refill":
            return {"refill": str(inner)}
        if exchange.action == "refill_status":
            return {"status": self.word(inner)}
        return {"order": entry["order"], "cancel": inner}

    def list_item(self, exchange, name, item, out):  # type: ignore[no-untyped-def]
        outcome = item[name]
        if isinstance(outcome, dict):
            return {"order": item["order"], "error": self.wording.get(outcome["error"], outcome["error"])}
        return super().list_item(exchange, name, item, out)

    def refill_entry(self, exchange: Exchange, item: dict[str, Any]) -> dict[str, Any]:
        if isinstance(item["status"], dict):
            return {"refill": item["refill"], "error": item["status"]["error"]}
        return super().refill_entry(exchange, item)


_OUTCOME = {"refill": "refill", "refill_status": "status", "cancel": "cancel"}


class ServerlessDialect(Dialect):
    """A serverless panel: opaque string ids, JSON numbers, `cancel: true`, keyed refill_status."""

    name = "serverless"
    describe = 'serverless: ids like "ORD01HG…", numbers as numbers, cancel: true, {"error": true, …}'
    wording = {NO_FUNDS: "low balance"}
    statuses = {"auth": 401, "funds": 402, "not_found": 404, "refused": 422}
    words = {"Canceled": "Refunded"}

    def error_body(self, text: str) -> Any:
        return {"error": True, "message": text}

    def money(self, text: str) -> Any:
        return float(Decimal(text))  # shortest repr: exact for the sandbox's amounts

    def count(self, value: Any) -> Any:
        return int(value)

    def order_out(self, exchange: Exchange, value: Any) -> Any:
        return _opaque(ORDER_PREFIX, value, exchange)

    def refill_out(self, exchange: Exchange, value: Any) -> Any:
        return _opaque(REFILL_PREFIX, value, exchange)

    def cancel_out(self, value: int) -> Any:
        return True

    def _add(self, exchange: Exchange, body: dict[str, Any]) -> Any:
        return {"order_id": self.order_out(exchange, body["order"])}

    def _id_in(self, name: str, value: str, exchange: Exchange) -> str:
        if not value.strip():
            return value
        prefix = REFILL_PREFIX if name.startswith("refill") else ORDER_PREFIX
        out = []
        for text in value.split(","):
            text = text.strip()
            number = decode_id(prefix, text)
            inner = str(number) if number is not None else f"?{text}"  # never one of ours
            exchange.sent[inner] = text
            out.append(inner)
        return ",".join(out)

    def _refill_status(self, exchange: Exchange, body: Any) -> Any:
        if not exchange.multi:
            return super()._refill_status(exchange, body)
        keyed: dict[str, Any] = {}
        for item in body:
            status = item["status"]
            keyed[self.refill_out(exchange, item["refill"])] = (
                {"error": status["error"]} if isinstance(status, dict) else {"status": self.word(status)}
            )
        return keyed


# --- opaque ids: a bijection of the panel's numbers, ULID-looking ------------------------

ORDER_PREFIX, REFILL_PREFIX = "ORD01HG", "RF01HG"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32
_WIDTH = 16
_SPACE = 32**_WIDTH
_MULTIPLIER = 0x9E3779B97F4A7C15F39D  # odd, so multiplying is a bijection mod 32**16
_INVERSE = pow(_MULTIPLIER, -1, _SPACE)


def encode_id(prefix: str, number: int) -> str:
    """The opaque id of panel number `number` ("ORD01HG…")."""
    value, chars = (number * _MULTIPLIER) % _SPACE, []
    for _ in range(_WIDTH):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return prefix + "".join(reversed(chars))


def decode_id(prefix: str, text: str) -> int | None:
    """The panel number behind an opaque id, or None when it is not one of ours."""
    body = text.upper()[len(prefix):]
    if not text.upper().startswith(prefix) or len(body) != _WIDTH or set(body) - set(_ALPHABET):
        return None
    value = 0
    for char in body:
        value = value * 32 + _ALPHABET.index(char)
    return (value * _INVERSE) % _SPACE


def _opaque(prefix: str, value: Any, exchange: Exchange) -> str:
    text = str(value)
    if text in exchange.sent and not digits(text):
        return exchange.sent[text]  # an id we could not read, echoed as it was sent
    return encode_id(prefix, int(text)) if digits(text) else text


DIALECTS: dict[str, Dialect] = {
    d.name: d for d in (Dialect(), PhpDialect(), SmartPanelDialect(), NextJsDialect(), ServerlessDialect())
}


def dialect(name: str | None) -> Dialect:
    """The dialect called `name` (None: the clean one); ConfigError naming the known ones."""
    found = DIALECTS.get((name or "clean").strip().lower())
    if found is None:
        raise ConfigError(f'Unknown sandbox dialect "{name}": use one of {", ".join(DIALECTS)}.')
    return found


__all__ = ["DIALECTS", "Dialect", "Reply", "decode_id", "dialect", "encode_id"]
