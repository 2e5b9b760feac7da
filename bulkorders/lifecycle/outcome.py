"""What a `status`, `refill` or `cancel` run did: counts, spend, changes, failures. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bulkorders.errors import BulkOrdersError, ExitCode, WriteBackError, run_exit_code
from bulkorders.lifecycle.plan import Change, Target
from bulkorders.models import RowIssue, counted, format_money

MAX_LISTED = 20  # orders named in a cancel prompt, changes named in a summary


@dataclass
class LifecycleReport:
    """The outcome of one lifecycle command over one sheet."""

    command: str  # status | refill | cancel
    source: Path
    rows: int = 0  # rows in scope (all, or those of --rows)
    orders: int = 0  # distinct order ids among them
    without_order: int = 0  # rows in scope with no order id
    asked: int = 0  # distinct orders the command asked the panel about (its own action)
    succeeded: int = 0  # of those, the ones the panel answered without an error
    failures: list[RowIssue] = field(default_factory=list)  # rows that failed: exit 1
    left_out: dict[str, int] = field(default_factory=dict)  # why -> rows, not failures
    left_out_rows: dict[str, list[int]] = field(default_factory=dict)  # why -> the Excel rows (refill, cancel)
    by_status: dict[str, int] = field(default_factory=dict)
    spend: dict[str, Decimal] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    refills_checked: int = 0  # refills whose status `status` asked
    from_ledger: int = 0  # rows `status` brought up to the ledger's values (the sheet was behind)
    requests: int = 0  # HTTP requests sent to the panel by this run
    rounds: int = 0
    output: Path | None = None
    write_error: WriteBackError | None = None  # the sheet could not be written; the ledger has it all
    stop: BulkOrdersError | None = None  # why the run ended early (Ctrl-C)

    @property
    def exit_code(self) -> ExitCode:
        """130 interrupted, 3 the sheet could not be written, 1 some rows failed, else 0."""
        return run_exit_code(self.stop, self.write_error, rows_failed=bool(self.failures))

    def to_dict(self) -> dict[str, Any]:
        """The `--json` document."""
        return {
            "command": self.command,
            "sheet": str(self.source),
            "rows": self.rows,
            "orders": self.orders,
            "without_order_id": self.without_order,
            "asked": self.asked,
            "succeeded": self.succeeded,
            "failed": len(self.failures),
            "refills_checked": self.refills_checked,
            "from_ledger": self.from_ledger,
            "failures": [issue.to_dict() for issue in self.failures],
            "left_out": [
                {"reason": why, "count": count, "rows": self.left_out_rows.get(why, [])}
                for why, count in self.left_out.items()
            ],
            "by_status": [{"status": status, "orders": count} for status, count in self.by_status.items()],
            "spend": {currency: str(amount) for currency, amount in self.spend.items()},
            "changes": [change.to_dict() for change in self.changes],
            "requests": self.requests,
            "rounds": self.rounds,
            "output": None if self.output is None else str(self.output),
            "write_error": None if self.write_error is None else self.write_error.message,
            "stopped": None if self.stop is None else self.stop.message,
        }


_DONE = {"status": ("checked", "checked"), "refill": ("refill asked", "refills asked"),
         "cancel": ("cancel asked", "cancels asked")}  # fmt: skip


def summary_text(report: LifecycleReport) -> str:
    """The human summary: what was done, statuses, spend, changes, where the sheet went."""
    done = _DONE[report.command]
    lines = [
        f"{counted(report.rows, 'row')}, {counted(report.orders, 'order')}; "
        f"{report.asked} {done[0] if report.asked == 1 else done[1]}, "
        f"{report.succeeded} ok, {counted(len(report.failures), 'row')} failed "
        f"({counted(report.requests, 'request')})."
    ]
    if report.refills_checked:
        lines.append(f"{counted(report.refills_checked, 'refill status', 'refill statuses')} checked.")
    if report.from_ledger:
        lines.append(f"{counted(report.from_ledger, 'row')} brought up to date from the ledger.")
    if report.without_order:
        was = "was" if report.without_order == 1 else "were"
        lines.append(f"{counted(report.without_order, 'row')} without an order id {was} skipped.")
    lines += left_out_lines(report.left_out, report.left_out_rows)
    if report.by_status:
        lines.append("Status: " + ", ".join(f"{s} {n}" for s, n in report.by_status.items()) + ".")
    if report.spend:
        spent = ", ".join(f"{format_money(a)} {c}" for c, a in report.spend.items())
        lines.append(f"Spend (what the balance paid; canceled and refunded orders cost nothing): {spent}.")
    if report.command == "status":
        lines.extend(_change_lines(report.changes))
    if report.output is not None:
        lines.append(f"Results written to {report.output}.")
    elif report.write_error is None:
        lines.append("Nothing to write: no row changed.")
    return "\n".join(lines)


def _change_lines(changes: Sequence[Change]) -> list[str]:
    if not changes:
        return ["No status changed since the last look."]
    moves: dict[tuple[str, str], int] = {}
    for change in changes:
        key = (change.before or "unknown", change.after or "unknown")
        moves[key] = moves.get(key, 0) + 1
    text = ", ".join(f"{a} → {b}: {n}" for (a, b), n in sorted(moves.items(), key=lambda m: -m[1]))
    return [f"Changed since the last look: {counted(len(changes), 'order')} ({text})."]


def failure_lines(report: LifecycleReport) -> list[str]:
    """One line per failed row, for stderr."""
    return [str(issue) for issue in report.failures]


@dataclass(frozen=True)
class CancelPlan:
    """What `cancel` is about to do: shown before asking for confirmation."""

    targets: list[Target]  # rows to cancel (an order in two rows is cancelled once)
    orders: list[str]
    left_out: dict[str, int]
    left_out_rows: dict[str, list[int]] = field(default_factory=dict)


def describe_cancel(plan: CancelPlan) -> str:
    """The cancel plan in words: which orders, and what is left out."""
    shown = []
    seen: set[str] = set()
    for target in plan.targets:
        if target.order_id in seen or len(shown) >= MAX_LISTED:
            continue
        seen.add(target.order_id or "")
        shown.append(f"  row {target.row}: order {target.order_id} ({target.status or 'status unknown'})")
    lines = [f"{counted(len(plan.orders), 'order')} will be cancelled:", *shown]
    if len(plan.orders) > len(shown):
        lines.append(f"  … and {len(plan.orders) - len(shown)} more.")
    lines += left_out_lines(plan.left_out, plan.left_out_rows)
    return "\n".join(lines)


def left_out_lines(left_out: dict[str, int], rows: dict[str, list[int]]) -> list[str]:
    """One line per reason rows were skipped: "3 rows not cancellable: service 3 (…) does not
    allow cancel, rows 252–254" (a reason counting orders, not rows, keeps its own words)."""
    lines = []
    for why, count in left_out.items():
        where = rows.get(why)
        if not where:
            lines.append(f"Left out: {counted(count, 'row')}: {why}.")
            continue
        kind, _, detail = why.partition(": ")
        lines.append(f"{counted(count, 'row')} {kind}: {detail}, {'row' if len(where) == 1 else 'rows'} "
                     f"{_spans(where)}.")  # fmt: skip
    return lines


def _spans(rows: Sequence[int]) -> str:
    """2, 3, 4, 7 -> "2–4, 7"."""
    runs: list[list[int]] = []
    for row in sorted(set(rows)):
        if runs and row == runs[-1][1] + 1:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)
