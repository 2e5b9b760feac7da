"""`report`: the audit workbook, from the ledger alone (no panel needed)."""

from __future__ import annotations

from pathlib import Path

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.errors import BulkOrdersError, ExitCode, UsageError
from bulkorders.progress import make_reporter

DAY = click.DateTime(formats=["%Y-%m-%d"])


@cli.command()
@click.argument("sheets", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", "campaigns", multiple=True, metavar="NAME",
              help="Only this campaign (repeat for several).")
@click.option("--since", type=DAY, metavar="YYYY-MM-DD",
              help="Only orders placed on or after this day (UTC).")
@click.option("--until", type=DAY, metavar="YYYY-MM-DD",
              help="Only orders placed on or before this day (UTC), the whole day included.")
@click.option("--by", "by", multiple=True, metavar="COLUMN",
              help="Also group spend by this column of the sheets (a client, a project…); repeatable.")
@click.option("--statements", is_flag=True,
              help="With --by: add a sheet per value (a client's statement: its orders and total).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The workbook to write (.xlsx).")
@pass_app
def report(app, sheets, campaigns, since, until, by, statements, out):
    """Write an audit workbook of the orders in the ledger to --out.

    Sheets: Summary (counts, spend by currency, orders and spend by campaign, service,
    status and day, with charts), Orders (one row per order), Problems (rejected and
    uncertain rows, and what to do), History (every status, refill and cancel
    answer) and Reconciliation (each interval between two balance readings beside the
    ledger's spend in it). --by COLUMN adds spend by that column of the sheets to the Summary;
    --statements a sheet per value. Spend is net of cancels and refunds. SHEETS (results
    sheets with an order_id column), --campaign, --since, --until and the global
    --panel narrow it; nothing given means everything. Reads only the ledger: no panel
    is contacted.
    """
    if out.suffix.lower() != ".xlsx":
        raise UsageError(f"--out {out}: the audit workbook is an Excel file; name it *.xlsx.")
    if since and until and since > until:
        raise UsageError(f"--since {since:%Y-%m-%d} is after --until {until:%Y-%m-%d}: nothing can match.")
    if statements and not by:
        raise UsageError("--statements makes a sheet per value of a --by column: add --by COLUMN (e.g. --by client).")
    from bulkorders.report import (  # pandas: loaded only for a report
        ReportFilters,
        build_report,
        cached_services,
        summary_figures,
        summary_text,
        write_report,
    )

    settings = app.settings
    filters = ReportFilters(
        campaigns=tuple(campaigns),
        since=since.date() if since else None,
        until=until.date() if until else None,
        panel=settings.panel_identity(),
        sheets=tuple(sheets),
    )
    if not settings.ledger_path.exists():
        raise BulkOrdersError(
            f"Nothing to report: there is no ledger at {settings.ledger_path} yet (submit creates "
            "it), or choose one with --ledger. No workbook was written.",
            exit_code=ExitCode.ROWS_FAILED,
        )
    audit = build_report(
        app.ledger(), filters, services=lambda panel: cached_services(settings.cache_dir, panel), by=by
    )
    for panel in audit.uncatalogued:
        app.warn(
            f"no cached catalogue of panel {panel}: service names and categories are blank. "
            f"Run `bulkorders --panel {panel} services` once to fill them in."
        )
    write_report(audit, out, make_reporter(json_output=settings.json), statements=statements)
    if settings.json:
        app.emit_json(summary_figures(audit, out))
    click.echo(summary_text(audit, out), err=settings.json)
