"""The machinery `status`, `refill` and `cancel` share: one command over one sheet.

`Run` reads the sheet once, completes its rows with the ledger, asks the panel (the
client sends ids in requests of at most 100, several at once), records each answer in
the ledger with its time (orders unknown to it are added), keeps the cells to write per
row and the failed rows, and writes the sheet. The pipelines (`pipelines`) drive it.

Where the sheet goes: `--in-place` writes the input (after a timestamped copy), `--out`
where asked; otherwise NAME.results.xlsx beside the input, except that an input which
already is a results sheet (NAME.results.xlsx) is updated itself: refreshing the results
of a campaign should not create NAME.results.results.xlsx.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from bulkorders.clock import Clock, utc_now_iso
from bulkorders.errors import Interrupted, UsageError, WriteBackError
from bulkorders.lifecycle.outcome import LifecycleReport
from bulkorders.lifecycle.plan import (
    Target,
    after_status,
    by_status,
    changes,
    differing,
    ledger_values,
    refill_ids,
    refill_status_values,
    spend,
    status_ids,
    status_values,
    targets_from_rows,
    unique_ids,
    with_known,
)
from bulkorders.lifecycle.rowspec import RowSelection
from bulkorders.models import CancelResult, OrderStatus, RefillResult, RefillStatus, RowIssue
from bulkorders.progress import Reporter, SilentReporter
from bulkorders.results import Values

if TYPE_CHECKING:
    from bulkorders.ledger import OrderRecord

_A = TypeVar("_A")
_R = TypeVar("_R")

NO_ANSWER = "the panel gave no answer for it"
BATCH_ROWS = 5000  # sheet rows completed with the ledger at a time
def _nothing_lost(message: str) -> str:
    """"Nothing is lost" once: the write-back's own message may say it already."""
    return "" if "Nothing is lost" in message else "\nNothing is lost: the ledger holds every answer."


FINAL_NOT_ASKED = "already final, not checked again (--all checks them too)"


class LifecycleClient(Protocol):
    requests_sent: int

    def statuses(self, order_ids: Sequence[str]) -> dict[str, OrderStatus]: ...
    def refill_statuses(self, refill_ids: Sequence[str]) -> dict[str, RefillStatus]: ...
    def refills(self, order_ids: Sequence[str]) -> list[RefillResult]: ...
    def cancel(self, order_ids: Sequence[str]) -> list[CancelResult]: ...


class LifecycleLedger(Protocol):
    def orders(self, panel: str, order_ids: Sequence[str]) -> dict[str, OrderRecord]: ...
    def record_statuses(self, panel: str, statuses: Sequence[OrderStatus], at: str) -> None: ...
    def record_refills(self, panel: str, results: Sequence[RefillResult], at: str) -> None: ...
    def record_refill_statuses(self, panel: str, statuses: Sequence[tuple[str, RefillStatus]], at: str) -> None: ...
    def record_cancels(self, panel: str, results: Sequence[CancelResult], at: str) -> None: ...


@dataclass(frozen=True, kw_only=True)
class SheetOptions:
    """Which sheet, which rows, and where the results go (the shared options of the commands)."""

    sheet_name: str | None = None
    out: Path | None = None
    in_place: bool = False
    rows: RowSelection | None = None
    decimal: str | None = None  # the sheet's decimal mark ("," or "."); None: detected


@dataclass
class LifecycleIO:
    """The world the pipelines work in, passed in (the sandbox, tests and a real panel alike)."""

    client: LifecycleClient
    ledger: LifecycleLedger
    panel: str  # the panel's name in the ledger (never the key)
    notify: Callable[[str], None] = lambda message: None
    reporter: Reporter = field(default_factory=SilentReporter)
    clock: Clock = time.time
    sleep: Callable[[float], None] = time.sleep


def results_path(source: Path, options: SheetOptions) -> Path:
    """Where the sheet is written (see the module docstring)."""
    from bulkorders.sheets import default_output_path

    if options.in_place:
        return source
    if options.out is not None:
        return options.out
    return default_output_path(source)  # NAME.results.xlsx, or the input if it is one


def _where_results_go(source: Path, options: SheetOptions, io: LifecycleIO) -> SheetOptions:
    """`options`, written in place when `source` is where its campaign keeps its results
    (`submit --in-place`) and no --out says otherwise: not into a second NAME.results file."""
    from bulkorders.ledger import Ledger
    from bulkorders.lifecycle.follow import written_into_itself

    if options.in_place or options.out is not None or not isinstance(io.ledger, Ledger):
        return options
    campaign = written_into_itself(source, io.ledger.campaigns(), io.panel)
    if campaign is None:
        return options
    io.notify(f"{source.name} holds the results of campaign {campaign.name} (submit --in-place): writing them into it.")
    return replace(options, in_place=True)


class Run:
    """One command over one sheet: its rows, the cells to write, the report."""

    def __init__(
        self, command: str, source: Path, options: SheetOptions, io: LifecycleIO, *, sync: bool = False
    ) -> None:
        """Read the sheet and complete its rows with the ledger, `BATCH_ROWS` rows at a time
        (a 100k-row sheet is never held beside all its targets and records); `sync` also
        notes the cells that differ from the ledger, for `sync_known`."""
        from bulkorders.sheets import read_sheet

        self.io = io
        self.options = options = _where_results_go(source, options, io)
        sheet = read_sheet(source, options.sheet_name, purpose="results", decimal=options.decimal)
        self.sheet = replace(sheet, rows=[])  # write-back needs where the header and columns are
        self.targets: list[Target] = []
        self.updates: dict[int, Values] = {}
        self.failures: dict[tuple[int, str], RowIssue] = {}
        self.pinned: dict[int, str] = {}  # rows whose own cells are wrong: that error stays
        self.refused_refills: dict[str, RefillStatus] = {}  # refill id -> the panel's error
        self.known_changes: list[tuple[int, Values]] = []  # cells the ledger knows better (`sync`)
        self.dirty = False
        self.backed_up = False
        self.out = results_path(source, options)
        self.requests_at_start = io.client.requests_sent
        self.report = LifecycleReport(command, source)
        ids: dict[str, None] = {}
        rows = sheet.rows
        while rows:
            batch = rows[:BATCH_ROWS]
            del rows[:BATCH_ROWS]  # each batch's cells are let go once its targets are made
            raw = targets_from_rows(((r.row, r.values) for r in batch), options.rows)
            ids.update(dict.fromkeys(unique_ids(t.order_id for t in raw)))
            self._complete(raw, {r.row: r.values for r in batch} if sync else None)
        if options.rows is not None and not self.targets:
            raise UsageError(f"--rows {options.rows}: none of these rows of {source.name} holds data.")
        self.report.orders = len(ids)
        self.before = list(self.targets)

    def _complete(self, raw: list[Target], cells: dict[int, dict] | None) -> None:
        """Add a batch of targets completed with the ledger's records of their orders; pin
        the rows whose own id cells are wrong; note what differs from the ledger (`cells`)."""
        ids = unique_ids(t.order_id for t in raw)
        records = self.io.ledger.orders(self.io.panel, ids) if ids else {}
        known = with_known(raw, records)
        self.targets += known
        self.report.rows += len(raw)
        self.report.without_order += sum(1 for t in raw if not t.order_id and not t.problem)
        for target, merged in zip(raw, known, strict=True):
            if target.problem is not None:
                column = "order_id" if target.order_id is None else "refill_id"
                if column == "refill_id" and merged.refill_id is not None:
                    continue  # the ledger knows the order's refill: that one is used (and shown)
                self.pinned[target.row] = target.problem
                self.set(target.row, {"error": target.problem})
                self.failures[(target.row, "cell")] = RowIssue(target.row, column, target.problem)
            record = records.get(target.order_id) if cells is not None and target.order_id else None
            if record is not None:
                changed = differing(cells.get(target.row, {}), ledger_values(record))  # type: ignore[union-attr]
                if changed:
                    self.known_changes.append((target.row, changed))

    # asking the panel

    def ask(self, label: str, ids: list[str], call: Callable[[list[str]], _R]) -> _R:
        """One bulk call of the client over `ids`, with progress shown."""
        reporter = self.io.reporter
        reporter.start(len(ids), label)
        try:
            return call(ids)
        finally:
            reporter.advance(len(ids))
            reporter.close()

    def refresh(self, ids: list[str], *, counted: bool = False) -> set[str]:
        """Ask the statuses of `ids`, record and apply them; returns the ids the panel refused.

        `counted`: the statuses are the command's own action (status), not a step before it.
        """
        if not ids:
            return set()
        found = self.ask("Checking statuses", ids, self.io.client.statuses)
        answers = {i: found.get(i) or OrderStatus(order=i, error=NO_ANSWER) for i in ids}
        at = utc_now_iso(self.io.clock)
        self.io.ledger.record_statuses(self.io.panel, list(answers.values()), at)
        self.apply(
            "status",
            ids,
            answers,
            lambda a: status_values(a, at),
            lambda a: a.error is None,
            after_status,
            counted=counted,
        )
        return {i for i, a in answers.items() if a.error is not None}

    def sync_known(self) -> None:
        """Bring the rows of orders the ledger knows up to its latest values (a `Run` made
        with `sync`).

        The results sheet is a view of the ledger: a sheet written before the last
        answers (an old copy, a failed write) shows them without asking the panel again.
        Only cells that differ are written.
        """
        for row, changed in self.known_changes:
            self.set(row, changed)
            self.report.from_ledger += 1
        self.known_changes = []

    def refresh_refills(self) -> None:
        """Ask the status of every refill not known to be final; record and apply.

        A refill the panel refused ("Refill not found": a mistyped cell) is not asked
        again in this run (a watch); its error is written again with each round.
        """
        wanted = refill_ids(self.targets)
        asked = [i for i in wanted if i not in self.refused_refills]
        if not wanted:
            return
        answers = self.ask("Checking refills", asked, self.io.client.refill_statuses) if asked else {}
        pairs: dict[str, RefillStatus] = {}
        for target in self.targets:
            if target.refill_id in wanted and target.order_id:
                answer = (
                    answers.get(target.refill_id)
                    or self.refused_refills.get(target.refill_id)
                    or RefillStatus(target.refill_id, error=NO_ANSWER)
                )
                pairs.setdefault(target.order_id, answer)
        fresh = [(order, a) for order, a in pairs.items() if a.refill in asked]
        at = utc_now_iso(self.io.clock)
        if fresh:
            self.io.ledger.record_refill_statuses(self.io.panel, fresh, at)
        self.report.refills_checked += len(asked)
        self.refused_refills.update({a.refill: a for a in pairs.values() if a.error is not None})
        # Rows of an order whose refill cell names another refill are not this answer's.
        rows = {t.row for t in self.targets if t.order_id in pairs and t.refill_id == pairs[t.order_id].refill}
        self.apply(
            "refill status",
            list(pairs),
            pairs,
            refill_status_values,
            lambda a: a.error is None,
            _after_refill_status,
            counted=False,
            rows=rows,
        )

    def apply(
        self,
        kind: str,
        ids: Iterable[str],
        answers: dict[str, _A],
        values: Callable[[_A], Values],
        ok: Callable[[_A], bool],
        after: Callable[[Target, _A], Target],
        *,
        counted: bool = True,
        rows: set[int] | None = None,
    ) -> None:
        """Write each answer into the rows of its order; a refused one is a failed row.

        `rows`: the rows the command acted on (default: every row of the order). An
        order in two rows of which only one was eligible answers into that one only.
        """
        wanted = set(ids)
        if counted:
            self.report.asked += len(wanted)
            self.report.succeeded += sum(1 for i in wanted if i in answers and ok(answers[i]))
        for index, target in enumerate(self.targets):
            if target.order_id not in wanted or (rows is not None and target.row not in rows):
                continue
            answer = answers.get(target.order_id)  # type: ignore[arg-type]
            if answer is None:
                continue
            cells = values(answer)
            self.set(target.row, cells)
            key = (target.row, kind)
            if ok(answer):
                self.failures.pop(key, None)
            else:
                why = f"order {target.order_id}: {cells['error']}"
                self.failures[key] = RowIssue(target.row, "order_id", why)
            self.targets[index] = after(target, answer)

    def say_why_not(self, action: str, refusal: Callable[[Target], str | None]) -> list[Target]:
        """The rows the action may be asked for; the others say why (rows of --rows) or are counted."""
        eligible = []
        failed = {row for row, _ in self.failures}
        for target in self.targets:
            if target.row in failed:
                continue  # the panel refused it already (bad order id): that is its error
            why = refusal(target)
            if why is None:
                if target.order_id:
                    eligible.append(target)
                continue
            if not target.order_id and not target.asked:
                continue  # counted as without_order; nothing to say in a whole-sheet run
            if target.order_id or not target.error:
                self.set(target.row, {"error": why})  # this run's why replaces an earlier note
            if target.asked:
                shown = why if target.order_id or not target.error else f"{why} ({target.error})"
                self.failures[(target.row, "eligibility")] = RowIssue(target.row, "order_id", shown)
            else:
                self.report.left_out[why] = self.report.left_out.get(why, 0) + 1
                self.report.left_out_rows.setdefault(why, []).append(target.row)
        return eligible

    def count_final_not_asked(self, refresh_all: bool) -> None:
        """Count the orders `status` leaves alone because they are final (unless --all)."""
        if refresh_all:
            return
        asked = set(status_ids(self.targets, refresh_all=False))
        final = len(set(unique_ids(t.order_id for t in self.targets)) - asked)
        if final:
            self.report.left_out[FINAL_NOT_ASKED] = final

    def set(self, row: int, cells: Values) -> None:
        """Cells to write into an Excel row (later values of a column win).

        A row whose own id cell is wrong keeps saying so in `error`, whatever else it gets.
        """
        pinned = self.pinned.get(row)
        if pinned is not None and "error" in cells and cells["error"] != pinned:
            error = cells["error"]
            cells = {**cells, "error": pinned if error is None else f"{pinned}; {error}"}
        self.updates.setdefault(row, {}).update(cells)
        self.dirty = True

    # writing and finishing

    def write(self) -> None:
        """Write the updates so far (all of them: each write starts from the sheet as read)."""
        from bulkorders.sheets import backup_copy, read_sheet, write_back

        # --out names a file the user expects to find, changed rows or not.
        first_out = self.options.out is not None and self.report.output is None
        if not self.dirty and not first_out:
            return
        source = Path(self.sheet.path)
        if self.options.in_place and not self.backed_up:
            self.io.notify(f"Kept a copy of the input as {backup_copy(source, self.io.clock)}.")
            self.backed_up = True
        try:
            summary = write_back(self.sheet, self.updates, self.out, clock=self.io.clock)
        except WriteBackError as exc:
            self.report.write_error = WriteBackError(
                f"{exc.message}{_nothing_lost(exc.message)} Rerun the same command to write the sheet again."
            )
            return
        self.dirty = False
        self.report.write_error = None
        self.report.output = Path(summary.path)
        for note in summary.notes:
            self.io.notify(note)
        for warning in summary.warnings:
            self.io.notify(f"warning: {warning}")
        if summary.columns_added and self.out.resolve() == source.resolve():
            # The file now has the output columns: the next write (--watch) must reuse them.
            again = read_sheet(source, self.options.sheet_name, purpose="results", decimal=self.options.decimal)
            self.sheet = replace(again, rows=[])

    def interrupted(self, message: str) -> None:
        """Ctrl-C: write what was answered and not yet written, and say so in the report."""
        if self.dirty:
            self.write()
        self.report.stop = Interrupted(message)

    def finish(self) -> LifecycleReport:
        """The report, completed with the failures, statuses, spend and changes."""
        report = self.report
        report.failures = sorted(self.failures.values(), key=lambda issue: issue.row)
        report.by_status = by_status(self.targets)
        report.spend = spend(self.targets)
        report.changes = changes(self.before, self.targets)
        report.requests = self.io.client.requests_sent - self.requests_at_start
        return report


def after_refill(target: Target, answer: RefillResult) -> Target:
    """The target as known after a refill answer: a new refill has no status yet."""
    if answer.refill is None:
        return target
    return replace(target, refill_id=answer.refill, refill_status=None)


def _after_refill_status(target: Target, answer: RefillStatus) -> Target:
    return target if answer.error is not None else replace(target, refill_status=answer.status)
