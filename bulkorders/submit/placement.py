"""Placing orders: up to N `add` requests in flight, each row's intent and outcome in the ledger.

The main thread owns the ledger: it marks a row `sending` (committed) before its request
leaves, hands the request to a worker thread, and records the outcome as soon as the
answer is back. So the rows in `sending` are exactly the requests in flight, and a crash
leaves at most `concurrency` rows to become `uncertain`. Worker threads only talk to the
panel.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from bulkorders.clock import Clock, utc_now_iso
from bulkorders.errors import BulkOrdersError, FundsError, Interrupted, PanelError
from bulkorders.models import AddResult, format_money
from bulkorders.progress import Reporter

DEFAULT_CONCURRENCY = 8
# This many lost answers in a row means the panel is failing: stop rather than leave
# thousands of rows uncertain.
MAX_LOST_IN_A_ROW = 5
_POLL = 0.2  # seconds between looks at the Ctrl-C flag while answers are awaited
ABORT_GRACE = 1.0  # seconds answers in flight are still awaited after Ctrl-C

_DUPLICATE_MARKERS = ("active order with this link", "link_duplicate")


class AddClient(Protocol):
    """What placement needs of the panel client; an `abort()` method, if it has one, is
    called to give up the answers in flight after Ctrl-C."""

    def add(self, payload: Mapping[str, str]) -> AddResult: ...


class PlacementLedger(Protocol):
    def mark_sending(  # the ids won
        self, ids: Sequence[int], at: str, expected: Mapping[int, tuple[str, int | None]] | None = None
    ) -> Sequence[int]: ...
    def mark_placed(
        self, row_id: int, order_id: str, charge: Decimal, currency: str, at: str, warning: str | None = None
    ) -> Any: ...
    def mark_rejected(self, row_id: int, error: str, at: str) -> Any: ...
    def mark_uncertain(self, row_id: int, detail: str, at: str) -> Any: ...
    def mark_planned(self, ids: Sequence[int], said: str | None = None) -> Any: ...
    # Optional: `together()`, one transaction for the changes made in a `with` block.


@dataclass(frozen=True)
class Sendable:
    """One ledger row to send: its id, where it is in the sheet, what to send, what it costs."""

    row_id: int
    excel_row: int
    payload: Mapping[str, str]
    estimate: Decimal
    resend: bool = False  # it was uncertain and is sent again (--resend-uncertain)
    seen: tuple[str, int | None] = ("planned", None)  # its state and claiming run when planned


@dataclass
class Tally:
    """What one placement run did, and why it stopped early (if it did)."""

    placed: int = 0
    rejected: int = 0
    uncertain: int = 0
    spent: Decimal = Decimal(0)
    stop: BulkOrdersError | None = None
    started: float = 0.0
    lost_in_a_row: int = 0
    unsent: list[int] = field(default_factory=list)  # row ids put back to planned
    taken: list[int] = field(default_factory=list)  # row ids another run claimed first (team ledger)

    @property
    def answered(self) -> int:
        return self.placed + self.rejected + self.uncertain


def place_rows(
    rows: Sequence[Sendable],
    *,
    client: AddClient,
    ledger: PlacementLedger,
    currency: str,
    concurrency: int = DEFAULT_CONCURRENCY,
    clock: Clock = time.time,
    reporter: Reporter | None = None,
    max_lost_in_a_row: int = MAX_LOST_IN_A_ROW,
    tally: Tally | None = None,
) -> Tally:
    """Send every row once, `concurrency` at a time, recording each outcome in the ledger.

    Stops sending (and lets the requests in flight finish, recording their outcomes) on
    not enough funds, a refused key, an unreachable panel, `max_lost_in_a_row` lost
    answers in a row, or Ctrl-C; the reason is `Tally.stop`. Rows not sent stay planned.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    placer = _Placer(client, ledger, currency, clock, reporter, max_lost_in_a_row)
    if tally is not None:  # the caller's, to watch while it fills (how far a run is)
        placer.tally = tally
    return placer.run(rows, concurrency)


class _Placer:
    def __init__(
        self,
        client: AddClient,
        ledger: PlacementLedger,
        currency: str,
        clock: Clock,
        reporter: Reporter | None,
        max_lost_in_a_row: int,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.currency = currency
        self.clock = clock
        self.reporter = reporter
        self.max_lost = max_lost_in_a_row
        self.tally = Tally()
        self._sent = 0  # rows handed to the pool so far
        self._order: dict[int, int] = {}  # row id -> its place in sending order
        self._streak_from = 0  # sending place of the first lost answer of the current streak

    def run(self, rows: Sequence[Sendable], concurrency: int) -> Tally:
        tally = self.tally
        tally.started = self.clock()
        pending: Iterator[Sendable] = iter(rows)
        in_flight: dict[Future[AddResult], Sendable] = {}
        with _ctrl_c_as_flag() as ctrl_c, ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="bulkorders-add"
        ) as pool:
            try:
                done: set[Future[AddResult]] = set()
                while True:
                    claimed = self._step(ctrl_c, done, in_flight, pending, concurrency)
                    self._hand_over(pool, claimed, in_flight)  # only once their claim is committed
                    if not in_flight:
                        break
                    done, _ = wait(in_flight, timeout=_POLL, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Raised by the code under us (or a second Ctrl-C): finish what is in flight so
                # that its outcome is recorded, not left uncertain.
                tally.stop = tally.stop or _interrupted()
                self._abort()
                for future in list(in_flight):
                    self._record(in_flight.pop(future), _finished(future))
        if isinstance(tally.stop, Interrupted) and not tally.unsent and next(pending, None) is None:
            tally.stop = _interrupted(rest=False)  # Ctrl-C after the last row was sent
        return tally

    def _together(self) -> AbstractContextManager[object]:
        """The ledger's `together` (one commit for the changes in the block), if it has one."""
        together = getattr(self.ledger, "together", None)
        return together() if together is not None else nullcontext()

    def _abort_after_grace(self, ctrl_c: _CtrlC) -> None:
        """Answers still in flight `ABORT_GRACE` s after Ctrl-C are given up: those rows
        become uncertain, so the run ends within 2 s even if the panel never answers."""
        if time.monotonic() - ctrl_c.pressed_at >= ABORT_GRACE:
            self._abort()

    def _abort(self) -> None:
        abort = getattr(self.client, "abort", None)
        if abort is not None:
            abort()

    def _step(
        self,
        ctrl_c: _CtrlC,
        done: set[Future[AddResult]],
        in_flight: dict[Future[AddResult], Sendable],
        pending: Iterator[Sendable],
        concurrency: int,
    ) -> list[Sendable]:
        """Record the answers just in and claim the next rows, in one transaction (`together`);
        the rows claimed, to hand over once it is committed."""
        claimed: list[Sendable] = []
        try:
            with self._together():
                # In sending order (not the set's), so "lost in a row" means in a row.
                for future in [f for f in in_flight if f in done]:
                    self._record(in_flight.pop(future), future)  # popped first: recorded once
                if ctrl_c.pressed and self.tally.stop is None:
                    self.tally.stop = _interrupted()
                if ctrl_c.pressed:
                    self._abort_after_grace(ctrl_c)
                if self.tally.stop is None:
                    claimed = self._claim(pending, concurrency - len(in_flight))
        except KeyboardInterrupt:
            if claimed:  # claimed and committed, never handed over: surely not sent
                self._unsend([row.row_id for row in claimed])
            raise
        return claimed

    def _claim(self, pending: Iterator[Sendable], room: int) -> list[Sendable]:
        """Claim up to `room` rows to send; rows another run claimed first (a team ledger
        shares a campaign's rows between runs) are left to it."""
        claimed: list[Sendable] = []
        while room > len(claimed):
            batch = [row for _, row in zip(range(room - len(claimed)), pending)]
            if not batch:
                break
            seen = {row.row_id: row.seen for row in batch}  # another run's outcome since is not ours to redo
            won = set(self.ledger.mark_sending(list(seen), utc_now_iso(self.clock), seen))
            taken = [row.row_id for row in batch if row.row_id not in won]
            if taken:
                self.tally.taken.extend(taken)
                self._progress(len(taken))
            claimed += [row for row in batch if row.row_id in won]
        return claimed

    def _hand_over(
        self, pool: ThreadPoolExecutor, batch: list[Sendable], in_flight: dict[Future[AddResult], Sendable]
    ) -> None:
        launched = 0
        try:
            for row in batch:
                self._sent += 1
                self._order[row.row_id] = self._sent
                in_flight[pool.submit(self.client.add, row.payload)] = row
                launched += 1
        except BaseException:
            # Interrupted inside pool.submit: that row's request may have been queued, so it
            # stays `sending` (uncertain on the next run); the rows after it were never handed
            # over and go back to planned.
            self._unsend([row.row_id for row in batch[launched + 1 :]])
            raise

    def _answered(self, row: Sendable, lost: bool) -> None:
        """Keep the count of lost answers in a row, in sending order: an answer for a row sent
        before the current streak began (a slow one) neither ends nor extends it."""
        tally, place = self.tally, self._order.pop(row.row_id, 0)
        if lost:
            if tally.lost_in_a_row == 0:
                self._streak_from = place
            tally.lost_in_a_row += 1
        elif place > self._streak_from:
            tally.lost_in_a_row = 0

    def _record(self, row: Sendable, future: Future[AddResult]) -> None:
        at = utc_now_iso(self.clock)
        tally = self.tally
        try:
            result = future.result()
        except BulkOrdersError as exc:
            # The client raises only when the order was surely not placed (refused key, no
            # funds, panel never reached, a firewall): the row is still to do; stop sending.
            self._unsend([row.row_id], getattr(exc, "said", None))
            self._stop(exc)
            return
        except Exception as exc:  # a bug: the request may have left, so placed or not is unknown
            result = AddResult(lost=True, detail=f"{type(exc).__name__}: {exc}")
        if result.order is not None:
            warning = None if result.warning is None else f"placed; the panel also said: {result.warning}"
            shared = self.ledger.mark_placed(row.row_id, result.order, row.estimate, self.currency, at, warning)
            if shared:  # the panel gave this order id to another row already: it misbehaves
                tally.uncertain += 1
                self._stop(PanelError(shared))
                return
            tally.placed += 1
            tally.spent += row.estimate
            self._answered(row, lost=False)
        elif result.error is not None and _is_funds(result.error):
            self._unsend([row.row_id], result.error)
            self._stop(FundsError(f"The panel says: {result.error}"))
            return
        elif result.error is not None:
            self.ledger.mark_rejected(row.row_id, rejection_text(result.error, resend=row.resend), at)
            tally.rejected += 1
            self._answered(row, lost=False)
        else:
            self.ledger.mark_uncertain(row.row_id, uncertain_text(result.detail), at)
            tally.uncertain += 1
            self._answered(row, lost=True)
            if tally.lost_in_a_row >= self.max_lost and tally.stop is None:
                tally.stop = PanelError(
                    f"The panel lost the answers of {tally.lost_in_a_row} orders in a row, so "
                    "sending stopped rather than leave more rows uncertain. Check that the panel "
                    "works (and its order list for the uncertain rows), then rerun the same "
                    "command to place the rest."
                )
        if isinstance(result.stop, BulkOrdersError) and tally.stop is None:
            tally.stop = result.stop  # a redirect: this row is uncertain, nothing more is sent
        self._progress()

    def _unsend(self, row_ids: list[int], said: str | None = None) -> None:
        """Rows marked `sending` that the panel surely did not place: planned again, sent next run."""
        self.ledger.mark_planned(row_ids, said)
        self.tally.unsent.extend(row_ids)

    def _stop(self, exc: BulkOrdersError) -> None:
        if self.tally.stop is None:
            self.tally.stop = exc
        self._progress()

    def _progress(self, steps: int = 1) -> None:
        if self.reporter is None:
            return
        tally = self.tally
        elapsed = max(self.clock() - tally.started, 1e-9)
        info = (
            f"placed {tally.placed} · failed {tally.rejected} · uncertain {tally.uncertain} · "
            f"{tally.answered / elapsed:.1f}/s · spent {format_money(tally.spent)} {self.currency}"
        )
        self.reporter.advance(steps, info=info)


def _interrupted(*, rest: bool = True) -> Interrupted:
    """Ctrl-C; `rest`: rows are left to send (else every row had been sent when it came)."""
    if not rest:
        return Interrupted(
            "Interrupted after every row was sent: each answer is saved in the ledger; nothing is left to place."
        )
    return Interrupted(
        "Interrupted: stopped sending; every answered row is saved in the ledger. "
        "Rerun the same command to place the rest."
    )


class _CtrlC:
    pressed = False
    pressed_at = 0.0  # time.monotonic() of the first press


@contextmanager
def _ctrl_c_as_flag() -> Iterator[_CtrlC]:
    """While orders are placed, a first Ctrl-C only raises a flag the loop checks between
    steps, so it can never land between a ledger commit and the bookkeeping after it. A
    second Ctrl-C interrupts at once; the answers in flight are still awaited and recorded
    (a row caught mid-step stays `sending`, which the next run calls uncertain)."""
    flag = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals reach only the main thread; nothing to install
        return

    def first_press(signum: int, frame: Any) -> None:
        flag.pressed, flag.pressed_at = True, time.monotonic()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, first_press)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _finished(future: Future[AddResult]) -> Future[AddResult]:
    wait([future])
    return future


def _is_funds(text: str) -> bool:
    """A funds refusal in any wording panels use (the client raises for these already; a
    client that only reports them is stopped for too)."""
    from bulkorders.panel import is_funds_refusal

    return is_funds_refusal(text)


def rejection_text(error: str, *, resend: bool) -> str:
    """The `error` column of a rejected row; a resent row the panel calls a duplicate says why."""
    lowered = error.lower()
    if resend and any(marker in lowered for marker in _DUPLICATE_MARKERS):
        return (
            f"{error} — this row's first answer was lost and it was sent again: it was most "
            "likely placed the first time (check the panel's order list for this link)."
        )
    return error


def uncertain_text(detail: str) -> str:
    """The `error` column of an uncertain row: what happened and what to do."""
    what = detail or "the answer was lost"
    return (
        f"answer lost ({what}): the order may or may not exist. Check the panel's order list; "
        "rerun with --resend-uncertain to send it again."
    )
