"""What `status`, `refill` and `cancel` act on, why a row is left out, and what it becomes.

Pure: sheet rows and ledger records in, plans, verdicts and cell values out; no I/O.

The `error` column after a lifecycle command (decisions the SPEC leaves open):
- a row the command acted on successfully has its `error` cleared; a per-id refusal of the
  panel is written as "<action>: <panel text>" ("status: Incorrect order ID");
- a row with an order id the command could not act on (not refillable, not cancellable)
  says why in `error`, replacing an earlier run's note; named by `--rows` it is a failed
  row, in a whole-sheet run it is counted in the summary, grouped by reason with its rows;
  a row without an order id says so only when `--rows` named it;
- a row without an order id keeps an `error` it already has (submit's reason why it has
  no order is worth more than "no order_id");
- an id cell that cannot be sent even after `id_text` cleans it ("23501,23502") fails
  its row with that reason in `error`; the other rows go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from bulkorders.lifecycle.rowspec import RowSelection
from bulkorders.models import (
    FINAL_REFILL_STATUSES,
    CancelResult,
    OrderStatus,
    RefillResult,
    RefillStatus,
    ServiceLookup,
    cancel_words,
    is_final,
    is_refillable_status,
    net_charge,
)
from bulkorders.results import Values, order_values
from bulkorders.sheets import cell_text, id_problem, id_text

if TYPE_CHECKING:
    from bulkorders.ledger import OrderRecord

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Target:
    """One sheet row as the lifecycle commands see it: its order and what is known of it."""

    row: int  # Excel row number
    order_id: str | None
    service: str | None = None
    status: str | None = None
    refill_id: str | None = None
    refill_status: str | None = None
    charge: Decimal | None = None
    currency: str | None = None
    error: str | None = None
    asked: bool = False  # named by --rows: a row left out is then a failure, with its why
    problem: str | None = None  # an id cell that cannot be sent to the panel: the row's error


# --- reading cells ----------------------------------------------------------------------


def cell_money(value: Any) -> Decimal | None:
    """A charge cell as an exact Decimal (a float cell goes through its shortest text)."""
    text = cell_text(value) if not isinstance(value, (int, float, Decimal)) else str(value)
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def targets_from_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]], selection: RowSelection | None = None
) -> list[Target]:
    """The rows in scope (all, or those of `--rows`) with what their cells say.

    An unusable id is dropped from the target (nothing is asked about it) and becomes
    the target's `problem`.
    """
    targets = []
    for row, values in rows:
        if selection is not None and row not in selection:
            continue
        order_id = id_text(values.get("order_id"))
        refill_id = id_text(values.get("refill_id"))
        problem = id_problem("order_id", order_id) or id_problem("refill_id", refill_id)
        if id_problem("order_id", order_id):
            order_id = refill_id = None
        elif id_problem("refill_id", refill_id):
            refill_id = None
        targets.append(
            Target(
                row=row,
                order_id=order_id,
                service=cell_text(values.get("service")),
                status=cell_text(values.get("status")),
                refill_id=refill_id,
                refill_status=cell_text(values.get("refill_status")),
                charge=cell_money(values.get("charge")),
                currency=cell_text(values.get("currency")),
                error=cell_text(values.get("error")),
                asked=selection is not None,
                problem=problem,
            )
        )
    return targets


def with_known(targets: Iterable[Target], records: Mapping[str, OrderRecord]) -> list[Target]:
    """Targets completed with the ledger's latest knowledge of their orders.

    The ledger wins for what the panel said (status, charge, refill): the sheet may be an
    old copy. The sheet's own service column wins for the service (the user's data).
    """
    merged = []
    for target in targets:
        record = records.get(target.order_id) if target.order_id else None
        if record is None:
            merged.append(target)
            continue
        has_status = record.status is not None
        merged.append(
            replace(
                target,
                service=target.service or record.service,
                status=record.status if has_status else target.status,
                refill_id=record.refill_id or target.refill_id,
                refill_status=record.refill_status if record.refill_id else target.refill_status,
                charge=record.charge if record.charge is not None else target.charge,
                currency=record.currency or target.currency,
            )
        )
    return merged


def unique_ids(values: Iterable[str | None]) -> list[str]:
    """Ids in first-seen order, each once (an order twice in a sheet is asked about once)."""
    return list(dict.fromkeys(v for v in values if v))


# --- status -----------------------------------------------------------------------------


def refill_is_final(status: str | None) -> bool:
    """True when the panel will not change this refill any more."""
    return status is not None and status.strip().title() in {s.title() for s in FINAL_REFILL_STATUSES}


def status_ids(targets: Iterable[Target], *, refresh_all: bool) -> list[str]:
    """Order ids whose status to ask: every not-final order, or all with `refresh_all`."""
    return unique_ids(t.order_id for t in targets if refresh_all or not is_final(t.status))


def refill_ids(targets: Iterable[Target]) -> list[str]:
    """Refill ids whose status to ask: every refill not known to be final."""
    return unique_ids(t.refill_id for t in targets if t.order_id and not refill_is_final(t.refill_status))


def settled(targets: Iterable[Target], unanswerable: Iterable[str] = ()) -> bool:
    """True when no order can change any more: all final, or refused by the panel (bad id)."""
    dead = set(unanswerable)
    return all(is_final(t.status) or t.order_id in dead for t in targets if t.order_id)


def status_values(answer: OrderStatus, at: str) -> Values:
    """The cells one status observation writes: the panel's figures, or its per-id error.

    A figure the answer leaves out leaves its cell alone (the ledger keeps the last known
    value too), so a terse answer never clears what an earlier one said.
    """
    if answer.error is not None:
        return {"error": f"status: {answer.error}", "checked_at": at}
    figures = {
        "status": answer.status,
        "charge": answer.charge,
        "currency": answer.currency,
        "start_count": answer.start_count,
        "remains": answer.remains,
    }
    return {**{k: v for k, v in figures.items() if v is not None}, "checked_at": at, "error": None}


def refill_status_values(answer: RefillStatus) -> Values:
    """The cells one refill-status observation writes (with the refill id it is about)."""
    if answer.error is not None:
        return {"error": f"refill status: {answer.error}"}
    return {"refill_id": answer.refill, "refill_status": answer.status}


def after_status(target: Target, answer: OrderStatus) -> Target:
    """The target as known after a status answer (unchanged by a per-id error)."""
    if answer.error is not None:
        return target
    return replace(
        target,
        status=answer.status if answer.status is not None else target.status,
        charge=answer.charge if answer.charge is not None else target.charge,
        currency=answer.currency or target.currency,
    )


# What `ledger_values` leaves out of an order's columns: the id (the row was matched by it)
# and `error` (each command writes its own).
_ROW_OWN = ("order_id", "error")


def ledger_values(record: OrderRecord) -> Values:
    """The cells the ledger's latest knowledge of an order gives its rows.

    What the ledger does not know leaves the cell alone, except `refill_status`: when
    the ledger knows the refill, its status (unknown for a new refill) goes with it.
    """
    keep = {k: v for k, v in order_values(record).items() if v is not None and k not in _ROW_OWN}
    if record.refill_id is not None:
        keep["refill_status"] = record.refill_status
    return keep


def differing(cells: Mapping[str, Any], wanted: Values) -> Values:
    """The part of `wanted` that the sheet's `cells` do not already show.

    Compared as the values they stand for: "0.09", 0.09 and Decimal("0.09") are one
    charge; 2338 and "2338" one count.
    """
    changed: Values = {}
    for name, value in wanted.items():
        have = cells.get(name)
        if name == "charge":
            same = cell_money(have) == value
        else:
            same = cell_text(have) == cell_text(value)
        if not same:
            changed[name] = value
    return changed


# --- refill and cancel ------------------------------------------------------------------


def no_order_text(action: str) -> str:
    return f"no order_id: nothing to {action}"


def refill_refusal(target: Target, services: ServiceLookup) -> str | None:
    """Why this row cannot be refilled, or None when it can be asked.

    A service unknown to the catalogue (or no service at all) is left to the panel,
    which enforces its own rules and answers per order.
    """
    if not target.order_id:
        return no_order_text("refill")
    service = services.get(target.service) if target.service else None
    if service is not None and not service.refill:
        return f"not refillable: service {service.service} ({service.name}) does not allow refill"
    if target.status is None:
        return "not refillable: the order's status is unknown (the panel did not give it)"
    if not is_refillable_status(target.status):
        return f"not refillable: the order is {target.status}; refill needs Completed or Partial"
    return None


def cancel_refusal(target: Target, services: ServiceLookup) -> str | None:
    """Why this row cannot be cancelled, or None when it can be asked (unknown service: the panel decides)."""
    if not target.order_id:
        return no_order_text("cancel")
    service = services.get(target.service) if target.service else None
    if service is not None and not service.cancel:
        return f"not cancellable: service {service.service} ({service.name}) does not allow cancel"
    if target.status is None:
        return "not cancellable: the order's status is unknown (the panel did not give it)"
    if is_final(target.status):
        return f"not cancellable: the order is already {target.status}"
    return None


def needs_fresh_status(target: Target, services: ServiceLookup, action: str) -> bool:
    """True when eligibility hangs on a status that may have moved: unknown or not final.

    A final status cannot change, any other is a guess about now (an order seen "In
    progress" yesterday may be Completed today), so it is asked again before deciding.
    Orders whose service forbids the action are not worth asking about.
    """
    if not target.order_id or is_final(target.status):
        return False
    service = services.get(target.service) if target.service else None
    if service is None:
        return True
    return service.refill if action == "refill" else service.cancel


def lost_text(action: str, detail: str = "") -> str:
    """The `error` of an order whose refill/cancel answer was lost: what to do about it."""
    what = f" ({detail})" if detail else ""
    if action == "refill":
        return f"refill: answer lost{what}: a refill may or may not have been made; check the panel before asking again"
    return f"cancel: answer lost{what}: the order may or may not be cancelled; run status to see"


def refill_values(answer: RefillResult) -> Values:
    """The cells one refill answer writes: the new refill id, or why not."""
    if answer.refill is not None:
        return {"refill_id": answer.refill, "refill_status": None, "error": None}
    if answer.error is not None:
        return {"error": f"refill: {answer.error}"}
    return {"error": lost_text("refill", answer.detail)}


def cancel_values(answer: CancelResult) -> Values:
    """The cells one cancel answer writes: `cancel_result` says in words what the panel answered."""
    words = cancel_words(answer.error, answer.lost)
    if answer.error is not None:
        return {"cancel_result": words, "error": f"cancel: {answer.error}"}
    if answer.lost:
        return {"cancel_result": words, "error": lost_text("cancel", answer.detail)}
    return {"cancel_result": words, "error": None}


# --- summary ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One order whose status moved since the last look."""

    row: int
    order_id: str
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "order_id": self.order_id, "from": self.before, "to": self.after}


def changes(before: Iterable[Target], after: Iterable[Target]) -> list[Change]:
    """Status changes, once per order (the first row where it appears)."""
    old = {t.order_id: t.status for t in before if t.order_id}
    found: dict[str, Change] = {}
    for target in after:
        oid = target.order_id
        if oid and oid not in found and oid in old and old[oid] != target.status:
            found[oid] = Change(target.row, oid, old[oid], target.status)
    return list(found.values())


def by_status(targets: Iterable[Target]) -> dict[str, int]:
    """How many orders (each once) are in each last known status."""
    latest = {t.order_id: t.status or UNKNOWN for t in targets if t.order_id}
    counts: dict[str, int] = {}
    for status in latest.values():
        counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def spend(targets: Iterable[Target]) -> dict[str, Decimal]:
    """What the balance paid, by currency, each order once: the last known charges, with
    canceled and refunded orders at nothing (whatever charge the panel still shows)."""
    latest = {t.order_id: t for t in targets if t.order_id and t.charge is not None}
    totals: dict[str, Decimal] = {}
    for target in latest.values():
        currency = target.currency or "?"
        totals[currency] = totals.get(currency, Decimal(0)) + net_charge(target.status, target.charge)  # type: ignore[operator]
    return dict(sorted(totals.items()))
