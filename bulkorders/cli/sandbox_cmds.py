"""`sandbox serve` and `sandbox reset`: the built-in test panel over HTTP, and a fresh start."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.errors import UsageError
from bulkorders.models import format_money
from bulkorders.panel.sandbox import (
    DIALECTS,
    LISTENING,
    STATE_FILE,
    Faults,
    SandboxServer,
    file_clock,
    reset_state,
)

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
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (printed).")
@click.option("--latency", default=0.0, type=click.FloatRange(0), metavar="SECONDS",
              help="Delay every answer by this long.")
@click.option("--fail-5xx", default=0.0, type=_SHARE, metavar="SHARE",
              help="Share of requests answered 502/503 without being processed.")
@click.option("--fail-429", default=0.0, type=_SHARE, metavar="SHARE",
              help="Share of requests answered 429 (half of them with Retry-After: 1).")
@click.option("--challenge", default=0.0, type=_SHARE, metavar="SHARE",
              help='Share of requests answered with a Cloudflare challenge page ("Just a moment...", '
                   '403/503, cf-mitigated: challenge) before reaching the panel; 1: every request, retries too.')
@click.option("--lose-answers", default=0.0, type=_SHARE, metavar="SHARE",
              help="Share of requests processed (orders created) whose answer is never sent.")
@click.option("--rate", metavar="N/SECONDS",
              help="Per-key rate limit: past N requests in a window of SECONDS, 429 with Retry-After.")
@click.option("--rate-headers/--no-rate-headers", default=True, show_default=True,
              help="Send X-RateLimit-Limit/Remaining/Reset headers under --rate.")
@click.option("--maintenance", type=click.IntRange(0), metavar="SECONDS",
              help="Down for maintenance: every request gets a 503 HTML page with this Retry-After.")
@click.option("--seed", type=int, help="Seed of the fault draws, to replay the same faults.")
@click.option("--dialect", default="clean", show_default=True, type=click.Choice(list(DIALECTS)),
              help="Answer like this family of real panels (see the README's Real panels).")
@click.option("--key", metavar="KEY", help="Accept only this API key (default: any non-empty key).")
@click.option("--clock-file", type=click.Path(path_type=Path, dir_okay=False), hidden=True,
              help="Read the panel's time (epoch seconds) from this file: for tests.")
@_STATE_OPTION
@pass_app
def serve(app, host, port, latency, fail_5xx, fail_429, challenge, lose_answers, rate, rate_headers,
          maintenance, seed, dialect, key, clock_file, state):  # fmt: skip
    """Serve the sandbox panel over HTTP on loopback, optionally misbehaving.

    Point bulkorders at it with --panel http://127.0.0.1:PORT/api/v2 and any
    BULKORDERS_API_KEY. --dialect makes it answer like a family of real panels; the
    fault options make it behave like a busy one. A request just hit by a fault goes
    through when the client sends it again.
    """
    faults = Faults(latency=latency, fail_5xx=fail_5xx, fail_429=fail_429, challenge=challenge,
                    lose_answers=lose_answers, seed=seed, rate=rate, rate_headers=rate_headers,
                    maintenance=maintenance)  # fmt: skip
    state_path = state or app.settings.data_dir / STATE_FILE
    clock = file_clock(clock_file) if clock_file else None
    server = SandboxServer(state_path, host=host, port=port, faults=faults, key=key, clock=clock, dialect=dialect)
    click.echo(LISTENING.format(url=server.url), err=True)
    click.echo(f"State: {state_path}", err=True)
    click.echo(f"Dialect: {dialect}, {DIALECTS[dialect].describe}", err=True)
    server.serve_until_stopped()
    click.echo(f"Sandbox panel stopped after {server.counts.summary()}.", err=True)


@sandbox.command()
@click.option("--balance", metavar="AMOUNT", help="Start from this balance instead of 1000.00 USD.")
@_STATE_OPTION
@pass_app
def reset(app, balance, state):
    """Start the sandbox over: no orders, no refills, balance back to 1000.00 USD
    (or --balance AMOUNT, e.g. 2500 to see thousands, 1 to see a funds refusal).

    Order ids go on from where they were (a panel never reuses one), so the ledger
    never mistakes a new order for an old one.
    """
    state_path = state or app.settings.data_dir / STATE_FILE
    amount = _amount(balance) if balance is not None else None
    next_order = reset_state(state_path, amount)
    if next_order is None:
        click.echo(f"No sandbox orders in {state_path}: nothing to reset.")
    else:
        shown = "back to 1000.00" if amount is None else f"set to {format_money(amount)}"
        click.echo(
            f"Reset the sandbox {state_path}: balance {shown} USD, no orders. New order "
            f"ids start at {next_order}: like a real panel, the sandbox never reuses an id."
        )


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise UsageError(f"--balance {text}: use an amount of 0 or more, e.g. 2500.")
    return amount
