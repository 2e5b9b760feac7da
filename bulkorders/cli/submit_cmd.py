"""`submit`: place a sheet's orders once, and write the results sheet."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import click

from bulkorders.cli.app import cli, finish, pass_app
from bulkorders.cli.io import submit_io
from bulkorders.cli.options import check_output, results_output, sheet_input
from bulkorders.submit import DEFAULT_CONCURRENCY, SubmitOptions, problem_lines, submit_sheet, summary_text

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
@sheet_input
@results_output()
@click.option("--campaign", metavar="NAME", help="Campaign name in the ledger (default: the file's stem).")
@click.option("--dry-run", is_flag=True, help="Validate and show what would be placed and spent; send nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--max-spend", type=AmountType(), help="Refuse when the estimated total is over this amount.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Orders in flight at once.",
)
@click.option(
    "--resend-uncertain", is_flag=True, help="Send again the rows whose answer was lost (they may have been placed)."
)
@click.option(
    "--retry-rejected", is_flag=True, help="Send again the rows the panel refused (once the cause on its side is gone)."
)
@pass_app
def submit(
    app,
    sheet,
    sheet_name,
    out,
    in_place,
    campaign,
    dry_run,
    yes,
    max_spend,
    concurrency,
    resend_uncertain,
    retry_rejected,
):
    """Place every valid row of SHEET as an order, once, and write the results sheet.

    Validates the sheet, shows the estimated cost and the balance, asks for
    confirmation (--yes skips it), places the orders and writes order ids, charges and
    errors back. Running it again resumes: rows already placed are never sent again;
    rows whose answer was lost stay `uncertain` unless --resend-uncertain, and rows
    the panel refused stay `rejected` unless --retry-rejected (a row you edit in the
    sheet is a new row and is sent anyway).
    """
    check_output(out, in_place)
    options = SubmitOptions(
        campaign=campaign,
        sheet_name=sheet_name,
        out=out,
        in_place=in_place,
        dry_run=dry_run,
        max_spend=max_spend,
        concurrency=concurrency,
        resend_uncertain=resend_uncertain,
        retry_rejected=retry_rejected,
    )
    outcome = submit_sheet(sheet, options, submit_io(app, yes))
    finish(app, outcome, problem_lines(outcome), summary_text(outcome))
