"""Where a `submit` run's results go and what they say: the results sheet's path, its
columns for every row (orders read from the ledger 5,000 at a time), the write-back, and
each row's outcome."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.errors import BulkOrdersError, FundsError, Interrupted, WriteBackError
from bulkorders.models import RowIssue
from bulkorders.results import CompactUpdates, campaign_updates
from bulkorders.sheets import backup_copy, default_output_path, write_back
from bulkorders.submit.outcome import RowOutcome, SubmitOutcome
from bulkorders.submit.recovery import written_by_this_ledger
from bulkorders.submit.unmatched import list_unmatched
from bulkorders.submit.world import SubmitIO, SubmitOptions

if TYPE_CHECKING:
    from bulkorders.ledger import Campaign, LedgerRow
    from bulkorders.sheets import Sheet

# Orders read back from the ledger at a time when writing the sheet (bounds memory).
_RECORDS_CHUNK = 5000


def results_files(source: Path, campaign: Campaign, options: SubmitOptions) -> list[Path]:
    """The campaign's results sheets other than the input: this run's and the recorded one."""
    found = [output_path(source, options)]
    if campaign.results_path:
        found.append(Path(campaign.results_path))
    here = source.resolve()
    unique = {path.resolve(): path for path in found if path.resolve() != here}
    return list(unique.values())


def output_path(source: Path, options: SubmitOptions) -> Path:
    """Where the results go: the input (--in-place), --out, or NAME.results.EXT beside it.

    A --campaign other than the file's name gets NAME.CAMPAIGN.results.EXT, so next
    week's campaign from the same file never overwrites last week's results.
    """
    if options.in_place:
        return source
    if options.out:
        return options.out
    default = default_output_path(source)
    if options.campaign and options.campaign != source.stem and default != source:
        part = re.sub(r"[^\w.-]+", "-", options.campaign).strip(".-") or "campaign"
        return source.with_name(f"{source.stem}.{part}.results{source.suffix}")
    return default


def results_of(
    rows: Sequence[tuple[int, LedgerRow]], invalid: Mapping[int, list[RowIssue]],
    stop: BulkOrdersError | None, io: SubmitIO,
) -> CompactUpdates:  # fmt: skip
    """The results columns of every row, the orders read from the ledger 5,000 at a time."""
    updates = CompactUpdates()
    for start in range(0, len(rows), _RECORDS_CHUNK):
        chunk = rows[start : start + _RECORDS_CHUNK]
        order_ids = [row.order_id for _, row in chunk if row.order_id]
        records = io.ledger.orders(io.panel, order_ids) if order_ids else {}
        for excel, values in campaign_updates(chunk, records, not_sent=not_sent_why(stop)).items():
            updates.set(excel, values)
    for excel, values in campaign_updates([], {}, invalid).items():
        updates.set(excel, values)
    return updates


def write_results(
    sheet: Sheet,
    campaign: Campaign,
    updates: CompactUpdates,
    here: Collection[int],
    options: SubmitOptions,
    io: SubmitIO,
    outcome: SubmitOutcome,
) -> None:
    """Write the results sheet (`updates`; `here`: the ledger rows of the sheet's rows); on
    failure the ledger keeps `needs_write`."""
    source = Path(sheet.path)
    out = output_path(source, options)
    try:
        if options.in_place:
            io.notify(f"Kept a copy of the input as {backup_copy(source, io.clock)}.")
        rebuild = written_by_this_ledger(campaign, out)  # nothing of the user's in it: follow the input
        summary = write_back(sheet, updates, out, clock=io.clock, rebuild=rebuild)
        note = list_unmatched(campaign, here, Path(summary.path), io)
    except WriteBackError as exc:
        io.ledger.set_results_path(campaign, str(out), True)
        outcome.write_error = WriteBackError(
            f"{exc.message} To write the sheet again, rerun the same submit command (it places "
            f"nothing new), or run `bulkorders status {source.name}`."
        )
        return
    io.ledger.set_results_path(campaign, str(summary.path), False)
    outcome.output = Path(summary.path)
    for line in [*summary.notes, *([note] if note else [])]:
        io.notify(line)
    for warning in summary.warnings:
        io.notify(f"warning: {warning}")


def not_sent_why(stop: BulkOrdersError | None) -> str | None:
    """Why the rows still to place were not sent, for their error cell; None: the run did not stop."""
    if stop is None:
        return None
    if isinstance(stop, Interrupted):
        return "the run was interrupted (Ctrl-C) before it was sent"
    if isinstance(stop, FundsError):
        return "the panel ran out of funds before it was sent"
    lost = re.search(r"lost the answers of (\d+) orders in a row", stop.message)
    if lost:
        return f"sending stopped after {lost.group(1)} lost answers in a row"
    return f"sending stopped ({stop.message.split('. ')[0].rstrip('.')})"


def row_outcomes(
    rows: Sequence[tuple[int, LedgerRow]],
    invalid: Mapping[int, list[RowIssue]],
    existing: Mapping[int, str],
) -> list[RowOutcome]:
    outcomes = [RowOutcome(excel, row.state, row.order_id, row.charge, row.currency, row.error) for excel, row in rows]
    outcomes += [
        RowOutcome(excel, "invalid", error="; ".join(str(issue) for issue in issues))
        for excel, issues in invalid.items()
    ]
    covered = {outcome.row for outcome in outcomes}
    outcomes += [
        RowOutcome(excel, "has_order", order_id) for excel, order_id in existing.items() if excel not in covered
    ]
    return sorted(outcomes, key=lambda outcome: outcome.row)
