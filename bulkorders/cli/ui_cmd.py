"""`ui`: the same tool as a local web page (the optional `ui` extra)."""

from __future__ import annotations

import os

import click

from bulkorders.cli.app import cli, pass_app
from bulkorders.errors import UsageError
from bulkorders.settings import is_loopback


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --password-env.")
@click.option("--password-env", metavar="VAR",
              help="Ask for the password held in environment variable VAR instead of the token link.")
@click.option("--no-browser", is_flag=True, help="Do not open the browser; only print the link.")
@pass_app
def ui(app, port, host, password_env, no_browser):
    """Serve campaigns, new campaigns, services, balance and the audit report as a local web page.

    Listens on 127.0.0.1 and opens the browser at a link carrying a random token (also
    printed); requests without it or its session are refused. The API key stays on the
    server. Placing, status, refill and cancel run the same pipelines as the commands.
    Needs the ui extra: pip install "bulkorders[ui]".
    """
    from bulkorders.web import missing_extra

    missing = missing_extra()
    if missing:
        raise UsageError(missing)
    password = _password(host, password_env)
    app.panel_name()  # no panel configured: say so now, not on the first page
    from bulkorders.web import serve

    serve(app.settings, host=host, port=port, password=password, open_browser=not no_browser,
          say=lambda line: click.echo(line, err=True))  # fmt: skip


def _password(host: str, variable: str | None) -> str | None:
    if variable is None:
        if not is_loopback(host):
            raise UsageError(
                f"Refusing --host {host}: other machines could reach the app. Give --password-env VAR "
                "(an environment variable holding a password to ask for), or keep the default 127.0.0.1."
            )
        return None
    password = os.environ.get(variable, "")
    if not password:
        raise UsageError(f"--password-env {variable}: the environment variable {variable} is not set or empty.")
    return password
