"""The lifecycle pipelines: `status` (once or `--watch`), `refill` and `cancel` over a sheet.

Each reads the sheet once, completes what its cells say with the ledger's latest
knowledge, asks the panel in bulk, records every answer in the ledger with its time, and
writes the same columns back (see `run`). What a row is eligible for and what each answer
writes is decided in `plan` (pure); the outcome is a `LifecycleReport` (`outcome`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from bulkorders.clock import utc_now_iso
from bulkorders.errors import BadAnswer, BulkOrdersError, NotConfirmed, PanelUnreachable
from bulkorders.lifecycle.outcome import CancelPlan, LifecycleReport
from bulkorders.lifecycle.plan import (
    cancel_refusal,
    cancel_values,
    changes,
    needs_fresh_status,
    no_order_text,
    refill_refusal,
    refill_values,
    settled,
    status_ids,
    unique_ids,
)
from bulkorders.lifecycle.run import LifecycleIO, Run, SheetOptions, after_refill, results_path
from bulkorders.models import ServiceLookup

__all__ = [
    "DEFAULT_EVERY",
    "LifecycleIO",
    "SheetOptions",
    "results_path",
    "status_sheet",
    "refill_sheet",
    "cancel_sheet",
]

DEFAULT_EVERY = 60.0


# --- the three commands -------------------------------------------------------------------


def status_sheet(
    source: Path,
    options: SheetOptions,
    io: LifecycleIO,
    *,
    refresh_all: bool = False,
    watch: bool = False,
    every: float = DEFAULT_EVERY,
) -> LifecycleReport:
    """Refresh the statuses (and pending refill statuses) of the sheet's orders and write them.

    First, rows of orders the ledger knows get its latest values wherever their cells
    differ (the results sheet is a view of the ledger), final orders included.
    Not-final orders are asked (all with `refresh_all`). With `watch`, repeats every
    `every` seconds, writing after each round, until every order is final (or refused by
    the panel); Ctrl-C ends it with what was answered written (`report.stop`). A round
    the panel does not answer (unreachable, HTML page) stops a single check but not a watch.
    """
    run = Run("status", source, options, io, sync=True)
    dead: set[str] = set()  # ids the panel refused ("Incorrect order ID"): asking again won't help
    run.sync_known()
    try:
        while True:
            run.report.rounds += 1
            first = run.report.rounds == 1
            before = list(run.targets)
            ids = [i for i in status_ids(run.targets, refresh_all=refresh_all and first) if i not in dead]
            if first:
                run.count_final_not_asked(refresh_all)
                run.say_why_not("check", lambda t: None if t.order_id else no_order_text("check"))
            failure = None
            try:
                dead |= run.refresh(ids, counted=True)
                run.refresh_refills()
            except (PanelUnreachable, BadAnswer) as exc:
                if not watch:
                    run.write()  # what was answered before the failure
                    raise
                failure = exc.message  # a watch runs for hours: one bad round does not stop it
            run.write()
            if not watch or settled(run.targets, dead):
                break
            running = len(set(status_ids(run.targets, refresh_all=False)) - dead)
            moved = len(changes(before, run.targets))
            done = (
                f" failed: {failure.rstrip('.')}"
                if failure
                else f": {len(ids)} checked, {moved} changed, {running} still running"
            )
            io.notify(f"Round {run.report.rounds}{done}. Next check in {every:g} s (Ctrl-C stops).")
            io.sleep(every)
    except KeyboardInterrupt:
        what = f"Stopped watching after {run.report.rounds} round(s)" if watch else "Interrupted"
        run.interrupted(f"{what}; the sheet holds every answer received. Rerun status to continue.")
    report = run.finish()
    _keep_balance(io)
    return report


def _keep_balance(io: LifecycleIO) -> None:
    """After a status run: keep the balance in the ledger, warn when it does not balance."""
    from bulkorders.ledger import Ledger, keep_reading

    fetch = getattr(io.client, "balance", None)
    if fetch is None or not isinstance(io.ledger, Ledger):
        return
    try:
        balance = fetch()
    except BulkOrdersError:
        return  # the balance is a cross-check; the statuses are what was asked
    line = keep_reading(io.ledger, io.panel, balance, "status", utc_now_iso(io.clock))
    if line:
        io.notify(line)


def _held(io: LifecycleIO, doing: str) -> AbstractContextManager[object]:
    """On a team ledger: the panel's orders held for this process while it refills or cancels
    (another process refusing, naming who holds them), so no order is asked twice at once."""
    from bulkorders.ledger import Ledger

    return io.ledger.hold_panel(io.panel, doing) if isinstance(io.ledger, Ledger) else nullcontext()


def refill_sheet(source: Path, options: SheetOptions, io: LifecycleIO, services: ServiceLookup) -> LifecycleReport:
    """Ask refills of the eligible orders (service allows refill, Completed or Partial).

    Orders whose status is unknown or not final are asked about first (a refill depends on it).
    """
    with _held(io, "refilled"):
        return _refill(source, options, io, services)


def _refill(source: Path, options: SheetOptions, io: LifecycleIO, services: ServiceLookup) -> LifecycleReport:
    run = Run("refill", source, options, io)
    try:
        run.refresh(unique_ids(t.order_id for t in run.targets if needs_fresh_status(t, services, "refill")))
        eligible = run.say_why_not("refill", lambda t: refill_refusal(t, services))
        ids = unique_ids(t.order_id for t in eligible)
        if ids:
            results = run.ask("Asking refills", ids, io.client.refills)
            io.ledger.record_refills(io.panel, results, utc_now_iso(io.clock))
            run.apply(
                "refill",
                ids,
                {r.order: r for r in results},
                refill_values,
                lambda r: r.refill is not None,
                after_refill,
                rows={t.row for t in eligible},
            )
        run.write()
    except KeyboardInterrupt:
        run.interrupted(
            "Interrupted: refills already answered are saved in the ledger; a refill asked when you "
            "pressed Ctrl-C may or may not exist. Check the panel before asking again."
        )
    return run.finish()


def cancel_sheet(
    source: Path,
    options: SheetOptions,
    io: LifecycleIO,
    services: ServiceLookup,
    *,
    confirm: Callable[[CancelPlan], bool],
) -> LifecycleReport:
    """Cancel the eligible orders (service allows cancel, not final), after `confirm(plan)`.

    Not-final statuses are asked again first, so the plan shown is about now. A plan not
    confirmed raises before any cancel is sent.
    """
    with _held(io, "cancelled"):
        return _cancel(source, options, io, services, confirm)


def _cancel(
    source: Path, options: SheetOptions, io: LifecycleIO, services: ServiceLookup, confirm: Callable[[CancelPlan], bool]
) -> LifecycleReport:
    run = Run("cancel", source, options, io)
    try:
        run.refresh(unique_ids(t.order_id for t in run.targets if needs_fresh_status(t, services, "cancel")))
        eligible = run.say_why_not("cancel", lambda t: cancel_refusal(t, services))
        ids = unique_ids(t.order_id for t in eligible)
        if ids:
            plan = CancelPlan(eligible, ids, dict(run.report.left_out), dict(run.report.left_out_rows))
            if not confirm(plan):
                raise NotConfirmed("Nothing cancelled: the cancellation was not confirmed.")
            results = run.ask("Cancelling", ids, io.client.cancel)
            io.ledger.record_cancels(io.panel, results, utc_now_iso(io.clock))
            run.apply(
                "cancel",
                ids,
                {r.order: r for r in results},
                cancel_values,
                lambda r: r.cancel is not None,
                lambda t, r: t,
                rows={t.row for t in eligible},
            )
        run.write()
    except KeyboardInterrupt:
        run.interrupted(
            "Interrupted: cancels already answered are saved in the ledger; a cancel sent when you "
            "pressed Ctrl-C may or may not have happened. Run status to see."
        )
    return run.finish()
