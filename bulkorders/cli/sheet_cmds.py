"""`validate` and `template`: will this sheet go through, and a ready sheet to fill."""

from __future__ import annotations

from pathlib import Path

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.cli.options import decimal_option, sheet_input
from bulkorders.errors import ExitCode, UsageError
from bulkorders.sheets import read_sheet
from bulkorders.submit import SubmitOptions, pending_rows
from bulkorders.validation import issue_lines, report_json, summary_lines, validate_sheet

DEFAULT_TEMPLATE = Path("bulkorders-template.xlsx")


@cli.command()
@sheet_input
@click.option("--offline", is_flag=True, help="Use the cached catalogue only and skip the balance.")
@click.option("--campaign", metavar="NAME", help="The campaign submit would place it in (default: the file's stem).")
@decimal_option
@pass_app
def validate(app, sheet, sheet_name, offline, campaign, decimal):
    """Check every row of SHEET (.xlsx, .xlsm, .csv) against the panel's catalogue.

    Prints every problem with the sheet's own row number and column name, then the
    rows valid / invalid / with warnings, the estimated cost (total and by service)
    and the balance. When the ledger knows the campaign, it says how many rows were
    placed already, and the cost and balance count only the rows `submit` would send.
    Nothing is ordered and no ledger is created. Exit status 0 when no row is invalid
    (warnings allowed), 1 when some row is, 3 when the panel or catalogue cannot be had.
    """
    parsed = read_sheet(sheet, sheet_name, purpose="orders", decimal=decimal)
    catalogue = app.catalogue(offline=offline)
    report = validate_sheet(parsed, catalogue)
    ledger = app.ledger() if app.settings.ledger.may_exist() else None  # never create one here
    options = SubmitOptions(campaign=campaign, decimal=decimal)
    pending = pending_rows(parsed, catalogue, ledger, app.panel_name(), options)
    balance = None if offline else app.client().balance()
    if app.settings.json:
        app.emit_json(report_json(report, parsed, balance, pending))
    else:
        lines = issue_lines(report)
        summary = summary_lines(report, parsed, balance, pending)
        click.echo("\n".join([*lines, *([""] if lines else []), *summary]))
    if not report.ok:
        click.get_current_context().exit(int(ExitCode.ROWS_FAILED))


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="Where to write the template (.xlsx, or .csv for the columns only).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@pass_app
def template(app, out, force):
    """Write a ready-to-fill order workbook (or, with --out NAME.csv, a CSV of its columns).

    An Orders sheet with the columns bulkorders reads (a note on each header, a
    dropdown of service ids, the header frozen) and a Services sheet listing the
    panel's catalogue (from the cache while fresh) with filters on.
    """
    if out.exists() and not force:
        raise UsageError(f"{out} exists already. Give another --out, or --force to overwrite it.")
    from bulkorders.template import write_template  # openpyxl: loaded only for a template

    catalogue = app.catalogue()
    count = write_template(out, catalogue.services.values(), panel=catalogue.panel)
    if out.suffix.lower() == ".csv":
        click.echo(f"Wrote {out}: the order columns to fill, one order per line (service ids: "
                   "`bulkorders services`).", err=True)  # fmt: skip
    else:
        click.echo(f"Wrote {out}: an Orders sheet to fill and {count} services of panel {catalogue.panel}.", err=True)
    if app.settings.json:
        app.emit_json({"output": str(out), "services": count, "panel": catalogue.panel})
