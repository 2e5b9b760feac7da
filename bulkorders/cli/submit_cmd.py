"""`submit`: place a sheet's orders once, and write the results sheet."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from bulkorders.cli.app import App, cli, pass_app
from bulkorders.errors import UsageError, WriteBackError
from bulkorders.placement import DEFAULT_CONCURRENCY
from bulkorders.progress import make_reporter
from bulkorders.submit import Plan, SubmitIO, SubmitOptions, SubmitOutcome, describe_plan, submit_sheet
from bulkorders.submit import problem_lines, summary_text

MAX_CONCURRENCY = 64


class AmountType(click.ParamType):
    """An exact, non-negative amount of money (a Decimal, never a float)."""

    name = "AMOUNT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"{value!r} is not an amount (e.g. 25 or 12.50)", param, ctx)
        if not amount.is_finite() or amount < 0:
            self.fail(f"{value!r} is not an amount (e.g. 25 or 12.50)", param, ctx)
        return amount


@cli.command()
@click.argument("sheet", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sheet", "sheet_name", metavar="NAME", help="Worksheet to read (default: the first).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Results file (default: NAME.results.xlsx/.csv beside the input).")
@click.option("--in-place", is_flag=True, help="Write the results into the input (a timestamped copy is kept).")
@click.option("--campaign", metavar="NAME", help="Campaign name in the ledger (default: the file's stem).")
@click.option("--dry-run", is_flag=True, help="Validate and show what would be placed and spent; send nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--max-spend", type=AmountType(), help="Refuse when the estimated total is over this amount.")
@click.option("--concurrency", type=click.IntRange(1, MAX_CONCURRENCY), default=DEFAULT_CONCURRENCY,
              show_default=True, help="Orders in flight at once.")
@click.option("--resend-uncertain", is_flag=True,
              help="Send again the rows whose answer was lost (they may have been placed).")
@pass_app
def submit(app, sheet, sheet_name, out, in_place, campaign, dry_run, yes, max_spend, concurrency,
           resend_uncertain):
    """Place every valid row of SHEET as an order, once, and write the results sheet.

    Validates the sheet, shows the estimated cost and the balance, asks for
    confirmation (--yes skips it), places the orders and writes order ids, charges and
    errors back. Running it again resumes: rows already placed are never sent again;
    rows whose answer was lost stay `uncertain` unless --resend-uncertain.
    """
    if out and in_place:
        raise UsageError("Choose --out FILE or --in-place, not both.")
    options = SubmitOptions(campaign, sheet_name, out, in_place, dry_run, max_spend, concurrency,
                            resend_uncertain)  # fmt: skip
    outcome = submit_sheet(sheet, options, _open_io(app, yes))
    _show(app, outcome)


def _open_io(app: App, yes: bool) -> SubmitIO:
    from bulkorders.catalog import load_catalogue
    from bulkorders.connect import open_client, panel_identity
    from bulkorders.ledger import Ledger

    settings = app.settings
    client = open_client(settings)
    app.on_close(client.close)
    ledger = Ledger.open(settings.ledger_path)
    app.on_close(ledger.close)
    return SubmitIO(
        client=client,
        ledger=ledger,
        catalogue=load_catalogue(settings, client, warn=app.warn),
        panel=panel_identity(settings.panel()),
        confirm=lambda plan: _confirm(plan, yes),
        notify=lambda message: click.echo(message, err=True),
        reporter=make_reporter(json_output=settings.json),
    )


def _confirm(plan: Plan, yes: bool) -> bool:
    click.echo(describe_plan(plan), err=True)
    if yes:
        return True
    if not click.get_text_stream("stdin").isatty():
        raise UsageError(
            "Nothing placed: there is no terminal to confirm on. Check the plan with --dry-run, "
            "then rerun with --yes to place the orders."
        )
    return click.confirm("Place these orders?", default=False, err=True)


def _show(app: App, outcome: SubmitOutcome) -> None:
    for line in problem_lines(outcome):
        click.echo(line, err=True)
    if app.settings.json:
        app.emit_json(outcome.to_dict())
    app.say(summary_text(outcome))
    if outcome.write_error is not None:
        if outcome.stop is None:
            raise WriteBackError(outcome.write_error)
        click.echo(f"Error: {outcome.write_error}", err=True)
    if outcome.stop is not None:
        raise outcome.stop
    if outcome.exit_code:
        click.get_current_context().exit(int(outcome.exit_code))
