"""The submission pipeline: validate → plan → cost guard → confirm → place → write back.

Everything it talks to is passed in (`SubmitIO`): the panel client, the ledger, the
catalogue, the clock, the progress reporter, the confirmation callback and where human
messages go. That makes the sandbox, the tests and a real panel one code path. It returns
a `SubmitOutcome` (what happened to every row); a run that had to stop early carries the
reason in `outcome.stop`, and one whose results could not be written the `WriteBackError`
in `outcome.write_error`, for the caller to raise after showing the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.clock import utc_now_iso
from bulkorders.errors import NotConfirmed, UsageError
from bulkorders.ledger import RowState, assign_identities, canonical_content, record_row_columns
from bulkorders.models import Balance, OrderRow, RowIssue, Severity, counted
from bulkorders.sheets import check_writable
from bulkorders.submit.balances import balance_after_run, keep_balance
from bulkorders.submit.joining import check_joining
from bulkorders.submit.outcome import (
    Plan,
    RowOutcome,
    SubmitOutcome,
    cost_guard,
    describe_plan,
    edited_notes,
    problem_lines,
    summary_text,
)
from bulkorders.submit.payload import sent_payload
from bulkorders.submit.placement import Sendable, Tally, place_rows
from bulkorders.submit.recovery import order_ids_of, recover_placed, without_order_ids
from bulkorders.submit.world import SubmitIO, SubmitOptions
from bulkorders.submit.writing import output_path, results_files, results_of, row_outcomes, write_results

if TYPE_CHECKING:
    from bulkorders.ledger import Campaign, Ledger, LedgerRow
    from bulkorders.sheets import Sheet


def submit_sheet(source: Path, options: SubmitOptions, io: SubmitIO) -> SubmitOutcome:
    """Place every valid row of `source` once and write the results sheet (see module doc).

    Raises before placing anything when the sheet cannot be read, the campaign is locked
    by another process, the cost guard refuses, or the user does not confirm.
    """
    out = output_path(source, options)
    if out.suffix.lower() != source.suffix.lower():
        raise UsageError(
            f"The results keep the input's format: give --out a name ending in {source.suffix} (not {out.name})."
        )
    given = _read(source, options, io)
    options = _with_max_spend(options, given.sheet)
    if not options.dry_run:
        check_writable(out)
    name = campaign_name(source, options.campaign)
    if not named(options):
        note = check_joining(name, source, io.ledger, io.panel)
        if note:
            io.notify(note)
    campaign = io.ledger.campaign(name, io.panel, _input_path(name, source, io))
    with io.ledger.placing(campaign):  # a file: the campaign lock; a team ledger: shared rows
        return _submit_locked(given, campaign, options, io)


def campaign_name(source: Path, campaign: str | None) -> str:
    """The campaign a sheet's rows belong to: --campaign, else the file's stem."""
    return campaign or source.stem


def _input_path(name: str, source: Path, io: SubmitIO) -> Path | None:
    """The input path to record: not the campaign's own results sheet given as the input."""
    earlier = io.ledger.find_campaign(name, io.panel)
    if earlier is not None and earlier.results_path == str(source.absolute()) != earlier.source_path:
        return None
    return source


def named(options: SubmitOptions) -> bool:
    """Whether the user chose the campaign's name (a name from the file may join another file's)."""
    return options.named if options.named is not None else options.campaign is not None


@dataclass
class _Input:
    """The sheet as validated: what is valid, what is not, which rows carry an order id."""

    sheet: Sheet  # without its rows: write-back needs only where the header and columns are
    valid: list[OrderRow]
    invalid: dict[int, list[RowIssue]]
    existing: dict[int, str]
    others: dict[int, dict[str, object]] = field(default_factory=dict)  # the sheet's own columns


def _read(source: Path, options: SubmitOptions, io: SubmitIO) -> _Input:
    """Read and validate the sheet once; report every row problem on the way."""
    from bulkorders.sheets import read_sheet
    from bulkorders.validation import validate_sheet

    sheet = read_sheet(source, options.sheet_name, purpose="orders", decimal=options.decimal)
    # Rows that carry an order id are validated too: their content keeps the occurrence
    # numbering of identical rows the same as when they were placed.
    report = validate_sheet(without_order_ids(sheet), io.catalogue)
    existing = order_ids_of(sheet)
    invalid = _invalid_issues(report.issues, set(report.invalid_rows) - set(existing))
    valid_rows = {row.row for row in report.rows}
    for issue in report.issues:
        if issue.row in existing and issue.row not in valid_rows:
            continue  # the row already has its order: nothing of it is sent
        io.notify(str(issue) if issue.severity is Severity.ERROR else f"warning: {issue}")
    others = {row.row: row.others for row in sheet.rows if row.others}
    return _Input(replace(sheet, rows=[]), report.rows, invalid, existing, others)


def _with_max_spend(options: SubmitOptions, sheet: Sheet) -> SubmitOptions:
    """--max-spend as typed, read as the sheet writes its numbers (`20,00` in a ;-CSV)."""
    if options.max_spend_text is None:
        return options
    from bulkorders.sheets import BadCell, amount

    decimal = options.decimal or ("," if sheet.decimal == "," else None)
    try:
        return replace(options, max_spend=amount(options.max_spend_text, decimal))
    except BadCell as exc:
        raise UsageError(f"--max-spend {exc}") from None


def _submit_locked(given: _Input, campaign: Campaign, options: SubmitOptions, io: SubmitIO) -> SubmitOutcome:
    _recover(campaign, io, "an earlier run stopped")
    invalid, existing = given.invalid, given.existing
    rows = _sync(campaign, given.valid, existing, io)
    if given.others:  # kept for the report's spend by client, project…
        record_row_columns(io.ledger, [(row.id, given.others.get(excel, {})) for excel, row in rows])
    given.valid = []  # they are in the ledger now; a 100k-row sheet need not be held twice
    at_row = {row.id: excel for excel, row in rows}
    to_send = _to_send(rows, options)
    # Every row without an order may be shown placed by a results sheet: a ledger replaced or
    # restored, or the id of an uncertain row the user found on the panel and typed in.
    if not options.write_only and _recovered(campaign, rows, given.sheet.path, options, io):
        rows = _reload(campaign, [(excel, row.id) for excel, row in rows], io)
        to_send = _to_send(rows, options)
    to_send.sort(key=lambda row: at_row[row.id])
    total = sum((row.estimate for row in to_send), Decimal(0))
    balance = io.client.balance() if to_send else None
    if balance is not None:
        keep_balance(io, "submit --dry-run" if options.dry_run else "submit before", balance, campaign.name)
    plan = _plan(campaign.name, rows, to_send, total, balance, len(invalid), options)
    if to_send:
        plan = replace(plan, edited=_edited(campaign, at_row, to_send, io))
        cost_guard(plan, options.max_spend)
    if options.dry_run:
        return SubmitOutcome(
            campaign.name,
            plan,
            row_outcomes(rows, invalid, existing),
            dry_run=True,
            currency=balance.currency if balance else None,
        )
    if to_send and not io.confirm(plan):
        raise NotConfirmed("Nothing placed: the submission was not confirmed.")
    tally = Tally()
    currency = balance.currency if balance else None
    if to_send:
        tally = _place(to_send, at_row, balance, options, io)
        if io.ledger.shared:  # a run of the same campaign killed meanwhile: its rows in flight
            _recover(campaign, io, "another bulkorders run of this campaign stopped")
    where = [(excel, row.id) for excel, row in rows]
    to_send_ids = {row.id for row in to_send}
    del rows, to_send  # the payloads were sent; do not hold them while the ledger is read back
    rows = _reload(campaign, where, io, slim=True)
    del where
    taken = set(tally.taken)
    if to_send_ids:
        balance_after_run(io, campaign.name, rows, to_send_ids - taken)
    outcome = SubmitOutcome(
        campaign.name,
        plan,
        row_outcomes(rows, invalid, existing),
        carried=len(existing),
        placed_now=tally.placed,
        taken=sum(1 for _, row in rows if row.id in taken and row.state == RowState.PLACED),
        elsewhere=sum(1 for _, row in rows if row.id in taken and row.state == RowState.SENDING),
        spent=tally.spent,
        currency=currency,
        stop=tally.stop,
    )
    updates = results_of(rows, invalid, outcome.stop, io)
    here = {row.id for _, row in rows}
    del rows  # the 100k records are in `updates` now: let them go before the sheet is written
    write_results(given.sheet, campaign, updates, here, options, io, outcome)
    return outcome


def _recover(campaign: Campaign, io: SubmitIO, when: str) -> None:
    """Rows left `sending` by runs that are over become uncertain; say how many."""
    recovered = io.ledger.recover_sending(campaign)
    if recovered:
        io.notify(
            f"{counted(len(recovered), 'row')} {'was' if len(recovered) == 1 else 'were'} being sent when {when}; "
            "they are now uncertain (the panel may or may not have placed them)."
        )


def _recovered(
    campaign: Campaign, rows: Sequence[tuple[int, LedgerRow]], source: Path, options: SubmitOptions, io: SubmitIO
) -> int:
    """How many rows without an order a results sheet of the campaign showed placed (now
    recorded placed: see `recovery`)."""
    unplaced = [row for _, row in rows if row.state != RowState.PLACED]
    if not unplaced:
        return 0
    found = results_files(source, campaign, options)
    return recover_placed(campaign, unplaced, found, options.sheet_name, io, options.decimal)


def _to_send(rows: Sequence[tuple[int, LedgerRow]], options: SubmitOptions) -> list[LedgerRow]:
    """The rows this run sends: planned ones, and the ones its options say to send again."""
    if options.write_only:
        return []
    return [row for _, row in rows if sends(row.state, options)]


def sends(state: str, options: SubmitOptions) -> bool:
    """Whether a run with `options` sends a row in ledger state `state`."""
    return (
        state == RowState.PLANNED
        or (options.resend_uncertain and state == RowState.UNCERTAIN)
        or (options.retry_rejected and state == RowState.REJECTED)
    )


def _edited(campaign: Campaign, at_row: Mapping[int, int], to_send: Sequence[LedgerRow], io: SubmitIO) -> tuple[str, ...]:
    """The plan's notes on rows about to be sent whose earlier order no longer matches a row."""
    unmatched = [
        row for batch in io.ledger.rows_in_batches(campaign) for row in batch
        if row.id not in at_row and row.order_id
    ]  # fmt: skip
    return edited_notes([(at_row[row.id], row) for row in to_send], unmatched)


def rewrite_results(source: Path, campaign: Campaign, io: SubmitIO) -> Path:
    """Write the results sheet of `campaign` again from the ledger, placing nothing.

    For a campaign whose last write-back failed (the file was open in Excel, say): the
    ledger has every result, and this puts them where the campaign's results go.
    """
    out = Path(campaign.results_path) if campaign.results_path else None
    options = SubmitOptions(campaign=campaign.name, out=out, write_only=True)
    outcome = submit_sheet(source, options, io)
    if outcome.write_error is not None:
        raise outcome.write_error
    assert outcome.output is not None
    return outcome.output


def _sync(
    campaign: Campaign, valid: Sequence[OrderRow], existing: Mapping[int, str], io: SubmitIO
) -> list[tuple[int, LedgerRow]]:
    """The ledger rows of the sheet's valid rows, paired with their Excel row in this sheet."""
    from bulkorders.ledger import PlannedRow

    payloads = [row.payload() for row in valid]
    identities = assign_identities(payloads, claimed(campaign, valid, payloads, existing, io.ledger))
    planned = [
        PlannedRow(identity, row.row, row.service, row.link, payload, row.estimate)
        for identity, row, payload in zip(identities, valid, payloads)
    ]
    synced = io.ledger.sync_rows(campaign, planned)
    by_identity = {row.identity: row for row in synced}
    carried = [
        (by_identity[plan.identity].id, existing[plan.excel_row])
        for plan in planned
        if existing.get(plan.excel_row) and by_identity[plan.identity].state != RowState.PLACED
    ]
    if carried:
        io.ledger.record_existing_orders(campaign, carried, utc_now_iso(io.clock))
    pairs = [(plan.excel_row, by_identity[plan.identity]) for plan in planned]
    if carried:
        return _reload(campaign, [(excel, row.id) for excel, row in pairs], io)
    return pairs


def claimed(
    campaign: Campaign,
    valid: Sequence[OrderRow],
    payloads: Sequence[Mapping[str, str]],
    existing: Mapping[int, str],
    ledger: Ledger,
) -> dict[int, str]:
    """Rows carrying the order id of a ledger row of this campaign with the same content
    keep that row's identity (index in `valid` -> identity)."""
    if not existing:
        return {}
    placed = {row.order_id: row for row in ledger.rows(campaign) if row.order_id and row.state == RowState.PLACED}
    claimed: dict[int, str] = {}
    for index, (row, payload) in enumerate(zip(valid, payloads)):
        known = placed.get(existing.get(row.row, ""))
        if known is not None and canonical_content(known.payload) == canonical_content(payload):
            claimed[index] = known.identity
    return claimed


def _reload(
    campaign: Campaign, where: list[tuple[int, int]], io: SubmitIO, *, slim: bool = False
) -> list[tuple[int, LedgerRow]]:
    """(Excel row, ledger row id) -> (Excel row, the row as the ledger has it now).

    `slim` drops the payloads (sent already); the ledger is read in batches, so that a
    100k-row campaign is never held twice.
    """
    current: dict[int, LedgerRow] = {}
    for batch in io.ledger.rows_in_batches(campaign):
        for row in batch:
            current[row.id] = replace(row, payload={}) if slim else row
    return [(excel, current[row_id]) for excel, row_id in where]


def _plan(
    name: str,
    rows: Sequence[tuple[int, LedgerRow]],
    to_send: Sequence[LedgerRow],
    total: Decimal,
    balance: Balance | None,
    invalid: int,
    options: SubmitOptions,
) -> Plan:
    states = [row.state for _, row in rows]
    resent = [row for row in to_send if row.state == RowState.UNCERTAIN]
    return Plan(
        campaign=name,
        to_place=len(to_send),
        total=total,
        balance=balance,
        already_placed=states.count(RowState.PLACED),
        rejected=states.count(RowState.REJECTED),
        uncertain=states.count(RowState.UNCERTAIN),
        invalid=invalid,
        resend_uncertain=options.resend_uncertain,
        retry_rejected=options.retry_rejected,
        resent=len(resent),
        resent_cost=sum((row.estimate for row in resent), Decimal(0)),
        max_spend=options.max_spend,
        max_spend_text=options.max_spend_text,
    )


def _place(
    to_send: Sequence[LedgerRow],
    at_row: Mapping[int, int],
    balance: Balance | None,
    options: SubmitOptions,
    io: SubmitIO,
) -> Tally:
    send_quantity = getattr(io.client, "send_quantity", True)
    sendables = [
        Sendable(row.id, at_row[row.id], sent_payload(row.payload, io.catalogue.get(row.service), send_quantity),
                 row.estimate, resend=row.state == RowState.UNCERTAIN, seen=(row.state, row.run_id))
        for row in to_send
    ]  # fmt: skip
    tally = Tally()
    io.client.progress_note = lambda: f"{tally.placed:,} of {len(sendables):,} placed"
    io.reporter.start(len(sendables), "Placing orders")
    try:
        return place_rows(
            sendables,
            client=io.client,
            ledger=io.ledger,
            currency=balance.currency if balance else "",
            concurrency=options.concurrency,
            clock=io.clock,
            reporter=io.reporter,
            tally=tally,
        )
    finally:
        io.client.progress_note = None
        io.reporter.close()


def _invalid_issues(issues: Sequence[RowIssue], rows: set[int]) -> dict[int, list[RowIssue]]:
    found: dict[int, list[RowIssue]] = {row: [] for row in sorted(rows)}
    for issue in issues:
        if issue.row in found:
            found[issue.row].append(issue)
    return found


__all__ = [
    "Plan",
    "RowOutcome",
    "SubmitIO",
    "SubmitOptions",
    "SubmitOutcome",
    "describe_plan",
    "output_path",
    "problem_lines",
    "submit_sheet",
    "summary_text",
]
