"""Command line: `bulkorders [global options] COMMAND …`. Click parsing only; the work is elsewhere."""

import sys

STARTING_INTERRUPTED = "Interrupted while starting: nothing was done. Rerun the command."

try:
    # Each module registers its commands on `cli`.
    from bulkorders.cli import (
        ledger_cmd,  # noqa: E402,F401
        lifecycle_cmds,  # noqa: E402,F401
        panel_cmds,  # noqa: E402,F401
        report_cmd,  # noqa: E402,F401
        sandbox_cmds,  # noqa: E402,F401
        sheet_cmds,  # noqa: E402,F401
        submit_cmd,  # noqa: E402,F401
        ui_cmd,  # noqa: E402,F401
    )
    from bulkorders.cli.app import INTERRUPTED, cli
except KeyboardInterrupt:
    # Ctrl-C while the modules load (most of start-up), before app.py can turn it into a
    # message: exit 130 with a clean line, not a traceback.
    sys.stderr.write(f"{STARTING_INTERRUPTED}\n")
    raise SystemExit(130) from None


def main() -> None:
    """Run the command line. Ctrl-C where click would say "Aborted!" (exit 1) — while it parses
    the arguments, or as a finished command closes — is our one line and exit 130 instead."""
    import click

    cli.began = False  # set when a command's work begins (`BulkGroup.invoke`)
    try:
        code = cli.main(prog_name="bulkorders", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort as exc:
        if not isinstance(exc.__cause__, KeyboardInterrupt):
            raise SystemExit(_aborted()) from None
        sys.stderr.write(f"{INTERRUPTED if cli.began else STARTING_INTERRUPTED}\n")
        code = 130
    _ignore_late_ctrl_c()
    raise SystemExit(code if isinstance(code, int) else 0)


def _ignore_late_ctrl_c() -> None:
    """The run is over and its exit code known: a Ctrl-C now must not change it. Python puts
    SIGINT back to the system's default while it shuts down, and a press then killed the
    process (exit -2, no message) after all its work was done; an ignored SIGINT stays ignored."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _aborted() -> int:
    """What click says of a prompt that got end-of-file (exit 1)."""
    sys.stderr.write("Aborted!\n")
    return 1


__all__ = ["cli", "main"]
