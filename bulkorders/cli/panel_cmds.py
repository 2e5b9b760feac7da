"""`services` and `balance`: what the panel sells, and what is left to spend."""

from __future__ import annotations

from pathlib import Path

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.models import format_money
from bulkorders.services_view import check_export_name, export_services, filter_services, format_table


@cli.command()
@click.option("--refresh", is_flag=True, help="Fetch the catalogue now, even if the cache is fresh.")
@click.option("--search", metavar="TEXT", help="Only services whose id, name or type contain TEXT.")
@click.option("--category", metavar="TEXT", help="Only services whose category contains TEXT.")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the list to FILE.xlsx, .csv or .json."
)
@pass_app
def services(app, refresh, search, category, out):
    """List the panel's services (id, name, type, category, rate per 1000, min, max, refill, cancel).

    The catalogue is cached per panel for an hour (catalogue_ttl in the config file);
    --refresh fetches it now. When the panel cannot be reached, a stale cache is used
    with a warning.
    """
    if out:
        check_export_name(out)
    catalogue = app.catalogue(refresh=refresh)
    chosen = filter_services(catalogue.services.values(), search=search, category=category)
    if out:
        export_services(chosen, out)
        click.echo(f"Wrote {len(chosen)} services to {out}", err=True)
    if app.settings.json:
        app.emit_json([s.to_panel_dict() for s in chosen])
    elif chosen:
        click.echo(format_table(chosen))
    click.echo(f"{len(chosen)} of {len(catalogue)} services, catalogue of {catalogue.fetched_text()}", err=True)


@cli.command()
@pass_app
def balance(app):
    """Show the panel balance and its currency."""
    result = app.client().balance()
    if app.settings.json:
        app.emit_json({"balance": format_money(result.amount), "currency": result.currency})
    else:
        click.echo(f"{format_money(result.amount)} {result.currency}")  # 2500.00, not a php panel's 2500.00000
    if app.settings.ledger.may_exist():  # kept for the report's Reconciliation sheet
        from bulkorders.clock import utc_now_iso
        from bulkorders.errors import LedgerError
        from bulkorders.ledger import keep_reading

        try:
            keep_reading(app.ledger(), app.panel_name(), result, "balance", utc_now_iso())
        except LedgerError as exc:
            app.warn(f"the balance was not kept in the ledger: {exc.message}")
