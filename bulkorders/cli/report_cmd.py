"""`report`: the audit workbook, from the ledger alone (no panel needed)."""

from __future__ import annotations

from pathlib import Path

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.cli.io import report_io
from bulkorders.errors import UsageError
from bulkorders.report import ReportFilters, report_workbook

DAY = click.DateTime(formats=["%Y-%m-%d"])


@cli.command()
@click.argument("sheets", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", "campaigns", multiple=True, metavar="NAME", help="Only this campaign (repeat for several).")
@click.option("--since", type=DAY, metavar="YYYY-MM-DD", help="Only orders placed on or after this day (UTC).")
@click.option(
    "--until",
    type=DAY,
    metavar="YYYY-MM-DD",
    help="Only orders placed on or before this day (UTC), the whole day included.",
)
@click.option(
    "--by",
    "by",
    multiple=True,
    metavar="COLUMN",
    help="Also group spend by this column of the sheets (a client, a project…); repeatable.",
)
@click.option(
    "--statements", is_flag=True, help="With --by: add a sheet per value (a client's statement: its orders and total)."
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The workbook to write (.xlsx)."
)
@click.option("--all-panels", is_flag=True, help="Report across every panel of the ledger (not only the default one).")
@pass_app
def report(app, sheets, campaigns, since, until, by, statements, out, all_panels):
    """Write an audit workbook of the orders in the ledger to --out.

    Sheets: Summary (counts, spend by currency, orders and spend by campaign, service,
    status and day, with charts), Orders (one row per order), Problems (rejected and
    uncertain rows, and what to do), History (every status, refill and cancel
    answer) and Reconciliation (each interval between two balance readings beside the
    ledger's spend in it). --by COLUMN adds spend by that column of the sheets to the Summary;
    --statements a sheet per value. Spend is net of cancels and refunds. SHEETS (results
    sheets with an order_id column), --campaign, --since, --until and the global
    --panel narrow it; nothing given means everything. A default panel of the config file
    narrows it too (said so); --all-panels reports across every panel of the ledger.
    Reads only the ledger: no panel is contacted.
    """
    settings = app.settings
    if all_panels and settings.panel_spec and not settings.panel_by_default:
        raise UsageError("Give --panel NAME or --all-panels, not both.")
    panel = None if all_panels else settings.panel_identity()
    if panel and settings.panel_by_default:
        app.notify(f"Narrowed to panel {panel}, the default panel of {settings.config_path}; "
                   "--all-panels reports across every panel of the ledger.")  # fmt: skip
    filters = ReportFilters(
        campaigns=tuple(campaigns),
        since=since.date() if since else None,
        until=until.date() if until else None,
        panel=panel,
        sheets=tuple(sheets),
    )
    audit = report_workbook(out, filters, report_io(app), by=tuple(by), statements=statements)
    from bulkorders.report import summary_figures, summary_text  # pandas: loaded by the report already

    if settings.json:
        app.emit_json(summary_figures(audit, out))
    click.echo(summary_text(audit, out), err=settings.json)
