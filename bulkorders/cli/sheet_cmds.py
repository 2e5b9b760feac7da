"""`validate` and `template`: will this sheet go through, and a ready sheet to fill."""

from __future__ import annotations

from pathlib import Path

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.errors import ExitCode, UsageError
from bulkorders.sheets import read_sheet
from bulkorders.validation import issue_lines, report_json, summary_lines, validate_sheet

DEFAULT_TEMPLATE = Path("bulkorders-template.xlsx")


@cli.command()
@click.argument("sheet", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--sheet", "sheet_name", metavar="NAME", help="Worksheet to read (default: the first one).")
@click.option("--offline", is_flag=True, help="Use the cached catalogue only and skip the balance.")
@pass_app
def validate(app, sheet, sheet_name, offline):
    """Check every row of SHEET (.xlsx, .xlsm, .csv) against the panel's catalogue.

    Prints every problem with the sheet's own row number and column name, then the
    rows valid / invalid / with warnings, the estimated cost (total and by service)
    and the balance. Nothing is ordered. Exit status 0 when no row is invalid
    (warnings allowed), 1 when some row is, 3 when the panel or catalogue cannot be had.
    """
    parsed = read_sheet(sheet, sheet_name, purpose="orders")
    report = validate_sheet(parsed, app.catalogue(offline=offline))
    balance = None if offline else app.client().balance()
    if app.settings.json:
        app.emit_json(report_json(report, parsed, balance))
    else:
        lines = issue_lines(report)
        click.echo("\n".join([*lines, *([""] if lines else []), *summary_lines(report, parsed, balance)]))
    if not report.ok:
        click.get_current_context().exit(int(ExitCode.ROWS_FAILED))


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="Where to write the workbook (.xlsx).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@pass_app
def template(app, out, force):
    """Write a ready-to-fill order workbook.

    An Orders sheet with the columns bulkorders reads (a note on each header, a
    dropdown of service ids, the header frozen) and a Services sheet listing the
    panel's catalogue (from the cache while fresh) with filters on.
    """
    if out.exists() and not force:
        raise UsageError(f"{out} exists already. Give another --out, or --force to overwrite it.")
    from bulkorders.template import write_template  # openpyxl: loaded only for a template

    catalogue = app.catalogue()
    count = write_template(out, catalogue.services.values(), panel=catalogue.panel)
    click.echo(f"Wrote {out}: an Orders sheet to fill and {count} services of panel {catalogue.panel}.", err=True)
    if app.settings.json:
        app.emit_json({"output": str(out), "services": count, "panel": catalogue.panel})
