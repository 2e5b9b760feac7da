"""The click group, the global options, and the one place errors become output."""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from bulkorders import __version__
from bulkorders.errors import BulkOrdersError, ExitCode, NotConfirmed, UsageError, run_error
from bulkorders.settings import Settings, load_settings

if TYPE_CHECKING:
    from bulkorders.catalog import Catalogue
    from bulkorders.ledger import Ledger
    from bulkorders.panel import PanelClient


def _stdin_isatty() -> bool:
    """Whether a person can answer a prompt (CliRunner's stdin is not a terminal)."""
    return sys.stdin.isatty()


@dataclass(frozen=True)
class Environment:
    """What a run takes from the machine rather than from its options: whether there is a
    terminal to prompt on, and how to wait between retries of an unreachable panel.

    `main` runs with this default. Another caller (a test) passes its own as click's context
    object: `CliRunner().invoke(cli, args, obj=Environment(stdin_is_terminal=lambda: True))`.
    """

    stdin_is_terminal: Callable[[], bool] = _stdin_isatty
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] | None = None  # the sandbox panel's time (None: the real one)


@dataclass
class App:
    """What every command receives: the settings, the environment and a place to close resources."""

    settings: Settings
    env: Environment = field(default_factory=Environment)
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _client: PanelClient | None = None
    _ledger: Ledger | None = None
    emitted: bool = False  # a JSON document went to stdout (a failure then adds none)

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def client(self) -> PanelClient:
        """The panel client of this run, opened on first use and closed when the command ends."""
        if self._client is None:
            from bulkorders.panel import open_client

            self._client = open_client(self.settings, clock=self.env.clock, sleep=self.env.sleep)
            self.on_close(self._client.close)
        return self._client

    def ledger(self) -> Ledger:
        """The ledger of this run, opened on first use and closed when the command ends."""
        if self._ledger is None:
            from bulkorders.ledger import Ledger

            self._ledger = Ledger.open(self.settings.ledger.target, command=_command_name())
            self.on_close(self._ledger.close)
        return self._ledger

    def catalogue(self, *, refresh: bool = False, offline: bool = False) -> Catalogue:
        """The panel's catalogue: cached while fresh, else fetched (stale cache as a fallback)."""
        from bulkorders.catalog import load_catalogue

        client = None if offline else self.client()
        return load_catalogue(self.settings, client, refresh=refresh, offline=offline, warn=self.warn)

    def panel_name(self) -> str:
        """How the ledger and caches name this run's panel (never the key)."""
        return self.settings.panel().identity

    def say(self, message: str = "") -> None:
        """Human output: stdout normally, stderr under --json (stdout is then JSON only)."""
        click.echo(self.settings.ledger.scrub(message), err=self.settings.json)

    def warn(self, message: str) -> None:
        click.echo(f"Warning: {self.settings.ledger.scrub(message)}", err=True)

    def notify(self, message: str) -> None:
        """Progress notes and per-row problems: always stderr (a team ledger's password masked)."""
        click.echo(self.settings.ledger.scrub(message), err=True)

    def emit_json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
        self.emitted = True


INTERRUPTED = "Interrupted: everything answered so far is saved; rerun to resume."


class BulkGroup(click.Group):
    """Turns `BulkOrdersError` (and Ctrl-C) into a message and an exit code, here only."""

    began = False  # a command's work has begun (`cli.main` tells a Ctrl-C while parsing by it)

    def invoke(self, ctx: click.Context) -> Any:
        self.began = True
        try:
            return super().invoke(ctx)
        except BulkOrdersError as exc:
            _report(ctx, exc)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            _say_error(ctx, INTERRUPTED, ExitCode.INTERRUPTED)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except click.ClickException as exc:
            _json_error(ctx, exc.format_message(), exc.exit_code)
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: say so plainly, traceback only with --debug
            if _debug(ctx):
                traceback.print_exc(file=sys.stderr)
            _say_error(
                ctx,
                f"Unexpected error: {type(exc).__name__}: {exc}\n"
                "This is a bug in bulkorders. Rerun with --debug for the traceback and report it.",
                ExitCode.ROWS_FAILED,
            )
            ctx.exit(int(ExitCode.ROWS_FAILED))


def _command_name() -> str:
    """The command being run as the ledger records it with its run ("submit", "ledger migrate")."""
    ctx = click.get_current_context(silent=True)
    return " ".join(ctx.command_path.split()[1:]) if ctx is not None else "bulkorders"


def _debug(ctx: click.Context) -> bool:
    app = ctx.find_object(App)
    return bool(app and app.settings.debug)


def _report(ctx: click.Context, exc: BulkOrdersError) -> None:
    if _debug(ctx):
        traceback.print_exc(file=sys.stderr)
    message = exc.full_message()
    prefix = "" if isinstance(exc, NotConfirmed) else "Error: "  # declining is the user's choice, not an error
    _say_error(ctx, message, exc.exit_code, prefix)


def _say_error(ctx: click.Context, message: str, exit_code: int, prefix: str = "") -> None:
    """The failure in words on stderr; with --json also as `{"error": {...}}` on stdout.

    A team ledger's password never: whatever said it (a server's own words), it is masked."""
    app = ctx.find_object(App)
    if app is not None:
        message = app.settings.ledger.scrub(message)
    click.echo(f"{prefix}{message}", err=True)
    _json_error(ctx, message, exit_code)


def _json_error(ctx: click.Context, message: str, exit_code: int) -> None:
    """Under --json, a failure is a JSON document on stdout too, unless the command wrote its own."""
    app = ctx.find_object(App)
    if app is None or not app.settings.json or app.emitted:
        return
    app.emit_json({"error": {"message": app.settings.ledger.scrub(message), "exit_code": int(exit_code)}})


@click.group(cls=BulkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bulkorders")
@click.option(
    "--panel",
    envvar="BULKORDERS_PANEL",
    metavar="NAME|URL|sandbox",
    help="Panel to use: a [panels.NAME] profile of the config file, an API URL, or sandbox.",
)
@click.option(
    "--config",
    envvar="BULKORDERS_CONFIG",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (TOML). Default: <user config dir>/bulkorders/config.toml.",
)
@click.option(
    "--ledger",
    envvar="BULKORDERS_LEDGER",
    metavar="PATH|URL",
    help="Ledger: an SQLite file, or a postgresql:// URL for a team ledger. "
    "Default: <user data dir>/bulkorders/ledger.sqlite.",
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    envvar="BULKORDERS_JSON",
    help="Machine-readable JSON on stdout; human output goes to stderr.",
)
@click.option(
    "--debug", is_flag=True, envvar="BULKORDERS_DEBUG", help="Show tracebacks and log requests (the API key masked)."
)
@click.pass_context
def cli(ctx, panel, config, ledger, json_output, debug):
    """Run bulk order campaigns on SMM panels (API v2) from Excel and CSV sheets.

    Plan a campaign in a sheet (link, service, quantity), check it with `validate`,
    place it with `submit`, follow it with `status`, `refill` and `cancel`, and
    export an audit workbook with `report`. Try it with --panel sandbox.
    """
    env = ctx.obj if isinstance(ctx.obj, Environment) else Environment()
    ctx.obj = App(settings=Settings(json=json_output, debug=debug), env=env)
    settings = load_settings(panel=panel, config=config, ledger=ledger, json=json_output, debug=debug)
    ctx.obj.settings = settings
    ctx.call_on_close(ctx.obj.close)


pass_app = click.make_pass_decorator(App)


def confirm(plan: str, question: str, *, yes: bool, refusal: str) -> bool:
    """Show the plan, then ask; --yes skips the question, and no terminal refuses (exit 2)."""
    click.echo(plan, err=True)
    if yes:
        return True
    if not _environment().stdin_is_terminal():
        raise UsageError(refusal)
    try:
        return click.confirm(question, default=False, err=True)
    except click.exceptions.Abort:  # end of input or Ctrl-C at the prompt: that is a no
        click.echo("", err=True)
        return False


def _environment() -> Environment:
    """The environment of the command being run (the default one outside a command)."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(App) if ctx is not None else None
    return app.env if app is not None else Environment()


class Outcome(Protocol):
    """What a pipeline hands back to be shown: submit's and the lifecycle commands'."""

    write_error: BulkOrdersError | None
    stop: BulkOrdersError | None

    @property
    def exit_code(self) -> ExitCode: ...

    def to_dict(self) -> dict[str, Any]: ...


def finish(app: App, outcome: Outcome, problems: list[str], summary: str) -> None:
    """Per-row problems and the summary, then the exit: a stop or write failure raises."""
    for line in problems:
        click.echo(line, err=True)
    if app.settings.json:
        app.emit_json(outcome.to_dict())
    app.say(summary)
    error = run_error(outcome.stop, outcome.write_error)
    if error is not None:
        raise error
    if outcome.exit_code:
        click.get_current_context().exit(int(outcome.exit_code))
