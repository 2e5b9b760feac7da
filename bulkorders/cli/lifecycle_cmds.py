"""`status`, `refill`, `cancel`: follow up a sheet of placed orders, answered in the sheet."""

from __future__ import annotations

from pathlib import Path

import click

from bulkorders.cli.app import App, cli, confirm, finish, pass_app
from bulkorders.cli.io import lifecycle_io, submit_io
from bulkorders.cli.options import check_output, results_output, sheet_input, stacked
from bulkorders.errors import UsageError
from bulkorders.lifecycle import (
    DEFAULT_EVERY,
    CancelPlan,
    LifecycleReport,
    SheetOptions,
    cancel_sheet,
    describe_cancel,
    failure_lines,
    parse_rows,
    refill_sheet,
    status_sheet,
    summary_text,
)

# The options every lifecycle command shares: the sheet, which rows, where the results go.
sheet_options = stacked(
    sheet_input,
    click.option("--rows", metavar="2-40,45", help="Only these Excel rows (numbers and ranges)."),
    results_output(
        out_help=(
            "Results file (default: NAME.results.xlsx/.csv beside the input; a NAME.results file is updated itself)."
        ),
        in_place_help="Write into the input (a timestamped copy is kept).",
    ),
)


@cli.command()
@sheet_options
@click.option("--all", "refresh_all", is_flag=True, help="Also check orders already final.")
@click.option("--watch", is_flag=True, help="Check again every --every seconds until every order is final.")
@click.option(
    "--every",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help=f"Seconds between checks with --watch (default {DEFAULT_EVERY:g}).",
)
@pass_app
def status(app, sheet, sheet_name, rows, out, in_place, refresh_all, watch, every):
    """Refresh the status of every order of SHEET (a sheet with an order_id column).

    Checks every order not yet final (Completed, Partial, Canceled, Refunded) in
    requests of 100 ids, and the status of refills not yet final; writes status,
    charge, currency, start_count, remains, refill_status and checked_at back, and
    prints counts by status, spend by currency and what changed since the last look.
    """
    if every is not None and not watch:
        raise UsageError("--every only applies with --watch.")
    options = _options(sheet_name, rows, out, in_place)
    report = status_sheet(
        _follow(app, sheet),
        options,
        lifecycle_io(app),
        refresh_all=refresh_all,
        watch=watch,
        every=every or DEFAULT_EVERY,
    )
    _show(app, report)


@cli.command()
@sheet_options
@pass_app
def refill(app, sheet, sheet_name, rows, out, in_place):
    """Ask refills for the eligible orders of SHEET, and write their refill ids.

    Eligible: the service allows refill (catalogue) and the order is Completed or
    Partial (orders not known to be final are checked first). Rows named by --rows
    that are not eligible say why in their error column. `status` later fills
    refill_status.
    """
    io = lifecycle_io(app)
    report = refill_sheet(_follow(app, sheet), _options(sheet_name, rows, out, in_place), io, app.catalogue())
    _show(app, report)


@cli.command()
@sheet_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def cancel(app, sheet, sheet_name, rows, out, in_place, yes):
    """Cancel the eligible orders of SHEET, after showing them and asking.

    Eligible: the service allows cancel and the order is not final (statuses are
    checked first). Without a terminal, --yes is required. Writes cancel_result
    in words: requested, refused: (the panel's reason), or uncertain.
    """
    io = lifecycle_io(app)
    options = _options(sheet_name, rows, out, in_place)
    report = cancel_sheet(_follow(app, sheet), options, io, app.catalogue(), confirm=lambda plan: _confirm(plan, yes))
    _show(app, report)


def _options(sheet_name: str | None, rows: str | None, out: Path | None, in_place: bool) -> SheetOptions:
    check_output(out, in_place)
    selection = parse_rows(rows) if rows is not None else None
    return SheetOptions(sheet_name=sheet_name, out=out, in_place=in_place, rows=selection)


def _follow(app: App, sheet: Path) -> Path:
    """The campaign's results sheet when SHEET is its input (rewritten if its write failed)."""
    from bulkorders.lifecycle import sheet_to_follow
    from bulkorders.submit import rewrite_results

    return sheet_to_follow(
        sheet,
        app.ledger().campaigns(),
        app.panel_name(),
        rewrite=lambda campaign: rewrite_results(sheet, campaign, submit_io(app, yes=False)),
        notify=app.notify,
    )


def _confirm(plan: CancelPlan, yes: bool) -> bool:
    return confirm(
        describe_cancel(plan),
        "Cancel these orders?",
        yes=yes,
        refusal="Nothing cancelled: there is no terminal to confirm on. Rerun with --yes to cancel these orders.",
    )


def _show(app: App, report: LifecycleReport) -> None:
    finish(app, report, failure_lines(report), summary_text(report))
