"""The panel's balance beside the ledger's spend: did the panel take what the ledger knows of?

Between two balance readings the balance should fall by what the ledger's orders cost in
that time: the charges of the orders placed, less the refunds it learned of (a status
answer turning an order Canceled or Partial). The difference is what the ledger does not
account for. When uncertain orders (sent, answer lost) were sent in that interval and the
estimates of some of them add up to the difference, those orders most likely exist.
Spend follows the rule of the report: cancelled and refunded orders cost zero, Partial
ones what the panel charged after its refund.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bulkorders.ledger.finance import BalanceReading, balance_readings, record_balance
from bulkorders.ledger.records import to_decimal
from bulkorders.models import format_money

if TYPE_CHECKING:
    from bulkorders.ledger.store import Ledger

ZERO = Decimal(0)
CANCELLED_STATUSES = frozenset({"canceled", "cancelled", "refunded"})
MAX_CANDIDATES = 200  # uncertain orders tried for a match
MAX_SUMS = 50_000  # partial sums kept while matching


def net_spend(status: str | None, charge: Decimal | None) -> Decimal:
    """What the balance paid for an order with this status and charge."""
    if charge is None or (status or "").strip().lower() in CANCELLED_STATUSES:
        return ZERO
    return charge


@dataclass(frozen=True)
class Interval:
    """From one balance reading to the next, on one panel in one currency."""

    start: BalanceReading
    end: BalanceReading
    spend: Decimal  # what the ledger's orders cost in it
    uncertain: tuple[dict[str, Any], ...]  # rows sent in it whose answer was lost
    likely: int | None  # how many of them explain the difference (None: they do not)

    @property
    def change(self) -> Decimal:
        return self.end.amount - self.start.amount

    @property
    def difference(self) -> Decimal:
        """What left the balance beyond the ledger's spend (negative: less left than it cost)."""
        return -self.change - self.spend

    def explanation(self) -> str:
        """The difference in words."""
        money = f"{format_money(abs(self.difference))} {self.end.currency or ''}".strip()
        if self.difference == 0:
            return "Balanced: the ledger accounts for the whole change."
        if self.likely:
            return (
                f"{self.likely} of the {len(self.uncertain)} uncertain order(s) sent in this interval most "
                f"likely exist: their estimates add up to the {money} the ledger does not know of. Find "
                "them in the panel's order history (the Problems sheet lists them)."
            )
        if self.difference > 0:
            return (
                f"The panel took {money} more than the ledger's orders cost, and no uncertain order of "
                "this interval adds up to it: another user of the account, an order placed elsewhere, "
                "or a panel price change."
            )
        return (
            f"The balance fell {money} less than the ledger's orders cost: a top-up, a refund the "
            "ledger has not seen yet (run status), or a panel price change."
        )


def note_balance(ledger: Ledger, reading: BalanceReading) -> Interval | None:
    """Keep `reading`; the interval from the panel's previous reading to it (None: the first)."""
    record_balance(ledger, reading)
    found = intervals(ledger, reading.panel)
    return found[-1] if found and found[-1].end == reading else None


def keep_reading(
    ledger: Ledger,
    panel: str,
    balance: Any,
    command: str,
    at: str,
    campaign: str | None = None,
    uncertain: Sequence[dict[str, Any]] = (),
) -> str | None:
    """Keep the `balance` (a `models.Balance`) a command saw; the warning line when the
    interval it closes does not balance, else None."""
    reading = BalanceReading(panel, at, balance.amount, balance.currency, command, campaign, list(uncertain))
    return balance_warning(note_balance(ledger, reading))


def balance_warning(interval: Interval | None) -> str | None:
    """The one-line warning a command prints when its interval does not balance."""
    if interval is None or interval.difference == 0:
        return None
    code = interval.end.currency or ""
    return (
        f"warning: the panel's balance changed by {_signed(interval.change)} {code} since "
        f"{interval.start.at} ({interval.start.command}), while the ledger's orders cost "
        f"{format_money(interval.spend)} {code}. {interval.explanation()}"
    )


def _signed(amount: Decimal) -> str:
    return ("+" if amount > 0 else "") + format_money(amount)


def intervals(ledger: Ledger, panel: str | None = None) -> list[Interval]:
    """Every interval between two consecutive readings of a panel in one currency, oldest first."""
    readings = balance_readings(ledger, panel)
    found: list[Interval] = []
    by_panel: dict[str, list[BalanceReading]] = {}
    for reading in readings:
        by_panel.setdefault(reading.panel, []).append(reading)
    for name, seen in by_panel.items():
        seen.sort(key=_reading_key)
        flow = _cash_flow(ledger, name)
        lost = _uncertain_rows(ledger, name)
        for start, end in zip(seen, seen[1:]):
            if start.currency != end.currency:
                continue
            spend = flow.between(_reading_key(start), _reading_key(end), end.currency)
            uncertain = _candidates(start, end, lost)
            interval = Interval(start, end, spend, uncertain, None)
            found.append(_matched(interval))
    return sorted(found, key=lambda i: _reading_key(i.end))


def _reading_key(reading: BalanceReading) -> tuple[str, int]:
    """Readings sort among the ledger's events of the same second: a reading taken before
    sending comes before the run's orders, any other after what its command recorded."""
    return (reading.at, 0 if reading.command == "submit before" else 2)


@dataclass
class _Flow:
    """The ledger's spend as events in time: (key, currency) -> amount, with prefix sums."""

    keys: dict[str | None, list[tuple[str, int]]]
    sums: dict[str | None, list[Decimal]]

    def between(self, start: tuple[str, int], end: tuple[str, int], currency: str | None) -> Decimal:
        total = ZERO
        for code in {currency, None}:
            keys, sums = self.keys.get(code, []), self.sums.get(code, [ZERO])
            total += sums[bisect.bisect_right(keys, end)] - sums[bisect.bisect_right(keys, start)]
        return total


def _cash_flow(ledger: Ledger, panel: str) -> _Flow:
    """Placements (at their placement charge) and every change a status answer made to an
    order's spend, for orders placed through the ledger."""
    with ledger._read() as db:  # noqa: SLF001 - a ledger module, inside the ledger's snapshot
        placed = db.execute(
            "SELECT o.order_id, o.submitted_at, r.charge, COALESCE(o.currency, r.currency) "
            "FROM orders o JOIN rows r ON r.id = o.row_id "
            "WHERE o.panel = ? AND o.submitted_at IS NOT NULL AND r.charge IS NOT NULL",
            (panel,),
        ).fetchall()
        seen = db.execute(
            "SELECT order_id, at, data FROM observations WHERE panel = ? AND kind = 'status' ORDER BY at, id",
            (panel,),
        ).fetchall()
    events: list[tuple[tuple[str, int], str | None, Decimal]] = []
    known: dict[str, tuple[Decimal, Decimal, str | None]] = {}  # order -> (charge, spend, currency)
    for order_id, at, charge, currency in placed:
        amount = to_decimal(charge) or ZERO
        known[order_id] = (amount, amount, currency)
        events.append(((at, 1), currency, amount))
    for order_id, at, data in seen:
        if order_id not in known:
            continue
        answer = json.loads(data)
        if answer.get("error"):
            continue
        charge, spend, currency = known[order_id]
        charge = to_decimal(answer.get("charge")) if answer.get("charge") is not None else charge
        now = net_spend(answer.get("status"), charge)
        if now != spend:
            events.append(((at, 1), currency, now - spend))
        known[order_id] = (charge, now, currency)
    events.sort(key=lambda e: e[0])
    keys: dict[str | None, list[tuple[str, int]]] = {}
    sums: dict[str | None, list[Decimal]] = {}
    for key, currency, amount in events:
        keys.setdefault(currency, []).append(key)
        column = sums.setdefault(currency, [ZERO])
        column.append(column[-1] + amount)
    return _Flow(keys, sums)


def _uncertain_rows(ledger: Ledger, panel: str) -> list[dict[str, Any]]:
    with ledger._read() as db:  # noqa: SLF001
        rows = db.execute(
            "SELECT r.id, c.name, r.excel_row, r.estimate, r.sent_at FROM rows r "
            "JOIN campaigns c ON c.id = r.campaign_id WHERE c.panel = ? AND r.state = 'uncertain'",
            (panel,),
        ).fetchall()
    return [
        {"row_id": i, "campaign": name, "excel_row": excel, "estimate": estimate, "sent_at": sent}
        for i, name, excel, estimate, sent in rows
    ]


def _candidates(
    start: BalanceReading, end: BalanceReading, lost: Sequence[dict[str, Any]]
) -> tuple[dict[str, Any], ...]:
    """Rows a run left uncertain (kept with its closing reading) and rows still uncertain
    whose sending fell in the interval."""
    found = {row["row_id"]: row for row in end.uncertain}
    for row in lost:
        if row["sent_at"] and start.at <= row["sent_at"] <= end.at:
            found.setdefault(row["row_id"], row)
    return tuple(found.values())


def _matched(interval: Interval) -> Interval:
    """The interval with `likely` set when some of its uncertain orders add up to the difference."""
    target = interval.difference
    if target <= 0 or not interval.uncertain:
        return interval
    estimates = [Decimal(str(row["estimate"])) for row in interval.uncertain[:MAX_CANDIDATES]]
    reach: dict[Decimal, int] = {ZERO: 0}  # a sum of estimates -> fewest orders making it
    for estimate in estimates:
        for total, count in list(reach.items()):
            new = total + estimate
            if new <= target and (new not in reach or reach[new] > count + 1) and len(reach) < MAX_SUMS:
                reach[new] = count + 1
    count = reach.get(target)
    return Interval(interval.start, interval.end, interval.spend, interval.uncertain, count or None)
