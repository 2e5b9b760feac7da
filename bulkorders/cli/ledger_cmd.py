"""`ledger info` and `ledger migrate`: where the ledger is and what it holds; copying it into another."""

from __future__ import annotations

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.ledger import info_text, ledger_info, migrate_ledger, transfer_text
from bulkorders.settings import checked_location


@cli.group("ledger")
def ledger_group():
    """See the ledger (where, engine, schema, counts) and copy it into a team database.

    The ledger is chosen by the global --ledger PATH|URL (BULKORDERS_LEDGER, or
    ledger = "…" in the config file): an SQLite file, or a postgresql:// URL.
    """


@ledger_group.command()
@pass_app
def info(app):
    """Show where the ledger is (a URL's password masked), its engine, schema version and counts.

    Counts: campaigns, rows (by state), orders, observations, balance readings and runs.
    On a team database it creates the schema when there is none yet; a ledger file that
    does not exist is not created. With --json the same as one object.
    """
    found = ledger_info(app.settings.ledger, app.ledger)
    if app.settings.json:
        app.emit_json(found.to_dict())
    else:
        click.echo(info_text(found))


@ledger_group.command()
@click.option("--to", "to", required=True, metavar="URL|PATH", help="The ledger to copy into: a postgresql:// URL or a file.")
@pass_app
def migrate(app, to):
    """Copy the ledger (--ledger) into another, normally a team database: --to postgresql://….

    Campaigns, rows, orders, observations, the sheets' other columns, balance readings and
    runs are copied in one transaction of the target; what it already holds is merged by
    identity, never duplicated (running it twice copies nothing the second time), and a row
    keeps the further of its two states. The target is read back and its counts checked and
    printed. Nothing the ledger copied from holds is changed (its schema is brought up to
    date, as by any command).
    """
    source, target = app.settings.ledger, checked_location(to, "--to")
    done = migrate_ledger(source, target, app.ledger)
    if app.settings.json:
        app.emit_json({"from": source.shown, "to": target.shown, **done.to_dict()})
    click.echo(transfer_text(done, source.shown, target.shown), err=app.settings.json)
