"""`sandbox serve` and `sandbox reset`: the built-in test panel over HTTP, and a fresh start."""

from __future__ import annotations

from pathlib import Path

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.panel.sandbox import LISTENING, STATE_FILE, Faults, SandboxServer, reset_state

_SHARE = click.FloatRange(0, 1)
_STATE_OPTION = click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Sandbox state file. Default: <user data dir>/bulkorders/{STATE_FILE}, the one --panel sandbox uses.",
)


@cli.group()
def sandbox():
    """The built-in sandbox panel: no account, no money, every command works end to end.

    Use it in-process with --panel sandbox, or over HTTP with `sandbox serve`.
    """


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (printed).",
)
@click.option(
    "--latency", default=0.0, type=click.FloatRange(0), metavar="SECONDS", help="Delay every answer by this long."
)
@click.option(
    "--fail-5xx",
    default=0.0,
    type=_SHARE,
    metavar="SHARE",
    help="Share of requests answered 502/503 without being processed.",
)
@click.option(
    "--fail-429",
    default=0.0,
    type=_SHARE,
    metavar="SHARE",
    help="Share of requests answered 429 (half of them with Retry-After: 1).",
)
@click.option(
    "--html",
    default=0.0,
    type=_SHARE,
    metavar="SHARE",
    help='Share of requests answered with a Cloudflare "Just a moment..." page (403/503).',
)
@click.option(
    "--lose-answers",
    default=0.0,
    type=_SHARE,
    metavar="SHARE",
    help="Share of requests processed (orders created) whose answer is never sent.",
)
@click.option("--seed", type=int, help="Seed of the fault draws, to replay the same faults.")
@click.option("--key", metavar="KEY", help="Accept only this API key (default: any non-empty key).")
@_STATE_OPTION
@pass_app
def serve(app, host, port, latency, fail_5xx, fail_429, html, lose_answers, seed, key, state):
    """Serve the sandbox panel over HTTP on loopback, optionally misbehaving.

    Point bulkorders at it with --panel http://127.0.0.1:PORT/api/v2 and any
    BULKORDERS_API_KEY. The fault options make it behave like a busy real panel; a
    request just hit by a fault goes through when the client sends it again.
    """
    faults = Faults(
        latency=latency, fail_5xx=fail_5xx, fail_429=fail_429, html=html, lose_answers=lose_answers, seed=seed
    )
    state_path = state or app.settings.data_dir / STATE_FILE
    server = SandboxServer(state_path, host=host, port=port, faults=faults, key=key)
    click.echo(LISTENING.format(url=server.url), err=True)
    click.echo(f"State: {state_path}", err=True)
    server.serve_until_stopped()
    click.echo("Sandbox panel stopped.", err=True)


@sandbox.command()
@_STATE_OPTION
@pass_app
def reset(app, state):
    """Start the sandbox over: no orders, no refills, balance back to 1000.00 USD.

    Order ids go on from where they were (a panel never reuses one), so the ledger
    never mistakes a new order for an old one.
    """
    state_path = state or app.settings.data_dir / STATE_FILE
    next_order = reset_state(state_path)
    if next_order is None:
        click.echo(f"No sandbox orders in {state_path}: nothing to reset.")
    else:
        click.echo(
            f"Reset the sandbox {state_path}: balance back to 1000.00 USD, no orders. New order "
            f"ids start at {next_order}: like a real panel, the sandbox never reuses an id."
        )
