"""What a submit run plans and what became of it: the plan, the cost guard, the outcome.

Pure: the data the pipeline returns, and its words for humans (stderr/stdout) and for
`--json`. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bulkorders.errors import BulkOrdersError, ExitCode, SpendRefused, WriteBackError, run_exit_code
from bulkorders.ledger import LedgerRow, RowState
from bulkorders.models import Balance, counted, format_money


@dataclass(frozen=True)
class Plan:
    """What is about to be placed: shown by --dry-run and by the confirmation prompt."""

    campaign: str
    to_place: int
    total: Decimal
    balance: Balance | None
    already_placed: int
    rejected: int
    uncertain: int
    invalid: int
    resend_uncertain: bool = False
    retry_rejected: bool = False
    edited: tuple[str, ...] = ()  # rows edited after their order was placed: a second order
    resent: int = 0  # uncertain rows sent again (--resend-uncertain): they may exist already
    resent_cost: Decimal = Decimal(0)  # what they cost again if they do
    max_spend: Decimal | None = None  # --max-spend as read
    max_spend_text: str | None = None  # --max-spend as typed


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What became of one sheet row."""

    row: int
    state: str  # invalid | planned | sending | placed | rejected | uncertain | has_order
    order_id: str | None = None
    charge: Decimal | None = None
    currency: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "state": self.state,
            "order_id": self.order_id,
            "charge": None if self.charge is None else str(self.charge),
            "currency": self.currency,
            "error": self.error,
        }


@dataclass
class SubmitOutcome:
    """The result of a run: counts, spend, where the results went, every row's outcome."""

    campaign: str
    plan: Plan
    rows: list[RowOutcome]
    dry_run: bool = False
    placed_now: int = 0
    taken: int = 0  # rows another bulkorders run placed at the same time (a team ledger)
    elsewhere: int = 0  # rows another run is still sending (a team ledger): not this run's to finish
    carried: int = 0  # rows of the input that already carried an order id
    spent: Decimal = Decimal(0)
    currency: str | None = None
    output: Path | None = None
    write_error: WriteBackError | None = None  # the results could not be written; the ledger has them
    stop: BulkOrdersError | None = None  # why the run ended early (no funds, Ctrl-C…)

    def count(self, state: str) -> int:
        return sum(1 for row in self.rows if row.state == state)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every row has its order, 1 when some rows are invalid/rejected/uncertain/unsent."""
        if self.dry_run:
            failed = bool(self.count("invalid"))
        else:
            done = sum(1 for row in self.rows if row.state in (RowState.PLACED, "has_order"))
            failed = len(self.rows) - done - self.elsewhere > 0
        return run_exit_code(self.stop, self.write_error, rows_failed=failed)

    def to_dict(self) -> dict[str, Any]:
        """The `--json` document."""
        return {
            "campaign": self.campaign,
            "dry_run": self.dry_run,
            "rows": len(self.rows),
            "to_place": self.plan.to_place,
            "estimate": str(self.plan.total),
            "balance": None if self.plan.balance is None else format_money(self.plan.balance.amount),
            "placed_now": self.placed_now,
            "placed_by_other_runs": self.taken,
            "sending_in_other_runs": self.elsewhere,
            "placed": self.count(RowState.PLACED) + self.count("has_order"),
            "rejected": self.count(RowState.REJECTED),
            "uncertain": self.count(RowState.UNCERTAIN),
            "invalid": self.count("invalid"),
            "not_sent": self.count(RowState.PLANNED) + self.count(RowState.SENDING) - self.elsewhere,
            "spent": str(self.spent),
            "currency": self.currency,
            "output": None if self.output is None else str(self.output),
            "write_error": None if self.write_error is None else self.write_error.message,
            "stopped": None if self.stop is None else self.stop.message,
            "outcomes": [row.to_dict() for row in self.rows],
        }


def cost_guard(plan: Plan, max_spend: Decimal | None) -> None:
    """Refuse (exit 3) when the estimate is over the balance or --max-spend, saying by how much."""
    currency = plan.balance.currency if plan.balance else ""
    what = f"The estimated cost of the {counted(plan.to_place, 'row')} to place, {_money(plan.total, currency)},"
    problems = []
    if plan.balance is not None and plan.total > plan.balance.amount:
        over = plan.total - plan.balance.amount
        problems.append(
            f"{what} is over the balance of {_money(plan.balance.amount, currency)} by "
            f"{_money(over, currency)}. Top up the panel balance or remove rows, then rerun."
        )
    if max_spend is not None and plan.total > max_spend:
        over = plan.total - max_spend
        problems.append(
            f"{what} is over --max-spend {_money(max_spend, currency)} by {_money(over, currency)}. "
            "Raise --max-spend or remove rows, then rerun."
        )
    if problems:
        raise SpendRefused("Nothing placed. " + "\n".join(problems))


def describe_plan(plan: Plan) -> str:
    """The plan in words: what will be placed, what it costs, the balance, what is skipped."""
    currency = plan.balance.currency if plan.balance else ""
    lines = [f"Campaign {plan.campaign}: {counted(plan.to_place, 'order')} to place, estimated "
             f"{_money(plan.total, currency)}."]  # fmt: skip
    if plan.balance is not None:
        after = plan.balance.amount - plan.total
        lines.append(f"Balance {_money(plan.balance.amount, currency)} (about {_money(after, currency)} after).")
    if plan.max_spend is not None:
        lines.append(_max_spend_line(plan, currency))
    skipped = [
        (plan.already_placed, "already placed"),
        (0 if plan.retry_rejected else plan.rejected, "rejected earlier (not sent again without --retry-rejected)"),
        (0 if plan.resend_uncertain else plan.uncertain, "uncertain (not re-sent without --resend-uncertain)"),
        (plan.invalid, "invalid"),
    ]
    details = [f"{count} {label}" for count, label in skipped if count]
    if details:
        lines.append("Skipped: " + ", ".join(details) + ".")
    if plan.resent:
        rows = "1 row" if plan.resent == 1 else f"{plan.resent} rows"
        lines.append(
            f"Risk: {rows} sent again by --resend-uncertain may already exist on the panel (their answer "
            f"was lost); if they do, resending them costs {_money(plan.resent_cost, currency)} more for "
            "duplicate orders. Look for their links in the panel's order list first."
        )
    if plan.edited:
        lines.append("Edited after their order was placed (the earlier orders stay on the panel):")
        lines += [f"  {note}" for note in plan.edited]
    return "\n".join(lines)


def _max_spend_line(plan: Plan, currency: str) -> str:
    """`Max spend 1000.00 USD (--max-spend 1.000, read as this sheet writes numbers).`: the
    amount as read, and how, when the typed text would read otherwise elsewhere."""
    assert plan.max_spend is not None
    line = f"Max spend {_money(plan.max_spend, currency)}"
    typed = (plan.max_spend_text or "").strip()
    try:
        plain = Decimal(typed) == plan.max_spend
    except InvalidOperation:
        plain = False
    if typed and not plain:
        line += f" (--max-spend {typed}, read as this sheet writes numbers)"
    return line + "."


def edited_notes(sending: Sequence[tuple[int, LedgerRow]], unmatched: Sequence[LedgerRow]) -> tuple[str, ...]:
    """One note per row about to be sent whose link and service an order of the campaign
    has that no longer matches a row (the row was edited after that order was placed)."""
    earlier: dict[tuple[str, str | None], list[LedgerRow]] = {}
    for row in unmatched:
        if row.order_id:
            earlier.setdefault((row.service, row.link), []).append(row)
    return tuple(
        _edited_note(excel, old, row)
        for excel, row in sending
        for old in earlier.get((row.service, row.link), [])
    )


def _edited_note(excel: int, old: LedgerRow, new: LedgerRow) -> str:
    before, after = old.payload.get("quantity"), new.payload.get("quantity")
    start = f"row {excel}: order {old.order_id} of this campaign has"
    if before and after and before != after:
        return f"{start} quantity {before} for this link and service; placing a second order of {after}"
    fields = sorted(
        key for key in {*old.payload, *new.payload}
        if key not in ("link", "service", "key", "action") and old.payload.get(key) != new.payload.get(key)
    )  # fmt: skip
    other = ", ".join(fields) or "the same content"
    return f"{start} other {other} for this link and service; placing a second order"


def _money(amount: Decimal, currency: str) -> str:
    return f"{format_money(amount)} {currency}".rstrip()


def summary_text(outcome: SubmitOutcome) -> str:
    """The human summary of a run, for stderr."""
    currency = outcome.currency or ""
    if outcome.dry_run:
        lines = ["Dry run: nothing was sent.", describe_plan(outcome.plan)]
        return "\n".join(lines)
    placed = (
        f"Placed {counted(outcome.placed_now, 'order')} for an estimated {_money(outcome.spent, currency)}."
        if outcome.placed_now
        else "Placed no new order."
    )
    lines = [placed]
    if outcome.taken:
        lines.append(
            f"{counted(outcome.taken, 'row')} {'was' if outcome.taken == 1 else 'were'} placed by another "
            "bulkorders run at the same time."
        )
    if outcome.elsewhere:
        lines.append(f"{counted(outcome.elsewhere, 'row')} still being sent by another bulkorders run.")
    with_order = outcome.count(RowState.PLACED) + outcome.count("has_order") - outcome.placed_now - outcome.taken
    rejected, uncertain = outcome.count(RowState.REJECTED), outcome.count(RowState.UNCERTAIN)
    counts = [
        (with_order - outcome.carried, "placed before"),
        (outcome.carried, "already carrying an order id"),
        (rejected, "rejected"),
        (uncertain, "uncertain"),
        (outcome.count("invalid"), "invalid"),
        (outcome.count(RowState.PLANNED) + outcome.count(RowState.SENDING) - outcome.elsewhere, "not sent"),
    ]
    details = [f"{count} {label}" for count, label in counts if count]
    if details:
        lines.append("Also: " + ", ".join(details) + ".")
    if not outcome.stop:
        lines += _hints(outcome, placed_before=with_order - outcome.carried)
    if outcome.output is not None:
        lines.append(f"Results written to {outcome.output}.")
    return "\n".join(lines)


def _hints(outcome: SubmitOutcome, *, placed_before: int) -> list[str]:
    """What a rerun can do about the rows this one did not place."""
    hints = []
    if outcome.count(RowState.REJECTED):
        hints.append("Rejected rows are sent again only with --retry-rejected, once the panel's reason is gone.")
    if outcome.count(RowState.UNCERTAIN):
        hints.append(
            "Uncertain rows are sent again only with --resend-uncertain: look for their links in the "
            "panel's order list first."
        )
    if not hints and not outcome.placed_now and placed_before:
        hints.append(
            f"Rows placed before were placed by an earlier run of campaign {outcome.campaign}. "
            "To order the same rows again as a new campaign, rerun with --campaign NEW-NAME."
        )
    return hints


def problem_lines(outcome: SubmitOutcome) -> list[str]:
    """One line per rejected or uncertain row (for stderr; invalid rows were reported already)."""
    return [
        f"row {row.row}: {row.state}: {row.error}"
        for row in outcome.rows
        if row.state in (RowState.REJECTED, RowState.UNCERTAIN)
    ]
