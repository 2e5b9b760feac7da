"""The panel's balance beside the ledger's spend: did the panel take what the ledger knows of?

Between two balance readings the balance should fall by what the ledger's orders cost in
that time: each reading keeps what the ledger's orders had cost so far, as the ledger knew
then, so the charges of the orders placed in between, less the refunds it learned of (a
status answer turning an order Canceled or Partial), are the change of that figure. The difference is what the ledger does not
account for. When uncertain orders (sent, answer lost) were sent in that interval and the
estimates of some of them add up to the difference, those orders most likely exist.
Spend follows the rule of the report: cancelled and refunded orders cost zero, Partial
ones what the panel charged after its refund.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bulkorders.ledger.finance import BalanceReading, balance_readings, record_balance
from bulkorders.ledger.records import to_decimal
from bulkorders.models import format_money, net_charge

if TYPE_CHECKING:
    from bulkorders.ledger.store import Ledger

ZERO = Decimal(0)
MAX_CANDIDATES = 200  # uncertain orders tried for a match
MAX_SUMS = 50_000  # partial sums kept while matching


def net_spend(status: str | None, charge: Decimal | None) -> Decimal:
    """What the balance paid for an order with this status and charge (`models.net_charge`;
    an order with no charge known counts zero)."""
    return net_charge(status, charge) or ZERO


@dataclass(frozen=True)
class Interval:
    """From one balance reading to the next, on one panel in one currency."""

    start: BalanceReading
    end: BalanceReading
    spend: Decimal  # what the ledger's orders cost in it
    uncertain: tuple[dict[str, Any], ...]  # rows sent in it whose answer was lost
    likely: int | None  # how many of them explain the difference (None: they do not)
    late: bool = False  # its difference undoes the intervals' just before it (a refund seen late)

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
        if self.late:
            return (
                f"The ledger learned in this interval of {money} the panel had refunded or charged before it "
                "began (a status read since): with the interval(s) just before, it accounts for the whole change."
            )
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
    spend = ledger_spend(ledger, panel, balance.currency)
    reading = BalanceReading(panel, at, balance.amount, balance.currency, command, campaign, list(uncertain), spend)
    return balance_warning(note_balance(ledger, reading))


def balance_warning(interval: Interval | None) -> str | None:
    """The one-line warning a command prints when its interval does not balance."""
    if interval is None or interval.difference == 0 or interval.late:
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
    by_panel: dict[str, list[BalanceReading]] = {}
    for reading in balance_readings(ledger, panel):
        by_panel.setdefault(reading.panel, []).append(reading)
    found: list[tuple[int, Interval]] = []
    for name, seen in by_panel.items():
        lost = _uncertain_rows(ledger, name)
        for index, (start, end) in enumerate(zip(seen, seen[1:])):
            if start.currency != end.currency:
                continue
            interval = Interval(start, end, end.ledger_spend - start.ledger_spend, _candidates(start, end, lost), None)
            found.append((index, _matched(interval)))
    ordered = [interval for _, interval in sorted(found, key=lambda item: (item[1].end.at, item[0]))]
    return _late_refunds(ordered)


def _late_refunds(ordered: list[Interval]) -> list[Interval]:
    """Mark an unbalanced interval whose difference cancels the unbalanced ones just before it
    (same panel and currency): the balance had a refund before the ledger learned of it (the
    status showing it was read later), which is no money unaccounted for."""
    marked = []
    for index, interval in enumerate(ordered):
        total = interval.difference
        for earlier in reversed(marked[:index]):
            if (earlier.end.panel, earlier.end.currency) != (interval.end.panel, interval.end.currency):
                continue
            if earlier.difference == 0 or earlier.late or total == 0:
                break  # balanced there, or settled already
            total += earlier.difference
        if interval.difference != 0 and interval.likely is None and total == 0:
            interval = replace(interval, late=True)
        marked.append(interval)
    return marked


def ledger_spend(ledger: Ledger, panel: str, currency: str | None) -> Decimal:
    """What the ledger's orders on `panel` have cost so far, as it knows them now: every order
    placed through it (cancelled and refunded count zero, Partial its charge after refund)."""
    with ledger._read() as db:  # noqa: SLF001 - a ledger module, inside the ledger's snapshot
        rows = db.execute(
            "SELECT o.status, COALESCE(o.charge, r.charge), COALESCE(o.currency, r.currency) "
            "FROM orders o JOIN rows r ON r.id = o.row_id WHERE o.panel = ? AND o.submitted_at IS NOT NULL",
            (panel,),
        ).fetchall()
    return sum(
        (net_spend(status, to_decimal(charge)) for status, charge, code in rows if code in (currency, None)), ZERO
    )


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
