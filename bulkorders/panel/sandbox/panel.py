"""The sandbox panel itself: pure API v2 logic over an in-memory state, no I/O.

`SandboxPanel.handle(form, now)` answers one API call. Time is passed in (`now`, epoch
seconds), so an order's status is computed lazily from its creation time: no thread.
Every change of state is an event (a JSON-able dict) that is applied to `SandboxState`
and handed to `record`, so a journal can persist it and replay it later.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bulkorders.models import PACKAGE_TYPES, Service, format_money, type_rule
from bulkorders.panel.sandbox.catalogue import SERVICES
from bulkorders.panel.sandbox.rules import INCORRECT_REQUEST, digits, order_terms

CURRENCY = "USD"
START_BALANCE = Decimal("1000.00")
FIRST_ORDER_ID = 23501
MAX_IDS = 100  # ids per bulk request, as real panels allow

# Timings (seconds from creation). Orders: Pending, then In progress, then final.
PENDING_SECONDS = 2.0
RUN_SECONDS = 8.0
DONE_SECONDS = PENDING_SECONDS + RUN_SECONDS
PARTIAL_EVERY = 7  # every 7th order id ends Partial (when its type can be partial)
REFILL_PENDING_SECONDS = 2.0
REFILL_DONE_SECONDS = 6.0

INVALID_KEY = "Invalid API key"
INCORRECT_SERVICE = "Incorrect service ID"
INCORRECT_ORDER = "Incorrect order ID"
NO_FUNDS = "Not enough funds on balance"
ACTIVE_LINK = "You have active order with this link. Please wait until order being completed."
TOO_MANY_IDS = f"Too many ids: at most {MAX_IDS} per request"
REFILL_DISABLED = "Refill is disabled for this service"
REFILL_NOT_ELIGIBLE = "Order is not eligible for refill"
REFILL_ACTIVE = "Refill is already in progress for this order"
REFILL_NOT_FOUND = "Refill not found"
CANCEL_DISABLED = "Cancel is disabled for this service"

Event = dict[str, Any]


def catalogue() -> dict[str, Service]:
    """The sandbox services by id (as strings), typed."""
    return {
        str(s["service"]): Service(
            service=str(s["service"]), name=s["name"], type=s["type"], category=s["category"],
            rate=Decimal(s["rate"]), min=int(s["min"]), max=int(s["max"]),
            refill=bool(s["refill"]), cancel=bool(s["cancel"]),
        )  # fmt: skip
        for s in SERVICES
    }


@dataclass(slots=True)
class Order:
    """One order of the sandbox; its status is derived from `created` and the time asked."""

    id: int
    service: Service
    link: str
    quantity: int  # everything to deliver (quantity × runs, lines, max × posts…)
    charge: Decimal
    created: float
    cancel_id: int | None = None
    canceled: float | None = None

    @property
    def delivered_at_end(self) -> int:
        """How much is delivered once final: all of it, or a share for a Partial order."""
        if not _can_be_partial(self) or self.id % PARTIAL_EVERY:
            return self.quantity
        tenths = 5 + (self.id // PARTIAL_EVERY) % 5  # 50% .. 90%, fixed per order
        return max(1, self.quantity * tenths // 10)

    @property
    def partial(self) -> bool:
        return self.delivered_at_end < self.quantity

    @property
    def final_charge(self) -> Decimal:
        """The charge once final: a Partial order pays only what was delivered."""
        return self.service.cost(self.delivered_at_end) if self.partial else self.charge

    def status_at(self, now: float) -> str:
        """The status text at `now`."""
        if self.canceled is not None:
            return "Canceled"
        age = now - self.created
        if age < PENDING_SECONDS:
            return "Pending"
        if age < DONE_SECONDS:
            return "In progress"
        return "Partial" if self.partial else "Completed"

    def view(self, now: float, *, canceled_charge_kept: bool = False) -> dict[str, str]:
        """The `status` answer for this order at `now`, numbers as strings. A canceled order
        shows a charge of 0 (refunded), or what it was charged where panels keep that."""
        status = self.status_at(now)
        start_count, remains, charge = 0, self.quantity, self.charge
        if status == "Canceled":
            charge = self.charge if canceled_charge_kept else Decimal(0)
        elif status != "Pending":
            start_count = 100 + (self.id * 7919) % 9900
            if status == "In progress":
                share = (now - self.created - PENDING_SECONDS) / RUN_SECONDS
                remains = self.quantity - min(int(self.quantity * share), self.delivered_at_end)
            else:
                remains, charge = self.quantity - self.delivered_at_end, self.final_charge
        return {
            "charge": format_money(charge), "start_count": str(start_count), "status": status,
            "remains": str(remains), "currency": CURRENCY,
        }  # fmt: skip


def _can_be_partial(order: Order) -> bool:
    kind = order.service.type
    return (
        order.quantity >= 2
        and kind not in PACKAGE_TYPES
        and kind != "Subscriptions"
        and type_rule(kind).quantity != "none"
    )


@dataclass(slots=True)
class Refill:
    """One refill request; Pending, In progress, then Completed over a few seconds."""

    id: int
    order: int
    created: float

    def status_at(self, now: float) -> str:
        """The refill's status text at `now`."""
        """Pending, then In progress, then Completed."""
        age = now - self.created
        if age < REFILL_PENDING_SECONDS:
            return "Pending"
        return "In progress" if age < REFILL_DONE_SECONDS else "Completed"


class SandboxState:
    """Balance, orders and refills; changed only by `apply(event)` (live and on replay)."""

    def __init__(self, services: dict[str, Service] | None = None) -> None:
        self.services = services or catalogue()
        self.start_balance = START_BALANCE
        self.balance = START_BALANCE
        self.orders: dict[int, Order] = {}
        self.refills: dict[int, Refill] = {}
        self.next_order = FIRST_ORDER_ID
        self.next_refill = 1
        self.next_cancel = 1
        self.link_orders: dict[tuple[str, str], int] = {}  # (service, link) -> latest order
        self.order_refills: dict[int, int] = {}  # order -> its latest refill
        self._partials: list[tuple[float, int]] = []  # (time it ends, order id), a heap

    def apply(self, event: Event) -> None:
        """Change the state by one event; the same code runs live and when replaying."""
        kind = event["e"]
        if kind == "order":
            order = Order(
                id=int(event["id"]), service=self.services[str(event["service"])],
                link=event["link"], quantity=int(event["quantity"]),
                charge=Decimal(event["charge"]), created=float(event["t"]),
            )  # fmt: skip
            self.orders[order.id] = order
            self.balance -= order.charge
            self.next_order = max(self.next_order, order.id + 1)
            self.link_orders[(order.service.service, order.link)] = order.id
            if order.partial:
                heapq.heappush(self._partials, (order.created + DONE_SECONDS, order.id))
            if "cancel" in event:
                self.apply({"e": "cancel", "id": order.id, "cancel": event["cancel"],
                            "t": event["canceled"]})  # fmt: skip
        elif kind == "cancel":
            order = self.orders[int(event["id"])]
            order.cancel_id, order.canceled = int(event["cancel"]), float(event["t"])
            self.balance += order.charge
            self.next_cancel = max(self.next_cancel, order.cancel_id + 1)
        elif kind == "refill":
            refill = Refill(id=int(event["id"]), order=int(event["order"]), created=float(event["t"]))
            self.refills[refill.id] = refill
            self.order_refills[refill.order] = refill.id
            self.next_refill = max(self.next_refill, refill.id + 1)
        elif kind == "start":  # the balance a reset started from
            start = Decimal(event["balance"])
            self.balance += start - self.start_balance
            self.start_balance = start
        elif kind == "ids":
            self.next_order = max(self.next_order, int(event["order"]))
            self.next_refill = max(self.next_refill, int(event["refill"]))
            self.next_cancel = max(self.next_cancel, int(event["cancel"]))
        else:
            raise ValueError(f"unknown sandbox event {kind!r}")

    def numbering(self) -> Event:
        """The next ids, as an event: kept across a reset, since a panel never reuses an id."""
        return {"e": "ids", "order": self.next_order, "refill": self.next_refill, "cancel": self.next_cancel}

    def settle(self, now: float) -> None:
        """Credit the undelivered part of every Partial order that has ended by `now`."""
        while self._partials and self._partials[0][0] <= now:
            _, order_id = heapq.heappop(self._partials)
            order = self.orders[order_id]
            if order.canceled is None:
                self.balance += order.charge - order.final_charge

    def snapshot(self) -> Iterator[Event]:
        """The fewest events that rebuild this state (a cancel folded into its order)."""
        if self.start_balance != START_BALANCE:
            yield {"e": "start", "balance": str(self.start_balance)}
        for order in self.orders.values():
            event: Event = {
                "e": "order", "id": order.id, "service": order.service.service,
                "link": order.link, "quantity": order.quantity, "charge": str(order.charge),
                "t": order.created,
            }  # fmt: skip
            if order.canceled is not None:
                event.update(cancel=order.cancel_id, canceled=order.canceled)
            yield event
        for refill in self.refills.values():
            yield {"e": "refill", "id": refill.id, "order": refill.order, "t": refill.created}
        yield self.numbering()


class SandboxPanel:
    """Answers API v2 calls like a Perfect Panel shop, over a `SandboxState`.

    `key`: the only key accepted (any non-empty key when None). `record` receives every
    event right before it is applied. `error_status` is the HTTP status of `{"error": …}`
    answers (200 like Perfect Panel; 422 to play a clone). `canceled_charge_kept`: a
    canceled order's status still shows its charge (the balance is refunded all the same).
    """

    def __init__(
        self,
        state: SandboxState | None = None,
        *,
        key: str | None = None,
        record: Callable[[Event], None] | None = None,
        error_status: int = 200,
        canceled_charge_kept: bool = False,
    ) -> None:
        self.state = state or SandboxState()
        self.key = key
        self.record = record
        self.error_status = error_status
        self.canceled_charge_kept = canceled_charge_kept
        self._actions: dict[str, Callable[[Mapping[str, str], float], Any]] = {
            "services": self._services, "add": self._add, "status": self._status,
            "refill": self._refill, "refill_status": self._refill_status,
            "cancel": self._cancel, "balance": self._balance,
        }  # fmt: skip

    def handle(self, form: Mapping[str, str], now: float) -> tuple[int, Any]:
        """One API call: the form fields in, (HTTP status, JSON-able answer) out."""
        key = (form.get("key") or "").strip()
        if not key or (self.key is not None and key != self.key):
            return self.error_status, {"error": INVALID_KEY}
        action = self._actions.get((form.get("action") or "").strip())
        if action is None:
            return self.error_status, {"error": INCORRECT_REQUEST}
        self.state.settle(now)
        body = action(form, now)
        failed = isinstance(body, dict) and isinstance(body.get("error"), str)
        return (self.error_status if failed else 200), body

    def _commit(self, event: Event) -> None:
        if self.record is not None:
            self.record(event)
        self.state.apply(event)

    # --- actions -------------------------------------------------------------------

    def _services(self, form: Mapping[str, str], now: float) -> list[dict[str, Any]]:
        return [dict(s) for s in SERVICES]

    def _balance(self, form: Mapping[str, str], now: float) -> dict[str, str]:
        return {"balance": format_money(self.state.balance), "currency": CURRENCY}

    def _add(self, form: Mapping[str, str], now: float) -> dict[str, Any]:
        service = self.state.services.get((form.get("service") or "").strip())
        if service is None:
            return {"error": INCORRECT_SERVICE}
        terms = order_terms(service, form)
        if isinstance(terms, str):
            return {"error": terms}
        link, quantity, fields, per_run = terms
        if service.type == "Default":
            active = self.state.orders.get(self.state.link_orders.get((service.service, link), -1))
            if active is not None and active.status_at(now) in ("Pending", "In progress"):
                return {"error": ACTIVE_LINK}
        charge = service.order_cost(per_run, fields)
        if charge > self.state.balance:
            return {"error": NO_FUNDS}
        order_id = self.state.next_order
        self._commit({"e": "order", "id": order_id, "service": service.service, "link": link,
                      "quantity": quantity, "charge": str(charge), "t": now})  # fmt: skip
        return {"order": order_id}

    def _status(self, form: Mapping[str, str], now: float) -> dict[str, Any]:
        if "orders" not in form:
            order = self._order((form.get("order") or "").strip())
            return self._view(order, now) if order else {"error": INCORRECT_ORDER}
        ids = _ids(form["orders"])
        if isinstance(ids, str):
            return {"error": ids}
        answer: dict[str, Any] = {}
        for text in ids:
            order = self._order(text)
            answer[text] = self._view(order, now) if order else {"error": INCORRECT_ORDER}
        return answer

    def _refill(self, form: Mapping[str, str], now: float) -> Any:
        if "orders" not in form:
            outcome = self._refill_one((form.get("order") or "").strip(), now)
            return {"refill": str(outcome)} if isinstance(outcome, int) else {"error": outcome}
        ids = _ids(form["orders"])
        if isinstance(ids, str):
            return {"error": ids}
        return [
            {"order": _id_out(text), "refill": _item(self._refill_one(text, now))} for text in ids
        ]

    def _refill_one(self, text: str, now: float) -> int | str:
        order = self._order(text)
        if order is None:
            return INCORRECT_ORDER
        if not order.service.refill:
            return REFILL_DISABLED
        if order.status_at(now) not in ("Completed", "Partial"):
            return REFILL_NOT_ELIGIBLE
        last = self.state.refills.get(self.state.order_refills.get(order.id, -1))
        if last is not None and last.status_at(now) != "Completed":
            return REFILL_ACTIVE
        refill_id = self.state.next_refill
        self._commit({"e": "refill", "id": refill_id, "order": order.id, "t": now})
        return refill_id

    def _refill_status(self, form: Mapping[str, str], now: float) -> Any:
        if "refills" not in form:
            refill = self._refill_by((form.get("refill") or "").strip())
            return {"status": refill.status_at(now)} if refill else {"error": REFILL_NOT_FOUND}
        ids = _ids(form["refills"])
        if isinstance(ids, str):
            return {"error": ids}
        answer = []
        for text in ids:
            refill = self._refill_by(text)
            status: Any = refill.status_at(now) if refill else {"error": REFILL_NOT_FOUND}
            answer.append({"refill": _id_out(text), "status": status})
        return answer

    def _cancel(self, form: Mapping[str, str], now: float) -> Any:
        ids = _ids(form.get("orders", ""))
        if isinstance(ids, str):
            return {"error": ids}
        return [{"order": _id_out(text), "cancel": _item(self._cancel_one(text, now))} for text in ids]

    def _cancel_one(self, text: str, now: float) -> int | str:
        order = self._order(text)
        if order is None:
            return INCORRECT_ORDER
        if not order.service.cancel:
            return CANCEL_DISABLED
        status = order.status_at(now)
        if status != "Pending":
            return f"Order cannot be canceled: its status is {status}"
        cancel_id = self.state.next_cancel
        self._commit({"e": "cancel", "id": order.id, "cancel": cancel_id, "t": now})
        return cancel_id

    def _view(self, order: Order, now: float) -> dict[str, str]:
        return order.view(now, canceled_charge_kept=self.canceled_charge_kept)

    def _order(self, text: str) -> Order | None:
        return self.state.orders.get(int(text)) if digits(text) else None

    def _refill_by(self, text: str) -> Refill | None:
        return self.state.refills.get(int(text)) if digits(text) else None


# --- small helpers ------------------------------------------------------------------


def _ids(text: str) -> list[str] | str:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        return INCORRECT_REQUEST
    return TOO_MANY_IDS if len(ids) > MAX_IDS else ids


def _id_out(text: str) -> int | str:
    return int(text) if digits(text) else text


def _item(outcome: int | str) -> int | dict[str, str]:
    return outcome if isinstance(outcome, int) else {"error": outcome}
