"""How the sandbox answers: the clean dialect, and the hooks every other dialect overrides.

The panel logic (`panel.py`, `rules.py`) computes every answer once, in the clean API v2
form. A `Dialect` only renders it: the same balance, orders and refusals written as a
PHP `number_format` shop, a SmartPanel-style script, a Next.js panel or a serverless one
writes them, with their HTTP statuses and content types (the families are in
`dialects.py`). Pure: no I/O.

`Dialect.answer(form, handle)` translates the request (opaque ids back to the panel's),
asks `handle` (the panel) and renders what it said.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bulkorders.panel.sandbox.panel import (
    INCORRECT_ORDER,
    INCORRECT_SERVICE,
    INVALID_KEY,
    NO_FUNDS,
    REFILL_NOT_FOUND,
)

Handle = Callable[[Mapping[str, str]], tuple[int, Any]]
ID_FIELDS = ("order", "orders", "refill", "refills")
NOT_FOUND = frozenset({INCORRECT_SERVICE, INCORRECT_ORDER, REFILL_NOT_FOUND})


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, JSON-able body, content type; `indent` pretty-prints it."""

    status: int
    body: Any
    content_type: str = "application/json"
    indent: int | None = None

    def content(self) -> bytes:
        """The body as the panel writes it on the wire."""
        return json.dumps(self.body, indent=self.indent).encode()


def error_kind(text: str) -> str:
    """What a clean refusal is about: "auth", "funds", "not_found" or "refused"."""
    if text == INVALID_KEY:
        return "auth"
    if text == NO_FUNDS:
        return "funds"
    return "not_found" if text in NOT_FOUND else "refused"


@dataclass
class Exchange:
    """One request on its way through a dialect: the ids as sent, by the panel's own id."""

    action: str
    multi: bool
    sent: dict[str, str] = field(default_factory=dict)  # panel id text -> id text as sent


class Dialect:
    """The clean dialect (Perfect Panel's, as in SPEC); subclasses override the hooks."""

    name = "clean"
    describe = "Perfect Panel's own answers: SPEC's table, errors as {\"error\": …} with HTTP 200"
    wording: dict[str, str] = {}  # clean error text -> this dialect's
    statuses: dict[str, int] = {}  # error kind -> HTTP status (absent: the panel's)
    words: dict[str, str] = {}  # clean status word -> this dialect's
    keeps_canceled_charge = False  # a canceled order still shows what it was charged
    has_cancel = True
    content_type = "application/json"
    indent: int | None = None

    # --- the request -------------------------------------------------------------------

    def answer(self, form: Mapping[str, str], handle: Handle) -> Reply:
        """Translate `form`, ask the panel through `handle`, render its answer."""
        action = (form.get("action") or "").strip()
        multi = action in ("cancel", "status", "refill", "refill_status") and bool(
            form.get("orders") if action != "refill_status" else form.get("refills")
        )
        exchange = Exchange(action, multi)
        panel_form = {name: self._id_in(name, value, exchange) if name in ID_FIELDS else value
                      for name, value in form.items()}  # fmt: skip
        refusal = self.refuse(action, panel_form)
        if refusal is None:
            status, body = handle(panel_form)
        else:  # the key is checked first, as the panel does: a balance call changes nothing
            status, body = handle({**panel_form, "action": "balance"})
            if not (isinstance(body, dict) and body.get("error") == INVALID_KEY):
                status, body = 200, {"error": refusal}
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return self.error(status, body["error"])
        rendered = self.render(exchange, body)
        return rendered if isinstance(rendered, Reply) else self.reply(200, rendered)

    def refuse(self, action: str, form: Mapping[str, str]) -> str | None:
        """A refusal this dialect makes before the panel looks (the key is checked first)."""
        return None

    def reply(self, status: int, body: Any) -> Reply:
        return Reply(status, body, self.content_type, self.indent)

    def error(self, status: int, text: str) -> Reply:
        """A whole request refused: this dialect's words, shape and HTTP status."""
        status = self.statuses.get(error_kind(text), status)
        return self.reply(status, self.error_body(self.wording.get(text, text)))

    def error_body(self, text: str) -> Any:
        return {"error": text}

    # --- values ------------------------------------------------------------------------

    def money(self, text: str) -> Any:
        return text

    def count(self, value: Any) -> Any:
        return str(value)

    def flag(self, value: bool) -> Any:
        return value

    def type_name(self, kind: str) -> str:
        return kind

    def word(self, status: str) -> str:
        return self.words.get(status, status)

    def order_out(self, exchange: Exchange, value: Any) -> Any:
        return value

    def refill_out(self, exchange: Exchange, value: Any) -> Any:
        return value

    def cancel_out(self, value: int) -> Any:
        return value

    def _id_in(self, name: str, value: str, exchange: Exchange) -> str:
        return value

    # --- answers -----------------------------------------------------------------------

    def render(self, exchange: Exchange, body: Any) -> Any:
        """A successful clean answer of `exchange.action`, in this dialect (or a `Reply`)."""
        render = getattr(self, f"_{exchange.action}", None)
        return render(exchange, body) if render else body

    def wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        """A success answer of balance/add/refill (a wrapper where the dialect has one)."""
        return body

    def item_error(self, text: str) -> Any:
        """An entry of a multi answer that is a refusal."""
        return {"error": self.wording.get(text, text)}

    def status_error(self, text: str) -> Any:
        """An entry of a multi status answer that is a refusal."""
        return self.item_error(text)

    def _services(self, exchange: Exchange, body: list[dict[str, Any]]) -> Any:
        return [
            {**s, "type": self.type_name(s["type"]), "rate": self.money(s["rate"]),
             "min": self.count(s["min"]), "max": self.count(s["max"]),
             "refill": self.flag(s["refill"]), "cancel": self.flag(s["cancel"] and self.has_cancel)}
            for s in body
        ]  # fmt: skip

    def _balance(self, exchange: Exchange, body: dict[str, str]) -> Any:
        return self.wrap({"balance": self.money(body["balance"]), "currency": body["currency"]})

    def _add(self, exchange: Exchange, body: dict[str, Any]) -> Any:
        return self.wrap({"order": self.order_out(exchange, body["order"])})

    def view(self, body: dict[str, str]) -> dict[str, Any]:
        """One order's status entry."""
        return {
            "charge": self.money(body["charge"]), "start_count": self.count(body["start_count"]),
            "status": self.word(body["status"]), "remains": self.count(body["remains"]),
            "currency": body["currency"],
        }  # fmt: skip

    def _status(self, exchange: Exchange, body: dict[str, Any]) -> Any:
        if not exchange.multi:
            return self.view(body)
        return {
            exchange.sent.get(key, key): self.status_error(entry["error"]) if "error" in entry else self.view(entry)
            for key, entry in body.items()
        }

    def _refill(self, exchange: Exchange, body: Any) -> Any:
        if not exchange.multi:
            return self.wrap({"refill": self.refill_out(exchange, body["refill"])})
        return [self.list_item(exchange, "refill", item, self.refill_out) for item in body]

    def _cancel(self, exchange: Exchange, body: list[dict[str, Any]]) -> Any:
        return [self.list_item(exchange, "cancel", item, lambda ex, v: self.cancel_out(v)) for item in body]

    def list_item(self, exchange: Exchange, name: str, item: dict[str, Any],
                  out: Callable[[Exchange, Any], Any]) -> dict[str, Any]:  # fmt: skip
        """An item {order, refill|cancel} of a refill or cancel list."""
        outcome = item[name]
        value = self.item_error(outcome["error"]) if isinstance(outcome, dict) else out(exchange, outcome)
        return {"order": self.order_out(exchange, item["order"]), name: value}

    def _refill_status(self, exchange: Exchange, body: Any) -> Any:
        if not exchange.multi:
            return {"status": self.word(body["status"])}
        return [self.refill_entry(exchange, item) for item in body]

    def refill_entry(self, exchange: Exchange, item: dict[str, Any]) -> dict[str, Any]:
        status = item["status"]
        value = self.item_error(status["error"]) if isinstance(status, dict) else self.word(status)
        return {"refill": self.refill_out(exchange, item["refill"]), "status": value}


def number_format(text: str, places: int = 5) -> str:
    """PHP's number_format(x, places): rounded half up, "," between thousands ("2,500.00000")."""
    return f"{Decimal(text).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,.{places}f}"
